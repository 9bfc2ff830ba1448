"""Training and tuning jobs from what a user asks for: every setting checked, then what AWS
already holds, and only then the data and the code uploaded, so that a mistake costs no upload.

`TrainingRequest` is the user's side (a local folder or an S3 prefix, hyperparameters as a dict);
`jobs.TrainingSpec` is SageMaker's side, with the role resolved and the channels in S3.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from byoc import tracking_config
from byoc.driver import ecr, jobs, metric_definitions, sourcedir, upload
from byoc.driver.aws import Aws, data_bucket, load_config, resolve_role, split_s3_uri
from byoc.driver.aws_options import NO_OPTIONS, AwsOptions, parse_env
from byoc.errors import UserError
from byoc.pairs import Pairs, as_pairs

log = logging.getLogger(__name__)

# How long a wait lasts by default. SageMaker ends a training job at its own limits (max_run,
# or max_wait with spot), so the wait outlasts them by a margin for provisioning and upload.
WAIT_MARGIN = 1800


@dataclass
class TrainingRequest:
    """What a training job (or each trial of a tuning job) runs, as a user says it.

    Every field is the `byoc train` flag of the same name.

    Attributes:
        image: the training image's URI (see `push`).
        data: a local dataset directory (its train/, validation/ and test/ become channels) or
            an s3:// prefix.
        role: the SageMaker execution role ARN (default: SAGEMAKER_ROLE_ARN).
        hyperparameters: a dict, or `KEY=VALUE` strings; byoc's trainer checks them here.
        instance_type: default `ml.m5.xlarge`, or `instance_type` in byoc's config file.
        upload_to: where a local `data` goes (default s3://BUCKET/byoc/input/DIGEST/).
        output: the job's output path (default s3://sagemaker-REGION-ACCOUNT/byoc/output).
        environment: variables for the container, a dict or `KEY=VALUE` strings.
        metrics: metric definitions SageMaker reads from the log, NAME -> REGEX.
        track: an MLflow tracking URI to log the job to; `experiment` names its experiment.
        options: tags, VPC, KMS key and network isolation (see `aws_options.resolve`).
        source_dir: a directory of your code; `entry_point` your training script in it.
    """

    image: str
    data: str
    role: str | None = None
    hyperparameters: Pairs = None
    instance_type: str | None = None
    instance_count: int = 1
    spot: bool = False
    max_run: int = jobs.DEFAULT_MAX_RUN
    max_wait: int | None = None
    upload_to: str | None = None
    output: str | None = None
    distribution: str = "replicated"
    input_mode: str = "File"
    environment: Pairs = None
    retries: int | None = None
    track: str | None = None
    experiment: str | None = None
    options: AwsOptions = field(default_factory=lambda: NO_OPTIONS)
    source_dir: str | None = None
    entry_point: str | None = None
    metrics: Pairs = None
    checkpoint_s3: str | None = None
    keep_alive: int | None = None


def job_limit(spec: jobs.TrainingSpec) -> int:
    """The longest a job of `spec` runs before SageMaker ends it."""
    return spec.max_wait or spec.max_run


def prepare(aws: Aws, request: TrainingRequest, kind: str, name: str,
            check_aws: Callable[[], None] | None = None,
            tuning: jobs.TuningSpec | None = None,
            check_spec: Callable[[jobs.TrainingSpec], None] | None = None) -> jobs.TrainingSpec:
    """The job's `TrainingSpec`: check every setting (and `check_spec` on the spec), then what
    AWS already holds (image, name, and `check_aws`), and only then upload the data and the
    code. A `kind` that is no kind of job (a pipeline's) has no job name to check."""
    code = sourcedir.from_flags(request.source_dir, request.entry_point)
    user_script = bool(code and code.entry_point)
    hps = sourcedir.parse_hp_flags(as_pairs(request.hyperparameters) or [], code)
    definitions = metric_definitions.definitions(
        metric_definitions.parse_metric_flags(as_pairs(request.metrics)), user_script=user_script)
    track = tracking_config.job_environment(request.track, request.experiment, image=request.image,
                                            remote=True,
                                            tuning_job=name if kind == "tuning job" else None)
    role = resolve_role(request.role)
    if request.upload_to:
        if request.data.startswith("s3://"):
            raise UserError("--upload-to is for a local --data directory; an s3:// --data is "
                            "used where it is.")
        split_s3_uri(request.upload_to)
    count = request.instance_count
    if request.distribution == "sharded" and count == 1:
        log.warning("--distribution sharded on one instance: that instance gets all the data.")
    elif request.distribution == "sharded":
        log.warning("--distribution sharded: each of the %d instances gets about 1/%d of the "
                    "train channel's files, so a labels file (signnames.csv) reaches one "
                    "instance only; name classes by folder, or the instances will refuse to "
                    "train on class lists they cannot merge.", count, count)
    spec = jobs.TrainingSpec(
        image=request.image, role=role, channels={}, output=request.output or "",
        hyperparameters=hps,
        instance_type=request.instance_type or load_config().get(
            "instance_type", jobs.DEFAULT_INSTANCE_TYPE),
        instance_count=count, max_run=request.max_run, spot=request.spot,
        max_wait=request.max_wait, checkpoint_s3=request.checkpoint_s3,
        environment={**parse_env(as_pairs(request.environment)), **track},
        retries=request.retries, keep_alive=request.keep_alive, input_mode=request.input_mode,
        distribution=request.distribution, options=request.options,
        metric_definitions=definitions,
    )
    if tuning:
        jobs.check_search(spec, tuning, user_script=user_script)
        if not user_script:
            _check_trial_values(tuning, hps, code)
    if check_spec:
        check_spec(spec)
    bucket = data_bucket(aws)
    spec.output = spec.output or f"s3://{bucket}/byoc/output"
    ecr.check_image(aws, request.image)
    if kind in jobs.JOB_APIS:
        jobs.require_new_name(aws, kind, name)
    if check_aws:
        check_aws()
    spec.channels = upload.stage_data(aws, request.data, f"s3://{bucket}/byoc/input",
                                    upload_to=request.upload_to)
    if code:
        _stage_code(aws, spec, code, f"s3://{bucket}/byoc/source", name)
    return spec


def _check_trial_values(tuning: jobs.TuningSpec, hps: dict[str, str],
                        code: sourcedir.SourceCode | None) -> None:
    """byoc's trainer checks its hyperparameters: a range it would refuse fails here, not in
    every trial."""
    for name, value in jobs.range_values(tuning.ranges or {}):
        pairs = [f"{k}={v}" for k, v in {**hps, name: value}.items()]
        try:
            sourcedir.parse_hp_flags(pairs, code)
        except UserError as exc:
            raise UserError(f"--range {name}: {exc}") from None


def _stage_code(aws: Aws, spec: jobs.TrainingSpec, code: sourcedir.SourceCode, s3_base: str,
                name: str) -> None:
    """Upload sourcedir.tar.gz and name it in the hyperparameters, as the SDK does; a job with
    network isolation cannot reach S3, so it gets the archive as the `code` channel."""
    uri = sourcedir.stage(aws, code, s3_base)
    submit = uri
    if spec.options.network_isolation:
        spec.channels[sourcedir.CODE_CHANNEL] = uri
        submit = sourcedir.CODE_CHANNEL_ARCHIVE
    spec.hyperparameters.update(sourcedir.training_hyperparameters(
        code, submit, job_name=name, region=aws.region))


@dataclass(frozen=True)
class StartedJob:
    """A training or tuning job SageMaker accepted: its name, and the spec it runs with."""

    name: str
    spec: jobs.TrainingSpec

    @property
    def default_timeout(self) -> float:
        """How long a wait for one of its jobs lasts by default: its limit and a margin."""
        return job_limit(self.spec) + WAIT_MARGIN


@dataclass(frozen=True)
class TrainingResult:
    """A finished training job.

    Attributes:
        job_name: the training job.
        model_data: the S3 URI of its model.tar.gz.
        billing: billable time (and what spot saved), when SageMaker reports it.
        description: DescribeTrainingJob's answer.
        output_dir: where its output.tar.gz (metrics, report, plots) was unpacked, if it was.
        summary: the evaluation summary's lines (accuracy, report files), if any.
    """

    job_name: str
    model_data: str
    billing: str | None
    description: dict
    output_dir: Path | None = None
    summary: tuple[str, ...] = ()


def start_training(aws: Aws, request: TrainingRequest, name: str | None = None) -> StartedJob:
    """Check, upload and start a training job; return at once."""
    name = jobs.check_job_name(name or jobs.job_name("train"))
    spec = prepare(aws, request, "training job", name)
    jobs.start_training(aws, name, spec)
    return StartedJob(name, spec)


def wait_for_training(aws: Aws, job: StartedJob, timeout: float | None = None
                      ) -> TrainingResult:
    """Follow the job (its status and log lines) until it completes.

    Raises:
        WaitTimeout: when `timeout` (default: the job's own limit and 30 min) passes first;
            the job goes on.
        UserError: when the job fails or is stopped, with SageMaker's reason.
    """
    return follow_training(aws, job.name, timeout or job.default_timeout)


def follow_training(aws: Aws, name: str, timeout: float) -> TrainingResult:
    """Follow a training job, started now or earlier (`byoc attach`), until it completes; raises
    as `wait_for_training` does."""
    desc = jobs.wait_for_training(aws.client("sagemaker"), aws.client("logs"), name,
                                  timeout=timeout)
    return completed(desc)


def completed(desc: dict) -> TrainingResult:
    """The result of a completed training job, from DescribeTrainingJob's answer."""
    return TrainingResult(desc["TrainingJobName"], desc["ModelArtifacts"]["S3ModelArtifacts"],
                          jobs.billing_line(desc), desc)


def fetch_output(aws: Aws, result: TrainingResult, dest: str | Path) -> TrainingResult:
    """Unpack the job's output.tar.gz (metrics, report, plots) into `dest`, a new or empty
    directory; the result then names it and carries the summary's lines."""
    dest = Path(dest)
    uri = jobs.output_archive_uri(result.description)
    if not jobs.download_output(aws, result.description, dest):
        log.warning("No evaluation output at %s (the job wrote nothing to output/data).", uri)
        return result
    log.info("Evaluation output from %s is in %s", uri, dest)
    from byoc.job_summary import summary_lines

    return TrainingResult(result.job_name, result.model_data, result.billing,
                          result.description, dest, tuple(summary_lines(dest)))


@dataclass(frozen=True)
class TuningResult:
    """A finished tuning job: DescribeHyperParameterTuningJob's answer, and its best job."""

    job_name: str
    description: dict

    @property
    def best_training_job(self) -> str | None:
        best = self.description.get("BestTrainingJob")
        return best["TrainingJobName"] if best else None

    def lines(self) -> list[str]:
        """The best job, its objective metric and its hyperparameters, as `byoc tune` prints."""
        return jobs.best_job_lines(self.description)


def start_tuning(aws: Aws, request: TrainingRequest, tuning: jobs.TuningSpec,
                 name: str | None = None) -> StartedJob:
    """Check, upload and start a tuning job whose trials run `request`; return at once."""
    name = name or jobs.job_name("tune")
    jobs.check_tuning(name, tuning)
    spec = prepare(aws, request, "tuning job", name,
                   check_aws=lambda: jobs.require_warm_start_parents(aws, tuning), tuning=tuning)
    jobs.start_tuning(aws, name, spec, tuning)
    return StartedJob(name, spec)


def tuning_timeout(job: StartedJob, tuning: jobs.TuningSpec) -> float:
    """How long a wait for a tuning job lasts by default: each round of parallel trials."""
    rounds = -(-tuning.max_jobs // tuning.max_parallel_jobs)
    return rounds * job_limit(job.spec) + WAIT_MARGIN


def wait_for_tuning(aws: Aws, job: StartedJob, tuning: jobs.TuningSpec,
                    timeout: float | None = None) -> TuningResult:
    """Follow a tuning job until it ends; raises WaitTimeout as `wait_for_training` does."""
    found = jobs.wait_for_tuning(aws.client("sagemaker"), job.name,
                                 timeout=timeout or tuning_timeout(job, tuning))
    return TuningResult(job.name, found)
