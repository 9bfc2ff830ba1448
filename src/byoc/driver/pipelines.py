"""SageMaker Pipelines: create or update byoc's pipeline (train or tune, a metric gate, a model
registration), start it with parameters, show its latest execution's steps, delete it.

Everything a request says is checked before anything is created: the pipeline's name, the
gate, the group, the training job's settings, and a `--param` against the parameters the
pipeline declares.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from byoc.driver import endpoints, jobs, model_packages, train_and_tune
from byoc.driver import pipeline_definition as definitions
from byoc.driver.aws import Aws, describe_or_none
from byoc.driver.waiting import wait_until_ended
from byoc.errors import UserError
from byoc.pairs import Pairs, as_pairs, parse_pairs

log = logging.getLogger(__name__)

# SageMaker's rule for a pipeline's name.
MAX_NAME = 256
ENDED = ("Succeeded", "Failed", "Stopped")
PARAM_EXAMPLE = f"{definitions.THRESHOLD}=0.95"


def check_name(name: str) -> str:
    return jobs.check_resource_name("Pipeline name", name, MAX_NAME, "signs-pipeline")


def _describe(aws: Aws, name: str) -> dict | None:
    sagemaker = aws.client("sagemaker")
    return describe_or_none(lambda: sagemaker.describe_pipeline(PipelineName=name))


def _existing(aws: Aws, name: str) -> dict:
    found = _describe(aws, name)
    if found is None:
        raise UserError(f"No pipeline named '{name}' in {aws.region}. Create it with byoc "
                        f"pipeline upsert {name} --image IMAGE --data DATA --gate "
                        f"'{definitions.GATE_EXAMPLE}' --group GROUP, or pass --region.")
    return found


# ---------------------------------------------------------------------------------------------
# Upsert


@dataclass(frozen=True)
class PipelineRequest:
    """A pipeline: train (or tune, with `tuning`) as `training` says, then register the model
    in `group`, pending approval, if the job's metric passes `gate`.

    Attributes:
        name: the pipeline's name; an existing pipeline byoc made is updated.
        training: the training job, as `byoc train` takes it; its data's S3 prefix becomes the
            InputData parameter's default, its instance type InstanceType's.
        gate: `METRIC>=THRESHOLD` (or <=, >, <); the threshold is the MetricThreshold
            parameter's default. With `tuning`, METRIC is the objective.
        group: the model package group, created (tagged as byoc's) if missing.
        tuning: a tuning step instead of a training step.
        description: one line kept with the pipeline.
    """

    name: str
    training: train_and_tune.TrainingRequest
    gate: str
    group: str
    tuning: jobs.TuningSpec | None = None
    description: str | None = None


def check_upsert(request: PipelineRequest) -> definitions.Gate:
    """What `upsert` checks before it connects to AWS; the gate."""
    check_name(request.name)
    gate = definitions.parse_gate(request.gate)
    model_packages.check_group_name(request.group)
    model_packages.check_text(request.description, "--description")
    if request.tuning:
        jobs.check_tuning(None, request.tuning)  # the pipeline names the tuning job
        if request.training.checkpoint_s3:
            raise UserError("A tuning step takes no --checkpoint-s3: its trials would share it.")
    if request.training.keep_alive:
        raise UserError("--keep-alive is for one training job at a time; a pipeline's job "
                        "starts once per execution: drop it.")
    return gate


@dataclass(frozen=True)
class UpsertedPipeline:
    """A pipeline byoc created or updated: its ARN, and its definition as sent."""

    name: str
    arn: str | None
    created: bool
    definition: dict
    group_created: bool = False
    written_to: Path | None = None

    @property
    def parameters(self) -> dict[str, object]:
        return {p["Name"]: p.get("DefaultValue") for p in self.definition["Parameters"]}

    def lines(self) -> list[str]:
        if self.written_to:
            lines = [f"Wrote the definition of pipeline {self.name} to {self.written_to}; "
                     "nothing was created."]
        else:
            lines = [f"{'Created' if self.created else 'Updated'} pipeline {self.name}: "
                     f"{' -> '.join(step_names(self.definition))}."]
        if self.group_created:
            lines.append(f"Created model package group "
                         f"{register_step(self.definition)['ModelPackageGroupName']}.")
        lines.append("Parameters: " + ", ".join(f"{k}={v}" for k, v in self.parameters.items()))
        if not self.written_to:
            lines.append(f"Start it: byoc pipeline start {self.name} [--param {PARAM_EXAMPLE}]")
        return lines


def step_names(definition: dict) -> list[str]:
    """The steps in the order they run, the condition's branch included."""
    names = []
    for step in definition["Steps"]:
        names.append(step["Name"])
        names.extend(s["Name"] for s in step["Arguments"].get("IfSteps", ()))
    return names


def register_step(definition: dict) -> dict:
    """The RegisterModel step's arguments."""
    [gate] = [s for s in definition["Steps"] if s["Type"] == "Condition"]
    return gate["Arguments"]["IfSteps"][0]["Arguments"]


def build(aws: Aws, request: PipelineRequest) -> tuple[jobs.TrainingSpec, dict]:
    """Check the training job as `byoc train` would, upload its data and code, and build the
    definition."""
    gate = definitions.parse_gate(request.gate)
    spec = train_and_tune.prepare(
        aws, request.training, "pipeline", request.name, tuning=request.tuning,
        check_aws=(lambda: jobs.require_warm_start_parents(aws, request.tuning))
        if request.tuning else None,
        check_spec=lambda spec: definitions.check_gate(gate, spec, request.tuning))
    data = definitions.data_root(request.training.data, spec.channels)
    return spec, definitions.definition(spec, data=data, gate=gate, group=request.group,
                                        tuning=request.tuning)


def upsert(aws: Aws, request: PipelineRequest) -> UpsertedPipeline:
    """Create the pipeline, or update it when byoc made it already; the model package group is
    created if missing. A pipeline of the same name that byoc did not make is left alone."""
    check_upsert(request)
    sagemaker = aws.client("sagemaker")
    existing = _describe(aws, request.name)
    if existing and not endpoints.created_by_byoc(sagemaker, existing["PipelineArn"]):
        raise UserError(f"Pipeline {request.name} exists and byoc did not make it (it has no "
                        f"{endpoints.CREATED_BY_BYOC['Key']} tag), so byoc does not replace its "
                        "definition: pick another name.")
    spec, definition = build(aws, request)
    created = model_packages.ensure_group(aws, request.group, spec.options.tags)
    fields = {"PipelineName": request.name, "PipelineDefinition": json.dumps(definition),
              "RoleArn": spec.role}
    if request.description:
        fields["PipelineDescription"] = request.description
    if existing:
        arn = sagemaker.update_pipeline(**fields)["PipelineArn"]
        if spec.options.tags:
            sagemaker.add_tags(ResourceArn=arn, Tags=spec.options.tag_list())
    else:
        arn = sagemaker.create_pipeline(**fields, **spec.options.marked())["PipelineArn"]
    log.debug("%s pipeline %s", "Updated" if existing else "Created", arn)
    return UpsertedPipeline(request.name, arn, existing is None, definition, created)


def write_definition(aws: Aws, request: PipelineRequest, path: str | Path) -> UpsertedPipeline:
    """Check everything and upload the data as `upsert` does, then write the definition to
    `path` instead of creating anything."""
    check_upsert(request)
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--definition {path} is a directory; name a file, e.g. "
                        f"{path / 'pipeline.json'}.")
    _, definition = build(aws, request)
    path.write_text(json.dumps(definition, indent=2) + "\n")
    return UpsertedPipeline(request.name, None, False, definition, written_to=path)


# ---------------------------------------------------------------------------------------------
# Start


def declared_parameters(description: dict) -> dict[str, dict]:
    """The parameters a described pipeline declares, by name."""
    definition = json.loads(description.get("PipelineDefinition") or "{}")
    return {p["Name"]: p for p in definition.get("Parameters", [])}


def _value(parameter: dict, text: str) -> str:
    """`text` as the parameter's type takes it, checked before the execution starts."""
    name, kind = parameter["Name"], parameter.get("Type", "String")
    if kind == "Float":
        try:
            if math.isfinite(float(text)):
                return text
        except ValueError:
            pass
        raise UserError(f"--param {name}={text}: {name} is a number (Float), e.g. "
                        f"{name}={parameter.get('DefaultValue', 0.9)}.")
    if kind == "Integer":
        try:
            return str(int(text))
        except ValueError:
            raise UserError(f"--param {name}={text}: {name} is a whole number.") from None
    if kind == "Boolean" and text.lower() not in ("true", "false"):
        raise UserError(f"--param {name}={text}: {name} is true or false.")
    if name == definitions.DATA:
        if not text.startswith("s3://") or not text[5:].strip("/"):
            raise UserError(f"--param {name}={text}: the data's S3 prefix, holding train/ (and "
                            "validation/, test/), e.g. s3://BUCKET/signs.")
        return text.rstrip("/")  # the steps add /train/
    return text


def check_params(params: Pairs) -> dict[str, str]:
    """`--param` flags as a dict; what can be checked before the pipeline is read."""
    return parse_pairs(as_pairs(params), "--param", PARAM_EXAMPLE)


def resolve_params(declared: dict[str, dict], given: dict[str, str]) -> list[dict]:
    """PipelineParameters for StartPipelineExecution: each name declared, each value of its
    type."""
    chosen = []
    for name, text in given.items():
        if name not in declared:
            close = difflib.get_close_matches(name, sorted(declared), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UserError(f"--param {name}: the pipeline declares no such parameter; it takes "
                            f"{', '.join(sorted(declared)) or 'none'}.{hint}")
        chosen.append({"Name": name, "Value": _value(declared[name], text)})
    return chosen


@dataclass(frozen=True)
class StartedExecution:
    """An execution SageMaker accepted: its ARN, and how long a wait for it lasts by default
    (the pipeline's job limits and a margin)."""

    pipeline: str
    arn: str
    parameters: tuple[dict, ...] = ()
    default_timeout: float = train_and_tune.WAIT_MARGIN

    @property
    def execution_id(self) -> str:
        return self.arn.rpartition("/")[2]


def execution_limit(definition: dict) -> float:
    """The longest the pipeline's job runs: a training job's limit, or a tuning job's rounds
    of parallel trials; and a margin for provisioning and the other steps."""
    total = 0
    for step in definition.get("Steps", []):
        args = step.get("Arguments", {})
        job = args.get("TrainingJobDefinition", args)
        stopping = job.get("StoppingCondition") or {}
        limit = stopping.get("MaxWaitTimeInSeconds") or stopping.get("MaxRuntimeInSeconds") or 0
        limits = (args.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits")
        if limits:
            limit *= -(-limits["MaxNumberOfTrainingJobs"] // limits["MaxParallelTrainingJobs"])
        total += limit
    return total + train_and_tune.WAIT_MARGIN


def start(aws: Aws, name: str, params: Pairs = None,
          description: str | None = None) -> StartedExecution:
    """Start an execution of the pipeline with `params` (`NAME=VALUE`, a dict or strings) in
    place of its parameters' defaults; return at once."""
    check_name(name)
    given = check_params(params)
    model_packages.check_text(description, "--description")
    pipeline = _existing(aws, name)
    declared = declared_parameters(pipeline)
    chosen = resolve_params(declared, given)
    fields = {"PipelineName": name, "PipelineParameters": chosen}
    if description:
        fields["PipelineExecutionDescription"] = description
    arn = aws.client("sagemaker").start_pipeline_execution(**fields)["PipelineExecutionArn"]
    log.info("Started pipeline %s: execution %s", name, arn.rpartition("/")[2])
    limit = execution_limit(json.loads(pipeline.get("PipelineDefinition") or "{}"))
    return StartedExecution(name, arn, tuple(chosen), limit)


def wait_for_execution(aws: Aws, execution: StartedExecution,
                       timeout: float | None = None) -> dict:
    """Follow an execution until it ends; its description.

    Raises:
        WaitTimeout: `timeout` (default: the pipeline's job limits and 30 min) passed first.
        UserError: the execution failed or was stopped, with SageMaker's reason.
    """
    sagemaker = aws.client("sagemaker")
    return wait_until_ended(
        f"pipeline {execution.pipeline} execution {execution.execution_id}",
        lambda: sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution.arn),
        "PipelineExecutionStatus", ENDED, ("Succeeded",),
        hint=f"See its steps: byoc pipeline status {execution.pipeline}",
        timeout=timeout or execution.default_timeout)


# ---------------------------------------------------------------------------------------------
# Status


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _outcome(step: dict) -> str:
    """What a step made or decided, from its metadata; or why it failed."""
    if step.get("FailureReason"):
        return step["FailureReason"]
    meta = step.get("Metadata") or {}
    for key in ("TrainingJob", "TuningJob", "RegisterModel", "Model"):
        if (meta.get(key) or {}).get("Arn"):
            return meta[key]["Arn"]
    condition = meta.get("Condition") or {}
    if condition.get("Outcome"):
        return f"condition {condition['Outcome']}"
    return ""


@dataclass(frozen=True)
class PipelineStatus:
    """A pipeline's latest execution and its steps (ListPipelineExecutionSteps' answer)."""

    pipeline: str
    execution: dict | None
    steps: tuple[dict, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        if self.execution is None:
            return [f"Pipeline {self.pipeline} has not run yet. Start it: byoc pipeline start "
                    f"{self.pipeline}"]
        ex = self.execution
        lines = [f"Pipeline {self.pipeline}, execution {ex['PipelineExecutionArn']}: "
                 f"{ex['PipelineExecutionStatus']} (started {_when(ex.get('StartTime'))})"]
        if ex.get("PipelineExecutionFailureReason") not in (None, "", "None"):
            lines.append(f"  {ex['PipelineExecutionFailureReason']}")
        if not self.steps:
            lines.append("No step has started yet.")
            return lines
        rows = [("step", "status", "started", "ended", "outcome")]
        rows += [(s["StepName"], s.get("StepStatus", "-"), _when(s.get("StartTime")),
                  _when(s.get("EndTime")), _outcome(s)) for s in self.steps]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        rule = tuple("-" * w for w in widths) + ("-------",)
        for row in (rows[0], rule, *rows[1:]):
            cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=True)]
            lines.append("  ".join([*cells, row[4]]))
        return [line.rstrip() for line in lines]


def latest_execution(sagemaker, name: str) -> dict | None:
    """The newest execution's summary, or None."""
    found = sagemaker.list_pipeline_executions(
        PipelineName=name, SortBy="CreationTime", SortOrder="Descending",
        MaxResults=1)["PipelineExecutionSummaries"]
    if not found:
        return None
    # Newest by start time, whatever order the answer comes in.
    return max(reversed(found), key=lambda s: s["StartTime"])


def status(aws: Aws, name: str) -> PipelineStatus:
    """The latest execution of the pipeline, with its steps in the order they started."""
    check_name(name)
    _existing(aws, name)
    sagemaker = aws.client("sagemaker")
    execution = latest_execution(sagemaker, name)
    if execution is None:
        return PipelineStatus(name, None)
    pages = sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=execution["PipelineExecutionArn"], SortOrder="Ascending")
    steps = tuple(s for page in pages for s in page["PipelineExecutionSteps"])
    return PipelineStatus(name, execution, steps)


# ---------------------------------------------------------------------------------------------
# Delete


def delete(aws: Aws, name: str, force: bool = False) -> list[str]:
    """Delete a pipeline byoc made. One that is running is refused unless `force` (SageMaker
    stops its execution); the model versions it registered stay in their group."""
    check_name(name)
    pipeline = _existing(aws, name)
    sagemaker = aws.client("sagemaker")
    if not endpoints.created_by_byoc(sagemaker, pipeline["PipelineArn"]):
        raise UserError(f"Pipeline {name} was not made by byoc (it has no "
                        f"{endpoints.CREATED_BY_BYOC['Key']} tag), so byoc leaves it alone; "
                        f"delete it with aws sagemaker delete-pipeline --pipeline-name {name}.")
    latest = latest_execution(sagemaker, name)
    running = latest and latest["PipelineExecutionStatus"] in ("Executing", "Stopping")
    if running and not force:
        raise UserError(f"Pipeline {name} is running (execution "
                        f"{latest['PipelineExecutionArn']} is "
                        f"{latest['PipelineExecutionStatus']}); wait for it (byoc pipeline "
                        f"status {name}), or delete it anyway with --force, which stops it.")
    sagemaker.delete_pipeline(PipelineName=name)
    lines = [f"Deleted pipeline {name}."]
    if running:
        lines.append(f"Its execution {latest['PipelineExecutionArn']} is stopped with it.")
    lines.append("The model versions it registered stay in their group: byoc registry list "
                 "--group GROUP")
    return lines
