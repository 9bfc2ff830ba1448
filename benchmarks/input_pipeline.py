"""Input throughput and memory: the channels in memory vs streamed.

Writes a synthetic sign set (`byoc data synth`), then, each in a fresh process so that its peak
RSS is its own, delivers one pass of training batches (batch 64, no augmentation) through:
- `read_channel`: the in-memory reader, then the tf.data pipeline over the arrays; its time
  includes the decode. With 1 thread it is the single-thread reader `train` had before
  streaming; with 2 it decodes in 2 threads (`formats.DECODE_THREADS`, 4 by default);
- `stream`: `byoc.data.streaming` decoding inside tf.data, with 1 and with 2 threads.
Prints a markdown table: images/s over the first pass (the decode included) and over a second
one, and the process's peak RSS. `--copies K` lists every file K times (symbolic links), a cheap
way to a set whose decoded size is large, for the memory column.
Run: `python -m benchmarks.input_pipeline [--per-class N] [--image-size PX ...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 64


def _measure(data: Path, size: int, mode: str, threads: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from byoc.data import formats, pipeline, streaming
    from byoc.hyperparams import HyperParameters

    hp = HyperParameters(image_size=(size, size))
    formats.DECODE_THREADS = threads  # the reader's pool, as tf.data's below
    start = time.perf_counter()
    if mode == "memory":
        channel = formats.read_channel(data, (size, size))
        weights = np.ones(len(channel.y), np.float32)
        ds = pipeline.training_stream(
            tf.data.Dataset.from_tensor_slices((channel.x, channel.y, weights)), hp, BATCH)
        count = len(channel.y)
    else:
        stream, _ = streaming.open_channel(data, (size, size), 3)
        ds = stream.training(hp, BATCH, np.ones(len(stream.class_names), np.float32))
        count = len(stream)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    ds = ds.with_options(options)
    steps = count // BATCH
    iterator = iter(ds)
    for _ in range(steps):
        next(iterator)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):  # a later epoch: in memory, the decode is paid already
        next(iterator)
    later = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"images": steps * BATCH, "seconds": seconds, "later": later, "rss": rss}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.input_pipeline", "--child", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _copies(train: Path, out: Path, copies: int) -> Path:
    """The class folders of `train` with every image linked `copies` times."""
    for image in train.glob("*/*"):
        if image.suffix.lower() in (".png", ".ppm"):
            folder = out / image.parent.name
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(copies):
                (folder / f"{k}-{image.name}").symlink_to(image)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--image-size", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--copies", type=int, default=1, metavar="K")
    parser.add_argument("--child", nargs=4, metavar=("DATA", "SIZE", "MODE", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data, size, mode, threads = args.child
        print(json.dumps(_measure(Path(data), int(size), mode, int(threads))))
        return

    from byoc.data import synth

    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.image_size:
            root = Path(tmp) / str(size)
            synth.generate(root, args.per_class, 0, image_size=size)
            train = root / "train"
            if args.copies > 1:
                train = _copies(train, root / "copies", args.copies)
            for mode, threads in (("memory", 1), ("memory", 2), ("stream", 1), ("stream", 2)):
                result = _child([str(train), str(size), mode, str(threads)])
                rows.append((size, mode, threads, result))
    print(f"{os.cpu_count()} cores; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after.\n")
    print("| image size | input | decode threads | images | first epoch (img/s) | "
          "later epoch (img/s) | peak RSS (MB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size, mode, threads, r in rows:
        label = "read_channel, then arrays" if mode == "memory" else "stream"
        print(f"| {size}×{size} | {label} | {threads} | {r['images']} | "
              f"{r['images'] / r['seconds']:,.0f} | {r['images'] / r['later']:,.0f} | "
              f"{r['rss'] / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
