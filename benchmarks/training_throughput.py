"""Training throughput: byoc's tf.data pipeline against plain `model.fit` on in-memory arrays.

Prints a markdown table of images/s per architecture (median of the timed epochs; the first
epoch, which traces and compiles, is left out), then the wall time of a whole `train` run on the
synthetic signs. Run: `make bench` or `python -m benchmarks.training_throughput`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.accuracy import LENET_HPS
from byoc import hyperparams
from byoc.data import pipeline
from byoc.driver.local import layout
from byoc.model import architectures
from byoc.training.run import compile_model

REPO = Path(__file__).resolve().parents[1]


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def images_per_second(model_name: str, x: np.ndarray, y: np.ndarray, epochs: int,
                      use_pipeline: bool, batch_size: int) -> float:
    hp = hyperparams.parse({"model": model_name, "batch_size": str(batch_size)})
    keras.utils.set_random_seed(0)
    model = architectures.build(model_name, x.shape[1:], int(y.max()) + 1)
    compile_model(model, hp, top_k=5)
    timer = EpochTimer()
    if use_pipeline:
        examples = tf.data.Dataset.from_tensor_slices((x, y, np.ones(len(y), np.float32)))
        data = pipeline.training_stream(examples, hp, batch_size)
        model.fit(data, epochs=epochs, steps_per_epoch=-(-len(x) // batch_size), verbose=0,
                  callbacks=[timer], shuffle=False)
    else:
        model.fit(x.astype(np.float32), y, batch_size=batch_size, epochs=epochs, verbose=0,
                  callbacks=[timer], shuffle=True)
    return len(x) / statistics.median(timer.times[1:])


def full_train_run(per_class: int) -> tuple[float, float]:
    """Wall time and test accuracy of `train` (LeNet, benchmarks.accuracy's easy-signs settings)."""
    import json

    from byoc.data.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "signs"
        generate(data, per_class=per_class, seed=1, difficulty="easy")
        root = Path(tmp) / "ml"
        layout.prepare(root, layout.split_channel_dirs(data), LENET_HPS)
        env = dict(os.environ, SAGEMAKER_BASE_DIR=str(root),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        start = time.perf_counter()
        subprocess.run([str(REPO / "train")], env=env, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        metrics = json.loads((root / "output" / "data" / "metrics.json").read_text())
        return elapsed, metrics["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default="lenet,vgg,resnet")
    parser.add_argument("--skip-full-run", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 43, args.images)
    print(f"\n{args.images} images of 32x32x3, batch {args.batch_size}, {os.cpu_count()} CPUs\n")
    print("| model | byoc tf.data pipeline (img/s) | plain model.fit on arrays (img/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name in args.models.split(","):
        ours = images_per_second(name, x, y, args.epochs, True, args.batch_size)
        plain = images_per_second(name, x, y, args.epochs, False, args.batch_size)
        print(f"| {name} | {ours:,.0f} | {plain:,.0f} | {ours / plain:.2f} |", flush=True)
    if not args.skip_full_run:
        elapsed, accuracy = full_train_run(per_class=100)
        print(f"\nFull `train` run (LeNet, synthetic easy signs, 100/class on average, data "
              f"loading, training, evaluation and plots): {elapsed:.0f} s, "
              f"test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
