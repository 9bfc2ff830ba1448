"""The data analysis report flags leakage, ID-like and constant columns, and sets them aside."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd

from byoc.tabular import baseline, data_report, dataset
from tests.support.tabular import UNREACHED_BUDGET


def _table(tmp_path, rows: int = 200):
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    frame = pd.DataFrame({
        "customer_id": np.arange(1000, 1000 + rows),
        "x": x,
        "noise": rng.normal(size=rows),
        "country": ["NZ"] * rows,
        "refund_amount": 3.0 * x + rng.normal(scale=0.01, size=rows),
        "label": x + rng.normal(scale=0.05, size=rows),
    })
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


def test_dropped_columns_and_leakage_warnings(tmp_path):
    ds = dataset.load(_table(tmp_path), "label")
    assert ds.dropped == {"customer_id": "ID-like (a distinct value in every row)",
                          "country": "constant"}
    assert ds.numeric == ["x", "noise", "refund_amount"]
    found = data_report.analyze(ds).warnings
    leaks = [w for w in found if w.startswith("Possible target leakage")]
    assert any("'refund_amount'" in w for w in leaks)
    assert not any("'noise'" in w for w in leaks)
    assert any("customer_id" in w and "ID-like" in w for w in found)
    assert any("country" in w and "constant" in w for w in found)


def test_classification_leakage_and_imbalance(tmp_path):
    rng = np.random.default_rng(1)
    y = np.where(rng.random(300) < 0.05, "fraud", "ok")
    frame = pd.DataFrame({
        "amount": rng.normal(size=300),
        "chargeback_flag": np.where(y == "fraud", "Y", "N"),
        "y": y,
    })
    path = tmp_path / "fraud.csv"
    frame.to_csv(path, index=False)
    found = data_report.analyze(dataset.load(path, "y")).warnings
    assert any("'chargeback_flag' alone predicts 'y'" in w for w in found)
    assert any("Class 'fraud'" in w for w in found)
    assert not any("'amount' alone" in w for w in found)


def test_report_and_summary_on_disk(tmp_path):
    out = tmp_path / "out"
    summary = baseline.run(_table(tmp_path), "label", out, max_candidates=3,
                           time_budget=UNREACHED_BUDGET, folds=2,
                           progress=lambda line: None, write_notebooks=False)
    text = (out / baseline.REPORT_FILE).read_text()
    assert "| customer_id | dropped: ID-like" in text
    assert "Possible target leakage: 'refund_amount'" in text
    assert json.loads((out / baseline.SUMMARY_FILE).read_text()) == dataclasses.asdict(summary)
    assert summary.dropped_columns == {"customer_id": "ID-like (a distinct value in every row)",
                                       "country": "constant"}
    assert "customer_id" not in summary.numeric_features


def test_regression_inferred_only_for_many_numbers():
    assert dataset.infer_problem_type(pd.Series(np.arange(50) * 1.5)) == "Regression"
    assert dataset.infer_problem_type(pd.Series([0, 1] * 20)) == "BinaryClassification"
    assert dataset.infer_problem_type(pd.Series([1, 2, 3] * 10)) == "MulticlassClassification"
    assert dataset.infer_problem_type(pd.Series(list("abcdefghijklmnop"))) == \
        "MulticlassClassification"


def _classes(tmp_path, counts: dict[str, int]):
    rng = np.random.default_rng(2)
    y = np.repeat(list(counts), list(counts.values()))
    frame = pd.DataFrame({"a": rng.normal(size=len(y)), "b": rng.normal(size=len(y)), "y": y})
    path = tmp_path / "classes.csv"
    frame.to_csv(path, index=False)
    return data_report.analyze(dataset.load(path, "y")).warnings


def test_balanced_ten_classes_get_no_imbalance_warning(tmp_path):
    # The shares of a real balanced table: 9.8% to 10.2%, as in scikit-learn's digits.
    counts = {f"d{i}": n for i, n in enumerate([178, 182, 177, 183, 181, 182, 181, 179, 174, 180])}
    assert not any("Class '" in w for w in _classes(tmp_path, counts))


def test_under_represented_class_and_large_ratio_are_flagged(tmp_path):
    found = _classes(tmp_path, {"a": 100, "b": 100, "c": 15})  # c: 7% of rows, a third: 33%
    assert [w for w in found if w.startswith("Class 'c'")]
    assert not any(w.startswith(("Class 'a'", "Class 'b'")) for w in found)
    found = _classes(tmp_path, {"ok": 182, "rare": 18})
    assert any(w.startswith("Class 'rare'") and "BalancedAccuracy" in w for w in found)
