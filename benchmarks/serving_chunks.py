"""A worker's memory and speed by the size of its forward passes (`byoc.serving.predictor`).

`Predictor.predict` runs a large batch in chunks. For each model (trained for one epoch by the
real `train`: the numbers do not depend on its weights), runtime and chunk size, a new process
loads the bundle as a `serve` worker does (warm-up included), predicts a batch twice, and reports
its peak RSS and the time per image of the second batch. The chunk byoc chooses is marked.

    python -m benchmarks.serving_chunks [--models lenet@32 efficientnet_v2_b0@224]
        [--chunks 1 8 16 64] [--images 128]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from byoc.serving import predictor as predictors
from byoc.serving import runtime as runtimes
from tests.support.data import tiny_folders
from tests.support.executables import run_train

RUNTIMES = (runtimes.LITERT, runtimes.TENSORFLOW)


def measure(model_dir: Path, chunk: int, runtime: str, images: int) -> dict[str, float]:
    """In this process, which must be new: load at `chunk` images a pass, predict twice."""
    predictors.chunk_size = lambda shape: chunk  # what every Predictor of this process uses
    predictor = predictors.Predictor.load(model_dir, intra_op_threads=1, runtime=runtime)
    assert predictor.chunk == chunk, "Predictor no longer takes its chunk from chunk_size"
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    batch = np.random.default_rng(0).integers(0, 256, (images, *predictor.spec.input_shape),
                                              dtype=np.uint8)
    predictor.predict(batch)
    start = time.perf_counter()
    predictor.predict(batch)
    seconds = time.perf_counter() - start
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "loaded_mb": loaded, "us_per_image": seconds / images * 1e6}


def train(model: str, size: int, root: Path) -> Path:
    data = tiny_folders(root / "data", classes=2, per_class=16, size=48)
    result = run_train(root / model, {"train": data},
                       {"model": model, "image_size": size, "epochs": 1, "batch_size": 8,
                        "seed": 1})
    if result.returncode != 0:
        sys.exit(f"train failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return root / model / "model"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet@32", "efficientnet_v2_b0@224"],
                        help="MODEL@SIDE, as the `model` and `image_size` hyperparameters")
    parser.add_argument("--chunks", nargs="+", type=int, default=[1, 8, 16, 64])
    parser.add_argument("--images", type=int, default=128, help="images in the timed batch")
    parser.add_argument("--child", nargs=3, metavar=("MODEL_DIR", "CHUNK", "RUNTIME"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model_dir, chunk, runtime = args.child
        print(json.dumps(measure(Path(model_dir), int(chunk), runtime, args.images)))
        return 0
    print("| model | input | runtime | images a pass | peak RSS (MB) | after load (MB) "
          "| µs an image |")
    print("|---|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for entry in args.models:
            model, _, side = entry.partition("@")
            model_dir = train(model, int(side), Path(tmp) / model)
            chosen = predictors.chunk_size((int(side), int(side), 3))
            for runtime in RUNTIMES:
                for chunk in sorted({*args.chunks, chosen}):
                    out = subprocess.run(
                        [sys.executable, "-m", "benchmarks.serving_chunks", "--images",
                         str(args.images), "--child", str(model_dir), str(chunk), runtime],
                        capture_output=True, text=True, check=True)
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    mark = " (byoc's)" if chunk == chosen else ""
                    print(f"| {model} | {side}×{side} | {runtime} | {chunk}{mark} "
                          f"| {row['peak_mb']:.0f} | {row['loaded_mb']:.0f} "
                          f"| {row['us_per_image']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
