"""Real-time hosting: model, endpoint config and endpoint for the custom image, and their removal.
"""

from __future__ import annotations

import logging

from byoc.driver.aws import Aws, describe_or_none, exists
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
                 options: AwsOptions = NO_OPTIONS) -> None:
    """Create the model, or reuse one of that name hosting the same image and model data in the
    same VPC and isolation."""
    sagemaker = aws.client("sagemaker")
    model = describe_or_none(lambda: sagemaker.describe_model(ModelName=name))
    if model is not None:
        existing = model["PrimaryContainer"]
        if (existing.get("Image"), existing.get("ModelDataUrl")) != (image, model_data):
            raise UserError(
                f"A model named '{name}' already exists with another image or model data "
                f"({existing.get('Image')}, {existing.get('ModelDataUrl')}). Delete it "
                f"(aws sagemaker delete-model --model-name {name}) or pick another name."
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
        PrimaryContainer={"Image": image, "ModelDataUrl": model_data, "Mode": "SingleModel"},
        ExecutionRoleArn=role,
        **options.model_fields(),
        **options.tagged(),
    )
    log.info("Created model %s (%s, %s)", name, image, model_data)


def deploy(aws: Aws, endpoint_name: str, *, model_name: str, instance_type: str,
           instance_count: int = 1, options: AwsOptions = NO_OPTIONS) -> None:
    """Endpoint config and endpoint named after the endpoint, hosting `model_name`; the KMS key
    encrypts the instances' storage volumes."""
    sagemaker = aws.client("sagemaker")
    kms = {"KmsKeyId": options.kms_key} if options.kms_key else {}
    sagemaker.create_endpoint_config(
        EndpointConfigName=endpoint_name,
        ProductionVariants=[{
            "VariantName": "AllTraffic",
            "ModelName": model_name,
            "InstanceType": instance_type,
            "InitialInstanceCount": instance_count,
            "InitialVariantWeight": 1.0,
        }],
        **kms,
        **options.tagged(),
    )
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=endpoint_name,
                              **options.tagged())
    log.info("Creating endpoint %s on %d x %s", endpoint_name, instance_count, instance_type)


def wait_for_endpoint(sagemaker, name: str, *, timeout: float | None = None,
                      interval: float | None = None) -> dict:
    return wait_until_ended(
        f"endpoint {name}", lambda: sagemaker.describe_endpoint(EndpointName=name),
        "EndpointStatus", ENDPOINT_ENDED, ("InService",),
        hint=f"Container logs: CloudWatch log group /aws/sagemaker/Endpoints/{name}.",
        timeout=timeout, interval=interval)


def delete(aws: Aws, endpoint_name: str) -> list[str]:
    """Delete the endpoint, its endpoint config and the models it hosts; return what went."""
    sagemaker = aws.client("sagemaker")
    endpoint = describe_or_none(lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name))
    if endpoint is None:
        raise UserError(f"No endpoint named '{endpoint_name}' in {aws.region}.")
    config_name = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    models = sorted({v["ModelName"] for v in config["ProductionVariants"]})
    sagemaker.delete_endpoint(EndpointName=endpoint_name)
    sagemaker.delete_endpoint_config(EndpointConfigName=config_name)
    for model in models:
        sagemaker.delete_model(ModelName=model)
    return [f"endpoint {endpoint_name}", f"endpoint config {config_name}",
            *(f"model {m}" for m in models)]
