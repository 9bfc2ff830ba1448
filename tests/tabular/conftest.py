"""Shared data for the tabular tests: scikit-learn's bundled data sets, split, as CSV.

Each data set is split into four quarters (tests/support/tabular.py), and the baseline runs once
per session on the first quarter's training part, in the default mode and folds, as a user would
run it, bounded by a candidate count rather than the clock: each family's defaults, then the
ensemble and the stacked model of them. The tests check its files, flags and predictions, and
that it learns the held-out quarter; the accuracy targets, which need the mean over all four
quarters (one quarter's score is too noisy to judge them), are `python -m
benchmarks.tabular_targets`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from byoc.cli import main
from tests.support.tabular import DATA_SETS, REGRESSION, Fitted, bounded, fit, quarters


def first_quarter(tmp: Path, name: str) -> Fitted:
    """The baseline of data set `name`'s first quarter."""
    regression = name in REGRESSION
    train, test = quarters(DATA_SETS[name](), regression)[0]
    return fit(tmp, f"{name}-q0", train, test, regression)


@pytest.fixture(scope="session")
def diabetes(tmp_path_factory) -> Fitted:
    return first_quarter(tmp_path_factory.mktemp("diabetes"), "diabetes")


@pytest.fixture(scope="session")
def breast_cancer(tmp_path_factory) -> Fitted:
    return first_quarter(tmp_path_factory.mktemp("cancer"), "cancer")


@pytest.fixture(scope="session")
def wine(tmp_path_factory) -> Fitted:
    return first_quarter(tmp_path_factory.mktemp("wine"), "wine")


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
