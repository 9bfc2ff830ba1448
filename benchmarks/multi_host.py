"""Multi-host training: 1 container against 2 containers of the image, same data, same epochs.

Each container gets `--cpus-per-instance` CPUs, like an instance of its own. Prints a markdown
table of wall time (the whole `byoc local train` run: start-up, training, the chief's evaluation),
training images per second (from the epoch lines of the chief's log) and test accuracy.
Run: `python -m benchmarks.multi_host --image byoc:cpu` (build it with `make image`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from byoc.data.synth import generate
from byoc.driver.local import docker, layout

# Keras's epoch line: "19/19 - 3s - 160ms/step - ...".
EPOCH = re.compile(r"(\d+)/\1 - \S+ - (\d+)ms/step")


def run(image: str, data: Path, out: Path, instances: int, cpus: float, hps: dict) -> dict:
    lines: list[str] = []
    start = time.perf_counter()
    code = docker.train(image, layout.split_channel_dirs(data), out, hps, stream=lines.append,
                        instance_count=instances, cpus=cpus)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit("\n".join(lines[-40:]))
    chief = [ln for ln in lines if ln.startswith("algo-1 | ")] if instances > 1 else lines
    step_ms = [int(m.group(2)) for ln in chief for m in [EPOCH.search(ln)] if m][1:]
    global_batch = hps["batch_size"] * instances
    root = out / "algo-1" if instances > 1 else out
    metrics = json.loads((root / "output" / "data" / "metrics.json").read_text())
    return {"wall": wall, "images_per_s": global_batch / (statistics.median(step_ms) / 1000),
            "accuracy": metrics["test_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="byoc:cpu")
    parser.add_argument("--cpus-per-instance", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=40)
    args = parser.parse_args()
    hps = {"epochs": args.epochs, "batch_size": 32, "seed": 5, "early_stopping_patience": 0}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "signs"
        generate(data, per_class=args.per_class, seed=3, difficulty="easy")
        rows = {n: run(args.image, data, Path(tmp) / f"run{n}", n, args.cpus_per_instance, hps)
                for n in (1, 2)}
    print("| instances | CPUs each | wall time (s) | train images/s | test accuracy |")
    print("|---:|---:|---:|---:|---:|")
    for n, r in rows.items():
        print(f"| {n} | {args.cpus_per_instance:g} | {r['wall']:.0f} | {r['images_per_s']:,.0f} "
              f"| {r['accuracy']:.3f} |")


if __name__ == "__main__":
    main()
