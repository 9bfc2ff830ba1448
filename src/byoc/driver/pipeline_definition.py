"""A SageMaker Pipelines definition (schema 2020-12-01) as plain data: a training (or tuning)
step, a condition on its metric, and a model registration that the condition gates.

The steps' arguments are the requests `byoc train`, `byoc tune` and `byoc register` send
(`jobs.training_request`, `jobs.tuning_request`, `model_packages.inference_specification`),
with the pipeline's parameters and the steps' properties in place of literal values. Nothing
here calls AWS.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from byoc.driver import jobs, model_packages
from byoc.errors import UserError

VERSION = "2020-12-01"
# The pipeline's parameters: `byoc pipeline start --param NAME=VALUE` overrides their defaults.
DATA = "InputData"  # the S3 prefix holding train/, validation/ and test/
INSTANCE_TYPE = "InstanceType"
THRESHOLD = "MetricThreshold"
# The steps, by name. The registration step is named as the SDK names a RegisterModel's.
TRAIN_STEP, TUNE_STEP, GATE_STEP = "Train", "Tune", "CheckMetric"
REGISTER_STEP = "Register-RegisterModel"
# `--gate METRIC>=X`: the comparison, and the Pipelines condition type it stands for.
COMPARISONS = {">=": "GreaterThanOrEqualTo", "<=": "LessThanOrEqualTo", ">": "GreaterThan",
               "<": "LessThan"}
GATE_EXAMPLE = "test:accuracy>=0.9"
_GATE = re.compile(r"\s*(?P<metric>[^<>=]+?)\s*(?P<op>>=|<=|>|<)\s*(?P<value>\S+)\s*")


def get(path: str) -> dict:
    """A reference the pipeline resolves when it runs: `Parameters.X`, `Steps.S.Property`."""
    return {"Get": path}


def join(*values: object, on: str = "/") -> dict:
    return {"Std:Join": {"On": on, "Values": list(values)}}


@dataclass(frozen=True)
class Gate:
    """The condition a job's metric must meet before its model is registered."""

    metric: str
    comparison: str
    threshold: float

    @property
    def condition_type(self) -> str:
        return COMPARISONS[self.comparison]

    def __str__(self) -> str:
        return f"{self.metric}{self.comparison}{self.threshold:g}"


def parse_gate(text: str | None) -> Gate:
    """`METRIC>=X` (or <=, >, <): the metric, as the job reports it, and its threshold."""
    match = _GATE.fullmatch(text or "")
    if not match:
        raise UserError(f"--gate expects METRIC>=THRESHOLD, got '{text}'. Example: --gate "
                        f"'{GATE_EXAMPLE}' (or 'test:loss<=0.3'; quoted, as > is a "
                        "redirection to the shell).")
    try:
        threshold = float(match["value"])
    except ValueError:
        raise UserError(f"--gate {text}: '{match['value']}' is not a number.") from None
    if not math.isfinite(threshold):
        raise UserError(f"--gate {text}: the threshold must be a finite number.")
    return Gate(match["metric"], match["op"], threshold)


def data_root(data: str, channels: dict[str, str]) -> str:
    """The S3 prefix of a job's data channels: `data` when it is one, else the prefix a local
    directory was uploaded to (each channel is ROOT/CHANNEL/)."""
    if data.startswith("s3://"):
        return data.rstrip("/")
    return next(iter(channels.values())).rstrip("/").rpartition("/")[0]


def parameters(root: str, instance_type: str, gate: Gate) -> list[dict]:
    return [{"Name": DATA, "Type": "String", "DefaultValue": root},
            {"Name": INSTANCE_TYPE, "Type": "String", "DefaultValue": instance_type},
            {"Name": THRESHOLD, "Type": "Float", "DefaultValue": gate.threshold}]


def _parameterised(spec: jobs.TrainingSpec, root: str) -> jobs.TrainingSpec:
    """`spec` with its instance type and the channels under `root` read from the parameters."""
    def channel(uri: str) -> object:
        if uri.startswith(root + "/"):
            return join(get(f"Parameters.{DATA}"), uri[len(root) + 1:])
        return uri  # not data: the code channel of a job with network isolation

    return dataclasses.replace(spec, instance_type=get(f"Parameters.{INSTANCE_TYPE}"),
                               channels={c: channel(u) for c, u in spec.channels.items()})


def check_gate(gate: Gate, spec: jobs.TrainingSpec, tuning: jobs.TuningSpec | None) -> None:
    """The gate reads a metric the job reports: one of its metric definitions, or with a tuning
    job its objective (the best trial's value is what a tuning job keeps)."""
    if tuning:
        if gate.metric != tuning.objective_metric:
            raise UserError(f"--gate {gate}: with --tune the gate reads the best trial's "
                            f"objective, {tuning.objective_metric}; gate on it "
                            f"(--gate '{tuning.objective_metric}{gate.comparison}"
                            f"{gate.threshold:g}'), or set --objective {gate.metric}:max|min.")
        return
    names = [d["Name"] for d in spec.metric_definitions]
    if gate.metric not in names:
        raise UserError(f"--gate {gate}: the job reports no metric {gate.metric} (it reports "
                        f"{', '.join(names) or 'none'}); gate on one of those, or define it "
                        f"with --metric {gate.metric}=REGEX.")


def definition(spec: jobs.TrainingSpec, *, data: str, gate: Gate, group: str,
               tuning: jobs.TuningSpec | None = None) -> dict:
    """The pipeline: train (or tune) with `spec`, its data under the prefix `data`; if the
    job's `gate.metric` (with tuning, the best trial's objective) meets the threshold, register
    its model in `group`, pending approval."""
    root = data.rstrip("/")
    job = _parameterised(spec, root)
    if tuning:
        step = {"Name": TUNE_STEP, "Type": "Tuning",
                "Arguments": jobs.tuning_request(job, tuning)}
        metric = get(f"Steps.{TUNE_STEP}.BestTrainingJob."
                     "FinalHyperParameterTuningJobObjectiveMetric.Value")
        # The best trial's model: SageMaker lists the trials best first.
        model_data = join(spec.output.rstrip("/"),
                          get(f"Steps.{TUNE_STEP}.TrainingJobSummaries[0].TrainingJobName"),
                          "output/model.tar.gz")
    else:
        # Each execution checkpoints under its own prefix: its jobs' names are SageMaker's.
        checkpoints = join(spec.output.rstrip("/"), get("Execution.PipelineExecutionId"),
                           "checkpoints")
        step = {"Name": TRAIN_STEP, "Type": "Training",
                "Arguments": jobs.training_request(job, checkpoints=checkpoints)}
        metric = get(f"Steps.{TRAIN_STEP}.FinalMetricDataList['{gate.metric}'].Value")
        model_data = get(f"Steps.{TRAIN_STEP}.ModelArtifacts.S3ModelArtifacts")
    register = {"Name": REGISTER_STEP, "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": group,
        "InferenceSpecification": model_packages.inference_specification(spec.image,
                                                                         model_data),
        "ModelApprovalStatus": model_packages.PENDING,
    }}
    condition = {"Type": gate.condition_type, "LeftValue": metric,
                 "RightValue": get(f"Parameters.{THRESHOLD}")}
    gate_step = {"Name": GATE_STEP, "Type": "Condition", "Arguments": {
        "Conditions": [condition], "IfSteps": [register], "ElseSteps": []}}
    return {"Version": VERSION, "Metadata": {},
            "Parameters": parameters(root, spec.instance_type, gate),
            "Steps": [step, gate_step]}
