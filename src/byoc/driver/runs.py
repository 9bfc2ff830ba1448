"""`byoc runs` and `byoc runs compare`: the tracked runs of an experiment as tables; and the
training job behind a run, for `byoc deploy --run` and `byoc register --run`.

MLflow (the `tracking` extra) is imported inside the functions: `byoc --help` stays instant.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from byoc import tracking_config
from byoc.errors import UserError

# Hyperparameters shown in the table when the runs do not differ in any.
KEY_PARAMS = ("model", "epochs", "batch_size", "learning_rate")
MAX_PARAM_COLUMNS = 5
COLUMNS_METRICS = (("val acc", "final_val_accuracy"), ("test acc", "test_accuracy"))


def tracking_uri(flag: str | None) -> str:
    """--track, else MLFLOW_TRACKING_URI, checked; a clear error when neither is set."""
    uri = flag or os.environ.get(tracking_config.TRACKING_URI_ENV)
    if not uri:
        raise UserError("Which tracking server? Pass --track URI (http(s)://HOST:PORT, a "
                        "SageMaker MLflow ARN or ./mlruns) or set MLFLOW_TRACKING_URI.")
    return tracking_config.check_uri(uri)


def client(uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ModuleNotFoundError as exc:
        raise UserError("Reading runs needs MLflow's client: pip install 'byoc[tracking]'.") \
            from exc
    store = tracking_config.store_directory(uri)
    if store and not store.exists():
        raise UserError(f"No tracking store in {store}: nothing was logged there yet. Train with "
                        f"--track {store} first, or point --track at another store.")
    tracking_config.quiet_plugin_headers(uri)
    tracking_config.allow_file_store(uri)
    return MlflowClient(uri)


def _experiment_id(mlflow_client, name: str) -> str:
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is None:
        known = [e.name for e in mlflow_client.search_experiments(max_results=20)]
        raise UserError(f"No experiment named '{name}' at this tracking URI. Experiments there: "
                        f"{', '.join(known) or 'none'}. Pick one with --experiment NAME.")
    return experiment.experiment_id


def get_run(mlflow_client, run_id: str):
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_run(run_id)
    except MlflowException as exc:
        raise UserError(f"No run '{run_id}' at this tracking URI "
                        f"({tracking_config.redact(exc.message.splitlines()[0])}). List them with "
                        "byoc runs --experiment NAME.") from None


def _when(millis: int | None) -> str:
    if not millis:
        return "-"
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _duration(run) -> str:
    if not run.info.end_time:
        return run.info.status.lower()
    seconds = (run.info.end_time - run.info.start_time) / 1000
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def link(uri: str, run) -> str:
    """Where a user looks at the run: the server's page, or the run's folder in a local store."""
    if uri.startswith(("http://", "https://")):
        return (f"{tracking_config.redact(uri).rstrip('/')}/#/experiments/"
                f"{run.info.experiment_id}/runs/{run.info.run_id}")
    if tracking_config.is_arn(uri):
        return run.data.tags.get(tracking_config.TAG_TRAINING_JOB, "-")
    return run.info.artifact_uri.removeprefix("file://").removesuffix("/artifacts")


def param_columns(runs) -> list[str]:
    """The hyperparameters worth a column: those that differ between the runs, else a few."""
    names = sorted({k for r in runs for k in r.data.params})
    differ = [k for k in names if len({r.data.params.get(k) for r in runs}) > 1]
    return (differ or [k for k in KEY_PARAMS if k in names])[:MAX_PARAM_COLUMNS]


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def list_runs(uri: str, experiment: str, sort: str | None = None,
              max_runs: int = 50) -> list[str]:
    mlflow_client = client(uri)
    runs = mlflow_client.search_runs([_experiment_id(mlflow_client, experiment)],
                                     max_results=max_runs, order_by=["attributes.start_time DESC"])
    if not runs:
        return [f"No runs in experiment '{experiment}' yet."]
    if sort:
        known = sorted({k for r in runs for k in r.data.metrics})
        if sort not in known:
            raise UserError(f"--sort: no run has a metric '{sort}'. Metrics: {', '.join(known)}.")
        # Losses and errors: the lowest first; everything else (accuracies): the highest first.
        low_first = sort.endswith(("loss", "error", "rmse", "mae"))
        with_value = [r for r in runs if sort in r.data.metrics]
        with_value.sort(key=lambda r: r.data.metrics[sort], reverse=not low_first)
        runs = with_value + [r for r in runs if sort not in r.data.metrics]
    params = param_columns(runs)
    metric_columns = [*COLUMNS_METRICS]
    if sort and sort not in {m for _, m in metric_columns}:
        metric_columns.append((sort, sort))
    rows = [["run", "date", *params, *(h for h, _ in metric_columns), "duration", "link"]]
    for run in runs:
        rows.append([run.info.run_id, _when(run.info.start_time),
                     *(run.data.params.get(p, "-") for p in params),
                     *(_number(run.data.metrics.get(m)) for _, m in metric_columns),
                     _duration(run), link(uri, run)])
    return table(rows)


def compare(uri: str, run_ids: list[str]) -> list[str]:
    """Runs side by side: the params that differ, then every metric."""
    if len(run_ids) < 2:
        raise UserError("byoc runs compare needs two runs or more: byoc runs compare RUN RUN...")
    mlflow_client = client(uri)
    runs = [get_run(mlflow_client, run_id) for run_id in run_ids]
    params = sorted({k for r in runs for k in r.data.params})
    differ = [k for k in params if len({r.data.params.get(k) for r in runs}) > 1]
    metrics = sorted({k for r in runs for k in r.data.metrics})
    rows = [["", *(r.info.run_id[:12] for r in runs)],
            ["name", *(r.info.run_name or "-" for r in runs)],
            ["date", *(_when(r.info.start_time) for r in runs)],
            ["duration", *(_duration(r) for r in runs)]]
    rows += [[k, *(r.data.params.get(k, "-") for r in runs)] for k in differ]
    rows += [[k, *(_number(r.data.metrics.get(k)) for r in runs)] for k in metrics]
    same = len(params) - len(differ)
    return table(rows) + ([f"({same} other hyperparameter(s) are the same in every run)"]
                          if same else [])


def training_job_of(uri: str, run_id: str) -> str:
    """The SageMaker training job whose model.tar.gz a run's model is: for `deploy --run`."""
    run = get_run(client(uri), run_id)
    job = run.data.tags.get(tracking_config.TAG_TRAINING_JOB)
    if job and job != "byoc-local":
        return job
    where = run.data.tags.get(tracking_config.TAG_MODEL_DIR)
    if where:
        raise UserError(
            f"Run {run_id} was trained locally, not by a SageMaker training job, so no "
            f"model.tar.gz on S3 holds its model (it was written to {where}). Serve it with "
            "byoc local serve --model DIR, or upload its model.tar.gz and deploy with "
            "--model-data s3://... --image URI.")
    raise UserError(f"Run {run_id} has no model byoc can deploy: it carries no "
                    f"{tracking_config.TAG_TRAINING_JOB} tag (it was not logged by byoc's "
                    "`train`). Deploy with --training-job NAME or --model-data and --image.")


def training_job(run: str | None, training_job: str | None, track: str | None) -> str | None:
    """`training_job`, or the job behind the tracked `run` (on `track`, or MLFLOW_TRACKING_URI)."""
    if run is None:
        return training_job
    if training_job:
        raise UserError("Pass --run RUN_ID or --training-job NAME, not both.")
    return training_job_of(tracking_uri(track), run)


def tag_run(uri: str, run_id: str, key: str, value: str) -> None:
    """Set one tag on a tracked run: `byoc register --run` names the version the run became."""
    client(uri).set_tag(run_id, key, value)
