"""Serving latency: byoc's server against the naive Flask + `model.predict` pattern, on loopback.

Prints a markdown table of p50/p99 latency and requests/s for /ping (the floor), one 32×32 PNG and
a batch of 64 images (.npy), at concurrency 1 and 8. Both servers load the same LeNet bundle (an
untrained one unless --model is given: weights do not change the cost). Loop counts are bounded.

    python -m benchmarks.serving_latency [--model DIR] [--scale 0.5]
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.serving import ServeProcess, free_port

MODEL_DIR_ENV = "BENCH_MODEL_DIR"
CASE_TIME_LIMIT = 60.0  # seconds per measured case, whatever the request count


# --- the naive server, as in the AWS bring-your-own samples ------------------------------------


def naive_app():
    """Flask, one sync gunicorn worker, and `model.predict` on every request."""
    import flask
    import keras
    from PIL import Image

    from byoc.bundle import MODEL_FILE, ModelSpec

    model_dir = Path(os.environ[MODEL_DIR_ENV])
    spec = ModelSpec.read(model_dir)
    model = keras.models.load_model(model_dir / MODEL_FILE, safe_mode=True)
    app = flask.Flask(__name__)

    @app.get("/ping")
    def ping():
        return "", 200

    @app.post("/invocations")
    def invocations():
        body = flask.request.get_data()
        if flask.request.content_type == "application/x-npy":
            batch = np.load(io.BytesIO(body))
        else:
            img = Image.open(io.BytesIO(body)).convert("RGB").resize((spec.width, spec.height))
            batch = np.asarray(img)[None]
        probs = model.predict(batch.astype("float32"), verbose=0)
        best = probs.argmax(axis=1)
        return flask.jsonify(predictions=[
            {"class_id": int(i), "label": spec.class_names[i], "probability": float(p[i])}
            for i, p in zip(best, probs, strict=True)
        ])

    return app


class NaiveServer:
    def __init__(self, model_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, MODEL_DIR_ENV: str(model_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync",
             "--bind", f"127.0.0.1:{self.port}", "--chdir", str(Path(__file__).parent),
             f"{Path(__file__).stem}:naive_app()"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> NaiveServer:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if _request(_connect(self.port), Request("GET", "/ping")) == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the naive server did not start")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# --- load generation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = None


def _connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def _request(conn: http.client.HTTPConnection, req: Request) -> int:
    headers = {"Content-Type": req.content_type} if req.content_type else {}
    conn.request(req.method, req.path, req.body, headers)
    response = conn.getresponse()
    response.read()
    if response.will_close:  # a sync worker closes after each response; reconnect next time
        conn.close()
    return response.status


def measure(port: int, req: Request, total: int, concurrency: int) -> tuple[float, float, float]:
    """p50 ms, p99 ms, requests/s for `total` requests over `concurrency` persistent clients."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + CASE_TIME_LIMIT

    def client(n: int) -> None:
        conn = _connect(port)
        for _ in range(3):  # warm the connection and the server's code path
            _request(conn, req)
        mine = []
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            start = time.perf_counter()
            status = _request(conn, req)
            mine.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"{req.method} {req.path} answered {status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(total // concurrency,))
               for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000, len(latencies) / wall


# --- the run -----------------------------------------------------------------------------------


def build_model(model_dir: Path) -> Path:
    """An untrained LeNet bundle of the default GTSRB shape: the size `train` writes."""
    from byoc.bundle import ModelSpec, keras_io
    from byoc.data.gtsrb import CLASS_NAMES
    from byoc.model import architectures

    spec = ModelSpec(class_names=list(CLASS_NAMES), height=32, width=32, channels=3)
    return keras_io.save(architectures.build("lenet", spec.input_shape, spec.num_classes), spec,
                       model_dir)


def requests_to_send(rng: np.random.Generator) -> dict[str, Request]:
    png = io.BytesIO()
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(png, "PNG")
    npy = io.BytesIO()
    np.save(npy, rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8))
    return {
        "GET /ping": Request("GET", "/ping"),
        "1 PNG 32×32": Request("POST", "/invocations", png.getvalue(), "image/png"),
        "64 images .npy": Request("POST", "/invocations", npy.getvalue(), "application/x-npy"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model dir written by `train`")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Enough requests that start-up noise (first calls, cold caches) leaves the p50 alone.
    counts = {"GET /ping": 1000, "1 PNG 32×32": 1000, "64 images .npy": 200}
    reqs = requests_to_send(np.random.default_rng(0))

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_model(Path(tmp) / "model")
        workers = os.cpu_count() or 1
        servers = {
            f"byoc serve ({workers} gthread workers, compiled)":
                lambda: ServeProcess(model_dir, Path(tmp) / "ml",
                                     {"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)}),
            "naive (1 sync worker, model.predict)": lambda: NaiveServer(model_dir),
        }
        rows = []
        p50 = {}
        for name, make in servers.items():
            with make() as server:
                for case, req in reqs.items():
                    for concurrency in (1, 8):
                        n = max(concurrency, int(counts[case] * args.scale))
                        lo, hi, rps = measure(server.port, req, n, concurrency)
                        p50[name, case, concurrency] = lo
                        rows.append(f"| {name} | {case} | {concurrency} | {lo:.2f} | {hi:.2f} "
                                    f"| {rps:.0f} |")

    load = os.getloadavg()[0]
    print(f"Loopback, {os.cpu_count()} CPUs shared by server and client (load average {load:.1f} "
          "at the end: anything else running skews the numbers); latency in ms.\n")
    print("| server | request | concurrency | p50 | p99 | req/s |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    ours = next(iter(servers))
    ratio = p50[ours, "1 PNG 32×32", 1] / p50[ours, "GET /ping", 1]
    print(f"\nbyoc serve: single-PNG p50 is {ratio:.1f}× the /ping p50 (target: within 3×).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
