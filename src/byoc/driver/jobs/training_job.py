"""A training job's request: the spec it runs with (image, role, channels, limits, spot,
instances) and the call that creates it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from byoc.contract import (
    DEFAULT_BASE_DIR,
    TRAIN,
    Paths,
)
from byoc.driver.aws import (
    Aws,
)
from byoc.driver.aws_options import AwsOptions
from byoc.driver.channels import DISTRIBUTIONS, FULLY_REPLICATED
from byoc.errors import UserError
from byoc.metric_lines import METRIC_DEFINITIONS

log = logging.getLogger(__name__)


DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_VOLUME_GB = 30
DEFAULT_MAX_RUN = 24 * 3600
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LOG_SETTLE_SECONDS = 5.0  # CloudWatch lags the container; wait this long before the last read
CHECKPOINT_LOCAL_PATH = Paths(Path(DEFAULT_BASE_DIR)).checkpoint_dir.as_posix()


INPUT_MODES = ("File", "FastFile")
MAX_RETRIES = 30
MAX_KEEP_ALIVE = 3600


@dataclass
class TrainingSpec:
    """Everything a training job (or each job of a tuning job) runs with."""

    image: str
    role: str
    channels: dict[str, str]
    output: str
    hyperparameters: dict[str, str] = field(default_factory=dict)
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    volume_gb: int = DEFAULT_VOLUME_GB
    max_run: int = DEFAULT_MAX_RUN
    spot: bool = False
    max_wait: int | None = None
    checkpoint_s3: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    retries: int | None = None
    keep_alive: int | None = None
    input_mode: str = "File"
    distribution: str = "replicated"
    options: AwsOptions = field(default_factory=AwsOptions)
    metric_definitions: list[dict[str, str]] = field(
        default_factory=lambda: list(METRIC_DEFINITIONS))

    def __post_init__(self) -> None:
        if self.max_wait is not None and not self.spot:
            raise UserError("--max-wait applies to spot training only: add --spot or drop it.")
        if self.spot:
            self.max_wait = self.max_wait or 2 * self.max_run
            if self.max_wait < self.max_run:
                raise UserError(
                    f"--max-wait ({self.max_wait} s) must be at least --max-run "
                    f"({self.max_run} s): it counts the time spent waiting for spot capacity too."
                )
        if self.instance_count < 1:
            raise UserError("--instance-count must be at least 1.")
        if self.retries is not None and not 1 <= self.retries <= MAX_RETRIES:
            raise UserError(f"--retries must be between 1 and {MAX_RETRIES}, not {self.retries}.")
        if self.keep_alive is not None:
            if not 1 <= self.keep_alive <= MAX_KEEP_ALIVE:
                raise UserError(f"--keep-alive must be between 1 and {MAX_KEEP_ALIVE} seconds, "
                                f"not {self.keep_alive}.")
            if self.spot:
                raise UserError("--keep-alive (warm pools) does not work with --spot: drop one.")
        if self.input_mode not in INPUT_MODES:
            raise UserError(f"--input-mode must be one of {', '.join(INPUT_MODES)}, not "
                            f"'{self.input_mode}'.")
        if self.distribution not in DISTRIBUTIONS:
            raise UserError(f"--distribution must be one of {', '.join(DISTRIBUTIONS)}, not "
                            f"'{self.distribution}'.")

    def _channel(self, channel: str, uri: str) -> dict:
        # Only the train channel is split between hosts; every host evaluates on all of the rest.
        spread = DISTRIBUTIONS[self.distribution] if channel == TRAIN else FULLY_REPLICATED
        return {
            "ChannelName": channel,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": spread}},
            "InputMode": self.input_mode,
        }

    def algorithm(self) -> dict:
        algorithm = {"TrainingImage": self.image, "TrainingInputMode": self.input_mode}
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = self.metric_definitions
        return algorithm

    def definition(self) -> dict:
        """The request fields a training job and a tuning job's job definition share."""
        stopping = {"MaxRuntimeInSeconds": self.max_run}
        if self.spot:
            stopping["MaxWaitTimeInSeconds"] = self.max_wait
        kms = self.options.kms_key
        resources = {"InstanceType": self.instance_type, "InstanceCount": self.instance_count,
                     "VolumeSizeInGB": self.volume_gb}
        output = {"S3OutputPath": self.output}
        if kms:
            resources["VolumeKmsKeyId"] = kms
            output["KmsKeyId"] = kms
        request = {
            "RoleArn": self.role,
            "InputDataConfig": [self._channel(c, uri) for c, uri in self.channels.items()],
            "OutputDataConfig": output,
            "ResourceConfig": resources,
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": self.spot,
        }
        if self.options.vpc_config():
            request["VpcConfig"] = self.options.vpc_config()
        if self.options.network_isolation:
            request["EnableNetworkIsolation"] = True
        if self.environment:
            request["Environment"] = self.environment
        if self.retries:
            request["RetryStrategy"] = {"MaximumRetryAttempts": self.retries}
        return request


def training_request(spec: TrainingSpec, name: str | None = None,
                     checkpoints: object = None) -> dict:
    """The CreateTrainingJob request for `spec`: a job named `name`, or, without one, the
    arguments of a pipeline's training step (SageMaker names its jobs). Its checkpoints go to
    --checkpoint-s3, else `checkpoints` (a pipeline's per-execution prefix), else OUTPUT/NAME."""
    request = {
        "AlgorithmSpecification": spec.algorithm(),
        "HyperParameters": spec.hyperparameters,
        **spec.definition(),
        "CheckpointConfig": {
            "S3Uri": (spec.checkpoint_s3 or checkpoints
                      or f"{spec.output.rstrip('/')}/{name}/checkpoints"),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        },
        **spec.options.marked(),
    }
    if name:
        request = {"TrainingJobName": name, **request}
    if spec.keep_alive:
        request["ResourceConfig"]["KeepAlivePeriodInSeconds"] = spec.keep_alive
    return request


def start_training(aws: Aws, name: str, spec: TrainingSpec) -> None:
    aws.client("sagemaker").create_training_job(**training_request(spec, name))
    log.info("Started training job %s", name)
