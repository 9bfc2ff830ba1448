"""Peak memory of `train` on an image set far larger than memory: what streaming holds it to.

Writes a synthetic sign set (`byoc data synth` at `--source-size`, in parallel processes), lists
every image file `--copies` times in each channel (hard links: the disk holds one copy, `train`
opens and decodes every listed file), and runs the real `train` over it at `--image-size` with
`input_mode=auto`: one epoch of a one-layer model (average pooling, then softmax), so that the
run measures the input pipeline and the evaluation, not a network's activations.
The RSS of the `train` process is sampled every second; the kernel's own peak (ru_maxrss) is
read when it exits. Prints a markdown table, and what the in-memory path would need: the decoded
arrays alone (images × H × W × 3 bytes), before the model or the pipeline. The data is deleted
afterwards.
Run: `python -m benchmarks.train_memory [--per-class 100] [--copies 44] [--image-size 128]`
(170,456 images, 8.4 GB decoded).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from byoc import contract
from byoc.driver.local import layout

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("train", "validation", "test")
MODEL_PY = """
import keras


def build_model(input_shape, num_classes, hp):
    return keras.Sequential([keras.Input(input_shape), keras.layers.AveragePooling2D(8),
                             keras.layers.Flatten(),
                             keras.layers.Dense(num_classes, activation="softmax")])
"""


def _generate(args: tuple[Path, int, int, int]) -> Path:
    from byoc.data import synth

    out, per_class, seed, size = args
    synth.generate(out, per_class, seed, image_size=size)
    return out


def _linked(parts: list[Path], dest: Path, copies: int) -> dict[str, int]:
    """Each split of every generated part, every image linked `copies` times into dest/split."""
    counts = dict.fromkeys(SPLITS, 0)
    for part in parts:
        for split in SPLITS:
            for image in (part / split).glob("*/*.png"):
                folder = dest / split / image.parent.name
                folder.mkdir(parents=True, exist_ok=True)
                for k in range(copies):
                    os.link(image, folder / f"{part.name}-{k}-{image.name}")
                counts[split] += copies
    return counts


def _rss_of(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match[1]) * 1024 if match else 0


def _train(root: Path) -> tuple[int, list[int], int, float, str]:
    """Run `train` over `root`; return its exit code, RSS samples, peak RSS, seconds and log."""
    env = dict(os.environ, SAGEMAKER_BASE_DIR=str(root), TF_CPP_MIN_LOG_LEVEL="2",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    log_path = root / "train.log"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(REPO / "train")], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        samples: list[int] = []

        def sample() -> None:
            while proc.poll() is None:
                samples.append(_rss_of(proc.pid))
                time.sleep(1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        sampler.join()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return code, [s for s in samples if s], peak, seconds, log_path.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100,
                        help="synthetic images per class (43 classes), before the copies")
    parser.add_argument("--copies", type=int, default=44)
    parser.add_argument("--image-size", type=int, default=128, help="what `train` decodes to")
    parser.add_argument("--source-size", type=int, default=32, help="the files' size")
    parser.add_argument("--parts", type=int, default=os.cpu_count() or 1,
                        help="generate in this many processes (each its own seed)")
    parser.add_argument("--dir", help="where to write the data (default: a temporary dir)")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        share = max(1, args.per_class // args.parts)
        jobs = [(tmp / f"part{i}", share, i, args.source_size) for i in range(args.parts)]
        with ProcessPoolExecutor(args.parts) as pool:
            parts = list(pool.map(_generate, jobs))
        counts = _linked(parts, tmp / "data", args.copies)
        made = time.perf_counter() - started
        root = tmp / "opt_ml"
        (tmp / "code").mkdir()
        (tmp / "code" / "model.py").write_text(MODEL_PY)
        layout.prepare(root, {s: tmp / "data" / s for s in SPLITS},
                       {"epochs": 1, "model": "model:build_model", "image_size": args.image_size,
                        "batch_size": 128, "input_mode": "auto",
                        "sagemaker_submit_directory": str(tmp / "code")})
        code, samples, peak, seconds, log = _train(root)
        if code != 0:
            sys.exit(f"train failed ({code}):\n{log[-3000:]}")
        out = contract.Paths(root).output_data_dir
        metrics = json.loads((out / "metrics.json").read_text())
        with open(out / "per_class_test.csv") as f:
            reported = sum(int(row["support"]) for row in csv.DictReader(f))
    choice = next(line for line in log.splitlines() if "the channels" in line)
    images = sum(counts.values())
    decoded = images * args.image_size ** 2 * 3
    quarter = samples[len(samples) // 4] if samples else 0
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    print(f"Machine: {os.cpu_count()} cores, {memory / 1e9:.1f} GB; load average {load:.1f} "
          f"at the start, {os.getloadavg()[0]:.1f} at the end.")
    print(f"Data made in {made:.0f} s. {choice.split('byoc.training: ')[-1]}")
    print()
    print("| images (train / validation / test) | decoded | peak RSS of `train` | RSS at a quarter "
          "/ at the end | test images in the report | time | in memory would need |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {images:,} ({counts['train']:,} / {counts['validation']:,} / {counts['test']:,}) | "
          f"{decoded / 1e9:.2f} GB | {peak / 1e9:.2f} GB | {quarter / 1e9:.2f} / "
          f"{(samples[-1] if samples else 0) / 1e9:.2f} GB | {reported:,} | "
          f"{seconds / 60:.1f} min | > {decoded / 1e9:.2f} GB |")
    print(f"\ntest accuracy {metrics['test_accuracy']:.3f} (one epoch)")


if __name__ == "__main__":
    main()
