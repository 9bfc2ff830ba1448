"""An Autopilot (AutoML V2) job: its spec, the CreateAutoMLJobV2 request, start, wait and stop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from byoc.driver import jobs
from byoc.driver.autopilot.input_checks import (
    check_csv,
    check_limits,
    check_rows,
    resolve_problem,
    upload_csv,
)
from byoc.driver.autopilot.limits import (
    CSV_CONTENT_TYPE,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_RUNTIME,
    JOB_ENDED,
    POLL_SECONDS,
    S3_PREFIX,
)
from byoc.driver.aws import (
    Aws,
    data_bucket,
    ensure_bucket,
    resolve_role,
)
from byoc.driver.aws_options import NO_OPTIONS, AwsOptions
from byoc.driver.waiting import WaitTimeout, wait_until_ended
from byoc.errors import UserError
from byoc.tabular import objectives


def job_request(*, name: str, data_uri: str, output_uri: str, target: str, role: str,
                problem_type: str | None, objective: str | None, mode: str,
                max_candidates: int | None, max_runtime: int | None,
                max_runtime_per_job: int | None = None, validation_fraction: float | None = None,
                sample_weight: str | None = None, options: AwsOptions = NO_OPTIONS) -> dict:
    """The create_auto_ml_job_v2 arguments for a tabular job. The KMS key encrypts the output
    and the volumes of the jobs Autopilot runs, which run in the VPC when one is given."""
    criteria = {}
    if max_candidates:
        criteria["MaxCandidates"] = max_candidates
    if max_runtime_per_job:
        criteria["MaxRuntimePerTrainingJobInSeconds"] = max_runtime_per_job
    if max_runtime:
        criteria["MaxAutoMLJobRuntimeInSeconds"] = max_runtime
    tabular = {"TargetAttributeName": target, "CompletionCriteria": criteria, "Mode": mode}
    if problem_type:
        tabular["ProblemType"] = problem_type
    if sample_weight:
        tabular["SampleWeightAttributeName"] = sample_weight
    request = {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [{
            "ChannelType": "training",
            "ContentType": CSV_CONTENT_TYPE,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": data_uri}},
        }],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "AutoMLProblemTypeConfig": {"TabularJobConfig": tabular},
        "RoleArn": role,
    }
    if objective:
        request["AutoMLJobObjective"] = {"MetricName": objective}
    if validation_fraction is not None:
        request["DataSplitConfig"] = {"ValidationFraction": validation_fraction}
    security = {}
    if options.kms_key:
        request["OutputDataConfig"]["KmsKeyId"] = options.kms_key
        security["VolumeKmsKeyId"] = options.kms_key
    if options.vpc_config():
        security["VpcConfig"] = options.vpc_config()
    if security:
        request["SecurityConfig"] = security
    request.update(options.marked())
    return request


@dataclass
class AutopilotSpec:
    """An Autopilot (AutoML V2) job on a CSV table: every field is the `byoc autopilot start` flag
    of the same name.

    Attributes:
        csv: a local CSV file with a header row (uploaded), or an s3:// URI.
        target: the column to predict.
        role: the execution role ARN (default: SAGEMAKER_ROLE_ARN).
        problem_type: BinaryClassification, MulticlassClassification or Regression (default:
            inferred from the target column).
        objective: the metric to optimize (default: Autopilot's for the problem type).
        mode: AUTO, ENSEMBLING or HYPERPARAMETER_TUNING.
        max_candidates: how many candidates at most (default 10).
        max_runtime: the whole job's limit in seconds (default 4 h).
        max_runtime_per_job: each candidate's training job's limit in seconds.
        validation_fraction: the share of rows held out for validation (Autopilot's default 0.2).
        sample_weight_column: a column of non-negative row weights (ENSEMBLING mode only).
        output: where the output goes (default s3://sagemaker-REGION-ACCOUNT/byoc/autopilot/JOB/
            output).
        options: tags, VPC and KMS key.
    """

    csv: str
    target: str
    role: str | None = None
    problem_type: str | None = None
    objective: str | None = None
    mode: str = "AUTO"
    max_candidates: int | None = DEFAULT_MAX_CANDIDATES
    max_runtime: int | None = DEFAULT_MAX_RUNTIME
    max_runtime_per_job: int | None = None
    validation_fraction: float | None = None
    sample_weight_column: str | None = None
    output: str | None = None
    options: AwsOptions = field(default_factory=lambda: NO_OPTIONS)


def start(aws: Aws, spec: AutopilotSpec, name: str) -> dict:
    """Check the inputs, upload a local CSV, create the job; return the request sent."""
    role = resolve_role(spec.role)
    csv_source, target, problem_type, objective = (spec.csv, spec.target, spec.problem_type,
                                                   spec.objective)
    mode, max_runtime, max_runtime_per_job = spec.mode, spec.max_runtime, spec.max_runtime_per_job
    max_candidates, validation_fraction = spec.max_candidates, spec.validation_fraction
    sample_weight, output, options = spec.sample_weight_column, spec.output, spec.options
    jobs.check_job_name(name, jobs.MAX_SHORT_NAME_LENGTH)
    check_limits(target=target, mode=mode, max_runtime=max_runtime,
                 max_runtime_per_job=max_runtime_per_job,
                 validation_fraction=validation_fraction, sample_weight=sample_weight)
    objectives.resolve_objective(problem_type, objective)  # a typo fails before any read
    scan = check_csv(aws, csv_source, target, sample_weight)
    problem_type, objective = resolve_problem(scan, csv_source, problem_type, objective)
    check_rows(scan)
    jobs.require_new_name(aws, "Autopilot job", name)
    local = not csv_source.startswith("s3://")
    bucket = data_bucket(aws)
    prefix = f"s3://{bucket}/{S3_PREFIX}/{name}"
    if local or output is None:
        ensure_bucket(aws, bucket)  # for the uploaded data or the default output
    data_uri = csv_source
    if local:
        data_uri = upload_csv(aws, Path(csv_source), f"{prefix}/input/{Path(csv_source).name}")
    request = job_request(name=name, data_uri=data_uri, output_uri=output or f"{prefix}/output",
                          target=target, role=role, problem_type=problem_type,
                          objective=objective, mode=mode, max_candidates=max_candidates,
                          max_runtime=max_runtime, max_runtime_per_job=max_runtime_per_job,
                          validation_fraction=validation_fraction, sample_weight=sample_weight,
                          options=options)
    aws.client("sagemaker").create_auto_ml_job_v2(**request)
    return request


def describe(sagemaker, name: str) -> dict:
    try:
        return sagemaker.describe_auto_ml_job_v2(AutoMLJobName=name)
    except sagemaker.exceptions.ResourceNotFound:
        raise UserError(f"No Autopilot job named '{name}'. List them with "
                        "`aws sagemaker list-auto-ml-jobs`.") from None


def wait(sagemaker, name: str, *, timeout: float, interval: float = POLL_SECONDS,
         stream=None, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> dict:
    """Follow the job's secondary status until it ends; WaitTimeout after `timeout` seconds.

    A stopped job is returned, not raised: its leaderboard is still worth showing.
    """
    return wait_until_ended(
        f"autopilot {name}", lambda: describe(sagemaker, name), "AutoMLJobStatus", JOB_ENDED,
        ("Completed", "Stopped"),
        show=lambda d: (d["AutoMLJobStatus"], d.get("AutoMLJobSecondaryStatus", "")),
        hint="Fix the data or the settings it names and start a new job.", timeout=timeout,
        interval=interval, stream=stream, clock=clock, sleep=sleep)


def stop(sagemaker, name: str) -> None:
    sagemaker.stop_auto_ml_job(AutoMLJobName=name)


def follow(sagemaker, name: str, *, timeout: float, interval: float = POLL_SECONDS,
           stop_on_timeout: bool = False) -> dict:
    """`wait` for the job; on a timeout, stop it first when `stop_on_timeout`, then raise
    WaitTimeout (the job is left running otherwise)."""
    try:
        return wait(sagemaker, name, timeout=timeout, interval=interval)
    except WaitTimeout:
        if stop_on_timeout:
            stop(sagemaker, name)
        raise
