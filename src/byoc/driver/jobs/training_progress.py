"""A running training job: its log lines, its status until it ends (and why it did not
complete), its billing, and its output unpacked."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from byoc import archives
from byoc.driver.aws import (
    Aws,
    owner_check,
    split_s3_uri,
)
from byoc.driver.jobs.names import ENDED
from byoc.driver.jobs.training_job import LOG_GROUP, LOG_SETTLE_SECONDS
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError


class LogTail:
    """Prints new CloudWatch log events of a job (a training job's by default; a transform job's
    with its `group`); streams appear as instances start."""

    def __init__(self, logs, name: str, group: str = LOG_GROUP) -> None:
        self.logs = logs
        self.name = name
        self.group = group
        self.tokens: dict[str, str | None] = {}

    def poll(self) -> None:
        try:
            streams = self.logs.describe_log_streams(
                logGroupName=self.group, logStreamNamePrefix=f"{self.name}/")["logStreams"]
        except self.logs.exceptions.ResourceNotFoundException:
            return  # the group or stream is created when the container first logs
        for stream in streams:
            self._drain(stream["logStreamName"])

    def read(self, status: str, settle: float | None = None,
             sleep: Callable[[float], None] = time.sleep) -> None:
        """Print new lines; once `status` has ended, read once more after `settle` seconds
        (default LOG_SETTLE_SECONDS), for the last lines reach CloudWatch after the job ends."""
        self.poll()
        if status in ENDED:
            sleep(LOG_SETTLE_SECONDS if settle is None else settle)
            self.poll()

    def _drain(self, stream: str) -> None:
        while True:
            kwargs = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
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
        tail.read(desc["TrainingJobStatus"], settle, sleep)

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
    byoc.archives' checks; False when the job wrote no output. Says nothing: the caller knows
    what the output is for."""
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
                return False
            raise
        try:
            archives.extract(archive, dest, label=uri)
        except archives.ArchiveError as exc:
            raise archives.ArchiveError(
                f"{exc} The job's output stays at {uri}; fetch it with aws s3 cp {uri} . and "
                "look inside before unpacking it.") from None
    return True
