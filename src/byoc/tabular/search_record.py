"""The tabular search's record: a candidate script that rebuilds the winner, and (with --track)
MLflow runs: one parent per search, one child per candidate, the best pipeline as a model.

The script is the counterpart of Autopilot's candidate-definition notebook: plain Python beside
model.joblib that reads the CSV, cross-validates the best pipeline on the same folds (printing
the same score) and refits it on every row.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import pprint
from pathlib import Path

from byoc import tracking_config
from byoc.tabular.run_summary import Summary

log = logging.getLogger(__name__)

CANDIDATE_SCRIPT = "candidate.py"
SEARCH_ARTIFACTS = ("leaderboard.csv", "summary.json", "report.md", "importance.png",
                    CANDIDATE_SCRIPT)

_SCRIPT = '''"""Rebuild and refit {name}, the best pipeline of `byoc autopilot local`.

{note}Run it with the CSV the search read (or another path as the first argument):

    python {script} [CSV] [OUT.joblib]

It cross-validates the pipeline on the search's folds, prints the score the leaderboard shows
({objective} = {score:.6g}), then refits it on every row and saves it.
"""

import sys

import joblib
import numpy as np

from byoc.tabular.candidate_pipeline import build_pipeline, encoded_target, fit, folds_of
from byoc.tabular.dataset import load
from byoc.tabular.families import FAMILIES
from byoc.tabular.scoring import compute

CSV = {csv!r}
TARGET = {target!r}
PROBLEM_TYPE = {problem_type!r}
METRIC = {key!r}  # {objective}
FAMILY = {family!r}
PARAMS = {params}
FOLDS = {folds}
SEED = {seed}


def main(csv=CSV, out="refit.joblib"):
    ds = load(csv, TARGET, PROBLEM_TYPE)
    y, classes = encoded_target(ds)
    family = next(f for f in FAMILIES if f.name == FAMILY)
    classify = bool(classes)
    scores = []
    for held_out in folds_of(ds, FOLDS, SEED):
        seen = np.setdiff1d(np.arange(len(y)), held_out)
        model = fit(build_pipeline(ds, family, PARAMS, SEED), ds.X.iloc[seen], y[seen])
        X = ds.X.iloc[held_out]
        raw = model.predict_proba(X) if classify else model.predict(X)
        scores.append(compute([METRIC], y[held_out], raw)[METRIC])
    print(f"{{METRIC}} = {{np.mean(scores):.6g}} (mean of {{len(scores)}} folds)")
    pipeline = fit(build_pipeline(ds, family, PARAMS, SEED), ds.X, y)
    joblib.dump({{"pipeline": pipeline, "classes": classes}}, out)
    print(f"refit on {{len(y)}} rows: {{out}}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
'''


def write_candidate_script(out_dir: Path, csv_path: str | Path, summary: Summary, best,
                           seed: int) -> Path:
    """`candidate.py` for `best` (the best single pipeline; an ensemble's best member)."""
    ensemble = summary.best_candidate != best.name
    note = ("The search's winner is an ensemble; this is its best single pipeline.\n\n"
            if ensemble else "")
    text = _SCRIPT.format(
        name=best.name, note=note, script=CANDIDATE_SCRIPT, objective=summary.objective,
        score=best.metrics[summary.objective_key], csv=str(Path(csv_path).resolve()),
        target=summary.target, problem_type=summary.problem_type,
        key=summary.objective_key, family=best.family, params=python_literal(best.params),
        folds=summary.cv_folds, seed=seed)
    path = Path(out_dir) / CANDIDATE_SCRIPT
    path.write_text(text)
    return path


def python_literal(params: dict) -> str:
    """`params` as Python source that evaluates to the same values (False, not JSON's false;
    tuples stay tuples). A value without a literal form (a NaN, a numpy scalar, an object) is
    refused: the script would not run, or would run with another value."""
    text = pprint.pformat(params, sort_dicts=True)
    try:
        same = ast.literal_eval(text) == params
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise ValueError(f"The settings {params!r} cannot be written as Python literals for "
                         f"{CANDIDATE_SCRIPT}: give the family's search space plain Python "
                         "values (bool, int, float, str, tuple).")
    return text


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
