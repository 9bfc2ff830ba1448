"""Every kind of SageMaker job byoc runs: how its name is made and checked, and the calls
that describe and stop it."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from byoc.driver.aws import (
    PICK_ANOTHER_NAME,
    Aws,
    exists,
)
from byoc.errors import UserError

ENDED = ("Completed", "Failed", "Stopped")


# SageMaker's name rules: letters, digits and inner hyphens; tuning and AutoML jobs take 32 at most.
MAX_NAME_LENGTH = 63
MAX_SHORT_NAME_LENGTH = 32
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")


@dataclass(frozen=True)
class JobApi:
    """The SageMaker operations of one kind of job: look it up, read its status, stop it, list
    the newest (the call, its answer's key, and the summary's end time)."""

    describe: str
    name_parameter: str
    status: str
    stop: str
    list: str
    summaries: str
    ended_at: str

    @property
    def arn(self) -> str:
        """The key of the job's ARN in a summary."""
        return self.name_parameter.replace("Name", "Arn")


JOB_APIS = {
    "training job": JobApi("describe_training_job", "TrainingJobName", "TrainingJobStatus",
                           "stop_training_job", "list_training_jobs", "TrainingJobSummaries",
                           "TrainingEndTime"),
    "tuning job": JobApi("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
                         "HyperParameterTuningJobStatus", "stop_hyper_parameter_tuning_job",
                         "list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries",
                         "HyperParameterTuningEndTime"),
    "transform job": JobApi("describe_transform_job", "TransformJobName", "TransformJobStatus",
                            "stop_transform_job", "list_transform_jobs", "TransformJobSummaries",
                            "TransformEndTime"),
    "Autopilot job": JobApi("describe_auto_ml_job_v2", "AutoMLJobName", "AutoMLJobStatus",
                            "stop_auto_ml_job", "list_auto_ml_jobs", "AutoMLJobSummaries",
                            "EndTime"),
}


def job_name(kind: str) -> str:
    """A unique, readable default name, short enough for a tuning job."""
    return f"byoc-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def stamped_name(base: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """`BASE-DATE-TIME`, with `base` cut so that the whole fits `max_length` and never holds a
    hyphen next to another: the name of a new version of something named `base`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    head = base[:max_length - len(stamp) - 1].rstrip("-")
    return f"{head}-{stamp}"


def check_resource_name(what: str, name: str, max_length: int, example: str = "") -> str:
    """Refuse a name SageMaker would refuse (jobs, pipelines, model package groups: letters,
    digits and hyphens), before anything is uploaded or created. `what` starts the message."""
    if len(name) > max_length or not _NAME.fullmatch(name):
        raise UserError(f"{what} '{name}' is not valid: use 1-{max_length} letters, digits and "
                        "hyphens, starting and ending with a letter or digit"
                        + (f" (e.g. {example})." if example else "."))
    return name


def check_job_name(name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    return check_resource_name("Job name", name, max_length)


def require_new_name(aws: Aws, kind: str, name: str) -> None:
    """Refuse a job name already used in this account and region, before any upload."""
    api = JOB_APIS[kind]
    sagemaker = aws.client("sagemaker")
    if exists(lambda: getattr(sagemaker, api.describe)(**{api.name_parameter: name})):
        raise UserError(f"A {kind} named '{name}' already exists in {aws.region}; "
                        f"{PICK_ANOTHER_NAME}.")
