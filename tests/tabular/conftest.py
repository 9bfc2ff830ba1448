"""Shared data for the tabular tests: scikit-learn's bundled real data sets, split, as CSV.

The baseline runs on each training split once per session (three candidates: each algorithm's
default configuration, so the run does not depend on the machine's speed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from byoc.cli import main


@dataclass
class Fitted:
    train_csv: Path
    test_csv: Path
    test: pd.DataFrame
    out: Path
    summary: dict


def _split(frame: pd.DataFrame, target: str, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    classify = frame[target].nunique() < 10
    return train_test_split(frame, test_size=0.25, random_state=seed,
                            stratify=frame[target] if classify else None)


def _fit(tmp: Path, name: str, frame: pd.DataFrame, target: str) -> Fitted:
    train, test = _split(frame, target)
    train_csv, test_csv = tmp / f"{name}-train.csv", tmp / f"{name}-test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    out = tmp / f"{name}-out"
    code = main(["autopilot", "local", "--csv", str(train_csv), "--target", target,
                 "--out", str(out), "--time-budget", "30", "--max-candidates", "3",
                 "--folds", "3"])
    assert code == 0
    return Fitted(train_csv, test_csv, test, out, json.loads((out / "summary.json").read_text()))


def _frame(loader) -> pd.DataFrame:
    data = loader(as_frame=True)
    frame = data.frame
    if hasattr(data, "target_names") and data.target_names is not None and \
            frame["target"].dtype.kind in "iu":
        # Real class names, as a user's CSV would hold them.
        frame["target"] = [str(data.target_names[i]) for i in frame["target"]]
    return frame


@pytest.fixture(scope="session")
def diabetes(tmp_path_factory) -> Fitted:
    from sklearn.datasets import load_diabetes

    return _fit(tmp_path_factory.mktemp("diabetes"), "diabetes",
                load_diabetes(as_frame=True).frame, "target")


@pytest.fixture(scope="session")
def breast_cancer(tmp_path_factory) -> Fitted:
    from sklearn.datasets import load_breast_cancer

    return _fit(tmp_path_factory.mktemp("cancer"), "cancer", _frame(load_breast_cancer),
                "target")


@pytest.fixture(scope="session")
def wine(tmp_path_factory) -> Fitted:
    from sklearn.datasets import load_wine

    return _fit(tmp_path_factory.mktemp("wine"), "wine", _frame(load_wine), "target")
