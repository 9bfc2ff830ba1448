"""Re-joining a job after the command that started it stopped waiting: which kind of job a name
is, its log lines (`byoc logs`), and a training job followed or read to its end (`byoc attach`).

The log lines come from the tail `byoc train` uses, and a running training job is followed by
the same wait; nothing here starts or changes a job.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from byoc.driver import jobs, train_and_tune
from byoc.driver import transform as _transform
from byoc.driver.aws import Aws, describe_or_none
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError
from byoc.job_summary import metrics_lines

# `--kind` of `byoc logs` and `byoc jobs`: the user's word for each kind of job.
KINDS = {"training": "training job", "tuning": "tuning job", "transform": "transform job",
         "autopilot": "Autopilot job"}
TRAINING_STEP = "AWS::SageMaker::TrainingJob"  # an Autopilot candidate's training step


def find_job(aws: Aws, name: str, kind: str | None = None) -> tuple[str, dict]:
    """The job named `name` and its description: of `kind` ("training job", ...), or of the
    first kind that has one, tried in the order of `jobs.JOB_APIS`."""
    sagemaker = aws.client("sagemaker")
    for each in [kind] if kind else list(jobs.JOB_APIS):
        api = jobs.JOB_APIS[each]
        desc = describe_or_none(
            lambda api=api: getattr(sagemaker, api.describe)(**{api.name_parameter: name}))
        if desc is not None:
            return each, desc
    what = f"{kind}" if kind else "training, tuning, transform or Autopilot job"
    raise UserError(f"No {what} named '{name}' in {aws.region}. Check the name and --region; "
                    "byoc jobs lists the jobs byoc started.")


@dataclass(frozen=True)
class JobLogs:
    """Whose log lines were printed, and from where.

    Attributes:
        kind: the kind of job asked for ("training job", ...).
        job_name: the job asked for.
        status: its status, at the end of a follow.
        log_job: the job whose log streams were read (a tuning job's trial, an Autopilot job's
            best candidate), or None when there is none to read.
        log_group: the CloudWatch log group read.
        notes: what to know besides the lines (which trial, where other logs are).
    """

    kind: str
    job_name: str
    status: str
    log_job: str | None
    log_group: str
    notes: tuple[str, ...] = ()


def _log_source(aws: Aws, kind: str, name: str, desc: dict, trial: str | None
                ) -> tuple[str, str | None, str, list[str]]:
    """The kind and name of the job whose streams hold `name`'s lines, their group, and notes."""
    if trial and kind != "tuning job":
        raise UserError(f"--trial names a training job of a tuning job; {name} is a {kind}. Drop "
                        "--trial.")
    if kind == "transform job":
        return kind, name, _transform.LOG_GROUP, []
    if kind == "training job":
        return kind, name, jobs.LOG_GROUP, []
    if kind == "tuning job":
        if trial:
            find_job(aws, trial, "training job")
            return "training job", trial, jobs.LOG_GROUP, [f"Trial {trial} of tuning job {name}."]
        best = (desc.get("BestTrainingJob") or {}).get("TrainingJobName")
        if not best:
            raise UserError(f"Tuning job {name} has no best training job yet. Name one of its "
                            "trials with --trial NAME (aws sagemaker "
                            "list-training-jobs-for-hyper-parameter-tuning-job "
                            f"--hyper-parameter-tuning-job-name {name} lists them).")
        return "training job", best, jobs.LOG_GROUP, [f"Best training job of {name}: {best}."]
    steps = (desc.get("BestCandidate") or {}).get("CandidateSteps") or []
    training = [s["CandidateStepName"] for s in steps if s["CandidateStepType"] == TRAINING_STEP]
    if training:
        return ("training job", training[-1], jobs.LOG_GROUP,
                [f"Best candidate of Autopilot job {name}: training job {training[-1]}."])
    return kind, None, jobs.LOG_GROUP, [
        f"Autopilot job {name} has no best candidate yet. Its candidates are training jobs with "
        f"logs in CloudWatch log group {jobs.LOG_GROUP}; byoc autopilot leaderboard --job-name "
        f"{name} names them, and byoc logs CANDIDATE_JOB --kind training prints one."]


def print_logs(aws: Aws, name: str, *, kind: str | None = None, trial: str | None = None,
               follow: bool = False, timeout: float | None = None,
               sleep: Callable[[float], None] | None = None) -> JobLogs:
    """Print the log lines of the job `name` (found among every kind unless `kind` is given);
    with `follow`, keep printing new ones until the job whose lines they are ends."""
    kind, desc = find_job(aws, name, kind)
    log_kind, log_job, group, notes = _log_source(aws, kind, name, desc, trial)
    status = desc[jobs.JOB_APIS[kind].status]
    if log_job is None:
        return JobLogs(kind, name, status, None, group, tuple(notes))
    tail = jobs.LogTail(aws.client("logs"), log_job, group)
    if not follow:
        tail.poll()
        return JobLogs(kind, name, status, log_job, group, tuple(notes))
    api = jobs.JOB_APIS[log_kind]
    sagemaker = aws.client("sagemaker")
    waits = {"sleep": sleep} if sleep else {}
    # Every end is a success here: the lines are what was asked for, whatever the outcome.
    last = wait_until_ended(
        f"{log_kind} {log_job}",
        lambda: getattr(sagemaker, api.describe)(**{api.name_parameter: log_job}),
        api.status, jobs.ENDED, jobs.ENDED, on_poll=lambda d: tail.read(d[api.status], **waits),
        timeout=timeout, **waits)
    if log_job != name:
        status = find_job(aws, name, kind)[1][jobs.JOB_APIS[kind].status]
    else:
        status = last[api.status]
    return JobLogs(kind, name, status, log_job, group, tuple(notes))


@dataclass(frozen=True)
class Attached:
    """A training job re-joined: followed to its end if it was running, then read.

    Attributes:
        training: the completed job (model, billing, description; with `download`, where its
            output was unpacked and the summary with the report's path).
        followed: it was running, and the wait followed it to its end.
        output_uri: its output.tar.gz (metrics, report, plots).
        summary: the evaluation's lines (from metrics.json), if the job wrote any.
    """

    training: train_and_tune.TrainingResult
    followed: bool
    output_uri: str
    summary: tuple[str, ...]

    @property
    def job_name(self) -> str:
        return self.training.job_name

    def lines(self) -> list[str]:
        """What `byoc attach` prints: status, where the artifacts are, billing, the summary."""
        lines = [f"Training job {self.job_name}: Completed",
                 f"Model: {self.training.model_data}", f"Output: {self.output_uri}"]
        if self.training.billing:
            lines.append(self.training.billing)
        return lines + list(self.summary)


def job_timeout(desc: dict) -> float:
    """How long a wait for a running training job lasts by default: its limit and a margin, as
    for `byoc train`."""
    stopping = desc.get("StoppingCondition") or {}
    limit = stopping.get("MaxWaitTimeInSeconds") or stopping.get("MaxRuntimeInSeconds")
    return (limit or jobs.DEFAULT_MAX_RUN) + train_and_tune.WAIT_MARGIN


def attach(aws: Aws, name: str, *, timeout: float | None = None,
           download: str | Path | None = None) -> Attached:
    """Re-join the training job `name`: follow it as `byoc train` does while it runs, then read
    its output (unpacked into `download`, a new or empty directory; else read and not kept).

    Raises:
        UserError: no such training job, `download` holds files, or the job failed or was
            stopped (SageMaker's reason, and what it left behind).
        WaitTimeout: the job outlasted `timeout`; it goes on.
    """
    if download is not None:
        jobs.check_download_dir(Path(download))
    _, desc = find_job(aws, name, "training job")
    status = desc["TrainingJobStatus"]
    followed = status not in jobs.ENDED
    if followed:
        result = train_and_tune.follow_training(aws, name, timeout or job_timeout(desc))
    elif status != "Completed":
        raise UserError(jobs.training_not_completed(desc))
    else:
        result = train_and_tune.completed(desc)
    uri = jobs.output_archive_uri(result.description)
    if download is not None:
        result = train_and_tune.fetch_output(aws, result, download)
        return Attached(result, followed, uri, result.summary)
    with tempfile.TemporaryDirectory(prefix="byoc-attach-") as tmp:
        out = Path(tmp) / "output"
        summary = metrics_lines(out) if jobs.download_output(aws, result.description, out) else []
    return Attached(result, followed, uri, tuple(summary))
