"""Updating a live endpoint without downtime (`byoc deploy --update`): a new endpoint config,
UpdateEndpoint with deployment guardrails, the wait through SageMaker's blue/green phases, and
what is left afterwards.

SageMaker builds the new fleet beside the old one, shifts the traffic (all at once, a canary, or
linear steps), bakes while the rollback alarms are watched, then retires the old fleet. After a
rollback the endpoint is InService again on its old config, sometimes with no FailureReason, so
the outcome is read from the config it serves (terraform-provider-aws#48997 met the same).
Autoscaling follows SageMaker's "Update endpoints that use auto scaling": a new instance type
needs the variant deregistered before the update and registered again after it; a new model
alone does not.
"""

from __future__ import annotations

import dataclasses
import logging

from byoc.driver import autoscaling, deployment, endpoints, sourcedir
from byoc.driver.autoscaling import Scaling
from byoc.driver.aws import Aws, exists
from byoc.driver.guardrails import Guardrails
from byoc.driver.hosting import Hosting
from byoc.driver.jobs.names import stamped_name
from byoc.driver.live_endpoint import EndpointUpdate, LiveEndpoint, read_live
from byoc.driver.update_progress import UpdateRolledBack, failure, progress, still_running
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError

log = logging.getLogger(__name__)

# What ends the wait: the update done or rolled back (InService), or the endpoint broken.
UPDATE_ENDED = ("InService", "Failed", "OutOfService", "UpdateRollbackFailed")

# The records and the texts of an update, with its steps: callers keep one import.
__all__ = ["EndpointUpdate", "LiveEndpoint", "UpdateRolledBack", "check_update",
           "prepare_update", "read_live", "start_update", "still_running", "update_timeout",
           "wait_for_update"]


def check_update(request: deployment.DeployRequest, guardrails: Guardrails | None
                 ) -> tuple[dict[str, str], sourcedir.SourceCode | None]:
    """Everything `start_update` checks before it connects to AWS; the model's environment and
    handlers."""
    checked = deployment.checked_code(request)
    if request.scaling:
        deployment.refuse_serverless_scaling(request.hosting)
    if guardrails:
        guardrails.check()
    return checked


def _check_kind(live: LiveEndpoint, hosting: Hosting) -> None:
    """An update keeps what the endpoint's clients rely on: how they send requests."""
    name = live.name
    if live.async_output and not hosting.async_output:
        raise UserError(f"Endpoint {name} is asynchronous (its answers go to "
                        f"{live.async_output}) and its clients send requests through S3, so the "
                        "update keeps it asynchronous: add --async-output S3_URI. A real-time "
                        "endpoint is a new deploy under another name.")
    if hosting.async_output and not live.async_output:
        raise UserError(f"Endpoint {name} is real-time and its clients call InvokeEndpoint, so "
                        "the update keeps it real-time: drop --async-output, or deploy the "
                        "asynchronous endpoint under another name.")
    if live.multi_model and not hosting.multi_model_prefix:
        raise UserError(f"Endpoint {name} is a multi-model endpoint and its clients name a "
                        "TargetModel, so the update keeps it one: add --multi-model "
                        "--model-prefix S3_PREFIX.")
    if hosting.multi_model_prefix and not live.multi_model:
        raise UserError(f"Endpoint {name} hosts one model and its clients name no TargetModel, "
                        "so the update keeps it so: drop --multi-model, or deploy the "
                        "multi-model endpoint under another name.")


def _instance_count(hosting: Hosting, live: LiveEndpoint, scaling: Scaling | None) -> Hosting:
    """With autoscaling, the new fleet starts as large as the old one is now (or as asked, if
    larger), within the autoscaling's bounds: a smaller one would take all the traffic."""
    if scaling is None or hosting.serverless:
        return hosting
    count = max(hosting.instance_count, live.instance_count)
    count = min(max(count, scaling.min_instances), scaling.max_instances)
    return dataclasses.replace(hosting, instance_count=count)


def prepare_update(aws: Aws, request: deployment.DeployRequest,
                   guardrails: Guardrails | None = None, *, wait: bool = True,
                   live: LiveEndpoint | None = None) -> EndpointUpdate:
    """Check the update against the live endpoint, then create the model and the new endpoint
    config; the endpoint is not touched yet (`start_update` does that). `wait=False` is refused
    when byoc would have to set the autoscaling again after the update."""
    environment, code = check_update(request, guardrails)
    name = request.endpoint_name
    live = live or read_live(aws, name)
    _check_kind(live, request.hosting)
    before = None if live.serverless else autoscaling.current(aws, name)
    if before and request.hosting.serverless:
        raise UserError(f"Endpoint {name} has autoscaling ({before.describe()}), and a "
                        "serverless endpoint has no instances to scale. Remove it first: byoc "
                        f"scale --endpoint {name} --off")
    scaling = request.scaling or before
    hosting = _instance_count(request.hosting, live, scaling)
    if guardrails:
        guardrails.check_for(name, hosting, live.serverless)
    # SageMaker refuses to change the instance type of a variant that autoscales.
    removed = before is not None and hosting.instance_type != live.instance_type
    if not wait and (removed or request.scaling):
        raise UserError(f"Endpoint {name}'s autoscaling is set again once the update is done, "
                        "so byoc waits for it: drop --no-wait" + (
                            f", or keep the instance type {live.instance_type}."
                            if removed else "."))
    config = stamped_name(name)
    sagemaker = aws.client("sagemaker")
    if exists(lambda: sagemaker.describe_endpoint_config(EndpointConfigName=config)):
        raise UserError(f"Endpoint config '{config}' already exists in {aws.region}; byoc names "
                        "a new config by the second, so run the update again.")
    model = deployment.create_model(aws, request.model, config, request.options, hosting,
                                    environment, code)
    endpoints.create_endpoint_config(aws, config, model_name=model, hosting=hosting,
                                     options=request.options)
    return EndpointUpdate(name, config, model, hosting, live, guardrails, scaling, before,
                          removed)


def start_update(aws: Aws, request: deployment.DeployRequest,
                 guardrails: Guardrails | None = None, *, wait: bool = True,
                 live: LiveEndpoint | None = None) -> EndpointUpdate:
    """`prepare_update`, then UpdateEndpoint (the autoscaling deregistered first where the
    update needs it); return at once."""
    update = prepare_update(aws, request, guardrails, wait=wait, live=live)
    name, config = update.endpoint_name, update.config_name
    if update.scaling_removed:
        autoscaling.remove(aws, name)
    sagemaker = aws.client("sagemaker")
    try:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config, **(
            {"DeploymentConfig": guardrails.deployment_config()} if guardrails else {}))
    except Exception:
        # Nothing changed on the endpoint: put back what byoc took away or made for it.
        if update.scaling_removed:
            autoscaling.apply(aws, name, update.scaling_before)
        sagemaker.delete_endpoint_config(EndpointConfigName=config)
        raise
    log.info("Updating endpoint %s to endpoint config %s (%s; %s)", name, config,
             update.hosting.describe(), guardrails.describe() if guardrails else "all at once")
    return update


def update_timeout(guardrails: Guardrails | None) -> float:
    """How long to wait by default: an hour beyond the update's own waits, or its limit."""
    if guardrails is None:
        return deployment.ENDPOINT_TIMEOUT
    return max(deployment.ENDPOINT_TIMEOUT + guardrails.waiting(),
               (guardrails.max_update_time or 0) + 600)


def wait_for_update(aws: Aws, update: EndpointUpdate, timeout: float | None = None,
                    interval: float | None = None) -> EndpointUpdate:
    """Follow the update until the endpoint is InService again (WaitTimeout after `timeout`;
    SageMaker goes on). On the new config: set the autoscaling again if needed and delete the
    old config (when byoc made it) and its models no config uses. Back on the old one: raise
    UpdateRolledBack, the new config kept for inspection."""
    sagemaker = aws.client("sagemaker")
    name = update.endpoint_name
    desc = wait_until_ended(
        f"endpoint {name}", lambda: sagemaker.describe_endpoint(EndpointName=name),
        "EndpointStatus", UPDATE_ENDED, ("InService",),
        show=lambda d: progress(d, update), failure=lambda d: failure(d, update),
        timeout=timeout or update_timeout(update.guardrails), interval=interval)
    if desc.get("EndpointConfigName") != update.config_name:
        if update.scaling_removed:
            autoscaling.apply(aws, name, update.scaling_before)
        raise UpdateRolledBack(update, desc.get("FailureReason"))
    if update.scaling and (update.scaling_removed or update.scaling != update.scaling_before):
        autoscaling.apply(aws, name, update.scaling)
    deleted, kept = _retire(sagemaker, update)
    return dataclasses.replace(update, in_service=True, deleted=tuple(deleted),
                               kept=tuple(kept))


def _retire(sagemaker, update: EndpointUpdate) -> tuple[list[str], list[str]]:
    """Delete the replaced endpoint config if byoc made it, then its models that byoc made and
    no config uses any more."""
    old = update.before
    if not endpoints.created_by_byoc(sagemaker, old.config_arn):
        return [], [f"endpoint config {old.config_name}: byoc did not create it (no "
                    f"{endpoints.CREATED_BY_BYOC['Key']} tag); delete it with aws sagemaker "
                    f"delete-endpoint-config --endpoint-config-name {old.config_name}"]
    sagemaker.delete_endpoint_config(EndpointConfigName=old.config_name)
    models = sorted(set(old.models) - {update.model_name})
    gone, kept = endpoints.remove_unused_models(sagemaker, models)
    return [f"endpoint config {old.config_name}", *gone], kept
