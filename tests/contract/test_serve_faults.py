"""Faults around the real `serve`: a worker SIGKILLed under load (as the OOM killer does), and a
model directory that is corrupt, truncated or missing at start."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from byoc.bundle import LITERT_FILE, MODEL_FILE, SPEC_FILE, ModelSpec
from tests.support.executables import SERVE_EXE, exe_env
from tests.support.serving import ServeProcess, free_port, worker_pids

CONCURRENCY = 8
READY_LINE = "ready on"  # the line each worker logs once its model is warm


def _png(spec: ModelSpec) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, spec.input_shape, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels.squeeze()).save(out, "PNG")
    return out.getvalue()


def test_a_worker_killed_under_load_fails_only_its_requests(trained_model_dir, tmp_path):
    """8 closed-loop clients and a /ping poller; one of two workers gets SIGKILL. The master
    replaces it, /ping never fails, and only requests on the dead worker's connections fail."""
    spec = ModelSpec.read(trained_model_dir)
    png = _png(spec)
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    with ServeProcess(trained_model_dir, tmp_path / "ml", env) as server:
        url = server.url
        stop = threading.Event()
        results: list[tuple[float, bool]] = []  # (time, ok)
        pings: list[int | None] = []
        lock = threading.Lock()

        def client() -> None:
            session = requests.Session()
            while not stop.is_set():
                try:
                    ok = session.post(f"{url}/invocations", data=png, timeout=60,
                                      headers={"Content-Type": "image/png"}).status_code == 200
                except requests.RequestException:
                    ok, session = False, requests.Session()
                with lock:
                    results.append((time.monotonic(), ok))

        def poll_ping() -> None:
            while not stop.is_set():
                try:
                    status = requests.get(f"{url}/ping", timeout=5).status_code
                except requests.RequestException:
                    status = None
                pings.append(status)
                time.sleep(0.05)

        threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
        threads.append(threading.Thread(target=poll_ping))
        for t in threads:
            t.start()
        time.sleep(3)
        victim = min(worker_pids(server.proc.pid))
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # Recovered: the replacement worker has loaded and warmed up its model.
        while server.log().count(READY_LINE) < 3 and time.monotonic() - killed_at < 120:
            time.sleep(0.05)
        recovered_at = time.monotonic()
        time.sleep(2)  # traffic after recovery must all succeed
        stop.set()
        for t in threads:
            t.join(timeout=70)

    failed = [at for at, ok in results if not ok]
    assert server.log().count(READY_LINE) == 3, server.log()[-3000:]
    assert victim not in worker_pids(server.proc.pid) if server.proc.poll() is None else True
    assert all(at >= killed_at for at in failed)
    assert len(failed) <= CONCURRENCY  # at most one per client connection to the dead worker
    assert all(ok for at, ok in results if at > recovered_at + 1)
    assert pings and all(status == 200 for status in pings), pings
    print(f"\nworker SIGKILL: {len(failed)} failed of {len(results)} requests, "
          f"replacement ready {recovered_at - killed_at:.1f} s after the kill, "
          f"{len(pings)} pings all 200")


def _corrupt(model_dir, case: str) -> None:
    if case == "spec-not-json":
        (model_dir / SPEC_FILE).write_text('{"class_na')
    elif case == "spec-empty-object":
        (model_dir / SPEC_FILE).write_text("{}")
    elif case == "tflite-truncated":
        os.truncate(model_dir / LITERT_FILE, 100)
    elif case == "keras-truncated":
        (model_dir / LITERT_FILE).unlink()
        os.truncate(model_dir / MODEL_FILE, (model_dir / MODEL_FILE).stat().st_size // 2)
    elif case == "keras-flipped-bytes":
        (model_dir / LITERT_FILE).unlink()
        data = bytearray((model_dir / MODEL_FILE).read_bytes())
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
        (model_dir / MODEL_FILE).write_bytes(bytes(data))
    elif case == "empty-dir":
        shutil.rmtree(model_dir)
        model_dir.mkdir()
    elif case == "missing":
        shutil.rmtree(model_dir)


@pytest.mark.parametrize("case, names", [
    ("spec-not-json", SPEC_FILE), ("spec-empty-object", SPEC_FILE),
    ("tflite-truncated", LITERT_FILE), ("keras-truncated", MODEL_FILE),
    ("keras-flipped-bytes", MODEL_FILE), ("empty-dir", SPEC_FILE), ("missing", SPEC_FILE),
])
def test_a_broken_model_dir_stops_serve_with_one_line(trained_model_dir, tmp_path, case, names):
    """No worker is forked: the master checks the bundle and exits with one error line."""
    model_dir = tmp_path / "ml" / "model"
    shutil.copytree(trained_model_dir, model_dir)
    _corrupt(model_dir, case)
    env = exe_env(SAGEMAKER_BASE_DIR=str(tmp_path / "ml"), SAGEMAKER_BIND_TO_PORT=str(free_port()))
    result = subprocess.run([str(SERVE_EXE)], env=env, capture_output=True, text=True,
                            timeout=120)
    log = result.stdout + result.stderr
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert result.returncode == 1, log
    assert "Traceback" not in log and "Booting worker" not in log, log
    assert len(errors) == 1 and "Cannot start the model server" in errors[0], log
    assert names in errors[0] and ("training run" in errors[0] or "train" in errors[0])
