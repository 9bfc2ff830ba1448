"""byoc's offline baseline against AutoGluon's `medium_quality` preset at the same time budget,
side by side in one run, on the tables of the tabular tests: the insurance charges, diabetes,
breast cancer and the synthetic 4-class table. Prints a Markdown table.

    python -m benchmarks.tabular_autogluon [--budget 60] [--data insurance cancer ...]

Each row is the mean over the four held-out quarters of a shuffled 4-fold split, seed 0 (every
row held out once), as benchmarks/tabular_targets.py judges the baseline: R² for regression,
accuracy for classification. For each quarter byoc runs first (`autopilot local` with its
defaults, ensembling mode, explanations and notebooks off), then AutoGluon on the same CSVs, with
the metric byoc optimizes (MSE, F1 for two classes, accuracy) and `time_limit` the same budget.
byoc's budget covers its whole run; AutoGluon's `time_limit` its fit.

AutoGluon is not a dependency of byoc: the script creates a virtualenv for it, `.venv-autogluon`
in the current directory (or --autogluon-venv), the first time, with
`pip install 'autogluon.tabular[lightgbm,catboost,xgboost]'` (a few minutes, about 1 GB), and
runs it there as a subprocess (benchmarks/autogluon_fit.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, r2_score

from benchmarks.tabular import DATA as SKLEARN_DATA
from byoc.tabular import baseline, insurance, prediction
from tests.support.tabular import quarters

AUTOGLUON = "autogluon.tabular[lightgbm,catboost,xgboost]>=1.2,<2"
FIT_SCRIPT = Path(__file__).with_name("autogluon_fit.py")
INSURANCE_ROWS = 1500  # 1,125 training rows a quarter


def _insurance() -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.read_csv(insurance.write_csv(Path(tmp) / "insurance.csv", INSURANCE_ROWS))
    return frame.rename(columns={insurance.TARGET: "target"})


DATA = {
    "insurance": _insurance,
    "diabetes": SKLEARN_DATA["diabetes"],
    "cancer": SKLEARN_DATA["cancer"],
    "synthetic": SKLEARN_DATA["synthetic"],
}
REGRESSION = {"insurance", "diabetes"}
# AutoGluon's name for the objective byoc optimizes by default (objectives.resolve_objective).
AUTOGLUON_METRIC = {"Regression": "mean_squared_error", "BinaryClassification": "f1",
                    "MulticlassClassification": "accuracy"}


def autogluon_python(venv: Path) -> Path:
    """The Python of AutoGluon's virtualenv, created and installed the first time."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with {AUTOGLUON} (once; a few minutes)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", AUTOGLUON], check=True)
    return python


def _score(test: pd.DataFrame, predicted, regression: bool) -> float:
    if regression:
        return r2_score(test["target"], [float(p) for p in predicted])
    return accuracy_score(test["target"].astype(str), [str(p) for p in predicted])


def _byoc(work: Path, train_csv: Path, test_csv: Path, test: pd.DataFrame, budget: float,
          regression: bool) -> dict:
    out = work / "byoc"
    began = time.monotonic()
    summary = baseline.run(train_csv, "target", out, time_budget=budget,
                           progress=lambda line: None, write_notebooks=False,
                           explanations=False)
    seconds = time.monotonic() - began
    predicted = prediction.predict(out, test_csv, progress=lambda line: None)["prediction"]
    return {"score": _score(test, predicted, regression), "seconds": seconds,
            "search": summary.search_elapsed_s / summary.search_budget_s,
            "early": "stopped moving" in summary.search_stop or
                     "stopped improving" in summary.search_stop,
            "candidates": summary.candidates_evaluated, "best": summary.best_algorithm,
            "problem_type": summary.problem_type}


def _autogluon(python: Path, work: Path, train_csv: Path, test_csv: Path, test: pd.DataFrame,
               budget: float, problem_type: str, regression: bool) -> dict:
    out = work / "autogluon"
    out.mkdir()
    began = time.monotonic()
    subprocess.run([str(python), str(FIT_SCRIPT), str(train_csv), str(test_csv), "target",
                    AUTOGLUON_METRIC[problem_type], str(budget), str(out)], check=True)
    seconds = time.monotonic() - began
    result = json.loads((out / "result.json").read_text())
    predicted = pd.read_csv(out / "predictions.csv", dtype={"prediction": str})["prediction"]
    return {"score": _score(test, predicted, regression), "seconds": seconds,
            "fit": result["seconds"], "best": result["best"], "models": result["models"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))
    parser.add_argument("--autogluon-venv", type=Path, default=Path(".venv-autogluon"))
    args = parser.parse_args()
    python = autogluon_python(args.autogluon_venv)
    print("| data | rows (train) | metric | byoc | AutoGluon | byoc − AutoGluon | byoc: time, "
          "search used, candidates, best entry | AutoGluon: time, models, best model |")
    print("|---|---:|---|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            regression = name in REGRESSION
            rows = []
            for q, (train, test) in enumerate(quarters(DATA[name](), regression)):
                work = Path(tmp) / f"{name}-q{q}"
                work.mkdir()
                train_csv, test_csv = work / "train.csv", work / "test.csv"
                train.to_csv(train_csv, index=False)
                test.to_csv(test_csv, index=False)
                ours = _byoc(work, train_csv, test_csv, test, args.budget, regression)
                theirs = _autogluon(python, work, train_csv, test_csv, test, args.budget,
                                    ours["problem_type"], regression)
                print(f"<!-- {name} q{q}: byoc {ours['score']:.4f} ({ours['seconds']:.0f}s, "
                      f"{ours['candidates']} candidates, {ours['best']}), AutoGluon "
                      f"{theirs['score']:.4f} ({theirs['fit']:.0f}s fit, {theirs['best']}) -->",
                      flush=True)
                rows.append((ours, theirs))
            print(f"<!-- load average {os.getloadavg()[0]:.1f} -->", flush=True)
            ours_mean = sum(o["score"] for o, _ in rows) / len(rows)
            theirs_mean = sum(t["score"] for _, t in rows) / len(rows)
            early = sum(o["early"] for o, _ in rows)
            print(f"| {name} | {len(train)} | {'R²' if regression else 'accuracy'} | "
                  f"{ours_mean:.4f} | {theirs_mean:.4f} | {ours_mean - theirs_mean:+.4f} | "
                  f"{_mean(o['seconds'] for o, _ in rows):.0f}s, "
                  f"{_mean(o['search'] for o, _ in rows):.0%} of the search budget"
                  f"{f' (stopped early {early}×)' if early else ''}, "
                  f"{_mean(o['candidates'] for o, _ in rows):.0f}, "
                  f"{'/'.join(sorted({o['best'] for o, _ in rows}))} | "
                  f"{_mean(t['fit'] for _, t in rows):.0f}s, "
                  f"{_mean(t['models'] for _, t in rows):.0f}, "
                  f"{'/'.join(sorted({t['best'] for _, t in rows}))} |", flush=True)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


if __name__ == "__main__":
    main()
