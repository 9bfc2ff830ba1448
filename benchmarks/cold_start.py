"""Cold start of `serve`, phase by phase: `docker run IMAGE serve` (1 worker) → first 200 on /ping.

The phases come from the container's own clocks: Docker's StartedAt, the timestamps Docker puts on
each log line, and the times `serve` logs for the runtime import, the model load and the warm-up.

| phase | from → to |
|---|---|
| engine | `docker run` called → the container's process started (State.StartedAt) |
| Python + byoc import | process start → `serve`'s first log line (`byoc.entrypoints`) |
| master | → gunicorn's "Booting worker" (server imports, the bundle check, gunicorn, the fork) |
| worker imports | → the worker's runtime import starts (Flask, the app, the predictor) |
| runtime import | LiteRT or TensorFlow, as logged by the worker |
| model load | as logged |
| warm-up | as logged (batches of 1, 8 and 64) |
| to first 200 | the "ready" line → the client's first 200 on /ping (log and poll latency) |

`--memory 2048m` runs the containers as SageMaker Serverless Inference would size them.

    python -m benchmarks.cold_start --images byoc:serving byoc:cpu [--runs 5] [--memory 2048m]
        [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.support.serving import free_port

PHASES = ("engine", "Python + byoc import", "master", "worker imports", "runtime import",
          "model load", "warm-up", "to first 200")
READY = re.compile(r"runtime import ([\d.]+) s, model load ([\d.]+) s, warm-up ([\d.]+) s")


def _epoch(stamp: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, as seconds since the epoch."""
    stamp = stamp.strip().replace("Z", "+00:00")
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp)
    return datetime.fromisoformat(stamp).timestamp()


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def cold_start(image: str, model_dir: Path, runtime: str, memory: str | None) -> dict[str, float]:
    """One cold start, split into PHASES (seconds), plus "total"."""
    import requests

    port = free_port()
    limits = ["--memory", memory, "--memory-swap", memory] if memory else []
    start = time.time()
    container = _docker("run", "-d", *limits, "-p", f"127.0.0.1:{port}:8080",
                        "-e", "SAGEMAKER_MODEL_SERVER_WORKERS=1",
                        "-e", f"BYOC_SERVING_RUNTIME={runtime}",
                        "-v", f"{model_dir.resolve()}:/opt/ml/model:ro", image, "serve")
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    ready = time.time()
                    break
            except requests.RequestException:
                pass
            if time.time() - start > 180:
                raise RuntimeError(f"{image} did not answer /ping:\n"
                                   f"{_docker('logs', container)[-3000:]}")
            time.sleep(0.005)
        started = _epoch(_docker("inspect", "--format", "{{.State.StartedAt}}", container))
        logs = subprocess.run(["docker", "logs", "-t", container], capture_output=True,
                              text=True, check=True)
        lines = [line.split(" ", 1) for line in (logs.stdout + logs.stderr).splitlines()
                 if " " in line]
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)

    def first(text: str) -> tuple[float, str]:
        found = [(_epoch(t), rest) for t, rest in lines if text in rest]
        if not found:
            raise RuntimeError(f"no log line with {text!r}")
        return min(found)

    first_line = min(_epoch(t) for t, _ in lines)
    booting, _ = first("Booting worker")
    at_ready, line = first(" ready on ")
    imported, loaded, warmed = (float(g) for g in READY.search(line).groups())
    return {
        "engine": started - start,
        "Python + byoc import": first_line - started,
        "master": booting - first_line,
        "worker imports": at_ready - booting - imported - loaded - warmed,
        "runtime import": imported,
        "model load": loaded,
        "warm-up": warmed,
        "to first 200": ready - at_ready,
        "total": ready - start,
    }


def has_tensorflow(image: str) -> bool:
    check = "import importlib.util as u, sys; sys.exit(not u.find_spec('tensorflow'))"
    return subprocess.run(["docker", "run", "--rm", image, "python", "-c", check],
                          capture_output=True, check=False).returncode == 0


def table(images: list[str], model_dir: Path, runs: int, memories: list[str | None]) -> list[str]:
    rows = []
    for image in images:
        size = int(_docker("image", "inspect", "--format", "{{.Size}}", image))
        for runtime in ("auto", "tensorflow") if has_tensorflow(image) else ("auto",):
            for memory in memories:
                results = [cold_start(image, model_dir, runtime, memory) for _ in range(runs)]
                median = {k: statistics.median(r[k] for r in results) for k in results[0]}
                rows.append(
                    f"| {image} ({size / 1e6:.0f} MB) | {runtime} | {memory or 'none'} "
                    f"| **{median['total']:.2f}** | {min(r['total'] for r in results):.2f} | "
                    + " | ".join(f"{median[p]:.2f}" for p in PHASES) + " |")
                print(rows[-1], flush=True)
    return rows


def train_lenet(root: Path) -> Path:
    from byoc.data.synth import generate
    from byoc.driver.local import layout
    from tests.support.executables import run_train

    generate(root / "signs", per_class=10, seed=1234)
    result = run_train(root / "run", layout.split_channel_dirs(root / "signs"),
                       {"model": "lenet", "epochs": 1, "batch_size": 32, "seed": 7})
    if result.returncode:
        raise RuntimeError(f"train failed:\n{result.stdout[-3000:]}")
    return root / "run" / "model"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", required=True, help="image tags to start")
    parser.add_argument("--runs", type=int, default=5, help="cold starts per case (median)")
    parser.add_argument("--memory", nargs="*", default=[],
                        help="also run with these --memory limits (e.g. 2048m)")
    parser.add_argument("--model", type=Path, help="a LeNet bundle with model.tflite (else one "
                        "is trained for 1 epoch)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or train_lenet(Path(tmp))
        spec = json.loads((model_dir / "byoc-model.json").read_text())
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
              f"model {spec.get('model', 'lenet')}, median of {args.runs} runs (seconds).\n")
        print("| image | runtime | --memory | cold start | fastest | "
              + " | ".join(PHASES) + " |")
        print("|---|---|---|---:|---:|" + "---:|" * len(PHASES))
        table(args.images, model_dir, args.runs, [None, *args.memory])
        print(f"\nLoad average {os.getloadavg()[0]:.1f} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
