"""Shared data for the tabular tests: scikit-learn's bundled data sets, split, as CSV.

Each data set is split into four quarters (a shuffled 4-fold split, seed 0), and the baseline
runs once per session on each quarter's training part, in the default mode and folds, as a user
would run it, bounded by a candidate count rather than the clock (tests/support/tabular.py): each
family's defaults, then the ensemble and the stacked model of them. One quarter's score is too
noisy to judge a target (wine: 45 held-out rows, so one row is 0.022 accuracy; diabetes: its R²
swings by ±0.1 with the split), so every row is held out once and the targets hold for the mean
over the four quarters. Tests of files and flags use the first quarter's run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from byoc.cli import main
from tests.support.tabular import bounded, each_family_once


@dataclass
class Fitted:
    train_csv: Path
    test_csv: Path
    train: pd.DataFrame
    test: pd.DataFrame
    out: Path
    summary: dict


def quarters(frame: pd.DataFrame, target: str) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The four (train, held-out quarter) splits of a shuffled 4-fold split, seed 0."""
    from sklearn.model_selection import KFold, StratifiedKFold

    classify = _classify(frame, target)
    splitter = StratifiedKFold(4, shuffle=True, random_state=0) if classify else \
        KFold(4, shuffle=True, random_state=0)
    return [(frame.iloc[seen], frame.iloc[held_out])
            for seen, held_out in splitter.split(frame, frame[target])]


def _classify(frame: pd.DataFrame, target: str) -> bool:
    return frame[target].nunique() < 10


def fit(tmp: Path, name: str, train: pd.DataFrame, test: pd.DataFrame, target: str) -> Fitted:
    train_csv, test_csv = tmp / f"{name}-train.csv", tmp / f"{name}-test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    out = tmp / f"{name}-out"
    # These runs judge the search's accuracy: the explanations, seconds a run, are tested on
    # `small_model`, the insurance run and the docs walkthrough.
    count = each_family_once(len(train), _classify(train, target))
    code = main(["autopilot", "local", "--csv", str(train_csv), "--target", target,
                 "--out", str(out), *bounded(count), "--no-explanations"])
    assert code == 0
    return Fitted(train_csv, test_csv, train, test, out,
                  json.loads((out / "summary.json").read_text()))


def _frame(loader) -> pd.DataFrame:
    data = loader(as_frame=True)
    frame = data.frame
    if hasattr(data, "target_names") and data.target_names is not None and \
            frame["target"].dtype.kind in "iu":
        # Real class names, as a user's CSV would hold them.
        frame["target"] = [str(data.target_names[i]) for i in frame["target"]]
    return frame


def fit_quarters(tmp: Path, name: str, frame: pd.DataFrame, target: str) -> list[Fitted]:
    return [fit(tmp, f"{name}-q{q}", train, test, target)
            for q, (train, test) in enumerate(quarters(frame, target))]


@pytest.fixture(scope="session")
def diabetes_quarters(tmp_path_factory) -> list[Fitted]:
    from sklearn.datasets import load_diabetes

    return fit_quarters(tmp_path_factory.mktemp("diabetes"), "diabetes",
                        load_diabetes(as_frame=True).frame, "target")


@pytest.fixture(scope="session")
def diabetes(diabetes_quarters) -> Fitted:
    return diabetes_quarters[0]


@pytest.fixture(scope="session")
def cancer_quarters(tmp_path_factory) -> list[Fitted]:
    from sklearn.datasets import load_breast_cancer

    return fit_quarters(tmp_path_factory.mktemp("cancer"), "cancer", _frame(load_breast_cancer),
                        "target")


@pytest.fixture(scope="session")
def breast_cancer(cancer_quarters) -> Fitted:
    return cancer_quarters[0]


@pytest.fixture(scope="session")
def wine_quarters(tmp_path_factory) -> list[Fitted]:
    from sklearn.datasets import load_wine

    return fit_quarters(tmp_path_factory.mktemp("wine"), "wine", _frame(load_wine), "target")


@pytest.fixture(scope="session")
def wine(wine_quarters) -> Fitted:
    return wine_quarters[0]


@pytest.fixture(scope="session")
def synthetic_quarters(tmp_path_factory) -> list[Fitted]:
    """make_classification: 2,000 rows, 4 classes, 10 informative of 30 features."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=30, n_informative=10, n_classes=4,
                               random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(30)])
    frame["label"] = [f"c{v}" for v in y]
    return fit_quarters(tmp_path_factory.mktemp("synthetic"), "synthetic", frame, "label")


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Path:
    """A tiny binary table with a numeric and a categorical column."""
    path = tmp_path_factory.mktemp("small") / "small.csv"
    pd.DataFrame({"x": [i % 6 for i in range(20)], "color": ["red", "blue"] * 10,
                  "y": [0, 1] * 10}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def small_model(small, tmp_path_factory) -> Path:
    """A quick model of `small` (two candidates, two folds)."""
    out = tmp_path_factory.mktemp("small-model")
    assert main(["autopilot", "local", "--csv", str(small), "--target", "y", "--out", str(out),
                 "--mode", "hpo", *bounded(2), "--folds", "2"]) == 0
    return out
