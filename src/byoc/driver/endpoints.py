"""Real-time hosting: model, endpoint config and endpoint for the custom image, and their removal.
"""

from __future__ import annotations

import logging

from byoc.driver import autoscaling
from byoc.driver.aws import Aws, describe_or_none, exists
from byoc.driver.hosting import Hosting
from byoc.driver.options import NO_OPTIONS, AwsOptions
from byoc.driver.progress import wait_until_ended
from byoc.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
ENDPOINT_ENDED = ("InService", "Failed", "OutOfService")


def require_new_endpoint(aws: Aws, name: str) -> None:
    """Refuse a name whose endpoint or endpoint config exists, before a model is created."""
    sagemaker = aws.client("sagemaker")
    if exists(lambda: sagemaker.describe_endpoint(EndpointName=name)):
        raise UserError(f"Endpoint '{name}' already exists in {aws.region}; pick another "
                        f"--endpoint-name, or delete it first: byoc delete --endpoint-name {name}")
    if exists(lambda: sagemaker.describe_endpoint_config(EndpointConfigName=name)):
        raise UserError(f"Endpoint config '{name}' already exists in {aws.region} (left by an "
                        "earlier deploy); pick another --endpoint-name, or delete it first: aws "
                        f"sagemaker delete-endpoint-config --endpoint-config-name {name}")


def training_job_model(aws: Aws, training_job: str) -> tuple[str, str, str]:
    """(image, model data URI, role) of a completed training job."""
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_training_job(TrainingJobName=training_job))
    if desc is None:
        raise UserError(f"No training job named '{training_job}' in {aws.region}.")
    if desc["TrainingJobStatus"] != "Completed":
        raise UserError(f"Training job {training_job} is {desc['TrainingJobStatus']}; only a "
                        "completed job has a model to host.")
    return (desc["AlgorithmSpecification"]["TrainingImage"],
            desc["ModelArtifacts"]["S3ModelArtifacts"], desc["RoleArn"])


def create_model(aws: Aws, name: str, *, image: str, model_data: str, role: str,
                 options: AwsOptions = NO_OPTIONS, mode: str = "SingleModel",
                 environment: dict[str, str] | None = None) -> None:
    """Create the model, or reuse one of that name hosting the same image and model data, in
    the same mode and environment, VPC and isolation. `model_data` is a model.tar.gz, or for
    `mode="MultiModel"` the S3 prefix of the models."""
    sagemaker = aws.client("sagemaker")
    model = describe_or_none(lambda: sagemaker.describe_model(ModelName=name))
    environment = environment or {}
    if model is not None:
        existing = model["PrimaryContainer"]
        if ((existing.get("Image"), existing.get("ModelDataUrl"),
             existing.get("Mode", "SingleModel"), existing.get("Environment") or {})
                != (image, model_data, mode, environment)):
            raise UserError(
                f"A model named '{name}' already exists with another image, model data, mode or "
                f"environment ({existing.get('Image')}, {existing.get('ModelDataUrl')}, "
                f"{existing.get('Mode', 'SingleModel')}, {existing.get('Environment') or {}}). "
                f"Delete it (aws sagemaker delete-model --model-name {name}) or pick another "
                "name."
            )
        # An empty VpcConfig means no VPC, as an omitted one does.
        if ((model.get("VpcConfig") or None, bool(model.get("EnableNetworkIsolation")))
                != (options.vpc_config(), options.network_isolation)):
            raise UserError(
                f"A model named '{name}' already exists with other VPC or network isolation "
                "settings, which a model cannot change. Delete it (aws sagemaker delete-model "
                f"--model-name {name}), or pass the flags it was created with."
            )
        log.info("Reusing model %s", name)
        return
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": image, "ModelDataUrl": model_data, "Mode": mode,
                          **({"Environment": environment} if environment else {})},
        ExecutionRoleArn=role,
        **options.model_fields(),
        **options.tagged(),
    )
    log.info("Created model %s (%s, %s)", name, image, model_data)


def deploy(aws: Aws, endpoint_name: str, *, model_name: str, instance_type: str | None = None,
           instance_count: int = 1, hosting: Hosting | None = None,
           options: AwsOptions = NO_OPTIONS) -> None:
    """Endpoint config and endpoint named after the endpoint, hosting `model_name` as `hosting`
    says (by default on `instance_count` x `instance_type`); the KMS key encrypts the
    instances' storage volumes."""
    sagemaker = aws.client("sagemaker")
    hosting = hosting or Hosting(instance_type=instance_type or DEFAULT_INSTANCE_TYPE,
                                 instance_count=instance_count)
    kms = {"KmsKeyId": options.kms_key} if options.kms_key else {}
    sagemaker.create_endpoint_config(
        EndpointConfigName=endpoint_name,
        ProductionVariants=[hosting.variant(model_name)],
        **hosting.config_fields(),
        **kms,
        **options.tagged(),
    )
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=endpoint_name,
                              **options.tagged())
    log.info("Creating endpoint %s (%s)", endpoint_name, hosting.describe())


def wait_for_endpoint(sagemaker, name: str, *, timeout: float | None = None,
                      interval: float | None = None) -> dict:
    return wait_until_ended(
        f"endpoint {name}", lambda: sagemaker.describe_endpoint(EndpointName=name),
        "EndpointStatus", ENDPOINT_ENDED, ("InService",),
        hint=f"Container logs: CloudWatch log group /aws/sagemaker/Endpoints/{name}.",
        timeout=timeout, interval=interval)


def delete(aws: Aws, endpoint_name: str) -> list[str]:
    """Delete the endpoint's autoscaling, the endpoint, its endpoint config and the models it
    hosts; return what went. A scalable target left behind would point at nothing, and one
    deleted after the endpoint could scale it while it goes."""
    sagemaker = aws.client("sagemaker")
    endpoint = describe_or_none(lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name))
    if endpoint is None:
        raise UserError(f"No endpoint named '{endpoint_name}' in {aws.region}.")
    config_name = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    models = sorted({v["ModelName"] for v in config["ProductionVariants"]})
    gone = []
    if autoscaling.remove(aws, endpoint_name):
        gone.append(f"autoscaling of {autoscaling.resource_id(endpoint_name)}")
    sagemaker.delete_endpoint(EndpointName=endpoint_name)
    sagemaker.delete_endpoint_config(EndpointConfigName=config_name)
    for model in models:
        sagemaker.delete_model(ModelName=model)
    return [*gone, f"endpoint {endpoint_name}", f"endpoint config {config_name}",
            *(f"model {m}" for m in models)]
