"""`byoc autopilot start|status|leaderboard|deploy`: SageMaker Autopilot (AutoML V2) jobs for
tabular baselines.

Every AWS call goes through boto3's SageMaker client rather than the SDK's AutoMLJobV2 resource:
the leaderboard and the deployment need the plain client anyway, so one client keeps every path
the same and testable with botocore's Stubber, and the CLI does not pay the SDK's import time.
"""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from byoc.driver import endpoints, jobs
from byoc.driver.aws import (
    Aws,
    data_bucket,
    ensure_bucket,
    resolve_role,
    split_s3_uri,
    upload_file,
)
from byoc.driver.aws_options import NO_OPTIONS, AwsOptions
from byoc.driver.waiting import WaitTimeout, wait_until_ended
from byoc.errors import UserError
from byoc.tabular import csv_check, objectives

CSV_CONTENT_TYPE = "text/csv;header=present"
JOB_ENDED = ("Completed", "Failed", "Stopped")
MODES = ("AUTO", "ENSEMBLING", "HYPERPARAMETER_TUNING")
# Lower than Autopilot's own defaults (250 candidates, 30 days) so a first run has a bounded cost.
DEFAULT_MAX_CANDIDATES = 10
DEFAULT_MAX_RUNTIME = 4 * 3600
WAIT_MARGIN = 1800  # how long past the job's own limit the client keeps waiting by default
POLL_SECONDS = 30.0
S3_PREFIX = "byoc/autopilot"
MIN_ROWS = 500  # Autopilot refuses a data set with fewer rows
_COLUMN_NAME = re.compile(r"[a-zA-Z0-9_-]{1,256}")  # what SampleWeightAttributeName accepts
WEIGHT_MODE = "ENSEMBLING"  # the only mode that takes sample weights


# ---------------------------------------------------------------------------------------------
# Client-side checks


def read_sample(aws: Aws | None, source: str) -> tuple[str, bool]:
    """The first csv_check.SAMPLE_BYTES of a local or S3 CSV, and whether that is all of it."""
    if not source.startswith("s3://"):
        return csv_check.read_head(Path(source))
    import botocore.exceptions

    bucket, key = split_s3_uri(source)
    s3 = aws.client("s3")
    size = csv_check.SAMPLE_BYTES
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")
    except s3.exceptions.NoSuchKey:
        raise UserError(f"{source} does not exist. Pass an existing CSV object.") from None
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidRange":
            return "", True  # S3's answer for a range of an empty object
        raise
    body = answer["Body"].read()
    total = answer.get("ContentRange", "").rpartition("/")[2]
    complete = int(total) <= size if total.isdigit() else len(body) < size
    return body.decode("utf-8", errors="replace"), complete


def check_csv(aws: Aws | None, source: str, target: str, weight: str | None = None
              ) -> csv_check.TargetScan | None:
    """Check that the CSV's header names `target` (and `weight`, the sample weight column).
    Return a scan of its rows when the whole file can be read here (a local file, or an S3
    object of at most csv_check.SAMPLE_BYTES), else None: a large S3 object is only probed."""
    text, complete = read_sample(aws, source)
    delimiter = csv_check.separator(text.partition("\n")[0])
    if delimiter != "," and source.startswith("s3://"):
        raise UserError(
            f"{source} is {csv_check.SEPARATOR_NAMES[delimiter]}-separated, and Autopilot reads "
            "only comma-separated CSV (or Parquet). Pass a local copy of the file instead: "
            "`byoc autopilot start` rewrites it with commas before uploading."
        )
    columns = csv_check.header(text, source, delimiter)
    csv_check.check_target(columns, target, source)
    if weight is not None and weight not in columns:
        raise UserError(f"Sample weight column '{weight}' is not in {source}. Its columns are: "
                        f"{', '.join(columns)}.")
    if not source.startswith("s3://"):
        return csv_check.scan_file(Path(source), target, delimiter)
    if complete:
        return csv_check.scan(io.StringIO(text, newline=""), target, source)
    return None


def upload_csv(aws: Aws, path: Path, uri: str, stream=None) -> str:
    """Upload a local CSV for Autopilot, which reads only plain comma-separated UTF-8: a file
    split by ';' or tabs, or led by a byte-order mark, is uploaded as a comma-separated copy
    (the file itself is left as it is). Return the object's URI."""
    with path.open("rb") as fh:
        head = fh.read(csv_check.SAMPLE_BYTES)
    has_bom = head.startswith(b"\xef\xbb\xbf")
    first_line = head.decode("utf-8-sig", errors="replace").partition("\n")[0]
    delimiter = csv_check.separator(first_line)
    if delimiter == "," and not has_bom:
        return upload_file(aws, path, uri)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="byoc-autopilot-") as tmp:
        copy = Path(tmp) / path.name
        csv_check.rewrite_as_commas(path, copy, delimiter)
        what = (f"{csv_check.SEPARATOR_NAMES[delimiter]}-separated" if delimiter != ","
                else "led by a byte-order mark")
        print(f"{path} is {what}; uploading a comma-separated UTF-8 copy, as Autopilot "
              "requires.", file=stream or sys.stderr)
        return upload_file(aws, copy, uri)


def resolve_problem(scan: csv_check.TargetScan | None, source: str, problem_type: str | None,
                    objective: str | None) -> tuple[str | None, str | None]:
    """The problem type and objective to send: both or neither, as the API requires.

    A CSV read whole gets the type by the rule `autopilot local` uses. For a large S3 object
    Autopilot infers it, unless an objective is given: then the objective must name the type
    (MSE is Regression; Accuracy could be either classification), or --problem-type must.
    """
    objective = objectives.resolve_objective(problem_type, objective)
    if problem_type is not None:
        return problem_type, objective
    if scan is not None:
        problem_type = scan.problem_type()
    elif objective is not None:
        fits = objectives.problem_types_for(objective)
        if len(fits) != 1:
            raise UserError(
                f"Objective '{objective}' fits {' and '.join(fits)}, and {source} is larger "
                f"than the {csv_check.SAMPLE_BYTES // 1024} KiB byoc reads to infer the type. "
                "Autopilot takes an objective only with a problem type: pass --problem-type."
            )
        problem_type = fits[0]
    else:
        return None, None  # Autopilot infers both
    return problem_type, objectives.resolve_objective(problem_type, objective)


def check_rows(scan: csv_check.TargetScan | None) -> None:
    """Autopilot's minimum, checked here so that a small file fails now, not after minutes."""
    if scan is not None and scan.rows < MIN_ROWS:
        raise UserError(
            f"{scan.source} has {scan.rows} data rows; Autopilot needs at least {MIN_ROWS}. Add "
            "rows, or try the offline baseline on this file: byoc autopilot local --csv "
            f"{scan.source} --target {scan.target} --out DIR"
        )


def check_limits(*, target: str, mode: str, max_runtime: int | None,
                 max_runtime_per_job: int | None, validation_fraction: float | None,
                 sample_weight: str | None) -> None:
    """The job's own settings, checked before the CSV is read."""
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, not '{mode}'.")
    if max_runtime_per_job and max_runtime and max_runtime_per_job > max_runtime:
        raise UserError(f"--max-runtime-per-job ({max_runtime_per_job} s) is longer than the "
                        f"whole job's --max-runtime ({max_runtime} s): lower it or raise "
                        "--max-runtime.")
    if validation_fraction is not None and not 0 < validation_fraction < 1:
        raise UserError(f"--validation-fraction must be between 0 and 1, e.g. 0.2 (a fifth of "
                        f"the rows), not {validation_fraction:g}.")
    if sample_weight is not None:
        if not _COLUMN_NAME.fullmatch(sample_weight):
            raise UserError(f"--sample-weight-column '{sample_weight}': Autopilot takes column "
                            "names of letters, digits, _ and - only (up to 256). Rename the "
                            "column in the CSV.")
        if sample_weight == target:
            raise UserError("--sample-weight-column names the target: weights must be another "
                            "column.")
        if mode != WEIGHT_MODE:
            raise UserError(f"Autopilot uses sample weights in {WEIGHT_MODE} mode only: add "
                            f"--mode {WEIGHT_MODE}, or drop --sample-weight-column.")


# ---------------------------------------------------------------------------------------------
# The job


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
    request.update(options.tagged())
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


# ---------------------------------------------------------------------------------------------
# Candidates


def list_candidates(sagemaker, name: str, candidate: str | None = None) -> list[dict]:
    kwargs = {"AutoMLJobName": name}
    if candidate:
        kwargs["CandidateNameEquals"] = candidate
    found: list[dict] = []
    for page in sagemaker.get_paginator("list_candidates_for_auto_ml_job").paginate(**kwargs):
        found.extend(page["Candidates"])
    return found


def rank(candidates: list[dict]) -> list[dict]:
    """Best first by the objective (its Type says which way); unscored candidates last."""
    def key(c: dict) -> tuple[int, float]:
        metric = c.get("FinalAutoMLJobObjectiveMetric")
        if not metric or "Value" not in metric:
            return (1, 0.0)
        value = float(metric["Value"])
        return (0, value if metric.get("Type") == "Minimize" else -value)

    return sorted(candidates, key=key)


def _duration(c: dict) -> str:
    start, end = c.get("CreationTime"), c.get("EndTime")
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        return "-"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


def leaderboard_lines(candidates: list[dict], top: int | None = None) -> list[str]:
    ranked = rank(candidates)[:top] if top else rank(candidates)
    if not ranked:
        return ["No candidates yet."]
    rows = [("#", "candidate", "objective", "value", "status", "time")]
    for i, c in enumerate(ranked, 1):
        metric = c.get("FinalAutoMLJobObjectiveMetric") or {}
        value = metric.get("Value")
        rows.append((str(i), c["CandidateName"], metric.get("MetricName", "-"),
                     "-" if value is None else f"{float(value):.6g}",
                     c.get("CandidateStatus", "-"), _duration(c)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def artifact_lines(desc: dict) -> list[str]:
    """Where the notebooks and reports of a job and its best candidate are."""
    found = {}
    artifacts = desc.get("AutoMLJobArtifacts") or {}
    found["Candidate definition notebook"] = artifacts.get("CandidateDefinitionNotebookLocation")
    found["Data exploration notebook"] = artifacts.get("DataExplorationNotebookLocation")
    locations = ((desc.get("BestCandidate") or {}).get("CandidateProperties") or {}).get(
        "CandidateArtifactLocations") or {}
    found["Explainability report"] = locations.get("Explainability")
    found["Model insights report"] = locations.get("ModelInsights")
    return [f"{label}: {uri}" for label, uri in found.items() if uri]


def status_lines(desc: dict) -> list[str]:
    tabular = desc.get("AutoMLProblemTypeConfig", {}).get("TabularJobConfig", {})
    resolved = desc.get("ResolvedAttributes", {})
    problem = (resolved.get("AutoMLProblemTypeResolvedAttributes", {})
               .get("TabularResolvedAttributes", {}).get("TabularProblemType")
               or tabular.get("ProblemType") or "(being inferred)")
    objective = (resolved.get("AutoMLJobObjective") or desc.get("AutoMLJobObjective") or {})
    lines = [
        f"Job: {desc['AutoMLJobName']}",
        f"Status: {desc['AutoMLJobStatus']} ({desc.get('AutoMLJobSecondaryStatus', '-')})",
        f"Target: {tabular.get('TargetAttributeName', '-')}  Problem type: {problem}  "
        f"Objective: {objective.get('MetricName', '(default)')}",
    ]
    if desc.get("FailureReason"):
        lines.append(f"Failure reason: {desc['FailureReason']}")
    best = desc.get("BestCandidate")
    if best:
        metric = best.get("FinalAutoMLJobObjectiveMetric", {})
        lines.append(f"Best candidate: {best['CandidateName']}  "
                     f"{metric.get('MetricName', '')}={metric.get('Value', '-')}")
    return lines + artifact_lines(desc)


# ---------------------------------------------------------------------------------------------
# Deployment


def inference_containers(candidate: dict) -> list[dict]:
    """The candidate's pipeline (feature engineering, algorithm, label inversion), for CPUs.

    The containers read text/csv rows without a header, features in the training file's order
    without the target: the format `byoc invoke` sends for a .csv file.
    """
    containers = candidate.get("InferenceContainers") or (
        candidate.get("InferenceContainerDefinitions") or {}).get("CPU")
    if not containers:
        raise UserError(f"Candidate {candidate.get('CandidateName')} has no inference containers "
                        "(it may have failed). Pick another with --candidate.")
    keys = ("Image", "ModelDataUrl", "Environment")
    return [{k: c[k] for k in keys if c.get(k)} for c in containers]


# How an Autopilot pipeline is told what to answer with: each container lists the keys it can
# emit (predicted_label, probability, probabilities, labels) and emits the ones it is asked for.
INFERENCE_SUPPORTED = "SAGEMAKER_INFERENCE_SUPPORTED"
INFERENCE_INPUT = "SAGEMAKER_INFERENCE_INPUT"
INFERENCE_OUTPUT = "SAGEMAKER_INFERENCE_OUTPUT"


def _supported_keys(container: dict) -> list[str]:
    text = (container.get("Environment") or {}).get(INFERENCE_SUPPORTED, "")
    return [key.strip() for key in text.split(",") if key.strip()]


def with_response_keys(containers: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """The pipeline set to answer with `keys`, as the SageMaker SDK's AutoML deploy sets it.

    The last container must support every key. Each container that supports some of them
    emits those (SAGEMAKER_INFERENCE_OUTPUT), and the next container reads them
    (SAGEMAKER_INFERENCE_INPUT).
    """
    if not keys:
        return containers
    last = _supported_keys(containers[-1])
    if not last:
        raise UserError("This candidate answers with its prediction only (regression models "
                        "do): drop --inference-response-keys.")
    unsupported = [key for key in keys if key not in last]
    if unsupported:
        raise UserError(f"--inference-response-keys: this candidate cannot answer with "
                        f"{', '.join(unsupported)}. It supports: {', '.join(last)}.")
    configured, previous = [], None
    for container in containers:
        supported = _supported_keys(container)
        if not supported:
            configured.append(container)
            previous = None
            continue
        env = dict(container.get("Environment") or {})
        emitted = ",".join(key for key in keys if key in supported) or None
        if previous:
            env[INFERENCE_INPUT] = previous
        if emitted:
            env[INFERENCE_OUTPUT] = emitted
        configured.append({**container, "Environment": env})
        previous = emitted
    return configured


def parse_response_keys(text: str | None) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in (text or "").split(",") if k.strip()))
    if text is not None and not keys:
        raise UserError("--inference-response-keys is empty: pass e.g. "
                        "predicted_label,probability")
    return keys


def find_candidate(sagemaker, name: str, candidate: str | None, desc: dict) -> dict:
    if candidate is None:
        best = desc.get("BestCandidate")
        if not best:
            raise UserError(f"Autopilot job {name} has no best candidate yet (status "
                            f"{desc['AutoMLJobStatus']}). Wait for it to complete, or pick a "
                            "finished one from `byoc autopilot leaderboard` with --candidate.")
        return best
    found = list_candidates(sagemaker, name, candidate)
    if not found:
        raise UserError(f"Job {name} has no candidate named '{candidate}'. See the names with "
                        f"`byoc autopilot leaderboard --job-name {name}`.")
    return found[0]


def pipeline_model_name(endpoint_name: str) -> str:
    """`ENDPOINT-DATE-TIME`, cut to SageMaker's 63 characters in the endpoint part, so that the
    name never ends with a hyphen."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    head = endpoint_name[:jobs.MAX_NAME_LENGTH - len(stamp) - 1].rstrip("-")
    return f"{head}-{stamp}"


def deploy(aws: Aws, *, job_name: str, endpoint_name: str, candidate: str | None = None,
           instance_type: str | None = None, role: str | None = None,
           response_keys: tuple[str, ...] = (), options: AwsOptions = NO_OPTIONS,
           wait_in_service: bool = True, interval: float | None = None) -> str:
    """Host a candidate's container pipeline on a real-time endpoint; return the model name."""
    sagemaker = aws.client("sagemaker")
    endpoints.require_new_endpoint(aws, endpoint_name)
    desc = describe(sagemaker, job_name)
    chosen = find_candidate(sagemaker, job_name, candidate, desc)
    containers = with_response_keys(inference_containers(chosen), response_keys)
    role = resolve_role(role or desc.get("RoleArn"))
    model_name = pipeline_model_name(endpoint_name)
    sagemaker.create_model(ModelName=model_name, Containers=containers,
                           ExecutionRoleArn=role, **options.model_fields(),
                           **endpoints.model_tags(options))
    endpoints.deploy(aws, endpoint_name, model_name=model_name,
                     instance_type=instance_type or endpoints.DEFAULT_INSTANCE_TYPE,
                     options=options)
    if wait_in_service:
        endpoints.wait_for_endpoint(sagemaker, endpoint_name, interval=interval)
    return model_name
