"""Batch transform over an S3 prefix of files, one request per file, checked before anything is
created.

SageMaker gives a transform job one ContentType, and the container decodes each request by it.
A prefix that mixes file types (PNG and JPEG, say) therefore runs as one job per type, each
reading a manifest (S3DataType ManifestFile) that lists that type's objects.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from byoc.contract import DEFAULT_MAX_PAYLOAD_MB, MB
from byoc.driver.aws import Aws, data_bucket, ensure_bucket, owner_check, split_s3_uri
from byoc.driver.aws_options import AwsOptions
from byoc.driver.invoke import CONTENT_TYPES
from byoc.driver.jobs import DEFAULT_INSTANCE_TYPE, ENDED, check_job_name
from byoc.driver.waiting import WaitTimeout, wait_until_ended
from byoc.errors import UserError

log = logging.getLogger(__name__)

ACCEPT = "application/json"
# SageMaker's limits: MaxPayloadInMB up to 100, and MaxPayloadInMB x MaxConcurrentTransforms too.
MAX_PAYLOAD_MB = 100
MANIFEST_PREFIX = "byoc/transform"
LOG_GROUP = "/aws/sagemaker/TransformJobs"  # one stream per instance: JOB/INSTANCE-ID
# A short, name-safe word per content type for job and manifest names: its first extension.
TYPE_WORDS = {ctype: ext.lstrip(".") for ext, ctype in reversed(CONTENT_TYPES.items())}


@dataclass(frozen=True)
class TransformSpec:
    """What every job of one `byoc transform` runs with."""

    input_s3: str
    output_s3: str
    content_type: str | None = None  # None: by each object's extension
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    options: AwsOptions = field(default_factory=AwsOptions)

    def __post_init__(self) -> None:
        split_s3_uri(self.input_s3)
        split_s3_uri(self.output_s3)
        if self.max_payload_mb is not None:
            if self.max_payload_mb == 0:
                raise UserError("--max-payload-mb 0 (unlimited, chunked requests) is for "
                                "built-in algorithms; byoc's server needs a limit: pass 1 to "
                                f"{MAX_PAYLOAD_MB}.")
            if not 1 <= self.max_payload_mb <= MAX_PAYLOAD_MB:
                raise UserError(f"--max-payload-mb must be between 1 and {MAX_PAYLOAD_MB}, not "
                                f"{self.max_payload_mb}.")
        if self.max_concurrent is not None:
            if self.max_concurrent < 1:
                raise UserError("--max-concurrent-transforms must be at least 1.")
            if self.max_concurrent * self.payload_mb > MAX_PAYLOAD_MB:
                raise UserError(
                    f"--max-concurrent-transforms {self.max_concurrent} x --max-payload-mb "
                    f"{self.payload_mb} is over SageMaker's {MAX_PAYLOAD_MB} MB per instance: "
                    f"lower one (with {self.payload_mb} MB, at most "
                    f"{MAX_PAYLOAD_MB // self.payload_mb} concurrent requests).")

    @property
    def payload_mb(self) -> int:
        """The largest request, as SageMaker will apply it (its default is 6 MB)."""
        return self.max_payload_mb or DEFAULT_MAX_PAYLOAD_MB


@dataclass(frozen=True)
class Batch:
    """One transform job: the objects of one content type, by prefix or by manifest."""

    job_name: str
    content_type: str
    keys: tuple[str, ...] = ()  # relative to the input prefix; empty: the whole prefix


def list_inputs(aws: Aws, input_s3: str) -> dict[str, int]:
    """Every object under the prefix, as a key relative to it, and its size in bytes."""
    bucket, prefix = split_s3_uri(input_s3)
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=prefix)
    return {o["Key"][len(prefix):]: o["Size"] for page in pages for o in page.get("Contents", [])
            if not o["Key"].endswith("/")}


def plan(aws: Aws, name: str, spec: TransformSpec) -> list[Batch]:
    """The jobs to run: one over the whole prefix when its objects share a content type (or
    --content-type says which), else one per type. Refuses what SageMaker would fail on later:
    an empty prefix, a file over the payload limit, a file of unknown type, a name too long."""
    objects = list_inputs(aws, spec.input_s3)
    if not objects:
        raise UserError(f"No objects under {spec.input_s3}: nothing to transform. Check the "
                        "prefix (it is matched from the start of each key).")
    limit = spec.payload_mb * MB
    too_big = sorted((size, key) for key, size in objects.items() if size > limit)
    if too_big:
        size, key = too_big[-1]
        need = -(-size // MB)
        hint = (f"pass --max-payload-mb {need}" if need <= MAX_PAYLOAD_MB else
                f"files over {MAX_PAYLOAD_MB} MB cannot be sent in one request: leave them out")
        raise UserError(f"{len(too_big)} object(s) under {spec.input_s3} exceed the "
                        f"{spec.payload_mb} MB a request may carry, e.g. {key} "
                        f"({size / MB:.1f} MB): {hint}.")
    if spec.content_type:
        return [Batch(name, spec.content_type)]
    by_type: dict[str, list[str]] = {}
    unknown = []
    for key in sorted(objects):
        ctype = CONTENT_TYPES.get(PurePosixPath(key).suffix.lower())
        if ctype is None:
            unknown.append(key)
        else:
            by_type.setdefault(ctype, []).append(key)
    if unknown:
        raise UserError(
            f"{len(unknown)} object(s) under {spec.input_s3} have no known file type, e.g. "
            f"{', '.join(unknown[:3])}. Known: {', '.join(CONTENT_TYPES)}. Move them out of the "
            "prefix, or send every object as one type with --content-type TYPE.")
    if len(by_type) == 1:
        return [Batch(name, next(iter(by_type)))]
    batches = [Batch(f"{name}-{TYPE_WORDS[ctype]}", ctype, tuple(keys))
               for ctype, keys in sorted(by_type.items())]
    _check_names(batches)
    return batches


def _check_names(batches: list[Batch]) -> None:
    for batch in batches:
        try:
            check_job_name(batch.job_name)
        except UserError:
            raise UserError(
                f"The input mixes {len(batches)} file types, so byoc runs one job per type, "
                f"named JOB-TYPE; '{batch.job_name}' is too long. Pass a shorter --job-name."
            ) from None


def write_manifests(aws: Aws, name: str, spec: TransformSpec, batches: list[Batch]
                    ) -> dict[str, str]:
    """Upload one manifest per batch that lists keys; return each job's manifest URI."""
    listed = [b for b in batches if b.keys]
    if not listed:
        return {}
    bucket = data_bucket(aws)
    ensure_bucket(aws, bucket)
    s3 = aws.client("s3")
    uris = {}
    for batch in listed:
        key = f"{MANIFEST_PREFIX}/{name}/{TYPE_WORDS[batch.content_type]}.manifest"
        body = json.dumps([{"prefix": spec.input_s3}, *batch.keys])
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), **owner_check(aws, bucket))
        uris[batch.job_name] = f"s3://{bucket}/{key}"
    return uris


def request(batch: Batch, model_name: str, spec: TransformSpec,
            manifest: str | None = None) -> dict:
    """CreateTransformJob arguments: one request per object (SplitType None, SingleRecord)."""
    source = ({"S3DataType": "ManifestFile", "S3Uri": manifest} if manifest else
              {"S3DataType": "S3Prefix", "S3Uri": spec.input_s3})
    req = {
        "TransformJobName": batch.job_name,
        "ModelName": model_name,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {"DataSource": {"S3DataSource": source},
                           "ContentType": batch.content_type, "SplitType": "None"},
        "TransformOutput": {"S3OutputPath": spec.output_s3, "Accept": ACCEPT,
                            "AssembleWith": "None"},
        "TransformResources": {"InstanceType": spec.instance_type,
                               "InstanceCount": spec.instance_count},
    }
    if spec.options.kms_key:
        req["TransformOutput"]["KmsKeyId"] = spec.options.kms_key
        req["TransformResources"]["VolumeKmsKeyId"] = spec.options.kms_key
    req.update(spec.options.marked())
    if spec.max_payload_mb:
        req["MaxPayloadInMB"] = spec.max_payload_mb
    if spec.max_concurrent:
        req["MaxConcurrentTransforms"] = spec.max_concurrent
    return req


def start(aws: Aws, name: str, model_name: str, spec: TransformSpec,
          batches: list[Batch]) -> None:
    manifests = write_manifests(aws, name, spec, batches)
    sagemaker = aws.client("sagemaker")
    for batch in batches:
        sagemaker.create_transform_job(**request(batch, model_name, spec,
                                                 manifests.get(batch.job_name)))
        log.info("Started transform job %s (%s)", batch.job_name, batch.content_type)


def wait_for_transform(sagemaker, name: str, *, timeout: float | None = None,
                       interval: float | None = None) -> dict:
    return wait_until_ended(
        f"transform job {name}", lambda: sagemaker.describe_transform_job(TransformJobName=name),
        "TransformJobStatus", ENDED, ("Completed",),
        hint="Logs: CloudWatch log group /aws/sagemaker/TransformJobs.", timeout=timeout,
        interval=interval)


def wait_for_all(sagemaker, names: list[str], *, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> list[dict]:
    """Wait for each job in turn, within one deadline for them all; their last answers."""
    deadline = clock() + timeout
    try:
        return [wait_for_transform(sagemaker, name, timeout=max(deadline - clock(), 0.0))
                for name in names]
    except WaitTimeout as exc:
        raise WaitTimeout(exc.label, timeout) from None


def list_outputs(aws: Aws, s3_prefix: str) -> list[str]:
    bucket, prefix = split_s3_uri(s3_prefix)
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=prefix)
    return [f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents", [])]
