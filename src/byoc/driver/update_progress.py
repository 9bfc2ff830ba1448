"""What an endpoint update shows while SageMaker works on it, and how it ends: one progress line
per phase (the new fleet, the traffic shifting, baking, the old fleet retired), a rollback as an
error that names its alarms, and what is left to do when byoc stops waiting.

DescribeEndpoint says Updating for the whole update. The phase comes from the variants'
VariantStatus (Creating, ActivatingTraffic, Baking, Deleting) when SageMaker gives one: the new
fleet's under PendingDeploymentSummary, the old one's under ProductionVariants. The guardrails
say what that phase means for this update.
"""

from __future__ import annotations

from datetime import datetime, timezone

from byoc.driver.autoscaling import Scaling
from byoc.driver.guardrails import Guardrails
from byoc.driver.live_endpoint import EndpointUpdate
from byoc.errors import UserError

_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def _latest(variants: list[dict] | None) -> str | None:
    """The newest VariantStatus of `variants`, or None."""
    statuses = [s for v in variants or [] for s in v.get("VariantStatus") or []]
    if not statuses:
        return None
    return sorted(statuses, key=lambda s: s.get("StartTime") or _EARLIEST)[-1]["Status"]


def progress(desc: dict, update: EndpointUpdate) -> tuple[str, str]:
    """The status line of one DescribeEndpoint answer: its status, and what happens now."""
    status = desc["EndpointStatus"]
    if status == "InService":
        served = desc.get("EndpointConfigName")
        if served == update.config_name:
            return status, f"endpoint config {served}"
        return status, f"endpoint config {served}, the old one: the update rolled back"
    if status == "RollingBack":
        return status, f"the traffic goes back to endpoint config {update.old_config_name}"
    if status != "Updating":
        return status, ""
    guardrails = update.guardrails or Guardrails()
    if _latest(desc.get("ProductionVariants")) == "Deleting":
        wait = guardrails.termination_wait
        return status, "retiring the old fleet" + (f" after {wait} s" if wait else "")
    phase = _latest((desc.get("PendingDeploymentSummary") or {}).get("ProductionVariants"))
    if phase == "ActivatingTraffic":
        if guardrails.mode == "canary":
            return status, (f"shifting traffic: a canary of {guardrails.percent} % of the new "
                            "fleet, then the rest")
        if guardrails.mode == "linear":
            return status, (f"shifting traffic in steps of {guardrails.percent} % of the new "
                            "fleet")
        return status, "shifting all traffic to the new fleet"
    if phase == "Baking":
        watched = (f", watching alarm {', '.join(guardrails.alarms)}" if guardrails.alarms
                   else "")
        return status, f"baking {guardrails.wait} s{watched}"
    if phase == "Deleting":
        return status, "removing the new fleet"
    return status, (f"new fleet: {update.hosting.describe()} for endpoint config "
                    f"{update.config_name}")


def scale_command(endpoint: str, scaling: Scaling) -> str:
    """The `byoc scale` command that sets `scaling` on `endpoint`."""
    return (f"byoc scale --endpoint {endpoint} --min-instances {scaling.min_instances} "
            f"--max-instances {scaling.max_instances} --target-invocations "
            f"{scaling.target_invocations:g} --scale-in-cooldown {scaling.scale_in_cooldown} "
            f"--scale-out-cooldown {scaling.scale_out_cooldown}")


def failure(desc: dict, update: EndpointUpdate) -> str:
    """The error of an update that left the endpoint Failed, OutOfService or half rolled back."""
    name, status = update.endpoint_name, desc["EndpointStatus"]
    reason = (desc.get("FailureReason") or "no reason given").rstrip(".")
    logs = f"Container logs: CloudWatch log group /aws/sagemaker/Endpoints/{name}."
    if status == "UpdateRollbackFailed":
        text = (f"The update of endpoint {name} failed, and so did SageMaker's rollback to "
                f"endpoint config {update.old_config_name}: {reason}. See what it serves with "
                f"aws sagemaker describe-endpoint --endpoint-name {name}. {logs}")
    else:
        text = (f"Endpoint {name} is {status} after the update to endpoint config "
                f"{update.config_name}: {reason}. {logs}")
    if update.scaling_removed:
        text += (" byoc removed its autoscaling for the update; set it again once the endpoint "
                 f"serves: {scale_command(name, update.scaling_before)}")
    return text


def still_running(update: EndpointUpdate) -> str:
    """What goes on when byoc stops waiting, and what is then left to do by hand."""
    new, old = update.config_name, update.old_config_name
    text = (f"SageMaker goes on updating it; once it is InService on endpoint config {new}, "
            f"the old one is no longer needed: aws sagemaker delete-endpoint-config "
            f"--endpoint-config-name {old}.")
    if update.scaling and (update.scaling_removed or update.scaling != update.scaling_before):
        text += (" Then set its autoscaling: "
                 f"{scale_command(update.endpoint_name, update.scaling)}")
    return text


def alarms_named(reason: str, guardrails: Guardrails | None) -> tuple[str, ...]:
    """The rollback alarms a FailureReason names; all of them when it speaks of an alarm
    without a name byoc knows."""
    alarms = guardrails.alarms if guardrails else ()
    named = tuple(a for a in alarms if a in reason)
    return named or (alarms if "alarm" in reason.lower() else ())


class UpdateRolledBack(UserError):
    """SageMaker rolled the update back: the old endpoint config serves, as before it, and the
    new one is kept for inspection.

    Attributes:
        update: the update that rolled back.
        reason: SageMaker's FailureReason ("" when it gave none).
        alarms: the rollback alarms that went off, as far as the reason tells.
    """

    def __init__(self, update: EndpointUpdate, reason: str | None) -> None:
        self.update = update
        self.reason = (reason or "").strip()
        self.alarms = alarms_named(self.reason, update.guardrails)
        name = update.endpoint_name
        logs = ("the new fleet's container logs are in CloudWatch, log group "
                f"/aws/sagemaker/Endpoints/{name}")
        if self.alarms and any(a in self.reason for a in self.alarms):
            cause = f"alarm {', '.join(self.alarms)} went off ({self.reason.rstrip('.')})"
        elif self.alarms:
            cause = (f"one of the alarms {', '.join(self.alarms)} went off "
                     f"({self.reason.rstrip('.')})")
        elif self.reason:
            cause = f"{self.reason.rstrip('.')}; {logs}"
        else:
            cause = f"SageMaker gave no reason; {logs}"
        text = (f"Endpoint {name} rolled back: {cause}. Its old endpoint config "
                f"{update.old_config_name} still serves, as before the update. The new endpoint "
                f"config {update.config_name} (model {update.model_name}) is kept for "
                "inspection; delete it with aws sagemaker delete-endpoint-config "
                f"--endpoint-config-name {update.config_name}.")
        if update.scaling_removed:
            text += f" Its autoscaling is set again: {update.scaling_before.describe()}."
        super().__init__(text)
