"""How well the real `train` learns synthetic signs: LeNet on an easy set, VGG against LeNet on a
harder one.

Each scenario trains for real (a minute or two each on 2 cores), so these targets live here
rather than in the test suite. Prints a markdown table of test accuracy against each target;
with --check, exits 1 when a target is missed.

    python -m benchmarks.accuracy [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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


def accuracy_of(channels: dict[str, Path], root: Path, hps: dict) -> float:
    """Test accuracy of one real `train` run."""
    result = run_train(root, channels, hps)
    if result.returncode != 0:
        sys.exit(f"train failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    metrics = contract.Paths(root).output_data_dir / "metrics.json"
    return json.loads(metrics.read_text())["test_accuracy"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    rows, missed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # 100 images per class on average (GTSRB-like imbalance), every class at least 17.
        generate(work / "easy", per_class=100, seed=1, difficulty="easy")
        easy = accuracy_of(layout.split_channel_dirs(work / "easy"), work / "easy-ml",
                             LENET_HPS)
        rows.append(("easy, 100/class", "lenet", easy, f"≥ {EASY_TARGET}"))
        if easy < EASY_TARGET:
            missed.append(f"LeNet on easy signs: {easy:.3f} < {EASY_TARGET}")
        generate(work / "normal", per_class=60, seed=2, difficulty="normal")
        channels = layout.split_channel_dirs(work / "normal")
        scores = {m: accuracy_of(channels, work / m, {**HARDER_HPS, "model": m})
                  for m in ("lenet", "vgg")}
        rows.append(("normal, 60/class", "lenet", scores["lenet"], ""))
        rows.append(("normal, 60/class", "vgg", scores["vgg"], f"≥ lenet + {VGG_MARGIN}"))
        if scores["vgg"] <= scores["lenet"] + VGG_MARGIN:
            missed.append(f"VGG {scores['vgg']:.3f} is not {VGG_MARGIN} above LeNet "
                          f"{scores['lenet']:.3f} on normal signs")
    print("| signs | model | test accuracy | target |")
    print("|---|---|---:|---|")
    for signs, model, accuracy, target in rows:
        print(f"| {signs} | {model} | {accuracy:.3f} | {target} |")
    for line in missed:
        print(f"missed: {line}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
