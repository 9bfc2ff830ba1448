"""Soak: the real `serve` under sustained mixed load, with a per-minute table.

Closed-loop clients (default 8) send single PNG and JPEG images, JSON with base64 images, a batch
`.npy`, CSV, a JSON batch of as many tiny PNGs as one request may hold
(BYOC_MAX_INSTANCES_PER_REQUEST), and about 10% invalid requests of every kind the server
rejects (one instance over that cap among them), each with the status it must get. Every
minute the table gets a row: requests, p50/p99 latency, 2xx/4xx/5xx, connection errors, wrong
statuses, RSS of the master and of each worker, and open file descriptors. The server runs with
its default workers (one per CPU) on an untrained LeNet of the GTSRB shape (TensorFlow runtime)
unless --model names a bundle.

    python -m benchmarks.soak --minutes 10            # the table of docs/reliability.md
    python -m benchmarks.soak --minutes 1 --check     # exit 1 if a target is missed

Targets: no 5xx, no connection errors, every invalid request gets its 4xx, worker RSS grows at
most 5% after the first minute, open file descriptors flat.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

from tests.support.serving import ServeProcess, worker_pids

MAX_RSS_GROWTH = 0.05
# Open descriptors may differ by a few between samples (keep-alive sockets come and go).
FD_SLACK = 8


@dataclass(frozen=True)
class Kind:
    """One kind of request: its body and headers, and the status it must get."""

    name: str
    body: bytes
    headers: dict[str, str]
    expect: int


def request_kinds(shape: tuple[int, int, int], seed: int = 0) -> tuple[list[Kind], list[Kind]]:
    """(valid kinds, invalid kinds) for a model of input `shape`, served with the default
    instance cap."""
    from PIL import Image

    from byoc.contract import DEFAULT_MAX_INSTANCES

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)

    def encoded(fmt: str) -> bytes:
        out = io.BytesIO()
        Image.fromarray(pixels.squeeze()).save(out, fmt)
        return out.getvalue()

    def npy(arr: np.ndarray) -> bytes:
        out = io.BytesIO()
        np.save(out, arr)
        return out.getvalue()

    def b64_batch(image: bytes, n: int) -> bytes:
        return json.dumps({"instances": [{"b64": base64.b64encode(image).decode()}] * n}).encode()

    png = encoded("PNG")
    b64 = b64_batch(png, 1)
    # Each 1x1 PNG decodes to a full-size image: the cap, not the body size, bounds these.
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, "PNG")
    batch = rng.integers(0, 256, (16, *shape), dtype=np.uint8)
    valid = [
        Kind("png", png, {"Content-Type": "image/png"}, 200),
        Kind("jpeg", encoded("JPEG"), {"Content-Type": "image/jpeg"}, 200),
        Kind("json-b64", b64, {"Content-Type": "application/json"}, 200),
        Kind("npy-batch-16", npy(batch), {"Content-Type": "application/x-npy"}, 200),
        Kind("csv", ",".join(map(str, pixels.ravel())).encode(), {"Content-Type": "text/csv"},
             200),
        Kind("json-b64-at-the-cap", b64_batch(tiny.getvalue(), DEFAULT_MAX_INSTANCES),
             {"Content-Type": "application/json"}, 200),
    ]
    wrong = (shape[0] + 1, *shape[1:])
    invalid = [
        Kind("bad-image", b"not an image", {"Content-Type": "image/png"}, 400),
        Kind("truncated-png", png[: len(png) // 2], {"Content-Type": "image/png"}, 400),
        Kind("wrong-shape", npy(np.zeros(wrong, np.uint8)), {"Content-Type": "application/x-npy"},
             400),
        Kind("bad-json", b'{"instances": [', {"Content-Type": "application/json"}, 400),
        Kind("nan", npy(np.full((1, *shape), np.nan, np.float32)),
             {"Content-Type": "application/x-npy"}, 400),
        Kind("csv-ragged", b"1,2,3\n1,2\n", {"Content-Type": "text/csv"}, 400),
        Kind("bad-top-k", png, {"Content-Type": "image/png",
                                "X-Amzn-SageMaker-Custom-Attributes": "top_k=0"}, 400),
        Kind("content-type", b"hello", {"Content-Type": "text/plain"}, 415),
        Kind("accept", png, {"Content-Type": "image/png", "Accept": "text/html"}, 406),
        Kind("too-large", b"\0" * (1024 * 1024 + 1), {"Content-Type": "application/x-npy"}, 413),
        Kind("over-the-cap", b64_batch(tiny.getvalue(), DEFAULT_MAX_INSTANCES + 1),
             {"Content-Type": "application/json"}, 413),
    ]
    return valid, invalid


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    client_errors: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    wrong_status: int = 0
    invalid_sent: int = 0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def soak(model_dir: Path, seconds: float, concurrency: int = 8, invalid_share: float = 0.1,
         workers: int | None = None, sample_every: float = 60.0, log=print) -> dict:
    """Run the soak; return {"rows": [...], "wrong": {kind: count}, "server_log": str}.

    One row per `sample_every` seconds (a minute for the docs' table; shorter in the CI test)."""
    from byoc.bundle import ModelSpec

    spec = ModelSpec.read(model_dir)
    valid, invalid = request_kinds(spec.input_shape)
    env = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}
    # No SAGEMAKER_MODEL_SERVER_WORKERS: the server's default, one worker per CPU.
    env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(workers) if workers else ""
    minutes: list[Minute] = []
    wrong: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    start = time.monotonic()

    def current() -> Minute:
        index = int((time.monotonic() - start) // sample_every)
        while len(minutes) <= index:
            minutes.append(Minute())
        return minutes[index]

    def client(seed: int, url: str) -> None:
        rng = np.random.default_rng(seed)
        session = requests.Session()
        while not stop.is_set():
            pool = invalid if rng.random() < invalid_share else valid
            kind = pool[rng.integers(len(pool))]
            t0 = time.perf_counter()
            try:
                r = session.post(f"{url}/invocations", data=kind.body, headers=kind.headers,
                                 timeout=60)
                status, elapsed = r.status_code, time.perf_counter() - t0
            except requests.RequestException:
                status, elapsed = None, time.perf_counter() - t0
                session = requests.Session()
            with lock:
                m = current()
                m.latencies.append(elapsed)
                m.invalid_sent += pool is invalid
                if status is None:
                    m.connection_errors += 1
                elif status >= 500:
                    m.server_errors += 1
                elif status >= 400:
                    m.client_errors += 1
                else:
                    m.ok += 1
                if status != kind.expect:
                    m.wrong_status += 1
                    wrong[kind.name] = wrong.get(kind.name, 0) + 1

    rows = []
    with tempfile.TemporaryDirectory() as tmp, \
            ServeProcess(model_dir, Path(tmp) / "ml", env) as server:
        master = server.proc.pid
        threads = [threading.Thread(target=client, args=(i, server.url), daemon=True)
                   for i in range(concurrency)]
        start = time.monotonic()
        for t in threads:
            t.start()
        next_sample = sample_every
        while (elapsed := time.monotonic() - start) < seconds:
            time.sleep(min(1.0, max(0.0, min(next_sample, seconds) - elapsed)))
            elapsed = time.monotonic() - start
            if elapsed >= next_sample or elapsed >= seconds:
                pids = sorted(worker_pids(master))
                with lock:
                    m = minutes[len(rows)] if len(minutes) > len(rows) else Minute()
                    lat = sorted(m.latencies)
                rows.append({
                    "minute": len(rows) + 1,
                    "requests": len(lat),
                    "p50_ms": 1000 * statistics.median(lat) if lat else 0.0,
                    "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else 0.0,
                    "2xx": m.ok, "4xx": m.client_errors, "5xx": m.server_errors,
                    "conn_errors": m.connection_errors, "wrong_status": m.wrong_status,
                    "invalid": m.invalid_sent,
                    "master_rss_mb": _rss_mb(master),
                    "worker_rss_mb": [_rss_mb(p) for p in pids],
                    "worker_pids": pids,
                    "fds": _fds(master) + sum(_fds(p) for p in pids),
                })
                log(format_row(rows[-1]))
                next_sample += sample_every
        stop.set()
        for t in threads:
            t.join(timeout=70)
        server_log = server.log()
    return {"rows": rows, "wrong": wrong, "server_log": server_log}


HEADER = ("| minute | requests | p50 ms | p99 ms | 2xx | 4xx | 5xx | conn. errors | wrong status "
          "| master RSS MB | worker RSS MB | open fds |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")


def format_row(r: dict) -> str:
    workers = " / ".join(f"{v:.0f}" for v in r["worker_rss_mb"])
    return (f"| {r['minute']} | {r['requests']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['2xx']} | {r['4xx']} | {r['5xx']} | {r['conn_errors']} | {r['wrong_status']} "
            f"| {r['master_rss_mb']:.0f} | {workers} | {r['fds']} |")


def misses(result: dict) -> list[str]:
    """The targets the run missed, as sentences (empty: all met)."""
    rows = result["rows"]
    found = []
    if any(r["5xx"] for r in rows):
        found.append(f"{sum(r['5xx'] for r in rows)} 5xx responses")
    if any(r["conn_errors"] for r in rows):
        found.append(f"{sum(r['conn_errors'] for r in rows)} connection errors")
    if result["wrong"]:
        found.append(f"requests with the wrong status: {result['wrong']}")
    if len({tuple(r["worker_pids"]) for r in rows}) > 1:
        found.append("a worker was replaced during the run")
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        for before, after in zip(first["worker_rss_mb"], last["worker_rss_mb"], strict=False):
            if after > before * (1 + MAX_RSS_GROWTH):
                found.append(f"worker RSS grew from {before:.0f} to {after:.0f} MB after "
                             "the first minute")
        if abs(last["fds"] - first["fds"]) > FD_SLACK:
            found.append(f"open fds went from {first['fds']} to {last['fds']}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model dir written by `train`")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_dir = args.model
        else:
            from serving_latency import build_model

            model_dir = build_model(Path(tmp) / "model")
        print(f"soak: {args.minutes:g} min, concurrency {args.concurrency}, "
              f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.1f}\n")
        print(HEADER)
        result = soak(model_dir, args.minutes * 60, args.concurrency)
    print(f"\nuptime at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (load 1/5/15 min)")
    found = misses(result)
    print("targets: " + ("all met" if not found else "MISSED: " + "; ".join(found)))
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
