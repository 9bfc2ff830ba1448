"""The calls for the image, the data, training and tuning jobs, re-joining jobs and tracked
runs: what `byoc.api` exposes as push, upload, train, tune, logs, attach, list_jobs, runs, ..."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from byoc.driver import ecr as _ecr
from byoc.driver import job_listing as _listing
from byoc.driver import jobs as _jobs
from byoc.driver import rejoin as _rejoin
from byoc.driver import train_and_tune as _training
from byoc.driver import upload as _upload
from byoc.driver.aws import Aws, connect, data_bucket, translate_errors
from byoc.driver.job_listing import JobListing
from byoc.driver.jobs import TuningLeaderboard, TuningSpec
from byoc.driver.rejoin import Attached, JobLogs
from byoc.driver.train_and_tune import StartedJob, TrainingRequest, TrainingResult, TuningResult
from byoc.errors import UserError


def _aws(region: str | None, profile: str | None) -> Aws:
    return connect(region=region, profile=profile)


# ---------------------------------------------------------------------------------------------
# Image and data


def push(*, variant: str = "cpu", repository: str = _ecr.DEFAULT_REPOSITORY,
         tag: str | None = None, registry: str | None = None, context: str | Path = ".",
         platform: str = _ecr.DEFAULT_PLATFORM, region: str | None = None,
         profile: str | None = None) -> str:
    """Build the image (Dockerfile, or Dockerfile.gpu for `variant="gpu"`) and push it to ECR.

    Args:
        variant: cpu, gpu or serving.
        repository: the ECR repository, created if missing.
        tag: default `latest` (cpu), `latest-gpu` or `latest-serving`.
        registry: push to this HOST:PORT instead of ECR's registry.
        context: the build context that holds the Dockerfiles.
        platform: linux/amd64 (SageMaker's x86 instances) or linux/arm64 (Graviton).

    Returns:
        The image's URI, for `TrainingRequest.image`.
    """
    with translate_errors():
        return _ecr.push(_aws(region, profile), variant=variant, repository=repository, tag=tag,
                         registry=registry, context=context, platform=platform)


@dataclass(frozen=True)
class Upload:
    """A dataset in S3: its prefix, and one S3 prefix per channel (train, validation, test)."""

    prefix: str
    channels: dict[str, str]


def upload(data: str | Path, *, upload_to: str | None = None, region: str | None = None,
           profile: str | None = None) -> Upload:
    """Upload a local dataset directory (train/, validation/, test/) to S3; an s3:// prefix is
    only read, for its channels.

    Files already there with the same size and checksum are not sent again, so a second call
    costs nothing. Pass `Upload.prefix` as a training job's `data`.

    Args:
        data: the local directory.
        upload_to: where it goes (default s3://sagemaker-REGION-ACCOUNT/byoc/input/DIGEST/,
            named after its content).
    """
    with translate_errors():
        aws = _aws(region, profile)
        channels = _upload.stage_data(aws, str(data), f"s3://{data_bucket(aws)}/byoc/input",
                                    upload_to=upload_to)
    if str(data).startswith("s3://"):  # already there: used in place
        return Upload(str(data).rstrip("/") + "/", channels)
    # A local folder goes to PREFIX/CHANNEL/, one sub-prefix per channel.
    prefix = next(iter(channels.values())).rstrip("/").rpartition("/")[0] + "/"
    return Upload(prefix, channels)


# ---------------------------------------------------------------------------------------------
# Training and tuning


def start_training(request: TrainingRequest, *, job_name: str | None = None,
                   region: str | None = None, profile: str | None = None) -> StartedJob:
    """Check the request, upload the data and the code, and start a training job; return at
    once. `job_name` defaults to byoc-train-DATE-TIME."""
    with translate_errors():
        return _training.start_training(_aws(region, profile), request, job_name)


def train(request: TrainingRequest | None = None, *, job_name: str | None = None,
          timeout: float | None = None, download: str | Path | None = None,
          region: str | None = None, profile: str | None = None, **fields) -> TrainingResult:
    """Run a training job and wait for it, showing its status and log lines.

    Args:
        request: the job; or give its fields as keywords (`image=..., data=...`).
        job_name: default byoc-train-DATE-TIME.
        timeout: stop waiting after this many seconds (default: the job's limit + 30 min).
        download: a new or empty directory to unpack the job's output into: the evaluation
            report, metrics and plots. Default: not downloaded.

    Returns:
        The model's S3 URI, the billing line and, with `download`, the evaluation summary.

    Raises:
        UserError: a setting is wrong (nothing was uploaded), or the job failed.
        WaitTimeout: the job outlasted `timeout`; it goes on.
    """
    request = request or TrainingRequest(**fields)
    with translate_errors():
        if download is not None:
            _jobs.check_download_dir(Path(download))
        aws = _aws(region, profile)
        job = _training.start_training(aws, request, job_name)
        result = _training.wait_for_training(aws, job, timeout)
        return result if download is None else _training.fetch_output(aws, result, download)


def tune(request: TrainingRequest, tuning: TuningSpec | None = None, *,
         job_name: str | None = None, timeout: float | None = None, region: str | None = None,
         profile: str | None = None) -> TuningResult:
    """Run a hyperparameter tuning job whose trials run `request`, and wait for it.

    Args:
        tuning: limits, strategy, ranges and warm start (default: 10 jobs, 2 at a time, over
            byoc's trainer's search space).
        timeout: default each round of parallel trials' limit, + 30 min.

    Returns:
        The tuning job's description, and its best training job.
    """
    tuning = tuning or TuningSpec()
    with translate_errors():
        aws = _aws(region, profile)
        job = _training.start_tuning(aws, request, tuning, job_name)
        return _training.wait_for_tuning(aws, job, tuning, timeout)


def tuning_leaderboard(job: str, *, top: int | None = None, region: str | None = None,
                       profile: str | None = None) -> TuningLeaderboard:
    """The trials of a tuning job, ended or running (`byoc tuning leaderboard`).

    Args:
        top: the best `top` trials only (default: every trial).

    Returns:
        Each trial's rank, training job, status, objective value and the hyperparameters the
        job's ranges tuned (only those): best first by the objective's direction, those without
        a value yet next, failed and stopped trials last. `best` is the first if it completed
        with a value; `lines()` is the table the command prints.

    Raises:
        UserError: no tuning job of that name.
    """
    if top is not None and top < 1:
        raise UserError(f"top must be 1 or more, not {top}.")
    with translate_errors():
        return _jobs.leaderboard(_aws(region, profile), job, top)


# ---------------------------------------------------------------------------------------------
# Re-joining jobs


def logs(job_name: str, *, kind: str | None = None, trial: str | None = None,
         follow: bool = False, timeout: float | None = None, region: str | None = None,
         profile: str | None = None) -> JobLogs:
    """Print a job's CloudWatch log lines to stdout (`byoc logs`).

    Args:
        kind: "training job", "tuning job", "transform job" or "Autopilot job"; default: the
            kind that has a job of that name. A tuning job's lines are its best training job's
            (or `trial`'s); an Autopilot job's its best candidate's training job's.
        follow: keep printing new lines until the job ends (`timeout` seconds at most).

    Returns:
        Whose lines were printed (`log_job`, None when there are none yet), and `notes` on them.

    Raises:
        UserError: no job of that name (of `kind`), or no best trial yet.
        WaitTimeout: with `follow`, the job outlasted `timeout`; it goes on.
    """
    if kind is not None and kind not in _jobs.JOB_APIS:
        raise UserError(f"kind must be one of {', '.join(_jobs.JOB_APIS)}, not '{kind}'.")
    with translate_errors():
        return _rejoin.print_logs(_aws(region, profile), job_name, kind=kind, trial=trial,
                                  follow=follow, timeout=timeout)


def attach(job_name: str, *, timeout: float | None = None, download: str | Path | None = None,
           region: str | None = None, profile: str | None = None) -> Attached:
    """Re-join a training job, e.g. after `train` stopped waiting: follow it while it runs (as
    `train` does), then read its output.

    Args:
        timeout: stop waiting for a running job after this many seconds (default: its limit +
            30 min).
        download: a new or empty directory to unpack output.tar.gz into; default: its
            metrics.json is read and not kept.

    Returns:
        The completed job (`training`: model, billing), its output.tar.gz's URI, and the
        evaluation summary's lines; `lines()` is what `byoc attach` prints.

    Raises:
        UserError: no such training job, or it failed or was stopped (SageMaker's reason).
        WaitTimeout: the job outlasted `timeout`; it goes on.
    """
    with translate_errors():
        return _rejoin.attach(_aws(region, profile), job_name, timeout=timeout,
                              download=download)


def list_jobs(*, kind: str | None = None, status: str | None = None,
              max_jobs: int = _listing.DEFAULT_MAX_JOBS, region: str | None = None,
              profile: str | None = None) -> JobListing:
    """The newest jobs byoc started (of `kind`, with `status`), newest first: kind, name,
    status, start, duration and a key metric. byoc checks the newest `max_jobs` of each kind
    for its mark; `JobListing.lines()` is the table `byoc jobs` prints."""
    _listing.check_listing(kind, status, max_jobs)
    with translate_errors():
        return _listing.list_jobs(_aws(region, profile), kind=kind, status=status,
                                  max_jobs=max_jobs)


# ---------------------------------------------------------------------------------------------
# Tracked runs (MLflow)


@dataclass(frozen=True)
class RunTable:
    """Tracked runs as a table: its lines, as `byoc runs` prints them."""

    lines: list[str]


def runs(*, track: str | None = None, experiment: str | None = None, sort: str | None = None,
         max_runs: int = 50) -> RunTable:
    """The tracked runs of an experiment, newest first (or by the metric `sort`)."""
    from byoc import tracking_config
    from byoc.driver import runs as _runs

    return RunTable(_runs.list_runs(_runs.tracking_uri(track),
                                    tracking_config.check_experiment(experiment), sort, max_runs))


def compare_runs(run_ids: Sequence[str], *, track: str | None = None) -> RunTable:
    """Runs side by side: the parameters that differ, then every metric."""
    from byoc.driver import runs as _runs

    return RunTable(_runs.compare(_runs.tracking_uri(track), list(run_ids)))
