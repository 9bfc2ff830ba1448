"""The insurance-charges demo table has the relationships the demo relies on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from byoc.cli import main
from byoc.tabular import baseline, insurance
from tests.support.tabular import UNREACHED_BUDGET


def test_smoker_age_and_obesity_effects():
    t = insurance.generate(rows=4000, seed=1)
    charges, smoker = t["charges"], t["smoker"] == "yes"
    ratio = charges[smoker].mean() / charges[~smoker].mean()
    assert 2.5 < ratio < 4.5
    assert 0.15 < smoker.mean() < 0.25
    assert np.corrcoef(t["age"][~smoker], charges[~smoker])[0, 1] > 0.5
    obese = t["bmi"] > insurance.OBESE_BMI
    # The interaction: obesity costs smokers a lot and non-smokers little.
    smoker_gap = charges[smoker & obese].mean() - charges[smoker & ~obese].mean()
    other_gap = charges[~smoker & obese].mean() - charges[~smoker & ~obese].mean()
    assert smoker_gap > 15000 and abs(other_gap) < 2000
    assert charges.min() > 1000 and set(t["region"]) == set(insurance.REGIONS)


def test_same_seed_same_table():
    a, b = insurance.generate(50, seed=7), insurance.generate(50, seed=7)
    assert all(np.array_equal(a[c], b[c]) for c in insurance.COLUMNS)
    assert not np.array_equal(a["charges"], insurance.generate(50, seed=8)["charges"])


def test_cli_writes_csv_and_baseline_learns_it(tmp_path, capsys):
    path = tmp_path / "insurance.csv"
    assert main(["autopilot", "insurance", "--out", str(path), "--rows", "300",
                 "--seed", "2"]) == 0
    frame = pd.read_csv(path)
    assert list(frame.columns) == list(insurance.COLUMNS) and len(frame) == 300
    summary = baseline.run(path, insurance.TARGET, tmp_path / "out", mode="hpo",
                           max_candidates=4, time_budget=UNREACHED_BUDGET, folds=3,
                           progress=lambda line: None)
    assert summary.problem_type == "Regression"
    assert summary.categorical_features == ["sex", "smoker", "region"]
    assert summary.metrics["r2"] > 0.75
