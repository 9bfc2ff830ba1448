"""The models of a multi-model endpoint: `byoc models add` copies a model.tar.gz under the
endpoint's S3 prefix, `byoc models list` lists what is there.

SageMaker loads a model from the prefix on its first invocation with `TargetModel=NAME.tar.gz`,
and keeps the copy it loaded: an object that is overwritten may go on being served in its old
version, so a name is never reused here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from byoc.driver.aws import Aws, describe_or_none, split_s3_uri
from byoc.driver.endpoints import training_job_model
from byoc.errors import UserError

log = logging.getLogger(__name__)

SUFFIX = ".tar.gz"
# A model's name is one path segment: no `/` or `..`, so it stays under the prefix, and the
# container can use it as a directory name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class StoredModel:
    target: str  # what `invoke --target-model` takes: the key below the prefix
    size: int
    modified: str


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name:
        raise UserError(f"--name '{name}' is not a model name: letters, digits, '.', '_' and "
                        "'-', starting with a letter or digit, without '/' or '..'.")
    return name.removesuffix(SUFFIX)


def model_prefix(aws: Aws, endpoint: str) -> tuple[str, str]:
    """(S3 prefix, image) of a multi-model endpoint's model."""
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_endpoint(EndpointName=endpoint))
    if desc is None:
        raise UserError(f"No endpoint named '{endpoint}' in {aws.region}.")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    model_name = config["ProductionVariants"][0]["ModelName"]
    container = sagemaker.describe_model(ModelName=model_name)["PrimaryContainer"]
    if container.get("Mode") != "MultiModel":
        raise UserError(f"Endpoint {endpoint} hosts one model ({model_name}), not many. Deploy a "
                        "multi-model endpoint: byoc deploy --multi-model --model-prefix "
                        "s3://BUCKET/models/ --image URI --endpoint-name NAME.")
    return container["ModelDataUrl"], container["Image"]


def _source(aws: Aws, training_job: str | None, model_data: str | None,
            name: str | None) -> tuple[str, str, str | None]:
    """(model.tar.gz URI, model name, image that trained it or None)."""
    if bool(training_job) == bool(model_data):
        raise UserError("Say which model to add: --training-job NAME or --model-data "
                        "s3://.../model.tar.gz.")
    if training_job:
        image, data, _ = training_job_model(aws, training_job)
        return data, check_name(name or training_job), image
    split_s3_uri(model_data)
    if not model_data.endswith(SUFFIX):
        raise UserError(f"--model-data {model_data} is not a .tar.gz; a multi-model endpoint "
                        "loads models packed as SageMaker packs them (model.tar.gz).")
    stem = PurePosixPath(model_data).name.removesuffix(SUFFIX)
    if name is None and stem == "model":
        raise UserError("Every training job's model is called model.tar.gz: give this one a "
                        "name with --name NAME.")
    return model_data, check_name(name or stem), None


def _exists(s3, bucket: str, key: str) -> bool:
    import botocore.exceptions

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def add(aws: Aws, endpoint: str, *, training_job: str | None = None,
        model_data: str | None = None, name: str | None = None) -> str:
    """Copy a model.tar.gz under the endpoint's prefix; return its TargetModel."""
    source, name, trained_by = _source(aws, training_job, model_data, name)
    prefix, image = model_prefix(aws, endpoint)
    if trained_by and trained_by != image:
        log.warning("Training job %s ran %s; endpoint %s serves %s. The endpoint's image must "
                    "read this model's bundle.", training_job, trained_by, endpoint, image)
    return copy_under(aws, prefix, source, name)


def add_training_job(aws: Aws, prefix: str, training_job: str) -> str:
    """Put a training job's model under `prefix` (before its endpoint exists)."""
    source, name, _ = _source(aws, training_job, None, None)
    return copy_under(aws, prefix, source, name)


def copy_under(aws: Aws, prefix: str, source: str, name: str) -> str:
    """Copy `source` to PREFIX/NAME.tar.gz, never over an existing object; the TargetModel."""
    bucket, key_prefix = split_s3_uri(prefix)
    target = f"{name}{SUFFIX}"
    key = f"{key_prefix}{target}"
    s3 = aws.client("s3")
    if _exists(s3, bucket, key):
        raise UserError(f"s3://{bucket}/{key} exists already. SageMaker may go on serving a "
                        "copy of it it has loaded, so a name is not reused: pick another "
                        f"--name (e.g. {name}-v2).")
    src_bucket, src_key = split_s3_uri(source)
    if not _exists(s3, src_bucket, src_key):
        raise UserError(f"{source} does not exist: check --model-data, or that the training "
                        "job's output is still there.")
    s3.copy({"Bucket": src_bucket, "Key": src_key}, bucket, key)
    log.info("Copied %s to s3://%s/%s", source, bucket, key)
    return target


def stored(aws: Aws, endpoint: str) -> tuple[str, list[StoredModel]]:
    """The endpoint's prefix, and the models under it."""
    prefix, _ = model_prefix(aws, endpoint)
    return prefix, stored_under(aws, prefix)


def stored_under(aws: Aws, prefix: str) -> list[StoredModel]:
    bucket, key_prefix = split_s3_uri(prefix)
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=key_prefix)
    return [StoredModel(o["Key"][len(key_prefix):], o["Size"],
                        o["LastModified"].strftime("%Y-%m-%d %H:%M"))
            for page in pages for o in page.get("Contents", [])
            if o["Key"].endswith(SUFFIX)]
