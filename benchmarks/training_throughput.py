"""Training throughput: byoc's training loop, on arrays in memory and on the stream, against plain
Keras `model.fit` on the same images in memory.

For each model (LeNet at 32×32, MobileNetV3-Small at 96×96 by default) it trains one model per
variant on the same synthetic signs: `fit` on float32 arrays (Keras's defaults), then byoc's loop
(`byoc.training.loop`, as `train` runs it) over the uint8 arrays in memory and over the image
files streamed through tf.data, each with 1 step per compiled call and with the default
`steps_per_execution`. Every variant runs a first epoch that traces and compiles, untimed; then
the timed epochs alternate between the variants, one epoch each in turn, in a rotating order, so
that the load of a busy machine falls on all of them alike. Prints a markdown table of the median
images/s per variant and its ratio to `fit`, then the wall time of a whole `train` run.

    python -m benchmarks.training_throughput [--epochs 6] [--models lenet@32,mobilenet_v3_small@96]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.accuracy import LENET_HPS
from byoc import hyperparams
from byoc.contract import TRAIN, Paths, TrainingEnv
from byoc.data.synth import generate
from byoc.driver.local import layout
from byoc.hyperparams import HyperParameters
from byoc.model import architectures
from byoc.training import loop
from byoc.training.distributed import Distributed
from byoc.training.run import compile_model, set_determinism
from byoc.training.splits import Splits, load_splits

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = "lenet@32,mobilenet_v3_small@96"


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def _model(hp: HyperParameters, num_classes: int) -> keras.Model:
    keras.utils.set_random_seed(hp.seed)
    model = architectures.build(hp.model, (*hp.image_size, hp.channels), num_classes)
    compile_model(model, hp, top_k=5)
    model.optimizer.build(model.trainable_variables)
    return model


def fit_epochs(hp: HyperParameters, x: np.ndarray, y: np.ndarray,
               num_classes: int) -> Callable[[], float]:
    """Plain Keras: `model.fit` on float32 arrays, shuffled, one epoch a call. Returns a function
    that trains one epoch and gives its seconds (what happens inside the epoch, as Keras's
    callbacks see it)."""
    model = _model(hp, num_classes)
    x = x.astype(np.float32)
    timer = EpochTimer()

    def epoch() -> float:
        model.fit(x, y, batch_size=hp.batch_size, epochs=1, verbose=0, shuffle=True,
                  callbacks=[timer])
        return timer.seconds

    return epoch


def loop_epochs(hp: HyperParameters, x, y: np.ndarray, num_classes: int) -> Callable[[], float]:
    """byoc's loop as `train` runs it on one host: `x` an array in memory or a stream."""
    dist = Distributed(tf.distribute.get_strategy())
    model = _model(hp, num_classes)
    shape = loop.epoch_shape(dist, hp, len(y), sharded=False)
    iterator, _ = loop.datasets(dist, hp, shape, x, y, np.ones(num_classes, np.float32), None,
                                sharded=False)
    steps = loop.Loop(model, dist, shape.global_batch, top_k=5,
                      steps_per_execution=hp.steps_per_execution)
    callbacks = keras.callbacks.CallbackList([], model=model)

    def epoch() -> float:
        start = time.perf_counter()
        steps.train_epoch(iterator, shape.steps, lambda: False, callbacks)
        return time.perf_counter() - start

    return epoch


def _splits(data: Path, hp: HyperParameters, mode: str) -> Splits:
    env = TrainingEnv(Paths(data / "ml"), {}, {}, {}, {TRAIN: data / TRAIN})
    return load_splits(env, dataclasses.replace(hp, input_mode=mode))


def _per_call(k: int) -> str:
    return f"{k} step{'s' if k > 1 else ''} per call"


def measure(model: str, size: int, data: Path, epochs: int, batch_size: int,
            per_call: int) -> list[tuple[str, float]]:
    """Median images/s of each variant, its timed epochs alternating with the others'."""
    hp = hyperparams.parse({"model": model, "image_size": str(size),
                            "batch_size": str(batch_size), "validation_split": "0"})
    set_determinism(hp.seed)  # as `train` does
    memory, stream = _splits(data, hp, "memory"), _splits(data, hp, "stream")
    x, y = memory.x[TRAIN], memory.y[TRAIN]
    n, classes = len(y), len(memory.class_names)
    variants: dict[str, Callable[[], float]] = {"Keras `model.fit`, arrays": fit_epochs(
        hp, x, y, classes)}
    for k in (1, per_call):
        with_k = dataclasses.replace(hp, steps_per_execution=k)
        variants[f"byoc loop, arrays, {_per_call(k)}"] = loop_epochs(with_k, x, y, classes)
        variants[f"byoc loop, stream, {_per_call(k)}"] = loop_epochs(
            with_k, stream.x[TRAIN], stream.y[TRAIN], classes)
    for epoch in variants.values():  # traces and compiles: not timed
        epoch()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(epochs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(variants[name]())
    return [(name, n / statistics.median(seconds)) for name, seconds in times.items()]


def full_train_run(per_class: int) -> tuple[float, float]:
    """Wall time and test accuracy of `train` (LeNet, benchmarks.accuracy's easy-signs settings)."""
    import json

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
    parser.add_argument("--per-class", type=int, default=40,
                        help="synthetic signs per class on average (43 classes)")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per variant")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help="MODEL@SIZE,... (default %(default)s)")
    parser.add_argument("--steps-per-execution", type=int,
                        default=hyperparams.STEPS_PER_EXECUTION)
    parser.add_argument("--skip-full-run", action="store_true")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    print(f"\nbatch {args.batch_size}, {args.epochs} timed epochs per variant, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the start\n")
    print("| model | image size | images | variant | img/s | × fit |")
    print("|---|---:|---:|---|---:|---:|")
    for item in args.models.split(","):
        model, _, size = item.partition("@")
        size = int(size or 32)
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "signs"
            generate(data, per_class=args.per_class, seed=1, difficulty="easy", image_size=size,
                     validation_fraction=0.0, test_fraction=0.0)
            count = sum(1 for p in (data / TRAIN).rglob("*") if p.is_file())
            rows = measure(model, size, data, args.epochs, args.batch_size,
                           args.steps_per_execution)
        fit = rows[0][1]
        for name, rate in rows:
            print(f"| {model} | {size}×{size} | {count:,} | {name} | {rate:,.0f} | "
                  f"{rate / fit:.2f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    if not args.skip_full_run:
        elapsed, accuracy = full_train_run(per_class=100)
        print(f"\nFull `train` run (LeNet, synthetic easy signs, 100/class on average, data "
              f"loading, training, evaluation and plots): {elapsed:.0f} s, "
              f"test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
