"""How an endpoint hosts its model: on instances or serverless, one model or many, real-time or
asynchronous, with data capture, start-up limits and the GPU host's AMI.

`resolve` checks them all, and how they combine, before anything is created; the request
builders ask the resulting `Hosting` for their fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from byoc.contract import MAX_PAYLOAD_ENV, WORKERS_ENV
from byoc.driver.aws import split_s3_uri
from byoc.errors import UserError

# ServerlessConfig: what SageMaker accepts.
SERVERLESS_MEMORY_MB = tuple(range(1024, 6144 + 1, 1024))
MAX_SERVERLESS_CONCURRENCY = 200
# ProductionVariant: ContainerStartupHealthCheckTimeoutInSeconds and
# ModelDataDownloadTimeoutInSeconds.
TIMEOUT_RANGE = (60, 3600)
# AsyncInferenceClientConfig.MaxConcurrentInvocationsPerInstance.
MAX_CONCURRENT_INVOCATIONS = 1000
# An asynchronous request body (the S3 input) may be up to 1 GB; the server's own limit
# (SAGEMAKER_MAX_PAYLOAD_IN_MB, 6 by default) is raised to match, unless --env sets it.
ASYNC_MAX_PAYLOAD_MB = 1024
DEFAULT_FAILURE_PREFIX = "failures/"  # below --async-output, without --async-failure
# What data capture keeps as text; any other content type (images, .npy) is stored base64.
CAPTURE_CONTENT_TYPES = {"JsonContentTypes": ["application/json"],
                         "CsvContentTypes": ["text/csv"]}
# The GPU host images SageMaker offers for inference (ProductionVariant.InferenceAmiVersion):
# NVIDIA driver branch and the newest CUDA it runs. Without one, GPU endpoints get driver 470
# (CUDA 11.4), too old for Dockerfile.gpu.
INFERENCE_AMIS = {
    "al2-ami-sagemaker-inference-gpu-2": (535, (12, 2)),
    "al2-ami-sagemaker-inference-gpu-2-1": (535, (12, 2)),
    "al2-ami-sagemaker-inference-gpu-3-1": (550, (12, 4)),
    "al2023-ami-sagemaker-inference-gpu-4-1": (580, (13, 0)),
}
# The CUDA that tensorflow[and-cuda] (the gpu extra, Dockerfile.gpu) is built against; a test
# keeps it in step with byoc.gpu. Older drivers run it only through CUDA's minor-version
# compatibility, which has no PTX JIT, so byoc picks an AMI whose driver covers it outright.
IMAGE_CUDA = (12, 5)
# Instance families with NVIDIA GPUs: ml.p3, p4d, p5, g4dn, g5, g6, ... (g4ad has AMD GPUs).
_NVIDIA_FAMILY = re.compile(r"ml\.(p\d+[a-z]*|g(?!4ad)\d+[a-z]*)\.")


def is_gpu_instance(instance_type: str) -> bool:
    return bool(_NVIDIA_FAMILY.match(instance_type))


def default_inference_ami() -> str:
    """The AMI with the oldest driver that still covers IMAGE_CUDA outright."""
    fits = [(driver, name) for name, (driver, cuda) in INFERENCE_AMIS.items()
            if cuda >= IMAGE_CUDA]
    return min(fits)[1]


def _s3_uri(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    if not value.startswith("s3://"):
        raise UserError(f"{flag} must be an s3:// URI (s3://BUCKET/PREFIX/), not '{value}'.")
    split_s3_uri(value)
    return value


def _in_range(value: int | None, flag: str, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise UserError(f"{flag} must be between {low} and {high}, got {value}.")
    return value


@dataclass(frozen=True)
class Serverless:
    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None

    def config(self) -> dict:
        config = {"MemorySizeInMB": self.memory_mb, "MaxConcurrency": self.max_concurrency}
        if self.provisioned_concurrency:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return config


@dataclass(frozen=True)
class Hosting:
    """Everything of `byoc deploy` that shapes the model, the variant and the endpoint config."""

    instance_type: str | None = None
    instance_count: int = 1
    serverless: Serverless | None = None
    multi_model_prefix: str | None = None
    async_output: str | None = None
    async_failure: str | None = None
    max_concurrent_invocations: int | None = None
    capture: str | None = None
    capture_percent: int = 100
    startup_timeout: int | None = None
    model_download_timeout: int | None = None
    inference_ami: str | None = None

    @property
    def mode(self) -> str:
        return "MultiModel" if self.multi_model_prefix else "SingleModel"

    def model_environment(self) -> dict[str, str]:
        """What the container needs to host this way; --env adds to it and wins."""
        env = {}
        if self.serverless:
            # One worker per container, as SageMaker recommends for serverless: the memory is
            # the budget, and every worker holds its own copy of the model.
            env[WORKERS_ENV] = "1"
        if self.async_output:
            env[MAX_PAYLOAD_ENV] = str(ASYNC_MAX_PAYLOAD_MB)
        return env

    def variant(self, model_name: str) -> dict:
        """The endpoint config's one production variant."""
        variant: dict = {"VariantName": "AllTraffic", "ModelName": model_name}
        if self.serverless:
            variant["ServerlessConfig"] = self.serverless.config()
            return variant
        variant.update(InstanceType=self.instance_type, InitialInstanceCount=self.instance_count,
                       InitialVariantWeight=1.0)
        if self.startup_timeout:
            variant["ContainerStartupHealthCheckTimeoutInSeconds"] = self.startup_timeout
        if self.model_download_timeout:
            variant["ModelDataDownloadTimeoutInSeconds"] = self.model_download_timeout
        if self.inference_ami:
            variant["InferenceAmiVersion"] = self.inference_ami
        return variant

    def config_fields(self) -> dict:
        """AsyncInferenceConfig and DataCaptureConfig of the endpoint config, when set."""
        fields: dict = {}
        if self.async_output:
            output = {"S3OutputPath": self.async_output}
            if self.async_failure:
                output["S3FailurePath"] = self.async_failure
            fields["AsyncInferenceConfig"] = {"OutputConfig": output}
            if self.max_concurrent_invocations:
                fields["AsyncInferenceConfig"]["ClientConfig"] = {
                    "MaxConcurrentInvocationsPerInstance": self.max_concurrent_invocations}
        if self.capture:
            fields["DataCaptureConfig"] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": self.capture_percent,
                "DestinationS3Uri": self.capture,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": CAPTURE_CONTENT_TYPES,
            }
        return fields

    def describe(self) -> str:
        """How it runs, for the log: '2 x ml.c5.large' or 'serverless, 2048 MB, ...'."""
        if self.serverless:
            s = self.serverless
            return (f"serverless, {s.memory_mb} MB, up to {s.max_concurrency} concurrent "
                    "requests")
        return f"{self.instance_count} x {self.instance_type}"


def _serverless(memory: int | None, concurrency: int | None,
                provisioned: int | None) -> Serverless | None:
    if memory is None:
        if concurrency is not None or provisioned is not None:
            raise UserError("--max-concurrency and --provisioned-concurrency are serverless "
                            "settings: add --serverless-memory MB.")
        return None
    if memory not in SERVERLESS_MEMORY_MB:
        raise UserError(f"--serverless-memory must be one of "
                        f"{', '.join(map(str, SERVERLESS_MEMORY_MB))} (MB), got {memory}.")
    concurrency = 1 if concurrency is None else concurrency
    _in_range(concurrency, "--max-concurrency", 1, MAX_SERVERLESS_CONCURRENCY)
    _in_range(provisioned, "--provisioned-concurrency", 1, MAX_SERVERLESS_CONCURRENCY)
    if provisioned is not None and provisioned > concurrency:
        raise UserError(f"--provisioned-concurrency {provisioned} is above --max-concurrency "
                        f"{concurrency}: SageMaker keeps at most that many warm.")
    return Serverless(memory, concurrency, provisioned)


# Settings a serverless endpoint does not have, by flag (SageMaker's serverless exclusions).
_NOT_SERVERLESS = (
    ("instance_type", "--instance-type"), ("multi_model", "--multi-model"),
    ("async_output", "--async-output"), ("capture", "--capture"),
    ("inference_ami_version", "--inference-ami-version"), ("subnets", "--subnets"),
    ("network_isolation", "--network-isolation"),
    ("startup_timeout", "--startup-timeout"),
    ("model_download_timeout", "--model-download-timeout"),
)


def resolve(*, default_instance_type: str, instance_type: str | None = None,
            instance_count: int = 1, serverless_memory: int | None = None,
            max_concurrency: int | None = None, provisioned_concurrency: int | None = None,
            multi_model: bool = False, model_prefix: str | None = None,
            async_output: str | None = None, async_failure: str | None = None,
            max_concurrent_invocations: int | None = None, capture: str | None = None,
            capture_percent: int | None = None, startup_timeout: int | None = None,
            model_download_timeout: int | None = None, inference_ami_version: str | None = None,
            subnets: str | None = None, network_isolation: bool = False) -> Hosting:
    """How an endpoint hosts its model, checked as a whole; every argument is the value of the
    `byoc deploy` flag of the same name (`subnets` and `network_isolation` only to refuse them
    on a serverless endpoint).

    Args:
        default_instance_type: the instance type when `instance_type` is None.
        serverless_memory: host serverless with this many MB (1024-6144, in steps of 1024).
        multi_model: host every model under `model_prefix` (an S3 prefix).
        async_output: make the endpoint asynchronous; its answers go there.
        capture: capture requests and answers under this S3 URI.
        inference_ami_version: the GPU host image (default: the newest that runs the image).
    """
    given_values = {"instance_type": instance_type, "multi_model": multi_model,
                    "async_output": async_output, "capture": capture,
                    "inference_ami_version": inference_ami_version, "subnets": subnets,
                    "network_isolation": network_isolation, "startup_timeout": startup_timeout,
                    "model_download_timeout": model_download_timeout}
    serverless = _serverless(serverless_memory, max_concurrency, provisioned_concurrency)
    if serverless:
        given = [flag for dest, flag in _NOT_SERVERLESS if given_values.get(dest)]
        if instance_count != 1:
            given.append("--instance-count")
        if given:
            raise UserError(f"A serverless endpoint (--serverless-memory) has no "
                            f"{', '.join(given)}: drop {'it' if len(given) == 1 else 'them'}, "
                            "or drop --serverless-memory to host on instances.")
    prefix = _s3_uri(model_prefix, "--model-prefix")
    if multi_model and not prefix:
        raise UserError("--multi-model needs --model-prefix s3://BUCKET/models/: the S3 prefix "
                        "that holds the models' .tar.gz files (byoc models add puts them there).")
    if prefix and not multi_model:
        raise UserError("--model-prefix is for a multi-model endpoint: add --multi-model.")
    if prefix:
        prefix = prefix.rstrip("/") + "/"
    async_output = _s3_uri(async_output, "--async-output")
    async_failure = _s3_uri(async_failure, "--async-failure")
    if not async_output and (async_failure or max_concurrent_invocations):
        raise UserError("--async-failure and --max-concurrent-invocations are settings of an "
                        "asynchronous endpoint: add --async-output s3://BUCKET/PREFIX/.")
    if async_output and not async_failure:
        # Without a failure path a failed request leaves no object to wait for.
        async_failure = f"{async_output.rstrip('/')}/{DEFAULT_FAILURE_PREFIX}"
    _in_range(max_concurrent_invocations, "--max-concurrent-invocations", 1,
              MAX_CONCURRENT_INVOCATIONS)
    capture = _s3_uri(capture, "--capture")
    if capture_percent is not None and not capture:
        raise UserError("--capture-percent needs --capture s3://BUCKET/PREFIX/ (where the "
                        "captured requests go).")
    _in_range(capture_percent, "--capture-percent", 0, 100)
    _in_range(startup_timeout, "--startup-timeout", *TIMEOUT_RANGE)
    _in_range(model_download_timeout, "--model-download-timeout", *TIMEOUT_RANGE)
    instance_type = None if serverless else (instance_type or default_instance_type)
    ami = inference_ami_version
    if ami and not is_gpu_instance(instance_type):
        raise UserError(f"--inference-ami-version picks the GPU host image; {instance_type} has "
                        "no NVIDIA GPU. Drop it, or pick a GPU --instance-type (ml.g5.xlarge).")
    if prefix and instance_type and is_gpu_instance(instance_type):
        raise UserError(f"SageMaker's GPU multi-model endpoints run Triton only; byoc's run on "
                        f"CPU instance types. Pick one (ml.m5.xlarge, ml.c5.2xlarge) instead of "
                        f"{instance_type}.")
    if not ami and instance_type and is_gpu_instance(instance_type):
        ami = default_inference_ami()
    return Hosting(
        instance_type=instance_type, instance_count=instance_count, serverless=serverless,
        multi_model_prefix=prefix, async_output=async_output, async_failure=async_failure,
        max_concurrent_invocations=max_concurrent_invocations, capture=capture,
        capture_percent=100 if capture_percent is None else capture_percent,
        startup_timeout=startup_timeout, model_download_timeout=model_download_timeout,
        inference_ami=ami)
