"""Logs one training run to MLflow when MLFLOW_TRACKING_URI is set; never fails the job.

What a run holds: the parsed hyperparameters (params); the epoch's train and validation metrics
with the epoch as step; the final validation (`final_val_*`) and test (`test_*`) metrics of the
kept weights; report.md,
metrics.json and the PNGs of /opt/ml/output/data (artifacts); the SageMaker job, tuning job,
host and image (tags); and the servable Keras model with its input signature (switch it off with
BYOC_MLFLOW_LOG_MODEL=false).

Every call to the server goes through one queue. A call that fails (server down, bad
credentials, timeout) leaves itself and everything after it queued, with one warning; the
queue is retried at the next epoch and at the end. What is still queued then is named in a
last warning: the same numbers are in output.tar.gz (metrics.json, report.md).

Example, as `run.py` wires it (chief only):

    tracker = Tracker.start(env, hp)          # None when tracking is off
    fit(..., tracker)                         # a Keras callback: per-epoch metrics
    tracker.finish(final, output_dir, model, sample_images)
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from byoc import tracking_config
from byoc.contract import TrainingEnv
from byoc.hyperparams import HyperParameters

log = logging.getLogger("byoc.training")

# MLflow's own defaults retry a dead server for minutes (7 retries, backoff factor 2, 120 s
# timeout); a training job should lose seconds, not minutes. Set them to override these.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
ARTIFACT_SUFFIXES = (".md", ".json", ".png")


def _enabled(text: str | None) -> bool:
    return (text or "true").strip().lower() not in ("0", "false", "no", "off")


def _tags(env: TrainingEnv) -> dict[str, str]:
    tags = {
        tracking_config.TAG_HOST: f"{env.current_host} ({socket.gethostname()})",
        tracking_config.TAG_KIND: "training",
        tracking_config.TAG_MODEL_DIR: str(env.paths.model_dir),
    }
    for key, var in ((tracking_config.TAG_TRAINING_JOB, tracking_config.TRAINING_JOB_ENV),
                     (tracking_config.TAG_TRAINING_JOB_ARN, tracking_config.TRAINING_JOB_ARN_ENV),
                     (tracking_config.TAG_TUNING_JOB, tracking_config.TUNING_JOB_ENV),
                     (tracking_config.TAG_IMAGE, tracking_config.IMAGE_ENV)):
        if os.environ.get(var):
            tags[key] = os.environ[var]
    tags["mlflow.runName"] = run_name(os.environ.get(tracking_config.TRAINING_JOB_ENV),
                                      os.environ.get(tracking_config.TRAINING_JOB_ARN_ENV))
    return tags


def run_name(job: str | None, job_arn: str | None) -> str:
    """The run's name, chosen here rather than by MLflow: MLflow draws its names from Python's
    global random generator, which the trainer seeds first, so every run with the same seed
    would get the same name. A SageMaker job (it has an ARN) has a unique name: the run takes
    it. Elsewhere (local runs) the name is the job's, if any, with the time and a random
    suffix that no seed repeats."""
    if job and job_arn:
        return job
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{job or 'train'}-{stamp}-{secrets.token_hex(2)}"


class Tracker(keras.callbacks.Callback):
    """One MLflow run for one training job, fed by the chief.

    Args:
        uri: the tracking URI (MLFLOW_TRACKING_URI).
        experiment: the experiment's name; made if missing.
        params: the hyperparameters as strings.
        tags: the run's tags.
        log_model: whether `finish` logs the Keras model.
    """

    def __init__(self, uri: str, experiment: str, params: dict[str, str],
                 tags: dict[str, str], log_model: bool) -> None:
        super().__init__()
        self.uri = uri
        self.experiment = experiment
        self.log_model = log_model
        self.run_id: str | None = None
        self._queue: list[tuple[str, Callable[[], None]]] = []
        self._warned = False
        self._finished = False
        import mlflow  # noqa: F401  (fails here, as a warning, if the image lacks it)
        from mlflow.tracking import MlflowClient

        tracking_config.quiet_plugin_headers(uri)
        tracking_config.allow_file_store(uri)

        self._client = MlflowClient(uri)
        self._enqueue("the run itself, with its params and tags",
                      lambda: self._create_run(params, tags))
        self._flush()
        atexit.register(self._end_unfinished)

    @classmethod
    def start(cls, env: TrainingEnv, hp: HyperParameters) -> Tracker | None:
        """The tracker for this job, or None when tracking is off or cannot even start."""
        uri = os.environ.get(tracking_config.TRACKING_URI_ENV)
        if not uri:
            return None
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        # MLflow tags runs with the git commit it runs in; the image has no git: no warning.
        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        experiment = (os.environ.get(tracking_config.EXPERIMENT_ENV)
                      or tracking_config.DEFAULT_EXPERIMENT)
        try:
            tracker = cls(uri, experiment, hp.as_strings(), _tags(env),
                          _enabled(os.environ.get(tracking_config.LOG_MODEL_ENV)))
        except Exception as exc:  # no MLflow in the image, a URI it cannot parse, ...
            log.warning("MLflow tracking is off for this job (%s: %s); training goes on.",
                        type(exc).__name__, tracking_config.redact(str(exc)))
            return None
        log.info("MLflow tracking: experiment '%s' at %s%s", experiment,
                 tracking_config.redact(uri),
                 f", run {tracker.run_id}" if tracker.run_id else " (not reached yet)")
        return tracker

    # -- the queue --------------------------------------------------------------------------

    def _enqueue(self, what: str, call: Callable[[], None]) -> None:
        self._queue.append((what, call))

    def _flush(self) -> bool:
        """Send what is queued, in order; stop at the first failure. True when all went."""
        while self._queue:
            what, call = self._queue[0]
            try:
                call()
            except Exception as exc:
                if not self._warned:
                    log.warning(
                        "MLflow tracking at %s failed (%s: %s). Training goes on; byoc keeps "
                        "what it could not log and tries again after each epoch.",
                        tracking_config.redact(self.uri), type(exc).__name__,
                        tracking_config.redact(str(exc).splitlines()[0][:300]) if str(exc) else "")
                    self._warned = True
                return False
            self._queue.pop(0)
        return True

    def _create_run(self, params: dict[str, str], tags: dict[str, str]) -> None:
        from mlflow.entities import Param, RunTag

        experiment = self._client.get_experiment_by_name(self.experiment)
        experiment_id = (experiment.experiment_id if experiment else
                         self._client.create_experiment(
                             self.experiment,
                             artifact_location=tracking_config.artifact_location(self.uri)))
        run = self._client.create_run(experiment_id, tags=tags)
        self.run_id = run.info.run_id
        self._client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()],
                               tags=[RunTag("byoc.params", ",".join(sorted(params)))])

    def _log_metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(k, float(v), stamp, step) for k, v in values.items()]
        self._enqueue(f"the metrics of step {step}",
                      lambda: self._client.log_batch(self.run_id, metrics=metrics))

    # -- Keras hook -------------------------------------------------------------------------

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        values = {(k if k.startswith("val_") else f"train_{k}"): v
                  for k, v in (logs or {}).items()}
        try:
            self._log_metrics(values, epoch + 1)
            self._flush()
        except Exception as exc:  # a bug here must not stop training either
            log.warning("MLflow tracking: epoch %d not logged (%s).", epoch + 1,
                        tracking_config.redact(str(exc)))

    # -- the end ----------------------------------------------------------------------------

    def finish(self, final: dict[str, float], output_dir: Path, model: keras.Model | None,
               sample: np.ndarray | None) -> None:
        """Log the final metrics, the report files and the model, then end the run."""
        try:
            self._finish(final, Path(output_dir), model, sample)
        except Exception as exc:
            log.warning("MLflow tracking could not finish the run (%s: %s).",
                        type(exc).__name__, tracking_config.redact(str(exc)))

    def _finish(self, final: dict[str, float], output_dir: Path, model: keras.Model | None,
                sample: np.ndarray | None) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        # `final_val_*`: the epochs' `val_*` histories stay what they are.
        metrics = [Metric(f"final_{k}" if k.startswith("val_") else k, float(v), stamp, 0)
                   for k, v in final.items()]
        self._enqueue("the final validation and test metrics",
                      lambda: self._client.log_batch(self.run_id, metrics=metrics))
        files = sorted(p for p in output_dir.glob("*") if p.suffix in ARTIFACT_SUFFIXES)
        for path in files:
            self._enqueue(path.name,
                          lambda p=path: self._client.log_artifact(self.run_id, str(p)))
        if model is not None and sample is not None and self.log_model:
            self._enqueue("the Keras model", lambda: self._log_model(model, sample))
        self._enqueue("the run's end", lambda: self._client.set_terminated(self.run_id))
        self._finished = True
        if self._flush():
            log.info("MLflow: logged run %s (experiment '%s').", self.run_id, self.experiment)
            return
        lost = [what for what, _ in self._queue]
        log.warning("MLflow tracking at %s: not logged, after retries: %s. The metrics and the "
                    "report are in output.tar.gz all the same.", tracking_config.redact(self.uri),
                    "; ".join(_squash(lost)))
        self._queue.clear()

    def _log_model(self, model: keras.Model, sample: np.ndarray) -> None:
        import mlflow.keras
        import tensorflow as tf
        from mlflow.models.signature import ModelSignature
        from mlflow.types.schema import Schema, TensorSpec

        # Spelled out: MLflow's inference from arrays imports SciPy, which the image lacks.
        x = sample.astype(np.float32)
        # One batch, without Keras's array pipeline: under the trainer's op determinism,
        # tf.data rewrites that pipeline's parallel map into a sequential one and TensorFlow
        # logs an E0000 "use_unbounded_threadpool" line about the attribute it carries over.
        y = np.asarray(model.predict_on_batch(x))
        signature = ModelSignature(
            Schema([TensorSpec(np.dtype(np.float32), (-1, *x.shape[1:]), "image")]),
            Schema([TensorSpec(np.dtype(np.float32), (-1, *y.shape[1:]), "probabilities")]))
        # Named requirements: MLflow would otherwise find them by loading the model again in a
        # subprocess, which costs the job most of a minute.
        requirements = [f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"]
        # The fluent API needs the run active; ending it here is what set_terminated does next.
        with mlflow.start_run(run_id=self.run_id):
            mlflow.keras.log_model(model, name=tracking_config.MODEL_ARTIFACT, signature=signature,
                                   pip_requirements=requirements)

    def _end_unfinished(self) -> None:
        """At exit, a run that never reached `finish` (the job failed or was stopped) is marked
        FAILED rather than left RUNNING forever."""
        if self._finished or self.run_id is None:
            return
        try:
            self._client.set_terminated(self.run_id, status="FAILED")
        except Exception:  # exiting anyway; the run stays RUNNING on the server
            pass


def _squash(whats: list[str]) -> list[str]:
    """`the metrics of step 3`, `... step 4` → `the metrics of steps 3-4`: a short list."""
    steps = [int(w.rsplit(" ", 1)[1]) for w in whats if w.startswith("the metrics of step ")]
    rest = [w for w in whats if not w.startswith("the metrics of step ")]
    if not steps:
        return rest
    group = (f"the metrics of step {steps[0]}" if len(steps) == 1 else
             f"the metrics of steps {min(steps)}-{max(steps)}")
    return ([rest[0], group, *rest[1:]] if rest and rest[0].startswith("the run itself")
            else [group, *rest])
