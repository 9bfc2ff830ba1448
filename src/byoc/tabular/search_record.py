"""The tabular search's record in MLflow (with --track): one parent run per search, one child
per candidate, the best pipeline as a model, and the run's files (the notebooks among them) as
the parent's artifacts."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from byoc import tracking_config
from byoc.tabular import contributions, partial_dependence
from byoc.tabular.notebooks import CANDIDATE_SCRIPT, NOTEBOOK_DIR
from byoc.tabular.run_summary import Summary

log = logging.getLogger(__name__)

# The run's files the parent run keeps (those present: the plots of the explanations are not
# there with --no-explanations); the model goes to MLflow as a model, the notebooks apart.
SEARCH_ARTIFACTS = ("leaderboard.csv", "summary.json", "report.md", "importance.png",
                    contributions.PLOT, partial_dependence.PLOT, CANDIDATE_SCRIPT)

def log_search(uri: str, experiment: str, out_dir: Path, summary: Summary, candidates: list,
               best_pipeline, sample) -> str | None:
    """Log the search to MLflow; returns the parent run's id. A tracking failure is a warning:
    the results on disk stand."""
    try:
        return _log_search(uri, experiment, Path(out_dir), summary, candidates, best_pipeline,
                           sample)
    except Exception as exc:
        log.warning("MLflow tracking at %s failed (%s: %s); the search's results are in %s all "
                    "the same.", tracking_config.redact(uri), type(exc).__name__,
                    tracking_config.redact(str(exc).splitlines()[0][:300]) if str(exc) else "",
                    out_dir)
        return None


def _log_search(uri, experiment, out_dir, summary, candidates, best_pipeline, sample):
    import mlflow
    import mlflow.sklearn
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.models import infer_signature
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    tracking_config.quiet_plugin_headers(uri)
    tracking_config.allow_file_store(uri)
    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(
        experiment, artifact_location=tracking_config.artifact_location(uri))
    key = summary.objective_key
    parent = client.create_run(experiment_id, tags={tracking_config.TAG_KIND: "autopilot-local"},
                               run_name=f"autopilot-local {summary.target}")
    pid = parent.info.run_id
    params = {k: getattr(summary, k) for k in (
        "target", "problem_type", "objective", "mode", "cv_folds", "rows", "time_budget_s",
        "best_candidate", "best_algorithm")}
    client.log_batch(pid, params=[Param(k, str(v)) for k, v in params.items()],
                     metrics=[Metric(f"best_{k}", float(v), 0, 0)
                              for k, v in summary.metrics.items()]
                     + [Metric("candidates_evaluated", summary.candidates_evaluated, 0, 0)])
    for rank, c in enumerate(candidates, 1):
        child = client.create_run(experiment_id, run_name=c.name, tags={
            MLFLOW_PARENT_RUN_ID: pid, tracking_config.TAG_KIND: "autopilot-candidate"})
        cid = child.info.run_id
        flat = {"algorithm": c.family, **{k: json.dumps(v) if isinstance(v, dict) else str(v)
                                          for k, v in c.params.items()}}
        client.log_batch(
            cid, params=[Param(k, str(v)[:6000]) for k, v in flat.items()],
            metrics=[Metric(k, float(v), 0, 0) for k, v in c.metrics.items()]
            + [Metric(f"{key}_std", float(c.score_std), 0, 0),
               Metric("fit_time_s", float(c.fit_time), 0, 0), Metric("rank", rank, 0, 0)],
            tags=[RunTag("tied_with_best", str(c.tied))])
        client.set_terminated(cid)
    for name in SEARCH_ARTIFACTS:
        if (out_dir / name).exists():
            client.log_artifact(pid, str(out_dir / name))
    # The notebooks and their HTML page, not the models their cells saved beside them.
    for notebook in sorted((out_dir / NOTEBOOK_DIR).glob("*")):
        if notebook.suffix in (".ipynb", ".html"):
            client.log_artifact(pid, str(notebook), NOTEBOOK_DIR)
    if best_pipeline is not None:
        # The fluent API logs models, to the tracking URI of the environment: set it for this,
        # and back (mlflow.set_tracking_uri would pin it for the rest of the process).
        previous = os.environ.get(tracking_config.TRACKING_URI_ENV)
        os.environ[tracking_config.TRACKING_URI_ENV] = uri
        try:
            with mlflow.start_run(run_id=pid):
                mlflow.sklearn.log_model(best_pipeline, name=tracking_config.MODEL_ARTIFACT,
                                         signature=infer_signature(
                                             sample, best_pipeline.predict(sample)),
                                         **_serialization(best_pipeline))
        finally:
            if previous is None:
                os.environ.pop(tracking_config.TRACKING_URI_ENV, None)
            else:
                os.environ[tracking_config.TRACKING_URI_ENV] = previous
    client.set_terminated(pid)
    return pid


def _serialization(pipeline) -> dict:
    """MLflow's safe format (skops), trusting the types of the pipeline byoc itself built (its
    encoders hold numpy dtypes, which skops does not trust by default); cloudpickle where skops
    is missing or cannot write the model."""
    try:
        import skops.io

        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    except Exception:  # no skops (mlflow-skinny), or a model it cannot write
        return {"serialization_format": "cloudpickle"}
    return {"serialization_format": "skops", "skops_trusted_types": trusted}
