"""The offline tabular baseline on scikit-learn's data sets: hpo vs ensembling vs the best single
family, scored on a held-out quarter, at two time budgets. Prints a Markdown table.

    python -m benchmarks.tabular [--budgets 30 120] [--data wine cancer ...] [--quarters]

With --quarters, each row is the mean over the four held-out quarters of a 4-fold split (every
row held out once), as benchmarks/tabular_targets.py judges the accuracy targets; it takes
four times as long. Without it, the held-out quarter of split seed 0.

Best single family: the best single candidate of the ensembling run's leaderboard, refit on the
training rows (what a user would get by picking it by hand).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn import datasets
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from byoc.tabular import baseline, prediction, search
from tests.support.tabular import DATA_SETS, quarters


def _digits() -> pd.DataFrame:
    frame = datasets.load_digits(as_frame=True).frame
    frame["target"] = [f"d{v}" for v in frame["target"]]
    return frame


DATA = {
    "wine": DATA_SETS["wine"],
    "cancer": DATA_SETS["cancer"],
    "diabetes": DATA_SETS["diabetes"],
    "digits": _digits,
    "synthetic": DATA_SETS["synthetic"],
}


def _score(test: pd.DataFrame, predicted, regression: bool) -> float:
    if regression:
        return r2_score(test["target"], [float(p) for p in predicted])
    return accuracy_score(test["target"], predicted)


def _best_single(train_csv: Path, out: Path, test: pd.DataFrame,
                 regression: bool) -> tuple[str, float]:
    if not (out / baseline.LEADERBOARD_FILE).exists():  # the budget was too short to score any
        return "none scored", float("nan")
    algorithm, predict = prediction.refit_best_single(out, train_csv, "target")
    return algorithm, _score(test, predict(test), regression)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[30.0, 120.0])
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))
    parser.add_argument("--quarters", action="store_true",
                        help="the mean over the four held-out quarters of a 4-fold split")
    args = parser.parse_args()
    print("| data | rows (train) | budget | metric | hpo | ensembling | best single family "
          "| ensembling: time, best entry |")
    print("|---|---:|---:|---|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            frame = DATA[name]()
            regression = name == "diabetes"
            splits = _splits(frame, regression, args.quarters)
            for budget in args.budgets:
                rows = [_run(Path(tmp) / f"{name}-q{q}-{budget:g}", train, test, budget,
                             regression) for q, (train, test) in enumerate(splits)]
                mean = {k: sum(r[k] for r in rows) / len(rows)
                        for k in ("hpo", "ensembling", "single", "seconds")}
                families = "/".join(sorted({r["family"] for r in rows}))
                best = "/".join(sorted({r["best"] for r in rows}))
                print(f"| {name} | {len(splits[0][0])} | {budget:g}s | "
                      f"{'R²' if regression else 'accuracy'} | {mean['hpo']:.3f} | "
                      f"{mean['ensembling']:.3f} | {mean['single']:.3f} ({families}) | "
                      f"{mean['seconds']:.0f}s, {best} |", flush=True)


def _splits(frame: pd.DataFrame, regression: bool, every_quarter: bool):
    if every_quarter:
        return quarters(frame, regression)
    return [tuple(train_test_split(frame, test_size=0.25, random_state=0,
                                   stratify=None if regression else frame["target"]))]


def _run(work: Path, train: pd.DataFrame, test: pd.DataFrame, budget: float,
         regression: bool) -> dict:
    work.mkdir(parents=True)
    train_csv, test_csv = work / "train.csv", work / "test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    row: dict = {}
    for mode in search.MODES:
        out = work / mode
        began = time.monotonic()
        summary = baseline.run(train_csv, "target", out, time_budget=budget, mode=mode,
                               progress=lambda line: None, write_notebooks=False)
        seconds = time.monotonic() - began
        predicted = prediction.predict(out, test_csv, progress=lambda line: None)
        row[mode] = _score(test, predicted["prediction"], regression)
        if mode == search.ENSEMBLING:
            row["family"], row["single"] = _best_single(train_csv, out, test, regression)
            row["seconds"], row["best"] = seconds, summary.best_algorithm
    return row


if __name__ == "__main__":
    main()
