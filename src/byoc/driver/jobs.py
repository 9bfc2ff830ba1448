"""SageMaker jobs for the custom image: training (with logs and evaluation) and tuning; the
names and operations of every kind of job (transform jobs run from byoc.driver.transform).

Requests are built with boto3 directly so training and tuning share one job definition, every
call goes through byoc's adaptive-retry clients, and tests can drive exact response sequences.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from byoc import archives, hyperparams
from byoc.contract import (
    DEFAULT_BASE_DIR,
    TRAIN,
    Paths,
)
from byoc.driver.aws import (
    PICK_ANOTHER_NAME,
    Aws,
    describe_or_none,
    exists,
    owner_check,
    split_s3_uri,
)
from byoc.driver.aws_options import AwsOptions
from byoc.driver.channels import DISTRIBUTIONS, FULLY_REPLICATED
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError
from byoc.metric_lines import METRIC_DEFINITIONS, OBJECTIVE_METRIC

log = logging.getLogger(__name__)

DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_VOLUME_GB = 30
DEFAULT_MAX_RUN = 24 * 3600
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LOG_SETTLE_SECONDS = 5.0  # CloudWatch lags the container; wait this long before the last read
CHECKPOINT_LOCAL_PATH = Paths(Path(DEFAULT_BASE_DIR)).checkpoint_dir.as_posix()
ENDED = ("Completed", "Failed", "Stopped")


# SageMaker's name rules: letters, digits and inner hyphens; tuning and AutoML jobs take 32 at most.
MAX_NAME_LENGTH = 63
MAX_SHORT_NAME_LENGTH = 32
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")


@dataclass(frozen=True)
class JobApi:
    """The SageMaker operations of one kind of job: look it up, read its status, stop it."""

    describe: str
    name_parameter: str
    status: str
    stop: str


JOB_APIS = {
    "training job": JobApi("describe_training_job", "TrainingJobName", "TrainingJobStatus",
                           "stop_training_job"),
    "tuning job": JobApi("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
                         "HyperParameterTuningJobStatus", "stop_hyper_parameter_tuning_job"),
    "transform job": JobApi("describe_transform_job", "TransformJobName", "TransformJobStatus",
                            "stop_transform_job"),
    "Autopilot job": JobApi("describe_auto_ml_job_v2", "AutoMLJobName", "AutoMLJobStatus",
                            "stop_auto_ml_job"),
}


def job_name(kind: str) -> str:
    """A unique, readable default name, short enough for a tuning job."""
    return f"byoc-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_job_name(name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Refuse a name SageMaker would refuse, before anything is uploaded or created."""
    if len(name) > max_length or not _NAME.fullmatch(name):
        raise UserError(f"Job name '{name}' is not valid: use 1-{max_length} letters, digits and "
                        "hyphens, starting and ending with a letter or digit.")
    return name


def require_new_name(aws: Aws, kind: str, name: str) -> None:
    """Refuse a job name already used in this account and region, before any upload."""
    api = JOB_APIS[kind]
    sagemaker = aws.client("sagemaker")
    if exists(lambda: getattr(sagemaker, api.describe)(**{api.name_parameter: name})):
        raise UserError(f"A {kind} named '{name}' already exists in {aws.region}; "
                        f"{PICK_ANOTHER_NAME}.")


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


def start_training(aws: Aws, name: str, spec: TrainingSpec) -> None:
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": spec.algorithm(),
        "HyperParameters": spec.hyperparameters,
        **spec.definition(),
        "CheckpointConfig": {
            "S3Uri": spec.checkpoint_s3 or f"{spec.output.rstrip('/')}/{name}/checkpoints",
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        },
        **spec.options.tagged(),
    }
    if spec.keep_alive:
        request["ResourceConfig"]["KeepAlivePeriodInSeconds"] = spec.keep_alive
    aws.client("sagemaker").create_training_job(**request)
    log.info("Started training job %s", name)


class LogTail:
    """Prints new CloudWatch log events of a training job; streams appear as instances start."""

    def __init__(self, logs, name: str) -> None:
        self.logs = logs
        self.name = name
        self.tokens: dict[str, str | None] = {}

    def poll(self) -> None:
        try:
            streams = self.logs.describe_log_streams(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.name}/")["logStreams"]
        except self.logs.exceptions.ResourceNotFoundException:
            return  # the group or stream is created when the container first logs
        for stream in streams:
            self._drain(stream["logStreamName"])

    def _drain(self, stream: str) -> None:
        while True:
            kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
            if self.tokens.get(stream):
                kwargs["nextToken"] = self.tokens[stream]
            page = self.logs.get_log_events(**kwargs)
            for event in page.get("events", []):
                print(event["message"].rstrip("\n"), flush=True)
            token = page.get("nextForwardToken")
            if not token or token == self.tokens.get(stream):
                return
            self.tokens[stream] = token


# What to change when SageMaker stops a job for one of its limits (SecondaryStatus).
STOPPED_HINTS = {
    "MaxRuntimeExceeded": "give it more time with --max-run SECONDS",
    "MaxWaitTimeExceeded": "spot capacity and training took longer than --max-wait: raise it, "
                           "or train without --spot",
    "Stopped": "someone stopped it (StopTrainingJob, the console, or byoc stop)",
}


def _last_transition_message(desc: dict) -> str:
    transitions = desc.get("SecondaryStatusTransitions") or []
    return transitions[-1].get("StatusMessage", "") if transitions else ""


def training_not_completed(desc: dict) -> str:
    """Why a training job did not complete, what to change, and what it left behind in S3."""
    name, status = desc["TrainingJobName"], desc["TrainingJobStatus"]
    secondary = desc.get("SecondaryStatus") or status
    if status == "Stopped":
        message = _last_transition_message(desc)
        text = f"Training job {name} stopped: {secondary}" + (f" ({message})" if message else "")
        hint = STOPPED_HINTS.get(secondary)
        text += f"; {hint}." if hint else "."
    else:
        text = f"Training job {name} failed: " + (
            desc.get("FailureReason") or "no reason given").rstrip(".") + "."
    model = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if model:
        text += f" Model artifacts: {model}."
    checkpoints = (desc.get("CheckpointConfig") or {}).get("S3Uri")
    if checkpoints:
        text += (f" Checkpoints: {checkpoints} (a new job with --checkpoint-s3 {checkpoints} "
                 "resumes from the last one).")
    return text + f" Full logs: CloudWatch log group {LOG_GROUP}, streams {name}/*."


def wait_for_training(sagemaker, logs, name: str, *, timeout: float | None = None,
                      interval: float | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> dict:
    """Wait for the job, printing secondary-status transitions and (with `logs`) its log lines.

    Raises UserError with SageMaker's FailureReason when the job fails or is stopped, and
    WaitTimeout when `timeout` seconds pass first.
    """
    tail = LogTail(logs, name) if logs is not None else None
    settle = LOG_SETTLE_SECONDS if interval is None else min(interval, LOG_SETTLE_SECONDS)

    def show(desc: dict) -> tuple[str, str]:
        return (f"{desc['TrainingJobStatus']} / {desc.get('SecondaryStatus', '')}",
                _last_transition_message(desc))

    def read_logs(desc: dict) -> None:
        tail.poll()
        if desc["TrainingJobStatus"] in ENDED:
            # The last lines reach CloudWatch after the job has ended: read once more.
            sleep(settle)
            tail.poll()

    return wait_until_ended(
        f"training job {name}", lambda: sagemaker.describe_training_job(TrainingJobName=name),
        "TrainingJobStatus", ENDED, ("Completed",), show=show,
        on_poll=read_logs if tail else None, failure=training_not_completed,
        timeout=timeout, interval=interval, sleep=sleep)


def billing_line(desc: dict) -> str | None:
    """Billable seconds of a finished job and, for managed spot, what spot saved."""
    billable = desc.get("BillableTimeInSeconds")
    if billable is None:
        return None
    resources = desc.get("ResourceConfig") or {}
    line = (f"Billable time: {billable} s on {resources.get('InstanceCount', 1)} x "
            f"{resources.get('InstanceType', '?')}")
    training = desc.get("TrainingTimeInSeconds")
    if desc.get("EnableManagedSpotTraining") and training:
        line += (f"; managed spot saved {1 - billable / training:.0%} of the {training} s of "
                 "training")
    return line


def output_archive_uri(desc: dict, archive: str = "output.tar.gz") -> str:
    """Where SageMaker puts a training job's tarred /opt/ml/output/data (output.tar.gz) or
    /opt/ml/model (model.tar.gz) when the job ends."""
    base = desc["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{base}/{desc['TrainingJobName']}/output/{archive}"


def check_download_dir(dest: Path) -> None:
    """Refuse, before a job starts, a --download directory that holds files already: a job's
    output is unpacked into a directory of its own, as SageMaker keeps each job's output under
    its name, and never mixed with or over other files."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"--download {dest} is not empty; the job's output.tar.gz is unpacked "
                        "into a directory of its own, never over other files. Choose a new or "
                        "empty directory (the default is ./JOB_NAME).")


def download_output(aws: Aws, desc: dict, dest: Path) -> bool:
    """Download output.tar.gz (streamed to a temporary file) and unpack it into `dest` with
    byoc.archives' checks; False when the job wrote no output."""
    import botocore.exceptions

    uri = output_archive_uri(desc)
    bucket, key = split_s3_uri(uri)
    with tempfile.TemporaryDirectory(prefix="byoc-output-") as tmp:
        archive = Path(tmp) / "output.tar.gz"
        try:
            with open(archive, "wb") as f:
                aws.client("s3").download_fileobj(bucket, key, f,
                                                  ExtraArgs=owner_check(aws, bucket))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                log.warning("No evaluation output at %s (the job wrote nothing to output/data).",
                            uri)
                return False
            raise
        try:
            archives.extract(archive, dest, label=uri)
        except archives.ArchiveError as exc:
            raise archives.ArchiveError(
                f"{exc} The job's output stays at {uri}; fetch it with aws s3 cp {uri} . and "
                "look inside before unpacking it.") from None
    log.info("Evaluation output from %s is in %s", uri, dest)
    return True


# The search space of `byoc tune`; every value is a valid hyperparameter (a test parses them).
CONTINUOUS_RANGES = [
    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.01",
     "ScalingType": "Logarithmic"},
]
INTEGER_RANGES = [
    {"Name": "epochs", "MinValue": "5", "MaxValue": "30", "ScalingType": "Linear"},
]
CATEGORICAL_RANGES = [
    {"Name": "batch_size", "Values": ["32", "64", "128"]},
    {"Name": "model", "Values": list(hyperparams.MODEL_NAMES)},
    {"Name": "optimizer", "Values": list(hyperparams.OPTIMIZERS)},
    {"Name": "augment", "Values": ["true", "false"]},
]


def parameter_ranges(static: Mapping[str, str]) -> dict:
    """The tuning ranges, without the hyperparameters the user fixed with --hp."""
    def keep(ranges: list[dict]) -> list[dict]:
        return [r for r in ranges if r["Name"] not in static]

    return {"ContinuousParameterRanges": keep(CONTINUOUS_RANGES),
            "IntegerParameterRanges": keep(INTEGER_RANGES),
            "CategoricalParameterRanges": keep(CATEGORICAL_RANGES)}


# `--range NAME=LOW:HIGH[:log]` or `--range NAME=A,B,C`: a search space of the user's own.
# SageMaker searches at most 30 hyperparameters, with at most 30 values for a categorical one.
MAX_RANGES = 30
MAX_CATEGORICAL_VALUES = 30
RANGE_EXAMPLE = "learning_rate=0.0001:0.1:log"


def _number(text: str, flag: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--range {flag}: '{text}' is not a number. Example: --range "
                        f"{RANGE_EXAMPLE}, or --range optimizer=adam,sgd") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"--range {flag}: '{text}' is not a finite number.")
    return value


def parse_ranges(pairs: list[str] | None) -> dict | None:
    """`--range` flags as ParameterRanges; None when there are none (byoc's own search space).

    LOW:HIGH is an integer range when both are whole numbers, else a continuous one; `:log`
    searches it on a log scale (both bounds above 0). A comma-separated list is categorical.
    """
    from byoc.pairs import parse_pairs

    given = parse_pairs(pairs, "--range", RANGE_EXAMPLE)
    if not given:
        return None
    if len(given) > MAX_RANGES:
        raise UserError(f"A tuning job searches at most {MAX_RANGES} hyperparameters; "
                        f"{len(given)} --range flags were given.")
    ranges: dict[str, list[dict]] = {"ContinuousParameterRanges": [],
                                     "IntegerParameterRanges": [],
                                     "CategoricalParameterRanges": []}
    for name, text in given.items():
        if ":" not in text:
            values = [v.strip() for v in text.split(",") if v.strip()]
            if not values or len(values) > MAX_CATEGORICAL_VALUES:
                raise UserError(f"--range {name}: give 1 to {MAX_CATEGORICAL_VALUES} values "
                                "separated by commas (A,B,C), or LOW:HIGH.")
            ranges["CategoricalParameterRanges"].append({"Name": name, "Values": values})
            continue
        low, high, *scale = text.split(":")
        if scale not in ([], ["log"]):
            raise UserError(f"--range {name}={text}: expected LOW:HIGH or LOW:HIGH:log. "
                            f"Example: --range {RANGE_EXAMPLE}")
        bounds = _number(low, name), _number(high, name)
        if not bounds[0] < bounds[1]:
            raise UserError(f"--range {name}={text}: LOW must be below HIGH.")
        if scale and bounds[0] <= 0:
            raise UserError(f"--range {name}={text}: a log scale needs LOW above 0.")
        kind = ("IntegerParameterRanges" if all(isinstance(b, int) for b in bounds)
                else "ContinuousParameterRanges")
        ranges[kind].append({"Name": name, "MinValue": low, "MaxValue": high,
                             "ScalingType": "Logarithmic" if scale else "Auto"})
    return ranges


def range_names(ranges: Mapping[str, list[dict]]) -> list[str]:
    return sorted(r["Name"] for kind in ranges.values() for r in kind)


def range_values(ranges: Mapping[str, list[dict]]) -> list[tuple[str, str]]:
    """Every (name, value) a trial may get at the edges of the search space: each bound, and
    each categorical value."""
    return [(r["Name"], value) for kind in ranges.values() for r in kind
            for value in r.get("Values") or (r["MinValue"], r["MaxValue"])]


STRATEGIES = ("Bayesian", "Random", "Hyperband")
OBJECTIVE_TYPES = ("Maximize", "Minimize")
EARLY_STOPPING = ("Off", "Auto")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
MAX_WARM_START_PARENTS = 5


@dataclass(frozen=True)
class TuningSpec:
    """How a tuning job searches: limits, strategy, early stopping, and the jobs it starts from."""

    max_jobs: int = 10
    max_parallel_jobs: int = 2
    strategy: str = "Bayesian"
    early_stopping: str = "Off"
    warm_start: tuple[str, ...] = ()
    warm_start_type: str = "TransferLearning"
    objective_metric: str = OBJECTIVE_METRIC
    objective_type: str = "Maximize"
    ranges: dict | None = None  # --range flags; None: byoc's trainer's search space

    def config(self, static: Mapping[str, str]) -> dict:
        return {
            "Strategy": self.strategy,
            "HyperParameterTuningJobObjective": {"Type": self.objective_type,
                                                 "MetricName": self.objective_metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": self.max_jobs,
                               "MaxParallelTrainingJobs": self.max_parallel_jobs},
            "ParameterRanges": self.ranges or parameter_ranges(static),
            "TrainingJobEarlyStoppingType": self.early_stopping,
        }

    def warm_start_config(self) -> dict | None:
        if not self.warm_start:
            return None
        return {"ParentHyperParameterTuningJobs": [
                    {"HyperParameterTuningJobName": job} for job in self.warm_start],
                "WarmStartType": self.warm_start_type}


def check_tuning(name: str, tuning: TuningSpec) -> None:
    """The tuning job's own limits, checked before any data is uploaded."""
    check_job_name(name, MAX_SHORT_NAME_LENGTH)
    if not 1 <= tuning.max_parallel_jobs <= tuning.max_jobs:
        raise UserError(f"--max-parallel-jobs ({tuning.max_parallel_jobs}) must be between 1 and "
                        f"--max-jobs ({tuning.max_jobs}).")
    if tuning.strategy not in STRATEGIES:
        raise UserError(f"--strategy must be one of {', '.join(STRATEGIES)}, not "
                        f"'{tuning.strategy}'.")
    if tuning.early_stopping not in EARLY_STOPPING:
        raise UserError(f"--early-stopping must be Off or Auto, not '{tuning.early_stopping}'.")
    if tuning.strategy == "Hyperband" and tuning.early_stopping != "Off":
        raise UserError("Hyperband stops weak trials itself: drop --early-stopping Auto.")
    if len(tuning.warm_start) > MAX_WARM_START_PARENTS:
        raise UserError(f"--warm-start takes at most {MAX_WARM_START_PARENTS} tuning jobs, got "
                        f"{len(tuning.warm_start)}.")
    for parent in tuning.warm_start:
        check_job_name(parent, MAX_SHORT_NAME_LENGTH)
    if tuning.warm_start_type not in WARM_START_TYPES:
        raise UserError(f"--warm-start-type must be one of {', '.join(WARM_START_TYPES)}.")
    if tuning.objective_type not in OBJECTIVE_TYPES:
        raise UserError(f"--objective-type must be one of {', '.join(OBJECTIVE_TYPES)}.")


def check_search(spec: TrainingSpec, tuning: TuningSpec, *, user_script: bool) -> None:
    """The objective and the search space against what the trials run, before any upload: a
    user's script needs its own ranges and one of its own metrics as the objective."""
    if user_script and not tuning.ranges:
        raise UserError("Tuning your script needs its search space: add --range NAME=LOW:HIGH "
                        "(or NAME=A,B,C) for each hyperparameter it takes, e.g. --range "
                        f"{RANGE_EXAMPLE}.")
    names = [d["Name"] for d in spec.metric_definitions]
    if tuning.objective_metric not in names:
        raise UserError(f"--objective-metric {tuning.objective_metric} is not among the job's "
                        f"metrics ({', '.join(names) or 'none'}): define it with --metric "
                        f"{tuning.objective_metric}=REGEX, or pick one of them.")
    fixed = sorted(set(range_names(tuning.ranges or {})) & set(spec.hyperparameters))
    if fixed:
        raise UserError(f"{', '.join(fixed)}: searched with --range and fixed with --hp; drop "
                        "one of the two.")


def require_warm_start_parents(aws: Aws, tuning: TuningSpec) -> None:
    """Each --warm-start job exists and has ended, before any upload."""
    sagemaker = aws.client("sagemaker")
    for parent in tuning.warm_start:
        desc = describe_or_none(lambda p=parent: sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=p))
        if desc is None:
            raise UserError(f"--warm-start: no tuning job named '{parent}' in {aws.region}.")
        if desc["HyperParameterTuningJobStatus"] not in ENDED:
            raise UserError(f"--warm-start: tuning job {parent} is "
                            f"{desc['HyperParameterTuningJobStatus']}; a tuning job can start "
                            "from ended ones only.")


def start_tuning(aws: Aws, name: str, spec: TrainingSpec, tuning: TuningSpec) -> None:
    """Each trial trains with `spec`; spot trials run without checkpoints (see below)."""
    if spec.checkpoint_s3:
        raise UserError("A tuning job takes no --checkpoint-s3: its trials would share it.")
    # No CheckpointConfig: every trial of the job gets the same definition, so all trials would
    # share one checkpoint prefix and resume each other's state. A spot trial that is
    # interrupted therefore starts again from scratch.
    definition = spec.definition()
    definition.update({"AlgorithmSpecification": spec.algorithm(),
                       "StaticHyperParameters": spec.hyperparameters})
    request = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": tuning.config(spec.hyperparameters),
        "TrainingJobDefinition": definition,
        **spec.options.tagged(),
    }
    if tuning.warm_start_config():
        request["WarmStartConfig"] = tuning.warm_start_config()
    aws.client("sagemaker").create_hyper_parameter_tuning_job(**request)
    log.info("Started tuning job %s", name)


def wait_for_tuning(sagemaker, name: str, *, timeout: float | None = None,
                    interval: float | None = None) -> dict:
    def show(desc: dict) -> tuple[str, str]:
        counts = desc.get("TrainingJobStatusCounters") or {}
        return (desc["HyperParameterTuningJobStatus"],
                ", ".join(f"{k} {v}" for k, v in counts.items() if v))

    return wait_until_ended(
        f"tuning job {name}",
        lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
        "HyperParameterTuningJobStatus", ENDED, ("Completed",), show=show, timeout=timeout,
        interval=interval)


def best_job_lines(desc: dict) -> list[str]:
    best = desc.get("BestTrainingJob")
    if not best:
        return ["The tuning job reported no best training job (did any training job complete?)."]
    lines = [f"Best training job: {best['TrainingJobName']}"]
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric")
    if metric:
        lines.append(f"  {metric['MetricName']} = {metric['Value']}")
    tuned = best.get("TunedHyperParameters") or {}
    lines.extend(f"  {k} = {v}" for k, v in sorted(tuned.items()))
    return lines
