"""The calls for endpoints and batch jobs: what `byoc.api` exposes as deploy, update_endpoint,
invoke, transform, stop, delete, scale, add_model and list_models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from byoc.driver import autoscaling as _autoscaling
from byoc.driver import deployment as _deployment
from byoc.driver import endpoint_update as _update
from byoc.driver import endpoints as _endpoints
from byoc.driver import invoke as _invoke
from byoc.driver import jobs as _jobs
from byoc.driver import multi_model_endpoints as _models
from byoc.driver import stop as _stop
from byoc.driver.autoscaling import Scaling
from byoc.driver.aws import Aws, connect, translate_errors
from byoc.driver.deployment import Deployment, DeployRequest, ModelSource
from byoc.driver.guardrails import Guardrails
from byoc.driver.invoke import Response
from byoc.driver.live_endpoint import EndpointUpdate
from byoc.driver.multi_model_endpoints import StoredModel
from byoc.driver.transform import TransformSpec
from byoc.errors import UserError


def _aws(region: str | None, profile: str | None) -> Aws:
    return connect(region=region, profile=profile)


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
