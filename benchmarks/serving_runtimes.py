"""Serving runtimes side by side: LiteRT against TensorFlow, the serving image against the full one.

Prints markdown tables, all measured in one run:
1. per architecture (lenet, vgg, resnet, each trained by the real `train` on synthetic signs):
   top-1 agreement of the two runtimes on the whole test split, the largest probability
   difference, and the one-image model call;
2. per runtime (the real `serve`, one worker per CPU): /ping and single-PNG throughput at
   concurrency 8, their ratio, and the workers' RSS;
3. the single-PNG request path, step by step, in-process;
4. per image (with --images): size, and cold start (`docker run IMAGE serve` → first 200 on /ping).

    python -m benchmarks.serving_runtimes [--epochs 2] [--images TAG ...] [--model DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.serving_latency import Request, measure
from tests.support.executables import run_train
from tests.support.serving import ServeProcess, worker_pids

ARCHITECTURES = ("lenet", "vgg", "resnet")
RUNTIMES = ("litert", "tensorflow")


def _per_call_us(fn, repeat: int = 300) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def train_all(data: Path, root: Path, epochs: int) -> dict[str, Path]:
    from byoc.driver.local import layout

    models = {}
    for arch in ARCHITECTURES:
        result = run_train(root / arch, layout.split_channel_dirs(data),
                           {"model": arch, "epochs": epochs, "batch_size": 32, "seed": 7})
        if result.returncode:
            raise RuntimeError(f"train {arch} failed:\n{result.stdout[-3000:]}")
        models[arch] = root / arch / "model"
    return models


def agreement_row(arch: str, model_dir: Path, data: Path) -> str:
    from byoc.bundle import ModelSpec
    from byoc.data import formats
    from byoc.serving.predictor import Predictor

    spec = ModelSpec.read(model_dir)
    test = formats.read_channel(data / "test", (spec.height, spec.width), spec.channels,
                                class_names=spec.class_names, name="test")
    lite = Predictor.load(model_dir, intra_op_threads=1, runtime="litert")
    tf = Predictor.load(model_dir, intra_op_threads=1, runtime="tensorflow")
    p_lite, p_tf = lite.predict(test.x), tf.predict(test.x)
    same = np.mean(p_lite.argmax(1) == p_tf.argmax(1))
    one = test.x[:1]
    return (f"| {arch} | {len(test.x)} | {same:.2%} | {np.abs(p_lite - p_tf).max():.1e} "
            f"| {_per_call_us(lambda: lite.predict(one)):.0f} "
            f"| {_per_call_us(lambda: tf.predict(one)):.0f} |")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def png_request() -> Request:
    from PIL import Image

    png = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(png, "PNG")
    return Request("POST", "/invocations", png.getvalue(), "image/png")


def throughput_table(model_dir: Path, tmp: Path, total: int) -> list[str]:
    rows = []
    workers = os.cpu_count() or 1
    for runtime in RUNTIMES:
        env = {"BYOC_SERVING_RUNTIME": runtime, "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)}
        with ServeProcess(model_dir, tmp / f"serve-{runtime}", env) as server:
            pids = worker_pids(server.proc.pid)
            rss_idle = max(_rss_mb(pid) for pid in pids)
            _, _, ping = measure(server.port, Request("GET", "/ping"), total, 8)
            p50, _, png = measure(server.port, png_request(), total, 8)
            rows.append(f"| {runtime} ({workers} workers) | {ping:.0f} | {png:.0f} "
                        f"| {png / ping:.2f} | {p50:.2f} | {rss_idle:.0f} "
                        f"| {max(_rss_mb(pid) for pid in pids):.0f} |")
    return rows


def request_path_rows(model_dir: Path, runtime: str) -> list[str]:
    """Each step of one PNG request, in-process: what the server does between socket reads."""
    from byoc.serving import codecs
    from byoc.serving.app import create_app
    from byoc.serving.predictor import Predictor

    body = png_request().body
    predictor = Predictor.load(model_dir, intra_op_threads=1, runtime=runtime)
    spec = predictor.spec
    batch = codecs.decode(body, "image/png", spec)
    probs = predictor.predict(batch)
    client = create_app(predictor).test_client()
    steps = {
        "decode PNG (codecs.decode)": lambda: codecs.decode(body, "image/png", spec),
        "model call (Predictor.predict)": lambda: predictor.predict(batch),
        "encode JSON (codecs.encode)": lambda: codecs.encode(probs, codecs.JSON, spec, 5),
        "Flask /ping (test client)": lambda: client.get("/ping"),
        "Flask /invocations (test client, all of the above)": lambda: client.post(
            "/invocations", data=body, content_type="image/png"),
    }
    return [f"| {runtime} | {step} | {_per_call_us(fn):.0f} |" for step, fn in steps.items()]


def cold_start_s(image: str, model_dir: Path, runtime: str) -> float:
    """`docker run IMAGE serve` with 1 worker → first 200 on /ping, in seconds."""
    import requests

    from tests.support.serving import free_port

    port = free_port()
    start = time.monotonic()
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", "-e",
         "SAGEMAKER_MODEL_SERVER_WORKERS=1", "-e", f"BYOC_SERVING_RUNTIME={runtime}",
         "-v", f"{model_dir.resolve()}:/opt/ml/model:ro", image, "serve"],
        capture_output=True, text=True, check=True).stdout.strip()
    try:
        while time.monotonic() - start < 120:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{image} did not answer /ping")
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def _has_tensorflow(image: str) -> bool:
    check = "import importlib.util as u, sys; sys.exit(not u.find_spec('tensorflow'))"
    return subprocess.run(["docker", "run", "--rm", image, "python", "-c", check],
                          capture_output=True, check=False).returncode == 0


def _engine_floor_s(image: str) -> float:
    """`docker run --rm IMAGE true`: what the engine itself costs, before any of our code runs."""
    start = time.monotonic()
    subprocess.run(["docker", "run", "--rm", image, "true"], capture_output=True, check=True)
    return time.monotonic() - start


def image_table(images: list[str], model_dir: Path, runs: int) -> list[str]:
    rows = []
    for image in images:
        size = int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image],
                                  capture_output=True, text=True, check=True).stdout)
        floor = statistics.median(_engine_floor_s(image) for _ in range(runs))
        for runtime in ("auto", "tensorflow") if _has_tensorflow(image) else ("auto",):
            starts = [cold_start_s(image, model_dir, runtime) for _ in range(runs)]
            rows.append(f"| {image} | {size / 1e6:.0f} | {runtime} "
                        f"| {statistics.median(starts):.2f} | {min(starts):.2f} | {floor:.2f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000, help="per throughput case")
    parser.add_argument("--images", nargs="*", default=[], help="image tags to size and start")
    parser.add_argument("--runs", type=int, default=3, help="cold starts per image")
    parser.add_argument("--model", type=Path,
                        help="a trained LeNet bundle: skip training and the per-model table")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from byoc.data.synth import generate

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "signs"
        generate(data, per_class=10, seed=1234)
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start.")
        if args.model:
            models = {"lenet": args.model}
        else:
            models = train_all(data, tmp / "runs", args.epochs)
            print("\n| model | test images | same top-1 | max prob diff | LiteRT call µs "
                  "| TensorFlow call µs |")
            print("|---|---:|---:|---:|---:|---:|")
            print("\n".join(agreement_row(arch, path, data) for arch, path in models.items()))
        print("\n| runtime | /ping req/s | PNG req/s | ratio | PNG p50 ms "
              "| worker RSS MB (idle) | after load |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print("\n".join(throughput_table(models["lenet"], tmp, args.requests)))
        print("\n| runtime | step of one PNG request (lenet) | µs |")
        print("|---|---|---:|")
        print("\n".join(row for runtime in RUNTIMES
                        for row in request_path_rows(models["lenet"], runtime)))
        if args.images:
            print(f"\n| image | size MB | BYOC_SERVING_RUNTIME | cold start s (median of "
                  f"{args.runs}) | fastest | `docker run IMAGE true` s |")
            print("|---|---:|---|---:|---:|---:|")
            print("\n".join(image_table(args.images, models["lenet"], args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
