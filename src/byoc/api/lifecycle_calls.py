"""The calls for a model's life after training: the Model Registry and SageMaker Pipelines
(what `byoc.api` exposes as register, list_packages, approve, reject and pipeline_*)."""

from __future__ import annotations

from pathlib import Path

from byoc.driver import model_packages as _packages
from byoc.driver import pipelines as _pipelines
from byoc.driver.aws import Aws, connect, translate_errors
from byoc.driver.model_packages import (
    ApprovalChange,
    PackageListing,
    RegisteredVersion,
    RegisterRequest,
)
from byoc.driver.pipelines import (
    PipelineRequest,
    PipelineStatus,
    StartedExecution,
    UpsertedPipeline,
)
from byoc.pairs import Pairs


def _aws(region: str | None, profile: str | None) -> Aws:
    return connect(region=region, profile=profile)


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
