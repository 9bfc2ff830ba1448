"""Autoscaling of an endpoint's instances: Application Auto Scaling, target tracking on the
invocations per instance, set by `byoc deploy` and changed by `byoc scale`.

The scalable target is the variant's DesiredInstanceCount; `byoc delete` removes it and its
policies before the endpoint goes.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from byoc.driver.aws import Aws, describe_or_none
from byoc.errors import UserError

log = logging.getLogger(__name__)

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
VARIANT = "AllTraffic"  # the one variant byoc's endpoint configs have
DEFAULT_MIN_INSTANCES = 1
# Application Auto Scaling's own defaults for SageMaker variants, sent explicitly so that
# `byoc scale` shows and keeps them.
DEFAULT_SCALE_IN_COOLDOWN = 300
DEFAULT_SCALE_OUT_COOLDOWN = 300


def resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def policy_name(endpoint: str) -> str:
    return f"{endpoint}-invocations-per-instance"


@dataclass(frozen=True)
class Scaling:
    """Bounds of the instance count and the target-tracking policy between them."""

    min_instances: int
    max_instances: int
    target_invocations: float
    scale_in_cooldown: int = DEFAULT_SCALE_IN_COOLDOWN
    scale_out_cooldown: int = DEFAULT_SCALE_OUT_COOLDOWN

    def check(self) -> Scaling:
        if self.min_instances < 1:
            raise UserError(f"--min-instances must be at least 1, got {self.min_instances}.")
        if self.min_instances > self.max_instances:
            raise UserError(f"--min-instances {self.min_instances} is above --max-instances "
                            f"{self.max_instances}: the lower bound must not exceed the upper.")
        if self.target_invocations <= 0:
            raise UserError("--target-invocations must be above 0: the invocations per "
                            "instance per minute to keep each instance at.")
        for flag, value in (("--scale-in-cooldown", self.scale_in_cooldown),
                            ("--scale-out-cooldown", self.scale_out_cooldown)):
            if value < 0:
                raise UserError(f"{flag} must be 0 or more seconds, got {value}.")
        return self

    def describe(self) -> str:
        return (f"{self.min_instances}-{self.max_instances} instances at "
                f"{self.target_invocations:g} invocations per instance per minute (cooldowns: "
                f"in {self.scale_in_cooldown} s, out {self.scale_out_cooldown} s)")


def scaling_from(values: dict[str, int | float], current: Scaling | None = None) -> Scaling:
    """The scaling `values` ask for (fields of `Scaling`), on top of `current` (what `byoc scale`
    changes); without `current`, `max_instances` and `target_invocations` are needed."""
    if current is None:
        missing = [f"--{n.replace('_', '-')}" for n in ("max_instances", "target_invocations")
                   if n not in values]
        if missing:
            raise UserError(f"Autoscaling needs {' and '.join(missing)} (with --min-instances, "
                            f"default {DEFAULT_MIN_INSTANCES}).")
        return Scaling(**{"min_instances": DEFAULT_MIN_INSTANCES, **values}).check()
    return dataclasses.replace(current, **values).check()


def _targets(client, endpoint: str) -> list[dict]:
    """The endpoint's registered scalable targets (none, or its variant's one)."""
    return client.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(endpoint)],
        ScalableDimension=DIMENSION)["ScalableTargets"]


def current(aws: Aws, endpoint: str) -> Scaling | None:
    """The endpoint's scaling as registered, or None."""
    client = aws.client("application-autoscaling")
    targets = _targets(client, endpoint)
    if not targets:
        return None
    policies = client.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint),
        ScalableDimension=DIMENSION, PolicyNames=[policy_name(endpoint)])["ScalingPolicies"]
    if not policies:
        raise UserError(f"Endpoint {endpoint} has a scalable target but no byoc policy "
                        f"({policy_name(endpoint)}); it was set up by other means. Remove it "
                        f"with byoc scale --endpoint {endpoint} --off, then set it again.")
    config = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    return Scaling(targets[0]["MinCapacity"], targets[0]["MaxCapacity"], config["TargetValue"],
                   config.get("ScaleInCooldown", DEFAULT_SCALE_IN_COOLDOWN),
                   config.get("ScaleOutCooldown", DEFAULT_SCALE_OUT_COOLDOWN))


def apply(aws: Aws, endpoint: str, scaling: Scaling) -> None:
    """Register the variant as a scalable target and put the target-tracking policy."""
    client = aws.client("application-autoscaling")
    client.register_scalable_target(
        ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint),
        ScalableDimension=DIMENSION, MinCapacity=scaling.min_instances,
        MaxCapacity=scaling.max_instances)
    client.put_scaling_policy(
        PolicyName=policy_name(endpoint), ServiceNamespace=NAMESPACE,
        ResourceId=resource_id(endpoint), ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": scaling.target_invocations,
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": scaling.scale_in_cooldown,
            "ScaleOutCooldown": scaling.scale_out_cooldown,
        })
    log.info("Autoscaling endpoint %s: %s", endpoint, scaling.describe())


def remove(aws: Aws, endpoint: str) -> bool:
    """Delete the endpoint's scaling policies and deregister its scalable target; whether there
    was one."""
    client = aws.client("application-autoscaling")
    if not _targets(client, endpoint):
        return False
    # Deregistering removes the target's policies on AWS; deleting them first says so
    # explicitly, and leaves nothing behind where that is not done (moto).
    policies = client.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint),
        ScalableDimension=DIMENSION)["ScalingPolicies"]
    for policy in policies:
        client.delete_scaling_policy(PolicyName=policy["PolicyName"], ServiceNamespace=NAMESPACE,
                                     ResourceId=resource_id(endpoint),
                                     ScalableDimension=DIMENSION)
    client.deregister_scalable_target(ServiceNamespace=NAMESPACE,
                                      ResourceId=resource_id(endpoint),
                                      ScalableDimension=DIMENSION)
    return True


def require_instance_endpoint(aws: Aws, endpoint: str) -> None:
    """Refuse an endpoint that is missing or serverless: only instances scale here."""
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_endpoint(EndpointName=endpoint))
    if desc is None:
        raise UserError(f"No endpoint named '{endpoint}' in {aws.region}.")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    if any(v.get("ServerlessConfig") for v in config["ProductionVariants"]):
        raise UserError(f"Endpoint {endpoint} is serverless: it scales by itself up to its "
                        "MaxConcurrency, and has no instances to scale.")
