"""The tabular baseline's accuracy targets, on every held-out quarter: diabetes R² ≥ 0.45,
breast cancer accuracy ≥ 0.96, wine ≥ 0.95, and on the synthetic table the ensembling run at
least as accurate as the best single family. Prints a Markdown table; exits 1 when a target is
missed.

    python -m benchmarks.tabular_targets [--data diabetes cancer wine synthetic]

Each data set is split into four quarters (a shuffled 4-fold split, seed 0: every row is held
out once), and each quarter's training rows are searched as the tests search the first quarter
(tests/support/tabular.py): `byoc autopilot local` in the default mode and folds, bounded by a
candidate count (each usable family's defaults, then the ensemble and the stacked model of them)
rather than the clock, so that the figures do not depend on the machine's load. One quarter's
score is too noisy to judge a target (wine: 45 held-out rows, so one row is 0.022 accuracy;
diabetes: its R² swings by ±0.1 with the split), so the targets hold for the mean over the four.
Sixteen searches: a quarter of an hour or more on 2 cores, which is why they live here and the
tests check only that the first quarter learns.

Best single family: the best single candidate of the leaderboard, refit on the training rows
(what a user would get by picking it by hand).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from sklearn.metrics import accuracy_score, r2_score

from byoc.tabular import prediction
from tests.support.tabular import DATA_SETS, REGRESSION, TARGET, Fitted, fit, quarters

# The mean held-out score each data set must reach (R² for diabetes, accuracy for the others).
TARGETS = {"diabetes": 0.45, "cancer": 0.96, "wine": 0.95}
# On this table the ensembling run's mean must reach the best single family's.
AGAINST_BEST_SINGLE = "synthetic"


def held_out(fitted: Fitted, regression: bool) -> float:
    """The search's model, as `byoc autopilot predict` runs it, on the held-out quarter."""
    predicted = prediction.predict(fitted.out, fitted.test_csv,
                                   progress=lambda line: None)["prediction"]
    if regression:
        return r2_score(fitted.test[TARGET], predicted.astype(float))
    return accuracy_score(fitted.test[TARGET], predicted)


def best_single_held_out(fitted: Fitted) -> float:
    """The best single candidate of the leaderboard, refit on the training rows: held-out
    accuracy."""
    _, predict = prediction.refit_best_single(fitted.out, fitted.train_csv, TARGET)
    return accuracy_score(fitted.test[TARGET], predict(fitted.test))


def _row(name: str, train_rows: int, metric: str, scores: list[float], target: str,
         met: str) -> str:
    mean = sum(scores) / len(scores)
    return (f"| {name} | {train_rows} | {metric} | "
            + " | ".join(f"{s:.4f}" for s in scores) + f" | {mean:.4f} | {target} | {met} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=list(DATA_SETS), default=list(DATA_SETS))
    args = parser.parse_args()
    print("| data | rows (train) | metric | q0 | q1 | q2 | q3 | mean | target | met |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            regression = name in REGRESSION
            work = Path(tmp) / name
            work.mkdir()
            with contextlib.redirect_stdout(sys.stderr):  # the runs' summaries: not the table
                runs = [fit(work, f"q{q}", train, test, regression) for q, (train, test)
                        in enumerate(quarters(DATA_SETS[name](), regression))]
            scores = [held_out(fitted, regression) for fitted in runs]
            mean = sum(scores) / len(scores)
            rows = len(runs[0].train)
            metric = "R²" if regression else "accuracy"
            if name == AGAINST_BEST_SINGLE:
                single = [best_single_held_out(fitted) for fitted in runs]
                floor = sum(single) / len(single)
                met = mean >= floor
                print(_row(name, rows, f"{metric}, ensembling", scores,
                           f"≥ best single family ({floor:.4f})", "yes" if met else "**no**"))
                print(_row(name, rows, f"{metric}, best single family", single, "", ""))
            else:
                met = mean >= TARGETS[name]
                print(_row(name, rows, metric, scores, f"≥ {TARGETS[name]}",
                           "yes" if met else "**no**"))
            sys.stdout.flush()
            if not met:
                missed.append(name)
    print(f"<!-- load average {os.getloadavg()[0]:.1f} -->")
    if missed:
        print(f"missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
