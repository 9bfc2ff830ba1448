"""byoc as Python: every verb of the `byoc` command as one call, for notebooks and programs.

Each call takes plain arguments or a spec dataclass and returns a typed result; the command line
is a thin layer over these calls. AWS calls take `region` and `profile` (default: the
environment, then byoc's config file, then us-east-1), and raise `byoc.errors.UserError` with a
sentence that says what to do; a wait that runs out raises `WaitTimeout` (the work goes on).

    from byoc import api

    job = api.train(image=IMAGE, data="signs/", hyperparameters={"epochs": 5}, download="run1")
    version = api.register(job.job_name, group="signs", approve=True)
    api.deploy(api.DeployRequest("signs", api.ModelSource(package=version.arn)))
    api.update_endpoint(api.DeployRequest("signs", api.ModelSource(training_job="signs-2"),
                                          api.hosting(default_instance_type="ml.m5.large",
                                                      instance_count=2)),
                        api.Guardrails("canary", 50, wait=600, alarms=("signs-5xx",)))
    for answer in api.invoke(["stop.png"], endpoint="signs"):
        print(answer.predictions[0]["label"])
    api.delete("signs")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from byoc.driver import autoscaling as _autoscaling
from byoc.driver import deployment as _deployment
from byoc.driver import ecr as _ecr
from byoc.driver import endpoint_update as _update
from byoc.driver import endpoints as _endpoints
from byoc.driver import invoke as _invoke
from byoc.driver import job_listing as _listing
from byoc.driver import jobs as _jobs
from byoc.driver import model_packages as _packages
from byoc.driver import multi_model_endpoints as _models
from byoc.driver import pipelines as _pipelines
from byoc.driver import rejoin as _rejoin
from byoc.driver import stop as _stop
from byoc.driver import train_and_tune as _training
from byoc.driver import upload as _upload
from byoc.driver.autopilot import AutopilotSpec
from byoc.driver.autopilot.calls import (
    AutopilotArtifacts,
    AutopilotEndpoint,
    AutopilotJob,
    AutopilotStatus,
    Leaderboard,
    autopilot_deploy,
    autopilot_leaderboard,
    autopilot_notebooks,
    autopilot_start,
    autopilot_status,
)
from byoc.driver.autoscaling import Scaling
from byoc.driver.aws import Aws, connect, data_bucket, translate_errors
from byoc.driver.aws_options import AwsOptions
from byoc.driver.aws_options import resolve as aws_options
from byoc.driver.deployment import Deployment, DeployRequest, ModelSource, TransformJobs
from byoc.driver.guardrails import Guardrails
from byoc.driver.hosting import Hosting
from byoc.driver.hosting import resolve as hosting
from byoc.driver.invoke import Response
from byoc.driver.job_listing import JobListing, JobRow
from byoc.driver.jobs import Trial, TuningLeaderboard, TuningSpec
from byoc.driver.live_endpoint import EndpointUpdate
from byoc.driver.local.modes import LocalServing, LocalTraining, local_serve, local_train
from byoc.driver.model_packages import (
    ApprovalChange,
    PackageGroup,
    PackageListing,
    PackageVersion,
    RegisteredVersion,
    RegisterRequest,
)
from byoc.driver.multi_model_endpoints import StoredModel
from byoc.driver.pipelines import (
    PipelineRequest,
    PipelineStatus,
    StartedExecution,
    UpsertedPipeline,
)
from byoc.driver.rejoin import Attached, JobLogs
from byoc.driver.train_and_tune import StartedJob, TrainingRequest, TrainingResult, TuningResult
from byoc.driver.transform import TransformSpec
from byoc.driver.update_progress import UpdateRolledBack
from byoc.driver.waiting import WaitTimeout
from byoc.errors import UserError
from byoc.pairs import Pairs

__all__ = [
    "ApprovalChange", "Attached", "AutopilotArtifacts", "AutopilotEndpoint", "AutopilotJob",
    "AutopilotSpec",
    "AutopilotStatus", "AwsOptions", "Deletion", "DeployRequest", "Deployment", "EndpointUpdate",
    "Guardrails", "Hosting", "JobListing", "JobLogs", "JobRow", "Leaderboard", "LocalServing",
    "LocalTraining", "ModelList", "ModelSource", "PackageGroup", "PackageListing", "PackageVersion",
    "RegisterRequest", "RegisteredVersion", "Response", "RunTable", "ScaleResult", "Scaling",
    "StartedJob", "StopResult", "StoredModel", "TrainingRequest", "TrainingResult", "TransformJobs",
    "TransformResult", "TransformSpec", "Trial", "TuningLeaderboard", "TuningResult", "TuningSpec",
    "UpdateRolledBack", "Upload",
    "PipelineRequest", "PipelineStatus", "StartedExecution", "UpsertedPipeline",
    "pipeline_delete", "pipeline_start", "pipeline_status", "pipeline_upsert",
    "WaitTimeout", "add_model", "approve", "attach", "autopilot_deploy", "autopilot_leaderboard",
    "autopilot_notebooks",
    "autopilot_start", "autopilot_status", "aws_options", "compare_runs", "delete", "deploy",
    "hosting", "invoke", "list_jobs", "list_models", "list_packages", "local_serve", "local_train",
    "logs", "push", "register", "reject", "runs", "scale", "start_training", "stop", "train",
    "transform", "tune", "tuning_leaderboard", "update_endpoint", "upload",
]


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
# Hosting


def deploy(request: DeployRequest, *, wait: bool = True, timeout: float | None = None,
           region: str | None = None, profile: str | None = None) -> Deployment:
    """Create the model, its endpoint config and the endpoint; by default wait until it is
    InService (`timeout`, default 1 h) and set its autoscaling.

    Example:
        `deploy(DeployRequest("signs", ModelSource(training_job="byoc-train-...")))`, or a
        registered version: `ModelSource(package=version.arn)` (Approved, unless `force=True`).
    """
    if request.scaling and not wait:
        raise UserError("Autoscaling is set once the endpoint is InService: deploy "
                                    "with wait=True, or set it later with scale().")
    with translate_errors():
        aws = _aws(region, profile)
        started = _deployment.start_deploy(aws, request)
        return _deployment.wait_for_deploy(aws, started, timeout) if wait else started


def update_endpoint(request: DeployRequest, guardrails: Guardrails | None = None, *,
                    wait: bool = True, timeout: float | None = None, region: str | None = None,
                    profile: str | None = None) -> EndpointUpdate:
    """Move a live endpoint to a new endpoint config without downtime (`byoc deploy --update`).

    The new config is `request` in full, as a first deploy would make it (its model, and
    `request.hosting`: pass `hosting(...)` with the instance type it should have). SageMaker
    builds the new fleet beside the old one and shifts the traffic as `guardrails` say (default:
    all at once), then retires the old fleet; the endpoint answers throughout. Autoscaling is
    carried over (or replaced by `request.scaling`).

    Example:
        `update_endpoint(DeployRequest("signs", ModelSource(training_job="signs-2"),
        hosting(default_instance_type="ml.m5.large", instance_count=2)),
        Guardrails("canary", 50, wait=600, alarms=("signs-5xx",)))`

    Returns:
        The update: the new config and model, and, once InService on it (`wait=True`), what was
        deleted (the old config if byoc made it, and its models no config uses) and kept.

    Raises:
        UserError: a setting is wrong, the endpoint is missing or busy; nothing was created.
        UpdateRolledBack: SageMaker rolled back (an alarm, or a new fleet that did not start):
            the old config still serves, the new one is kept; `.alarms` and `.reason` say why.
        WaitTimeout: the update outlasted `timeout`; it goes on.
    """
    if request.scaling and not wait:
        raise UserError("Autoscaling is set once the update is done: update with wait=True, or "
                        "set it later with scale().")
    _update.check_update(request, guardrails)
    with translate_errors():
        aws = _aws(region, profile)
        started = _update.start_update(aws, request, guardrails, wait=wait)
        return _update.wait_for_update(aws, started, timeout) if wait else started


def invoke(files: Sequence[str | Path], *, endpoint: str | None = None, url: str | None = None,
           top_k: int = 5, target_model: str | None = None, region: str | None = None,
           profile: str | None = None) -> list[Response]:
    """Send each file (.png .jpg .ppm .npy .json .csv) to an endpoint, or to a local server at
    `url`, one request each; return the answers in order.

    `Response.predictions` holds byoc's answer (label, class_id, probability, top_k) per input.
    """
    names = [str(f) for f in files]
    if bool(endpoint) == bool(url):
        raise UserError("Pass either endpoint=NAME (SageMaker) or url=http://HOST:"
                                    "PORT (a local server).")
    if url:
        return _invoke.invoke_url(url, names, top_k, target_model)
    with translate_errors():
        return _invoke.invoke_endpoint(_aws(region, profile), endpoint, names, top_k,
                                       target_model)


@dataclass(frozen=True)
class TransformResult:
    """Finished batch transform jobs, and the output objects under the output prefix."""

    job_names: list[str]
    outputs: list[str]


def transform(spec: TransformSpec, *, model: ModelSource | None = None,
              model_name: str | None = None, job_name: str | None = None,
              timeout: float | None = None, region: str | None = None,
              profile: str | None = None) -> TransformResult:
    """Batch transform over `spec.input_s3`, one job per content type, with an existing model
    (`model_name`) or one byoc creates (`model`); wait for them (default 6 h)."""
    name = _jobs.check_job_name(job_name or _jobs.job_name("transform"))
    with translate_errors():
        aws = _aws(region, profile)
        started = _deployment.start_transform(aws, name, spec, model, model_name)
        return TransformResult(started.job_names,
                               _deployment.wait_for_transform(aws, started, timeout))


@dataclass(frozen=True)
class StopResult:
    """What stopping a job did, and what the job leaves behind, as sentences."""

    kind: str
    name: str
    lines: list[str]


def stop(kind: str, name: str, *, region: str | None = None,
         profile: str | None = None) -> StopResult:
    """Stop a job: `kind` is "training job", "tuning job", "transform job" or "Autopilot
    job"."""
    if kind not in _stop.FLAGS:
        raise UserError(f"kind must be one of {', '.join(_stop.FLAGS)}, not "
                                    f"'{kind}'.")
    with translate_errors():
        return StopResult(kind, name, _stop.stop(_aws(region, profile), kind, name))


@dataclass(frozen=True)
class Deletion:
    """What deleting an endpoint removed, and what it kept (a model another endpoint uses)."""

    deleted: list[str]
    kept: list[str]


def delete(endpoint_name: str, *, region: str | None = None,
           profile: str | None = None) -> Deletion:
    """Delete an endpoint, its config, its model and its autoscaling."""
    with translate_errors():
        gone, kept = _endpoints.delete(_aws(region, profile), endpoint_name)
    return Deletion(gone, kept)


@dataclass(frozen=True)
class ScaleResult:
    """An endpoint's autoscaling after `scale`: None when it has none (or it was removed)."""

    endpoint: str
    scaling: Scaling | None
    removed: bool = False


def scale(endpoint: str, *, off: bool = False, region: str | None = None,
          profile: str | None = None, **values: float) -> ScaleResult:
    """Show, set or remove (`off=True`) the autoscaling of an endpoint's instances.

    `values` are `Scaling` fields (min_instances, max_instances, target_invocations,
    scale_in_cooldown, scale_out_cooldown); the ones left out keep their current value. With
    none, the current autoscaling is returned unchanged.
    """
    with translate_errors():
        aws = _aws(region, profile)
        _autoscaling.require_instance_endpoint(aws, endpoint)
        if off:
            return ScaleResult(endpoint, None, _autoscaling.remove(aws, endpoint))
        now = _autoscaling.current(aws, endpoint)
        if not values:
            return ScaleResult(endpoint, now)
        scaling = _autoscaling.scaling_from(values, now)
        _autoscaling.apply(aws, endpoint, scaling)
    return ScaleResult(endpoint, scaling)


# ---------------------------------------------------------------------------------------------
# Model Registry


def register(training_job: str | None = None, *, group: str, run: str | None = None,
             track: str | None = None, approve: bool = False, description: str | None = None,
             tags: Pairs = None, region: str | None = None,
             profile: str | None = None) -> RegisteredVersion:
    """Register a completed training job (or the one behind a tracked MLflow `run`) as a new
    version of the model package group `group`, created if missing.

    The version names the job's image and model, the content types `serve` takes and answers
    in, and the instance types it suits; its ModelMetrics point at the job's metrics.json, put
    next to its model with report.md; it records the job, the image digest and the training data.
    A run gets the tag `byoc.model_package_arn`, and the version records the run.

    Args:
        training_job: the completed training job; or `run` (on `track`, default
            MLFLOW_TRACKING_URI). MLflow is imported only for a run.
        approve: register it Approved (default PendingManualApproval).
        description: one line kept with the version.
        tags: tags for the group, a dict or `KEY=VALUE` strings.

    Returns:
        The version: its ARN (for `approve`, `reject`, `ModelSource(package=...)`), number,
        status and metrics; `missing_metrics` says why a job without metrics.json has none.

    Raises:
        UserError: the job is missing or not Completed, or the group name is not one SageMaker
            takes; nothing was created.
    """
    request = RegisterRequest(group, training_job, run, track, approve, description, tags)
    _packages.check_register(request)
    with translate_errors():
        return _packages.register(_aws(region, profile), request)


def list_packages(group: str | None = None, *, max_versions: int = _packages.DEFAULT_MAX_VERSIONS,
                  region: str | None = None, profile: str | None = None) -> PackageListing:
    """The newest versions of `group` (status, creation time, metrics, training job); without a
    group, the model package groups byoc made. `PackageListing.lines()` is the table `byoc
    registry list` prints."""
    with translate_errors():
        aws = _aws(region, profile)
        if group is None:
            return _packages.list_groups(aws)
        return _packages.list_versions(aws, group, max_versions)


def approve(package_arn: str, *, why: str, region: str | None = None,
            profile: str | None = None) -> ApprovalChange:
    """Approve a registered version, saying why (kept as its ApprovalDescription); `deploy` then
    hosts it with `ModelSource(package=package_arn)`."""
    _packages.check_why(why)
    with translate_errors():
        return _packages.set_approval(_aws(region, profile), package_arn, _packages.APPROVED,
                                      why)


def reject(package_arn: str, *, why: str, region: str | None = None,
           profile: str | None = None) -> ApprovalChange:
    """Reject a registered version, saying why; `deploy` then refuses it unless forced."""
    _packages.check_why(why)
    with translate_errors():
        return _packages.set_approval(_aws(region, profile), package_arn, _packages.REJECTED,
                                      why)


# ---------------------------------------------------------------------------------------------
# Pipelines


def pipeline_upsert(request: PipelineRequest, *, definition: str | Path | None = None,
                    region: str | None = None, profile: str | None = None) -> UpsertedPipeline:
    """Create the SageMaker Pipeline `request.name`, or update it if byoc made it: train (or
    tune) as `request.training` says, then, if the job's metric passes `request.gate`
    (`"test:accuracy>=0.9"`), register its model in `request.group`, pending approval.

    The data is uploaded as `train` uploads it. With `definition` (a file path), the definition
    is written there and nothing is created.

    Example:
        `pipeline_upsert(PipelineRequest("signs-pipeline", TrainingRequest(image=IMAGE,
        data="signs/"), gate="test:accuracy>=0.9", group="signs"))`

    Returns:
        The pipeline's ARN and its definition (`parameters`: InputData, InstanceType and
        MetricThreshold, with their defaults).

    Raises:
        UserError: a setting is wrong, or a pipeline of that name exists that byoc did not
            make; nothing was created.
    """
    _pipelines.check_upsert(request)
    with translate_errors():
        aws = _aws(region, profile)
        if definition is not None:
            return _pipelines.write_definition(aws, request, definition)
        return _pipelines.upsert(aws, request)


def pipeline_start(name: str, *, params: Pairs = None, wait: bool = True,
                   timeout: float | None = None, description: str | None = None,
                   region: str | None = None, profile: str | None = None) -> StartedExecution:
    """Start an execution of a pipeline, with `params` (a dict, or `NAME=VALUE` strings) in
    place of its parameters' defaults; by default wait until it ends (`timeout`, default: its
    job's limits + 30 min).

    Raises:
        UserError: no such pipeline, a parameter it does not declare or a value not of its type
            (nothing was started); or the execution failed.
        WaitTimeout: the execution outlasted `timeout`; it goes on.
    """
    _pipelines.check_params(params)
    with translate_errors():
        aws = _aws(region, profile)
        started = _pipelines.start(aws, name, params, description)
        if wait:
            _pipelines.wait_for_execution(aws, started, timeout)
        return started


def pipeline_status(name: str, *, region: str | None = None,
                    profile: str | None = None) -> PipelineStatus:
    """The latest execution of a pipeline and its steps, each with its status and what it made
    or decided; `lines()` is what `byoc pipeline status` prints."""
    with translate_errors():
        return _pipelines.status(_aws(region, profile), name)


def pipeline_delete(name: str, *, force: bool = False, region: str | None = None,
                    profile: str | None = None) -> list[str]:
    """Delete a pipeline byoc made; one that is running only with `force`. The versions it
    registered stay. Returns what was done, as sentences."""
    with translate_errors():
        return _pipelines.delete(_aws(region, profile), name, force)


# ---------------------------------------------------------------------------------------------
# Multi-model endpoints


def add_model(endpoint: str, *, training_job: str | None = None, model_data: str | None = None,
              name: str | None = None, region: str | None = None,
              profile: str | None = None) -> str:
    """Copy a model.tar.gz (a training job's, or `model_data`) under a multi-model endpoint's
    prefix; return its TargetModel, for `invoke(..., target_model=...)`."""
    with translate_errors():
        return _models.add(_aws(region, profile), endpoint, training_job=training_job,
                           model_data=model_data, name=name)


@dataclass(frozen=True)
class ModelList:
    """The models under a multi-model endpoint's S3 prefix."""

    prefix: str
    models: list[StoredModel]


def list_models(endpoint: str, *, region: str | None = None,
                profile: str | None = None) -> ModelList:
    """The models a multi-model endpoint can load."""
    with translate_errors():
        prefix, found = _models.stored(_aws(region, profile), endpoint)
    return ModelList(prefix, found)


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
