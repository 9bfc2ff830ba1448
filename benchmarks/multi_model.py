"""Multi-model serving: the first invoke after a load, and a steady mix over 3 loaded models
against the single-model server.

Prints two markdown tables. Three LeNet bundles (43, 10 and 3 classes, untrained unless
--models-dir holds bundles: weights do not change the cost) are loaded into one `serve` with
SAGEMAKER_MULTI_MODEL=true; the single-model server serves the first of them. Loop counts are
bounded.

    python -m benchmarks.multi_model [--models-dir DIR] [--runtime litert|tensorflow] [--scale 0.5]
"""

from __future__ import annotations

import argparse
import http.client
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tests.support.serving import ServeProcess

CASE_TIME_LIMIT = 60.0  # seconds per measured case, whatever the request count
CLASS_COUNTS = (43, 10, 3)


def build_models(root: Path) -> Path:
    """Three untrained LeNet bundles with model.keras and model.tflite, as `train` writes them."""
    from byoc.bundle import ModelSpec, keras_io, litert
    from byoc.model import architectures

    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype(np.float32)
    for n in CLASS_COUNTS:
        spec = ModelSpec(class_names=[f"class_{i}" for i in range(n)], height=32, width=32,
                         channels=3)
        model_dir = root / f"lenet-{n}"
        keras_io.save(architectures.build("lenet", spec.input_shape, n), spec, model_dir)
        litert.export(model_dir, images)
    return root


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
        out, "PNG")
    return out.getvalue()


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
          content_type: str = "image/png") -> tuple[int, float]:
    start = time.perf_counter()
    conn.request(method, path, body, {"Content-Type": content_type} if body else {})
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - start


def measure(port: int, paths: list[str], body: bytes, total: int,
            concurrency: int) -> tuple[float, float]:
    """p50 ms and requests/s for `total` PNG requests cycling over `paths`."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + CASE_TIME_LIMIT

    def client(n: int, offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        cycle = itertools.islice(itertools.cycle(paths), offset, None)
        for path in itertools.islice(cycle, len(paths)):  # warm every model on this connection
            _call(conn, "POST", path, body)
        mine = []
        for path in itertools.islice(cycle, n):
            if time.monotonic() > deadline:
                break
            status, seconds = _call(conn, "POST", path, body)
            if status != 200:
                raise RuntimeError(f"POST {path} answered {status}")
            mine.append(seconds)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(total // concurrency, i))
               for i in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return statistics.median(latencies) * 1000, len(latencies) / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path,
                        help="a directory with 3 or more bundles (one per subdirectory)")
    parser.add_argument("--runtime", choices=("litert", "tensorflow"), default="litert")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    workers = os.cpu_count() or 1
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), "BYOC_SERVING_RUNTIME": args.runtime}
    body = _png()

    with tempfile.TemporaryDirectory() as tmp:
        models = args.models_dir or build_models(Path(tmp) / "models")
        names = sorted(p.name for p in models.iterdir() if (p / "byoc-model.json").is_file())[:3]
        first_rows, steady_rows = [], []
        mme = ServeProcess(models, Path(tmp) / "mme", {**env, "SAGEMAKER_MULTI_MODEL": "true"},
                           link="models")
        single = ServeProcess(models / names[0], Path(tmp) / "single", env)
        with mme, single:
            conn = http.client.HTTPConnection("127.0.0.1", mme.port, timeout=120)
            for name in names:
                status, load = _call(conn, "POST", "/models", json.dumps(
                    {"model_name": name, "url": name}).encode(), "application/json")
                assert status == 200, f"loading {name} answered {status}"
                invokes = [_call(conn, "POST", f"/models/{name}/invoke", body)[1]
                           for _ in range(2 * workers)]
                first_rows.append(
                    f"| {name} | {load * 1000:.0f} | {invokes[0] * 1000:.1f} | "
                    f"{max(invokes) * 1000:.1f} | {statistics.median(invokes[1:]) * 1000:.1f} |")
            conn.close()
            cases = {
                f"multi-model, mix of {len(names)}": (mme, [f"/models/{n}/invoke" for n in names]),
                f"multi-model, {names[0]} only": (mme, [f"/models/{names[0]}/invoke"]),
                f"single-model ({names[0]})": (single, ["/invocations"]),
            }
            # Both servers up, every case run twice in opposite orders, the better run kept: a
            # busy moment of the shared machine then weighs on no case more than on another.
            for concurrency in (1, 4):
                n = max(concurrency, int(300 * args.scale))
                runs: dict[str, list[tuple[float, float]]] = {label: [] for label in cases}
                for label in [*cases, *reversed(cases)]:
                    server, paths = cases[label]
                    runs[label].append(measure(server.port, paths, body, n, concurrency))
                for label, results in runs.items():
                    p50, rps = min(results)
                    steady_rows.append(f"| {label} | {concurrency} | {p50:.2f} | {rps:.0f} |")

    print(f"Loopback, {workers} workers, runtime {args.runtime}, one 32×32 PNG per request; "
          f"load average {os.getloadavg()[0]:.1f} at the end. Times in ms.\n")
    print("| model | POST /models (load + warm-up) | 1st invoke | slowest of the first "
          f"{2 * workers} (a worker loading lazily) | median of the others |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(first_rows))
    print("\n| server | concurrency | p50 (better of 2 runs) | req/s |")
    print("|---|---:|---:|---:|")
    print("\n".join(steady_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
