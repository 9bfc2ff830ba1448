"""How well the real `train` learns synthetic signs: LeNet on an easy set; LeNet, VGG and ResNet
on a harder one, with VGG held to a margin over LeNet.

Each scenario trains for real (a minute or two each on 2 cores), so these targets live here
rather than in the test suite. Prints a markdown table of each run's test accuracy and wall time
(the whole `train` run: training, evaluation and plots) against each target; with --check, exits
1 when a target is missed.

    python -m benchmarks.accuracy [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from byoc import contract
from byoc.data.synth import generate
from byoc.driver.local import layout
from tests.support.executables import run_train

LENET_HPS = {"epochs": 40, "batch_size": 32, "learning_rate": 0.002,
             "early_stopping_patience": 8, "seed": 42}
HARDER_HPS = {"epochs": 20, "batch_size": 32, "seed": 3, "early_stopping_patience": 5}
# LeNet on easy signs; VGG's margin over LeNet on `normal` signs, which vary pose, light, blur
# and occlusion far more than `easy` ones.
EASY_TARGET = 0.95
VGG_MARGIN = 0.1


def accuracy_of(channels: dict[str, Path], root: Path, hps: dict) -> tuple[float, float]:
    """Test accuracy and wall seconds of one real `train` run."""
    start = time.monotonic()
    result = run_train(root, channels, hps)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"train failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    metrics = contract.Paths(root).output_data_dir / "metrics.json"
    return json.loads(metrics.read_text())["test_accuracy"], seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    rows, missed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # 100 images per class on average (GTSRB-like imbalance), every class at least 17.
        generate(work / "easy", per_class=100, seed=1, difficulty="easy")
        easy, seconds = accuracy_of(layout.split_channel_dirs(work / "easy"),
                                    work / "easy-ml", LENET_HPS)
        rows.append(("easy, 100/class", "lenet", easy, seconds, f"≥ {EASY_TARGET}"))
        if easy < EASY_TARGET:
            missed.append(f"LeNet on easy signs: {easy:.3f} < {EASY_TARGET}")
        generate(work / "normal", per_class=60, seed=2, difficulty="normal")
        channels = layout.split_channel_dirs(work / "normal")
        runs = {m: accuracy_of(channels, work / m, {**HARDER_HPS, "model": m})
                for m in ("lenet", "vgg", "resnet")}
        targets = {"vgg": f"≥ lenet + {VGG_MARGIN}"}
        rows += [("normal, 60/class", m, score, seconds, targets.get(m, ""))
                 for m, (score, seconds) in runs.items()]
        lenet, vgg = runs["lenet"][0], runs["vgg"][0]
        if vgg <= lenet + VGG_MARGIN:
            missed.append(f"VGG {vgg:.3f} is not {VGG_MARGIN} above LeNet {lenet:.3f} on "
                          "normal signs")
    print("| signs | model | test accuracy | wall time | target |")
    print("|---|---|---:|---:|---|")
    for signs, model, accuracy, seconds, target in rows:
        print(f"| {signs} | {model} | {accuracy:.3f} | {seconds:.0f} s | {target} |")
    for line in missed:
        print(f"missed: {line}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
