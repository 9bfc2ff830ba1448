"""How the tabular tests and benchmarks bound a search, and the data sets they search.

A time budget decides how many candidates run, so the same test could pass on a quiet machine and
fail on a busy one. The tests give the search a budget no run reaches and a candidate count that
stops it, so that every run tries the same candidates in the same order. The time budget itself
is for users, and `benchmarks/tabular.py` measures what it buys.

The data sets are scikit-learn's bundled ones and a synthetic table, each split into four
quarters (a shuffled 4-fold split, seed 0): the tests search the first quarter's training rows,
`benchmarks/tabular_targets.py` all four, and the other tabular benchmarks use the same split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Seconds: far more than any test's search takes, so the candidate count alone stops it.
UNREACHED_BUDGET = 3600.0
# Each family's defaults, one candidate per family, in the families' order: the families of a
# classification table (kernel ridge is for regression only).
EACH_FAMILY_ONCE = 8
# The target column of every data set below.
TARGET = "target"


def each_family_once(rows: int, classify: bool) -> int:
    """The candidate count of each usable family's defaults on such a table."""
    from byoc.tabular.families import usable

    return len(usable(rows, classify)[0])


def bounded(max_candidates: int = EACH_FAMILY_ONCE) -> list[str]:
    """The `byoc autopilot local` flags of a search bounded by its candidate count, without the
    notebooks: executing them costs seconds per run, and tests/tabular/test_notebooks.py and
    test_insurance.py test them."""
    return ["--time-budget", str(UNREACHED_BUDGET), "--max-candidates", str(max_candidates),
            "--no-notebooks"]


def _named(loader) -> pd.DataFrame:
    """A bundled data set with its real class names, as a user's CSV would hold them."""
    data = loader(as_frame=True)
    frame = data.frame
    frame[TARGET] = [str(data.target_names[i]) for i in frame[TARGET]]
    return frame


def diabetes() -> pd.DataFrame:
    """442 rows, 10 numeric features, a numeric target: regression."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def breast_cancer() -> pd.DataFrame:
    """569 rows, 30 features, benign or malignant."""
    from sklearn.datasets import load_breast_cancer

    return _named(load_breast_cancer)


def wine() -> pd.DataFrame:
    """178 rows, 13 features, 3 classes."""
    from sklearn.datasets import load_wine

    return _named(load_wine)


def synthetic() -> pd.DataFrame:
    """make_classification: 2,000 rows, 4 classes, 10 informative of 30 features."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=30, n_informative=10, n_classes=4,
                               random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(30)])
    frame[TARGET] = [f"c{v}" for v in y]
    return frame


DATA_SETS = {"diabetes": diabetes, "cancer": breast_cancer, "wine": wine,
             "synthetic": synthetic}
REGRESSION = {"diabetes"}


def quarters(frame: pd.DataFrame, regression: bool,
             target: str = TARGET) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The four (train, held-out quarter) splits of a shuffled 4-fold split, seed 0 (stratified
    for classification): every row is held out once."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = KFold(4, shuffle=True, random_state=0) if regression else \
        StratifiedKFold(4, shuffle=True, random_state=0)
    return [(frame.iloc[seen], frame.iloc[held_out])
            for seen, held_out in splitter.split(frame, frame[target])]


@dataclass
class Fitted:
    """A search of one quarter's training rows: its files, its rows and its summary."""

    train_csv: Path
    test_csv: Path
    train: pd.DataFrame
    test: pd.DataFrame
    out: Path
    summary: dict


def fit(tmp: Path, name: str, train: pd.DataFrame, test: pd.DataFrame,
        regression: bool, target: str = TARGET) -> Fitted:
    """`byoc autopilot local` on `train`, in the default mode and folds, as a user would run
    it, bounded by each usable family's defaults (then the ensemble and the stacked model of
    them); `test` saved beside it for predicting."""
    from byoc.cli import main

    train_csv, test_csv = tmp / f"{name}-train.csv", tmp / f"{name}-test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    out = tmp / f"{name}-out"
    # These runs judge the search: the explanations, seconds a run, are tested on
    # `small_model`, the insurance run and the docs walkthrough.
    count = each_family_once(len(train), not regression)
    code = main(["autopilot", "local", "--csv", str(train_csv), "--target", target,
                 "--out", str(out), *bounded(count), "--no-explanations"])
    if code != 0:
        raise RuntimeError(f"byoc autopilot local exited {code} on {name}")
    return Fitted(train_csv, test_csv, train, test, out,
                  json.loads((out / "summary.json").read_text()))
