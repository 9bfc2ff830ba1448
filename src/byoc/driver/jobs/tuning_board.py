"""A tuning job's trials as a leaderboard: best first by the objective's direction, the trials
that failed or were stopped last, with the hyperparameters its ranges tuned; and its best
training job, for `byoc deploy --tuning-job`."""

from __future__ import annotations

from dataclasses import dataclass

from byoc.driver.aws import Aws, describe_or_none
from byoc.driver.jobs.names import ENDED
from byoc.driver.jobs.search_space import range_names
from byoc.errors import UserError

# Trials that ended without a result of their own: listed last, whatever their objective.
UNFINISHED = ("Failed", "Stopped")
PAGE_SIZE = 100


@dataclass(frozen=True)
class Trial:
    """One training job of a tuning job.

    Attributes:
        rank: its place on the leaderboard, from 1.
        training_job: the training job's name.
        status: Completed, InProgress, Failed, Stopped or Stopping.
        objective: its final objective metric, if it reported one.
        hyperparameters: the values the tuning ranges gave it (only those).
        failure_reason: SageMaker's reason, for a trial that failed.
    """

    rank: int
    training_job: str
    status: str
    objective: float | None
    hyperparameters: dict[str, str]
    failure_reason: str | None = None


@dataclass(frozen=True)
class TuningLeaderboard:
    """A tuning job's trials, best first; `lines()` is the table `byoc tuning leaderboard`
    prints.

    Attributes:
        tuning_job: the tuning job's name; `status` its status.
        objective_metric: the metric the job optimises; `objective_type` Maximize or Minimize.
        tuned: the names of the hyperparameters its ranges search.
        trials: every trial (the best `top` of them, when a top was asked for).
        total: how many trials the job has.
    """

    tuning_job: str
    status: str
    objective_metric: str
    objective_type: str
    tuned: tuple[str, ...]
    trials: tuple[Trial, ...]
    total: int

    @property
    def best(self) -> Trial | None:
        """The first trial, if it completed with an objective value."""
        if not self.trials:
            return None
        first = self.trials[0]
        return None if first.objective is None or first.status in UNFINISHED else first

    def lines(self) -> list[str]:
        shown = (f"{len(self.trials)} of {self.total}" if len(self.trials) < self.total
                 else str(self.total))
        head = (f"Tuning job {self.tuning_job} ({self.status}): {shown} trial(s), "
                f"{self.objective_type} {self.objective_metric}")
        if not self.trials:
            return [head, "No training job has started yet."]
        rows = [["rank", "training job", "status", self.objective_metric, *self.tuned]]
        rows += [[str(t.rank), t.training_job, t.status,
                  "-" if t.objective is None else f"{t.objective:g}",
                  *(t.hyperparameters.get(name, "-") for name in self.tuned)]
                 for t in self.trials]
        from byoc.driver.runs import table

        return [head, *table(rows)]


def describe_tuning_job(aws: Aws, name: str) -> dict:
    """DescribeHyperParameterTuningJob's answer, or a UserError naming the region."""
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name))
    if desc is None:
        raise UserError(f"No tuning job named '{name}' in {aws.region}. List yours with byoc "
                        "jobs --kind tuning, or pass --region.")
    return desc


def list_trials(sagemaker, name: str, objective_type: str) -> list[dict]:
    """Every trial's summary, all pages, in SageMaker's order by objective value."""
    request = {"HyperParameterTuningJobName": name, "MaxResults": PAGE_SIZE,
               "SortBy": "FinalObjectiveMetricValue",
               "SortOrder": "Descending" if objective_type == "Maximize" else "Ascending"}
    found: list[dict] = []
    while True:
        page = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(**request)
        found.extend(page.get("TrainingJobSummaries") or [])
        if not page.get("NextToken"):
            return found
        request["NextToken"] = page["NextToken"]


def _objective(summary: dict) -> float | None:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
    return None if not metric or metric.get("Value") is None else float(metric["Value"])


def ranked(summaries: list[dict], objective_type: str, tuned: tuple[str, ...]) -> list[Trial]:
    """Trials with an objective value best first by its direction, then those without one yet,
    then the failed and stopped ones; ties keep SageMaker's order."""
    sign = -1 if objective_type == "Maximize" else 1

    def key(summary: dict) -> tuple[int, float]:
        value = _objective(summary)
        if summary["TrainingJobStatus"] in UNFINISHED:
            return 2, 0.0
        return (0, sign * value) if value is not None else (1, 0.0)

    return [Trial(rank, s["TrainingJobName"], s["TrainingJobStatus"], _objective(s),
                  {k: v for k, v in (s.get("TunedHyperParameters") or {}).items() if k in tuned},
                  s.get("FailureReason"))
            for rank, s in enumerate(sorted(summaries, key=key), start=1)]


def leaderboard(aws: Aws, name: str, top: int | None = None, desc: dict | None = None,
                sagemaker=None) -> TuningLeaderboard:
    """The trials of tuning job `name` (ended or running), best first; `desc` saves the describe
    call when the caller has it, and `sagemaker` is the client that lists the trials (default:
    `aws`'s, with byoc's retries)."""
    if top is not None and top < 1:
        raise UserError(f"top must be 1 or more, not {top}.")
    desc = desc or describe_tuning_job(aws, name)
    config = desc["HyperParameterTuningJobConfig"]
    objective = config.get("HyperParameterTuningJobObjective") or {}
    direction = objective.get("Type", "Maximize")
    tuned = tuple(range_names(config.get("ParameterRanges") or {}))
    trials = ranked(list_trials(sagemaker or aws.client("sagemaker"), name, direction),
                    direction, tuned)
    return TuningLeaderboard(name, desc["HyperParameterTuningJobStatus"],
                             objective.get("MetricName", "objective"), direction, tuned,
                             tuple(trials[:top] if top else trials), len(trials))


def best_training_job(aws: Aws, name: str) -> str:
    """The best training job of tuning job `name`, for `deploy --tuning-job`; refused while
    the job has none."""
    desc = describe_tuning_job(aws, name)
    best = desc.get("BestTrainingJob")
    if best and best.get("TrainingJobName"):
        return best["TrainingJobName"]
    status = desc["HyperParameterTuningJobStatus"]
    if status in ENDED:
        raise UserError(f"Tuning job {name} is {status} with no best training job: none of its "
                        f"trials completed with an objective value. See why with byoc tuning "
                        f"leaderboard {name}, then deploy one with --training-job NAME, or tune "
                        "again.")
    raise UserError(f"Tuning job {name} is {status} and has no best training job yet: wait "
                    f"until a trial completes (byoc tuning leaderboard {name} lists them), "
                    "then deploy again.")
