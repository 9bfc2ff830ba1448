"""The local baseline end to end on real data: CV scores, files, held-out predictions."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, r2_score

from byoc.cli import main
from byoc.tabular import baseline


def _predict(capsys, fitted, csv_path) -> list[str]:
    capsys.readouterr()
    assert main(["autopilot", "predict", "--model", str(fitted.out), "--csv", str(csv_path)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == [baseline.PREDICTION_COLUMN]
    return [r[0] for r in rows[1:]]


def test_diabetes_regression(diabetes, capsys):
    s = diabetes.summary
    assert s["problem_type"] == "Regression"
    assert s["objective"] == "MSE"
    assert s["metrics"]["r2"] > 0.35
    assert s["metrics"]["rmse"] ** 2 == pytest.approx(s["metrics"]["mse"], rel=0.2)
    predicted = [float(p) for p in _predict(capsys, diabetes, diabetes.test_csv)]
    assert len(predicted) == len(diabetes.test)
    assert r2_score(diabetes.test["target"], predicted) > 0.3


def test_breast_cancer_binary(breast_cancer, capsys):
    s = breast_cancer.summary
    assert s["problem_type"] == "BinaryClassification"
    assert s["objective"] == "F1"
    assert s["classes"] == ["benign", "malignant"]
    assert s["positive_class"] == "malignant"
    assert s["metrics"]["accuracy"] > 0.93
    # The held-out file still has its target column: predict ignores it.
    predicted = _predict(capsys, breast_cancer, breast_cancer.test_csv)
    assert set(predicted) <= {"benign", "malignant"}
    assert accuracy_score(breast_cancer.test["target"], predicted) > 0.93


def test_wine_multiclass_without_target_column(wine, capsys, tmp_path):
    s = wine.summary
    assert s["problem_type"] == "MulticlassClassification"
    assert s["objective"] == "Accuracy"
    assert s["metrics"]["accuracy"] > 0.9
    features_only = tmp_path / "rows.csv"
    wine.test.drop(columns="target").to_csv(features_only, index=False)
    predicted = _predict(capsys, wine, features_only)
    assert accuracy_score(wine.test["target"], predicted) > 0.85


def test_leaderboard_best_first_with_every_algorithm(diabetes):
    board = pd.read_csv(diabetes.out / baseline.LEADERBOARD_FILE)
    assert list(board.columns) == ["rank", "candidate", "algorithm", "metric", "score",
                                   "score_std", "fit_time_s", "params"]
    assert set(board["algorithm"]) == {"linear", "xgboost", "mlp"}
    assert (board["metric"] == "MSE").all()
    assert board["score"].is_monotonic_increasing  # MSE: lower is better
    assert board["candidate"].iloc[0] == diabetes.summary["best_candidate"]
    assert json.loads(board["params"].iloc[0]) == diabetes.summary["best_params"]


def test_classification_leaderboard_descends(wine):
    board = pd.read_csv(wine.out / baseline.LEADERBOARD_FILE)
    assert board["score"].is_monotonic_decreasing  # Accuracy: higher is better
    assert board["score"].iloc[0] == pytest.approx(wine.summary["metrics"]["accuracy"],
                                                   abs=1e-5)


def test_report_describes_columns_and_target(breast_cancer):
    text = (breast_cancer.out / baseline.REPORT_FILE).read_text()
    assert "| mean radius | numeric |" in text
    assert "## Target `target`" in text
    assert "| malignant |" in text and "| benign |" in text


def test_random_search_after_defaults_and_progress_lines(tmp_path, diabetes, capfd):
    out = tmp_path / "out"
    capfd.readouterr()
    assert main(["autopilot", "local", "--csv", str(diabetes.train_csv), "--target", "target",
                 "--out", str(out), "--max-candidates", "5", "--time-budget", "600",
                 "--folds", "2", "--seed", "3"]) == 0
    err = capfd.readouterr().err
    board = pd.read_csv(out / baseline.LEADERBOARD_FILE)
    assert sorted(board["candidate"]) == ["linear-001", "linear-004", "mlp-003", "xgboost-002",
                                          "xgboost-005"]
    by_name = {row.candidate: json.loads(row.params) for row in board.itertuples()}
    assert by_name["linear-004"]["alpha"] != by_name["linear-001"]["alpha"]
    assert set(by_name["xgboost-005"]) > set(by_name["xgboost-002"])  # sampled the full space
    # One progress line per candidate, with its score and the budget used so far.
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert len(lines) == 5
    assert all("MSE=" in line and "/600s" in line for line in lines)


def test_budget_always_leaves_one_config_per_algorithm(tmp_path, wine):
    summary = baseline.run(wine.train_csv, "target", tmp_path, time_budget=1e-6, folds=2,
                           progress=lambda line: None)
    assert summary["candidates_evaluated"] == 3


def test_objective_and_problem_type_flags(tmp_path, breast_cancer):
    summary = baseline.run(breast_cancer.train_csv, "target", tmp_path, objective="AUC",
                           time_budget=1, max_candidates=3, folds=2, progress=lambda line: None)
    assert summary["objective"] == "AUC" and summary["objective_key"] == "auc"
    assert summary["metrics"]["auc"] > 0.95
    board = pd.read_csv(tmp_path / baseline.LEADERBOARD_FILE)
    assert (board["metric"] == "AUC").all()
