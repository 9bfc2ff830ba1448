"""`byoc jobs`: the newest jobs of every kind that byoc started, told apart from the others by
byoc's mark (`aws_options.CREATED_BY_BYOC`), with their status, times and a key metric.

List calls return no tags, so each job listed is checked with one ListTags call: at most
`max_jobs` per kind, the newest first, and one describe per job shown for its metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from byoc.driver.aws import Aws
from byoc.driver.endpoints import created_by_byoc
from byoc.driver.jobs import JOB_APIS
from byoc.errors import UserError
from byoc.metric_lines import OBJECTIVE_METRIC

STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
DEFAULT_MAX_JOBS = 20
MAX_JOBS = 100  # one page of each list call


@dataclass(frozen=True)
class JobRow:
    """One job: `kind` is "training job", "tuning job", "transform job" or "Autopilot job";
    `duration` in seconds (so far, for a running job); `metric` as `NAME=VALUE`."""

    kind: str
    name: str
    status: str
    started: datetime
    duration: float | None
    metric: str | None = None


@dataclass(frozen=True)
class JobListing:
    """The jobs byoc started, newest first."""

    jobs: list[JobRow]

    def lines(self) -> list[str]:
        """The table `byoc jobs` prints."""
        if not self.jobs:
            return ["No jobs started by byoc match (only jobs started by this version of byoc "
                    "carry its mark)."]
        rows = [("KIND", "NAME", "STATUS", "STARTED", "DURATION", "METRIC")]
        rows += [(j.kind, j.name, j.status, j.started.strftime("%Y-%m-%d %H:%M"),
                  _duration(j.duration), j.metric or "-") for j in self.jobs]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return ["  ".join([*(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)),
                           r[5]]).rstrip()
                for r in rows]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def check_listing(kind: str | None, status: str | None, max_jobs: int) -> None:
    """The filters, before any call."""
    if kind is not None and kind not in JOB_APIS:
        raise UserError(f"kind must be one of {', '.join(JOB_APIS)}, not '{kind}'.")
    if status is not None and status not in STATUSES:
        raise UserError(f"status must be one of {', '.join(STATUSES)}, not '{status}'.")
    if not 1 <= max_jobs <= MAX_JOBS:
        raise UserError(f"--max must be between 1 and {MAX_JOBS}, not {max_jobs}.")


def _metric(kind: str, desc: dict) -> str | None:
    """The key metric: a training job's objective (else its first test accuracy, else its first
    metric), a tuning job's best objective, an Autopilot job's best candidate's."""
    if kind == "training job":
        found = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList") or []}
        keys = [k for k in found if k == OBJECTIVE_METRIC]
        keys += [k for k in found if "test" in k and "accuracy" in k] + list(found)
        return f"{keys[0]}={found[keys[0]]:g}" if keys else None
    if kind == "tuning job":
        best = (desc.get("BestTrainingJob") or {}).get(
            "FinalHyperParameterTuningJobObjectiveMetric")
    else:
        best = (desc.get("BestCandidate") or {}).get("FinalAutoMLJobObjectiveMetric")
    return f"{best['MetricName']}={best['Value']:g}" if best else None


def list_jobs(aws: Aws, *, kind: str | None = None, status: str | None = None,
              max_jobs: int = DEFAULT_MAX_JOBS) -> JobListing:
    """The newest `max_jobs` jobs byoc started (of `kind`, with `status`), newest first."""
    check_listing(kind, status, max_jobs)
    sagemaker = aws.client("sagemaker")
    now = datetime.now(timezone.utc)
    found: list[tuple[str, dict]] = []
    for each in [kind] if kind else list(JOB_APIS):
        api = JOB_APIS[each]
        filters = {"StatusEquals": status} if status else {}
        page = getattr(sagemaker, api.list)(SortBy="CreationTime", SortOrder="Descending",
                                            MaxResults=max_jobs, **filters)
        found += [(each, s) for s in page[api.summaries]
                  if created_by_byoc(sagemaker, s[api.arn])]
    found.sort(key=lambda pair: pair[1]["CreationTime"], reverse=True)
    rows = []
    for each, summary in found[:max_jobs]:
        api = JOB_APIS[each]
        name, started = summary[api.name_parameter], summary["CreationTime"]
        ended = summary.get(api.ended_at)
        duration = ((ended or now) - started).total_seconds()
        metric = None
        if each != "transform job":
            metric = _metric(each, getattr(sagemaker, api.describe)(**{api.name_parameter: name}))
        rows.append(JobRow(each, name, summary[api.status], started, duration, metric))
    return JobListing(rows)
