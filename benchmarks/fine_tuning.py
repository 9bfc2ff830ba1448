"""Pretrained against from scratch: does a backbone trained on other signs reach the from-scratch
accuracy in fewer epochs?

The synthetic signs are cut in two by class: set A (the first classes) and set B (the rest), so
that no class of B was seen before. The real `train` trains MobileNetV3-Small on A from random
weights; its `model.keras` is then the `pretrained` channel of a run on B (the head frozen for
`--freeze-epochs`, then the whole backbone at a tenth of the rate), beside a run on B from random
weights with the same settings. Early stopping is off, so both curves are whole. Prints the
per-epoch validation accuracy of both runs as a markdown table and how many epochs each took to
reach the from-scratch run's best; with --plot, draws both curves into a PNG.

    python -m benchmarks.fine_tuning [--epochs 12] [--plot curves.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from byoc import bundle, contract
from byoc.data.synth import generate
from byoc.driver.local import layout
from tests.support.executables import run_train

MODEL = "mobilenet_v3_small"
SPLITS = (contract.TRAIN, contract.VALIDATION, contract.TEST)


def split_by_class(signs: Path, out: Path, first: int) -> tuple[Path, Path]:
    """Two data sets from `signs`: classes below `first` (A) and the others (B), every split of
    each, with the labels file."""
    sets = out / "A", out / "B"
    for split in SPLITS:
        for folder in sorted((signs / split).iterdir()):
            if folder.is_dir():
                target = sets[0] if int(folder.name) < first else sets[1]
                shutil.copytree(folder, target / split / folder.name)
            else:
                for target in sets:
                    (target / split).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(folder, target / split / folder.name)
    return sets


def train(root: Path, data: Path, hps: dict, pretrained: Path | None = None) -> dict:
    """One real `train` run: its per-epoch history, test accuracy and wall time."""
    channels = layout.split_channel_dirs(data)
    if pretrained is not None:
        channels[contract.PRETRAINED] = pretrained
    start = time.perf_counter()
    result = run_train(root, channels, hps, timeout=3600)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"train failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    paths = contract.Paths(root)
    state = json.loads((paths.checkpoint_dir / "state.json").read_text())
    metrics = json.loads((paths.output_data_dir / "metrics.json").read_text())
    return {"history": state["history"], "test_accuracy": metrics["test_accuracy"],
            "seconds": seconds}


def epochs_to_reach(curve: list[float], target: float) -> int | None:
    """The first epoch (1-based) whose accuracy is at least `target`."""
    return next((i + 1 for i, value in enumerate(curve) if value >= target - 1e-9), None)


def plot(path: Path, curves: dict[str, list[float]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=40, help="signs per class (balanced)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of each run on set B")
    parser.add_argument("--pretrain-epochs", type=int, default=15, help="epochs on set A")
    parser.add_argument("--freeze-epochs", type=int, default=2)
    parser.add_argument("--plot", type=Path, help="write the two curves to this PNG")
    args = parser.parse_args()
    # Small batches make more steps: a backbone trained from scratch keeps its BatchNormalization
    # statistics (momentum 0.999) near their initial values for the first thousand steps or so,
    # and its validation accuracy means little until they have moved; train accuracy is
    # reported beside it.
    common = {"model": MODEL, "image_size": args.image_size, "batch_size": args.batch_size,
              "learning_rate": 0.002, "early_stopping_patience": 0, "seed": 7}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generate(work / "signs", per_class=args.per_class, seed=5, difficulty="easy",
                 image_size=args.image_size, balanced=True)
        set_a, set_b = split_by_class(work / "signs", work, first=21)
        source = train(work / "A-ml", set_a, {**common, "epochs": args.pretrain_epochs})
        weights = work / "pretrained"
        weights.mkdir()
        shutil.copy2(contract.Paths(work / "A-ml").model_dir / bundle.MODEL_FILE, weights)
        scratch = train(work / "B-scratch", set_b, {**common, "epochs": args.epochs})
        tuned = train(work / "B-pretrained", set_b,
                      {**common, "epochs": args.epochs, "freeze_epochs": args.freeze_epochs},
                      pretrained=weights)
    runs = {"from scratch": scratch, "pretrained on set A": tuned}
    print(f"\n{MODEL} at {args.image_size}×{args.image_size}, batch {args.batch_size}, synthetic "
          f"easy signs, {args.per_class} per class: set A = classes 0-20 (its run: "
          f"{args.pretrain_epochs} epochs, test accuracy {source['test_accuracy']:.3f}, "
          f"{source['seconds']:.0f} s), set B = classes 21-42; the pretrained run's first "
          f"{args.freeze_epochs} epochs train the head alone\n")
    print(table(runs))
    if args.plot:
        plot(args.plot, {name: run["history"]["val_accuracy"] for name, run in runs.items()},
             f"{MODEL}, {args.image_size}×{args.image_size}, synthetic signs set B")
        print(f"\nplot: {args.plot}")
    return 0


def table(runs: dict[str, dict]) -> str:
    """Per-epoch train and validation accuracy of each run, then the epochs each took to reach
    the from-scratch run's best."""
    names = list(runs)
    rows = ["| epoch | " + " | ".join(f"{n}: train | {n}: validation" for n in names) + " |",
            "|---:|" + "---:|---:|" * len(names)]
    length = max(len(run["history"]["accuracy"]) for run in runs.values())
    for epoch in range(length):
        cells = []
        for run in runs.values():
            history = run["history"]
            cells += [f"{history[k][epoch]:.3f}" if epoch < len(history[k]) else ""
                      for k in ("accuracy", "val_accuracy")]
        rows.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    best = {k: max(runs[names[0]]["history"][k]) for k in ("accuracy", "val_accuracy")}
    rows += ["", f"| run on set B | epochs to reach {names[0]}'s best train accuracy "
             f"({best['accuracy']:.3f}) | its best validation accuracy "
             f"({best['val_accuracy']:.3f}) | test accuracy | wall time |",
             "|---|---:|---:|---:|---:|"]
    for name, run in runs.items():
        reached = [epochs_to_reach(run["history"][k], best[k]) or "not reached" for k in best]
        rows.append(f"| {name} | {reached[0]} | {reached[1]} | {run['test_accuracy']:.3f} | "
                    f"{run['seconds']:.0f} s |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
