"""What a live endpoint serves, and the update that replaces it: the two records `byoc deploy
--update` passes from its checks to UpdateEndpoint, the wait, and the clean-up after it.

`read_live` reads the endpoint once and refuses one that cannot be updated in place (missing,
busy, broken, or not byoc's one-variant shape) before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass

from byoc.driver.autoscaling import VARIANT, Scaling
from byoc.driver.aws import Aws, describe_or_none
from byoc.driver.deployment import Deployment
from byoc.driver.guardrails import Guardrails
from byoc.driver.hosting import Hosting
from byoc.errors import UserError

# Statuses that pass by themselves: an update waits for them to end.
_BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack")


@dataclass(frozen=True)
class LiveEndpoint:
    """What an endpoint serves before the update, as the update needs it."""

    name: str
    config_name: str
    config_arn: str
    models: tuple[str, ...]
    instance_type: str | None
    instance_count: int  # what runs now: DesiredInstanceCount (autoscaling may have moved it)
    serverless: bool
    async_output: str | None
    multi_model: bool


def read_live(aws: Aws, name: str) -> LiveEndpoint:
    """The endpoint `name` as it serves now; refused unless it is InService with byoc's one
    variant."""
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_endpoint(EndpointName=name))
    if desc is None:
        raise UserError(f"No endpoint named '{name}' in {aws.region} to update. Deploy it first, "
                        f"without --update: byoc deploy --endpoint-name {name} ...")
    status = desc["EndpointStatus"]
    if status in _BUSY:
        raise UserError(f"Endpoint {name} is {status}; SageMaker updates an InService endpoint "
                        f"only. Wait for it (aws sagemaker wait endpoint-in-service "
                        f"--endpoint-name {name}), then update it.")
    if status != "InService":
        raise UserError(f"Endpoint {name} is {status}, so there is nothing live to keep serving "
                        f"during an update. Delete it (byoc delete --endpoint-name {name}) and "
                        "deploy again without --update.")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    variants = config["ProductionVariants"]
    names = [v["VariantName"] for v in [*variants, *config.get("ShadowProductionVariants", [])]]
    if names != [VARIANT]:
        raise UserError(f"Endpoint {name} serves the variants {', '.join(names)}; byoc updates "
                        f"an endpoint with one variant named {VARIANT}, as byoc "
                        "deploy makes it (SageMaker's guardrails need the new config to keep the "
                        "variant names). Update this one with aws sagemaker update-endpoint.")
    variant = variants[0]
    running = (desc.get("ProductionVariants") or [{}])[0]
    model = describe_or_none(lambda: sagemaker.describe_model(ModelName=variant["ModelName"]))
    container = (model or {}).get("PrimaryContainer") or {}
    return LiveEndpoint(
        name=name, config_name=config["EndpointConfigName"],
        config_arn=config["EndpointConfigArn"], models=(variant["ModelName"],),
        instance_type=variant.get("InstanceType"),
        instance_count=(running.get("DesiredInstanceCount")
                        or variant.get("InitialInstanceCount") or 1),
        serverless=bool(variant.get("ServerlessConfig")),
        async_output=(config.get("AsyncInferenceConfig") or {}).get("OutputConfig", {}).get(
            "S3OutputPath"),
        multi_model=container.get("Mode") == "MultiModel")


@dataclass(frozen=True)
class EndpointUpdate:
    """An update of a live endpoint: the new endpoint config and model, the one it replaces,
    its guardrails and its autoscaling; once waited for (`in_service`), what was deleted and
    what was kept.

    Attributes:
        scaling: the autoscaling after the update (the flags', or the one carried over).
        scaling_before: the autoscaling the endpoint had; `scaling_removed` when the update
            needed it deregistered (a new instance type), to be registered again after.
    """

    endpoint_name: str
    config_name: str
    model_name: str
    hosting: Hosting
    before: LiveEndpoint
    guardrails: Guardrails | None = None
    scaling: Scaling | None = None
    scaling_before: Scaling | None = None
    scaling_removed: bool = False
    in_service: bool = False
    deleted: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def old_config_name(self) -> str:
        return self.before.config_name

    def next_steps(self) -> str:
        """What to do with it next, as `byoc deploy` says it."""
        return Deployment(self.endpoint_name, self.model_name, self.hosting).next_steps()
