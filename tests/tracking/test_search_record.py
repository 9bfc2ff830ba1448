"""Which of an `autopilot local` run's files its MLflow parent run keeps. An MLflow file store
in a temporary directory stands in for the tracking server: the same client calls, no server
process, no search."""

from __future__ import annotations

from byoc.tabular import baseline, contributions, notebooks, partial_dependence, search_record
from byoc.tabular.run_summary import Summary

# Logged otherwise: the model as an MLflow model, the notebooks under their own folder.
LOGGED_APART = {baseline.MODEL_FILE, notebooks.NOTEBOOK_DIR}


def _summary() -> Summary:
    return Summary(
        problem_type="BinaryClassification", objective="Accuracy", objective_key="accuracy",
        mode="ensembling", mode_reason="test", target="y", rows=10, numeric_features=["x"],
        categorical_features=[], dropped_columns={}, classes=["down", "up"],
        positive_class="up", cv_folds=2, time_budget_s=60.0, elapsed_s=1.0,
        search_budget_s=48.0, search_elapsed_s=0.5, search_stop="the budget was spent",
        candidates_evaluated=0, best_candidate="", best_algorithm="", best_params={},
        metrics={"accuracy": 0.9}, score_std=0.01, tied_with_best=[], ensemble=None,
        stacked=None, importance={}, importance_folds=0, warnings=[])


def test_the_parent_run_keeps_every_file_of_the_run_the_explanation_plots_too(tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    out.mkdir()
    for name in set(baseline.RUN_FILES) - LOGGED_APART:
        (out / name).write_text(name)
    uri = str(tmp_path / "mlruns")
    run_id = search_record.log_search(uri, "files", out, _summary(), [], None, None)
    assert run_id is not None
    kept = {a.path for a in MlflowClient(uri).list_artifacts(run_id)}
    assert {contributions.PLOT, partial_dependence.PLOT} <= kept
    assert kept == set(baseline.RUN_FILES) - LOGGED_APART
    assert set(search_record.SEARCH_ARTIFACTS) == set(baseline.RUN_FILES) - LOGGED_APART
