"""Real-time hosting: model, endpoint config and endpoint for the custom image, and their removal.
"""

from __future__ import annotations

import logging

from byoc.driver import autoscaling
from byoc.driver.aws import Aws, describe_or_none, exists
from byoc.driver.aws_options import CREATED_BY_BYOC, NO_OPTIONS, AwsOptions
from byoc.driver.hosting import Hosting
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
ENDPOINT_ENDED = ("InService", "Failed", "OutOfService")
# CREATED_BY_BYOC marks the models and endpoint configs byoc creates: `byoc delete` removes no
# other model, and `byoc deploy --update` deletes the config it replaced only when it carries the
# mark. Models are shared (one per training job, reused by every deploy and transform of it), so
# it says who made a model, not for which endpoint; whether another endpoint still needs it is
# read from the endpoint configs.


def require_new_endpoint(aws: Aws, name: str, *, updatable: bool = False) -> None:
    """Refuse a name whose endpoint or endpoint config exists, before a model is created;
    `updatable` when the verb can update the endpoint in place instead (`deploy --update`)."""
    sagemaker = aws.client("sagemaker")
    if exists(lambda: sagemaker.describe_endpoint(EndpointName=name)):
        update = (f" update it in place with byoc deploy --endpoint-name {name} --update ...,"
                  if updatable else "")
        raise UserError(f"Endpoint '{name}' already exists in {aws.region}; pick another "
                        f"--endpoint-name,{update} or delete it first: byoc delete "
                        f"--endpoint-name {name}")
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


def create_model(aws: Aws, name: str, *, role: str, image: str | None = None,
                 model_data: str | None = None, package: str | None = None,
                 options: AwsOptions = NO_OPTIONS, mode: str = "SingleModel",
                 environment: dict[str, str] | None = None) -> None:
    """Create the model, or reuse one of that name hosting the same image and model data (or
    the same registered `package`, a model package ARN), in the same mode and environment, VPC
    and isolation. `model_data` is a model.tar.gz, or for `mode="MultiModel"` the S3 prefix of
    the models. A package's container names the package alone, as SageMaker deploys one: the
    image and the model data are the package's."""
    sagemaker = aws.client("sagemaker")
    model = describe_or_none(lambda: sagemaker.describe_model(ModelName=name))
    environment = environment or {}
    identity = ({"ModelPackageName": package} if package else
                {"Image": image, "ModelDataUrl": model_data, "Mode": mode})
    if model is not None:
        differences = _differences(model["PrimaryContainer"], identity, environment)
        if differences:
            raise UserError(
                f"A model named '{name}' already exists with another {', '.join(differences)}. "
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
        PrimaryContainer={**identity, **({"Environment": environment} if environment else {})},
        ExecutionRoleArn=role,
        **options.model_fields(),
        **options.marked(),
    )
    log.info("Created model %s (%s)", name, f"model package {package}" if package
             else f"{image}, {model_data}")


# What each field of a model's container is called in an error.
_CONTAINER_FIELDS = {"Image": "image", "ModelDataUrl": "model data", "Mode": "mode",
                     "ModelPackageName": "model package"}


def _differences(existing: dict, identity: dict[str, str],
                 environment: dict[str, str]) -> list[str]:
    """What an existing model's container has otherwise, by name only: its environment may hold
    secrets, so an error names the keys that differ, never a value."""
    defaults = {"Mode": "SingleModel"}
    found = [_CONTAINER_FIELDS[key] for key, ours in identity.items()
             if existing.get(key, defaults.get(key)) != ours]
    theirs = existing.get("Environment") or {}
    keys = sorted(k for k in theirs.keys() | environment.keys()
                  if theirs.get(k) != environment.get(k))
    if keys:
        found.append(f"environment ({', '.join(keys)})")
    return found


def deploy(aws: Aws, endpoint_name: str, *, model_name: str, instance_type: str | None = None,
           instance_count: int = 1, hosting: Hosting | None = None,
           options: AwsOptions = NO_OPTIONS) -> None:
    """Endpoint config and endpoint named after the endpoint, hosting `model_name` as `hosting`
    says (by default on `instance_count` x `instance_type`); the KMS key encrypts the
    instances' storage volumes."""
    sagemaker = aws.client("sagemaker")
    hosting = hosting or Hosting(instance_type=instance_type or DEFAULT_INSTANCE_TYPE,
                                 instance_count=instance_count)
    create_endpoint_config(aws, endpoint_name, model_name=model_name, hosting=hosting,
                           options=options)
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=endpoint_name,
                              **options.tagged())
    log.info("Creating endpoint %s (%s)", endpoint_name, hosting.describe())


def create_endpoint_config(aws: Aws, name: str, *, model_name: str, hosting: Hosting,
                           options: AwsOptions = NO_OPTIONS) -> None:
    """The endpoint config `name`: one variant hosting `model_name` as `hosting` says, tagged
    with the user's tags and byoc's mark (an update deletes the config it replaces only when
    byoc made it)."""
    kms = {"KmsKeyId": options.kms_key} if options.kms_key else {}
    aws.client("sagemaker").create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[hosting.variant(model_name)],
        **hosting.config_fields(),
        **kms,
        Tags=[*options.tag_list(), CREATED_BY_BYOC],
    )


def wait_for_endpoint(sagemaker, name: str, *, timeout: float | None = None,
                      interval: float | None = None) -> dict:
    return wait_until_ended(
        f"endpoint {name}", lambda: sagemaker.describe_endpoint(EndpointName=name),
        "EndpointStatus", ENDPOINT_ENDED, ("InService",),
        hint=f"Container logs: CloudWatch log group /aws/sagemaker/Endpoints/{name}.",
        timeout=timeout, interval=interval)


def delete(aws: Aws, endpoint_name: str) -> tuple[list[str], list[str]]:
    """Delete the endpoint's autoscaling, the endpoint, its endpoint config and the models it
    hosts that byoc created and no other endpoint config uses; return what went, and what was
    kept and why. A scalable target left behind would point at nothing, and one deleted after
    the endpoint could scale it while it goes."""
    sagemaker = aws.client("sagemaker")
    endpoint = describe_or_none(lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name))
    if endpoint is None:
        raise UserError(f"No endpoint named '{endpoint_name}' in {aws.region}.")
    config_name = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    models = sorted({v["ModelName"] for v in _variants(config)})
    gone = []
    if autoscaling.remove(aws, endpoint_name):
        gone.append(f"autoscaling of {autoscaling.resource_id(endpoint_name)}")
    sagemaker.delete_endpoint(EndpointName=endpoint_name)
    sagemaker.delete_endpoint_config(EndpointConfigName=config_name)
    gone += [f"endpoint {endpoint_name}", f"endpoint config {config_name}"]
    removed, kept = remove_unused_models(sagemaker, models)
    return gone + removed, kept


def remove_unused_models(sagemaker, models: list[str]) -> tuple[list[str], list[str]]:
    """Delete each of `models` that byoc created and no endpoint config references; return
    what went, and what was kept and why."""
    users = _model_users(sagemaker, set(models))
    gone, kept = [], []
    for model in models:
        desc = describe_or_none(lambda m=model: sagemaker.describe_model(ModelName=m))
        if desc is None:
            continue
        if users.get(model):
            kept.append(f"model {model}: endpoint config {', '.join(sorted(users[model]))} "
                        "references it")
        elif not created_by_byoc(sagemaker, desc["ModelArn"]):
            kept.append(f"model {model}: byoc did not create it (no {CREATED_BY_BYOC['Key']} "
                        f"tag); delete it with aws sagemaker delete-model --model-name {model}")
        else:
            sagemaker.delete_model(ModelName=model)
            gone.append(f"model {model}")
    return gone, kept


def _variants(config: dict) -> list[dict]:
    return [*config.get("ProductionVariants", []), *config.get("ShadowProductionVariants", [])]


def _model_users(sagemaker, models: set[str]) -> dict[str, set[str]]:
    """The endpoint configs that reference each of `models` (a model named in any config, with
    an endpoint or not, may be deployed again from it)."""
    users: dict[str, set[str]] = {}
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate():
        for summary in page["EndpointConfigs"]:
            name = summary["EndpointConfigName"]
            config = describe_or_none(
                lambda n=name: sagemaker.describe_endpoint_config(EndpointConfigName=n))
            for variant in _variants(config or {}):
                if variant["ModelName"] in models:
                    users.setdefault(variant["ModelName"], set()).add(name)
    return users


def created_by_byoc(sagemaker, arn: str) -> bool:
    """Whether the resource `arn` (a model, a model package group, a job) carries byoc's mark."""
    return any(tag == CREATED_BY_BYOC
               for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn)
               for tag in page["Tags"])
