"""A hyperparameter tuning job: its spec, its checks, the call that creates it, the wait and
its best job."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from byoc.driver.aws import (
    Aws,
    describe_or_none,
)
from byoc.driver.jobs.names import ENDED, MAX_SHORT_NAME_LENGTH, check_job_name
from byoc.driver.jobs.search_space import RANGE_EXAMPLE, parameter_ranges, range_names
from byoc.driver.jobs.training_job import TrainingSpec
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError
from byoc.metric_lines import OBJECTIVE_METRIC

log = logging.getLogger(__name__)


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


def check_tuning(name: str | None, tuning: TuningSpec) -> None:
    """The tuning job's own limits, checked before any data is uploaded; and its name, unless
    SageMaker makes it (a pipeline's tuning step)."""
    if name is not None:
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


def tuning_request(spec: TrainingSpec, tuning: TuningSpec, name: str | None = None) -> dict:
    """The CreateHyperParameterTuningJob request whose trials train with `spec`: a job named
    `name`, or, without one, the arguments of a pipeline's tuning step. Its trials keep no
    checkpoints (see below)."""
    if spec.checkpoint_s3:
        raise UserError("A tuning job takes no --checkpoint-s3: its trials would share it.")
    # No CheckpointConfig: every trial of the job gets the same definition, so all trials would
    # share one checkpoint prefix and resume each other's state. A spot trial that is
    # interrupted therefore starts again from scratch.
    definition = spec.definition()
    definition.update({"AlgorithmSpecification": spec.algorithm(),
                       "StaticHyperParameters": spec.hyperparameters})
    request = {
        "HyperParameterTuningJobConfig": tuning.config(spec.hyperparameters),
        "TrainingJobDefinition": definition,
        **spec.options.marked(),
    }
    if name:
        request = {"HyperParameterTuningJobName": name, **request}
    if tuning.warm_start_config():
        request["WarmStartConfig"] = tuning.warm_start_config()
    return request


def start_tuning(aws: Aws, name: str, spec: TrainingSpec, tuning: TuningSpec) -> None:
    """Each trial trains with `spec`; spot trials run without checkpoints."""
    aws.client("sagemaker").create_hyper_parameter_tuning_job(
        **tuning_request(spec, tuning, name))
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
