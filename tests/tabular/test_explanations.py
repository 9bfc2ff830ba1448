"""SHAP values, partial dependence and `predict --explain`: SHAP values add up to the prediction,
name the column that drives it, and reach the report, summary.json and predict's output."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from byoc.cli import main
from byoc.tabular import baseline, contributions, data_report, partial_dependence, prediction
from byoc.tabular.candidate_pipeline import encoded_target, refit
from byoc.tabular.dataset import load
from byoc.tabular.ensemble import Bagged, Weighted


def _table(tmp_path, kind: str):
    """`x` drives the target, `noise` does not, `color` shifts it; 120 rows."""
    rng = np.random.default_rng(0)
    x, noise = rng.normal(size=120), rng.normal(size=120)
    color = rng.choice(["red", "green", "blue"], size=120)
    value = 3.0 * x + (color == "red") + 0.1 * rng.normal(size=120)
    target = {"regression": value,
              "binary": np.where(value > 0, "yes", "no"),
              "multiclass": np.select([value < -1, value < 1], ["low", "mid"], "high")}[kind]
    path = tmp_path / f"{kind}.csv"
    pd.DataFrame({"x": x, "noise": noise, "color": color, "y": target}).to_csv(path, index=False)
    return load(path, "y")


def _bagged(ds, family: str, params: dict) -> tuple[Bagged, list[str]]:
    _, classes = encoded_target(ds)
    return Bagged([refit(ds, family, params, seed) for seed in (0, 1)], bool(classes)), classes


def _explained(model, rows: pd.DataFrame, classes: list[str]) -> np.ndarray:
    raw = model.raw(rows)
    if not classes:
        return raw
    return raw[:, 1] if len(classes) == 2 else raw.max(axis=1)


@pytest.mark.parametrize(("kind", "family", "params", "explainer", "tolerance"), [
    # Forests: interventional over the background, within 2% of the prediction (measured).
    ("regression", "random_forest", {"n_estimators": 20}, "TreeExplainer", 0.2),
    ("regression", "xgboost", {"n_estimators": 20}, "TreeExplainer", 1e-4),
    ("binary", "xgboost", {"n_estimators": 20}, "TreeExplainer", 1e-4),
    ("multiclass", "random_forest", {"n_estimators": 20}, "TreeExplainer", 0.05),
    ("multiclass", "xgboost", {"n_estimators": 20}, "KernelExplainer", 1e-9),
    ("binary", "knn", {"n_neighbors": 5}, "KernelExplainer", 1e-9),
])
def test_shap_values_add_up_and_find_the_driving_column(tmp_path, kind, family, params,
                                                        explainer, tolerance):
    ds = _table(tmp_path, kind)
    model, classes = _bagged(ds, family, params)
    found = contributions.explain(model, ds.X, classes)
    assert found.explainer == explainer
    assert found.values.shape == (len(found.rows), 3)
    total = found.base + found.values.sum(axis=1)
    assert np.abs(total - _explained(model, found.rows, classes)).max() <= tolerance
    assert list(found.importance())[0] == "x"
    assert found.top(0, 1)[0][1] == found.rows.loc[0, found.top(0, 1)[0][0]]


def test_an_ensemble_is_explained_in_one_call_per_chunk(tmp_path):
    ds = _table(tmp_path, "binary")
    knn, classes = _bagged(ds, "knn", {"n_neighbors": 5})
    linear, _ = _bagged(ds, "linear", {"alpha": 1.0})
    ensemble = Weighted([(0.5, knn), (0.5, linear)])
    calls = []
    raw = ensemble.raw
    ensemble.raw = lambda frame: calls.append(len(frame)) or raw(frame)
    found = contributions.explain(ensemble, ds.X, classes)
    assert found.explainer == "KernelExplainer"
    assert len(found.rows) == contributions._rows_for(3)  # 3 columns: 6 coalitions a row
    # The coalitions, the background's own predictions, and each row's.
    assert len(calls) == 1
    assert calls[0] <= contributions.MODEL_ROWS + contributions.BACKGROUND + len(found.rows)
    ensemble.raw = raw
    total = found.base + found.values.sum(axis=1)
    assert np.allclose(total, ensemble.raw(found.rows)[:, 1])


def test_partial_dependence_follows_the_driving_column(tmp_path):
    ds = _table(tmp_path, "regression")
    model, classes = _bagged(ds, "linear", {"alpha": 1.0})
    results = partial_dependence.compute(model, ds.X, ["x", "color"], ds.numeric)
    x, color = results
    assert np.all(np.diff(x["average"]) > 0)  # 3·x: rising
    by_color = dict(zip(color["grid"], color["average"], strict=True))
    assert by_color["red"] > by_color["green"]
    assert partial_dependence.plot(results, classes, "y", tmp_path / "pd.png").stat().st_size


def test_agreement_sentence():
    assert "agree on the top 3" in data_report._agreement(["a", "b", "c"], ["a", "b", "c", "d"])
    assert "in another order" in data_report._agreement(["a", "b", "c"], ["b", "a", "c"])
    disagree = data_report._agreement(["a", "b", "c"], ["a", "d", "b"])
    assert "disagree" in disagree and "`d`" in disagree


def test_local_writes_shap_and_partial_dependence(small_model):
    for name in (baseline.SHAP_PLOT, baseline.PARTIAL_DEPENDENCE_PLOT):
        assert (small_model / name).stat().st_size > 0
    summary = json.loads((small_model / baseline.SUMMARY_FILE).read_text())
    shap = summary["shap"]
    assert set(shap["importance"]) == {"x", "color"}
    assert shap["explained"] == "the probability of '1'"
    assert len(shap["examples"]) == baseline.REPORT_ROWS
    report = (small_model / baseline.REPORT_FILE).read_text()
    assert "### SHAP values" in report and f"]({baseline.SHAP_PLOT})" in report
    assert "permutation importance" in report.split("### SHAP values")[1]
    assert f"]({baseline.PARTIAL_DEPENDENCE_PLOT})" in report


def test_predict_explain_adds_each_rows_top_contributions(small_model, small, capsys):
    capsys.readouterr()
    assert main(["autopilot", "predict", "--model", str(small_model), "--csv", str(small),
                 "--probabilities", "--explain"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    # Two features: both are in the top 3.
    assert list(out.columns) == ["prediction", "probability", "0", "1",
                                 *prediction.explanation_columns(2)]
    assert set(out["top_1"]) <= {"x", "color"}
    # Every contribution is there, so they add up to the positive class's probability.
    total = out["shap_base"] + out["top_1_shap"] + out["top_2_shap"]
    assert np.allclose(total, out["1"], atol=1e-5)
