"""Experiment tracking's shared vocabulary: the environment that turns it on, the tags a run
carries, and the checks on a tracking URI and an experiment name.

A tracking URI may carry credentials (http://USER:TOKEN@HOST, ?token=...): `redact` hides them
wherever a URI, or an error that may quote one, is logged or printed.

Light on purpose (no MLflow import): the driver checks `--track` with it before anything is
created, and the trainer reads the same names. MLflow itself is imported only where a run is
logged or read, and only when tracking is on.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from byoc.errors import UserError

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "byoc"
# Logging the Keras model uploads it (megabytes per run): on by default, "false" turns it off.
LOG_MODEL_ENV = "BYOC_MLFLOW_LOG_MODEL"
# What the driver adds to a job's environment, so the run says where it came from.
IMAGE_ENV = "BYOC_IMAGE"
TUNING_JOB_ENV = "BYOC_TUNING_JOB"
# Set by SageMaker in every training container.
TRAINING_JOB_ENV = "TRAINING_JOB_NAME"
TRAINING_JOB_ARN_ENV = "TRAINING_JOB_ARN"

# Tags on every run byoc logs. `deploy --run` follows TAG_TRAINING_JOB to the model.tar.gz.
TAG_TRAINING_JOB = "sagemaker.training_job"
TAG_TRAINING_JOB_ARN = "sagemaker.training_job_arn"
TAG_TUNING_JOB = "sagemaker.tuning_job"
TAG_HOST = "byoc.host"
TAG_IMAGE = "byoc.image"
TAG_MODEL_DIR = "byoc.model_dir"
TAG_KIND = "byoc.kind"
# Set by `byoc register --run`: the Model Registry version the run became (the version records
# the run id in turn).
TAG_MODEL_PACKAGE = "byoc.model_package_arn"
# The MLflow model's path inside a run (runs:/RUN_ID/model).
MODEL_ARTIFACT = "model"

# SageMaker managed MLflow: a tracking server, or an MLflow App (the newer serverless kind).
ARN = re.compile(r"arn:aws(-cn|-us-gov)?:sagemaker:[a-z]{2}(-[a-z]+)+-\d:\d{12}:"
                 r"(mlflow-tracking-server|mlflow-app)/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
SCHEMES = ("http", "https", "file", "sqlite")
# A local directory is MLflow's file store: the one local store that mlflow-skinny (the image's
# client) can write, since SQLite needs SQLAlchemy. MLflow 3 keeps it in maintenance mode and
# refuses it unless this is set; byoc sets it for the stores it is given.
ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"
MAX_EXPERIMENT_NAME = 500  # MLflow's own limit
LOOPBACK = ("localhost", "127.0.0.1", "::1")
SAGEMAKER_EXPERIMENT = re.compile(r"[a-zA-Z0-9\-_./]{1,256}")  # AIMlflowConfig's pattern
REDACTED = "***"
# In free text (an error message may quote a URL, or only its path and query): a URL's user
# info, and a query parameter's value.
_USER_INFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s'\"<>]*@")
_QUERY_VALUE = re.compile(r"([?&][^=&#\s'\"<>]+=)[^&#\s'\"<>]+")


def redact(text: str) -> str:
    """`text` (a URI, or a message that may quote URLs) with the credentials hidden: every
    URL's user-info part (USER:TOKEN@) and the values of query parameters (?token=...)."""
    text = _USER_INFO.sub(rf"\g<1>{REDACTED}@", text)
    return _QUERY_VALUE.sub(rf"\g<1>{REDACTED}", text)


def is_arn(uri: str) -> bool:
    return uri.startswith("arn:")


def check_uri(uri: str) -> str:
    """The tracking URI as MLflow should get it: an http(s) server, a SageMaker managed MLflow
    ARN, a SQLite database, or a local directory (a path or file://, made absolute). Anything
    else is refused here, before a job or a run exists."""
    uri = uri.strip()
    shown = redact(uri)
    if not uri:
        raise UserError("--track needs a tracking URI: http(s)://HOST:PORT, a SageMaker MLflow "
                        "ARN, or a local directory such as ./mlruns.")
    if is_arn(uri):
        if not ARN.fullmatch(uri):
            raise UserError(
                f"--track: '{shown}' is not a SageMaker managed MLflow ARN. It looks like "
                "arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME (or "
                "...:mlflow-app/ID); copy it from the SageMaker console or "
                "`aws sagemaker list-mlflow-tracking-servers`.")
        return uri
    scheme = urlparse(uri).scheme
    if len(scheme) <= 1 or scheme == "file":  # a local directory (or a Windows drive letter)
        return local_store(Path(urlparse(uri).path if scheme == "file" else uri))
    if scheme not in SCHEMES:
        raise UserError(
            f"--track: unknown URI scheme '{scheme}:' in '{shown}'. Use http(s)://HOST:PORT (an "
            "MLflow server), arn:aws:sagemaker:...:mlflow-tracking-server/NAME (SageMaker "
            "managed MLflow) or a local directory (./mlruns).")
    if scheme in ("http", "https") and not urlparse(uri).hostname:
        raise UserError(f"--track: '{shown}' names no host; e.g. http://127.0.0.1:5000.")
    return uri


def local_store(directory: Path) -> str:
    """The file URI of a local store directory (absolute; made when a run is logged)."""
    directory = directory.expanduser().resolve()
    if directory.suffix == ".db":
        raise UserError(f"--track {directory}: give the store's directory (./mlruns), or "
                        f"sqlite:///{directory} for a database file.")
    return directory.as_uri()


def store_directory(uri: str) -> Path | None:
    """The directory of a local store (a file store, or a SQLite database's folder); else None.
    It holds the runs' artifacts too."""
    if uri.startswith("file:"):
        return Path(urlparse(uri).path)
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent
    return None


def artifact_location(uri: str) -> str | None:
    """Where a new experiment's artifacts go: beside a SQLite store's database (MLflow would use
    ./mlruns under whatever directory the process runs in); the store's or server's choice
    otherwise."""
    return (store_directory(uri) / "artifacts").as_uri() if uri.startswith("sqlite:") else None


def allow_file_store(uri: str) -> None:
    """Let MLflow 3 open a file store that byoc was given (see ALLOW_FILE_STORE_ENV)."""
    if uri.startswith("file:") or urlparse(uri).scheme == "":
        os.environ.setdefault(ALLOW_FILE_STORE_ENV, "true")


def check_experiment(name: str | None, uri: str = "") -> str:
    """An experiment name MLflow accepts: not empty, at most 500 characters, one printable
    line (it travels in an environment variable and shows in tables). SageMaker managed MLflow
    (an ARN `uri`) takes fewer: letters, digits and -_./, at most 256."""
    if name is None:
        return DEFAULT_EXPERIMENT
    if is_arn(uri) and not SAGEMAKER_EXPERIMENT.fullmatch(name):
        raise UserError(f"--experiment: SageMaker managed MLflow takes names of up to 256 "
                        f"letters, digits and -_./ only, not '{name}'.")
    if not name.strip():
        raise UserError("--experiment: the name is empty; give one, e.g. --experiment signs.")
    if len(name) > MAX_EXPERIMENT_NAME:
        raise UserError(f"--experiment: the name has {len(name)} characters; MLflow takes at "
                        f"most {MAX_EXPERIMENT_NAME}.")
    bad = sorted({repr(c) for c in name if not c.isprintable()})
    if bad:
        raise UserError(f"--experiment: the name holds characters MLflow refuses or cannot show "
                        f"({', '.join(bad)}); use letters, digits, spaces and -_./")
    return name


def job_environment(uri: str | None, experiment: str | None, *, image: str | None = None,
                    tuning_job: str | None = None, remote: bool = False) -> dict[str, str]:
    """The environment that turns tracking on in a training container: empty without a URI.
    For a `remote` (SageMaker) job, a local store or a loopback server is refused: the job
    could not reach it."""
    if uri is None:
        if experiment is not None:
            raise UserError("--experiment needs --track URI.")
        return {}
    uri = check_uri(uri)
    if remote and (store_directory(uri) or urlparse(uri).hostname in LOOPBACK):
        raise UserError(
            f"--track {redact(uri)}: a SageMaker job runs on AWS and cannot reach this machine's "
            "files or loopback. Use a SageMaker managed MLflow ARN or an http(s) server the "
            "job can reach (in its VPC: --subnets and --security-groups); for a local store, "
            "train with byoc local train --track.")
    env = {TRACKING_URI_ENV: uri, EXPERIMENT_ENV: check_experiment(experiment, uri)}
    if store_directory(uri):
        store_directory(uri).mkdir(parents=True, exist_ok=True)
    if uri.startswith("file:"):
        env[ALLOW_FILE_STORE_ENV] = "true"
    if image:
        env[IMAGE_ENV] = image
    if tuning_job:
        env[TUNING_JOB_ENV] = tuning_job
    return env


def quiet_plugin_headers(uri: str) -> None:
    """The sagemaker-mlflow plugin adds its ARN header to every request and, for a URI that is
    not an ARN, fails to, which MLflow logs as a warning per request: noise, since no header is
    needed there. Silence those warnings for such URIs only."""
    if not is_arn(uri):
        logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
