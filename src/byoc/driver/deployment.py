"""Hosting a model: the model created from a training job, a tracked run, a registered version
(a model package) or an S3 archive (with your handlers repacked in, if any), then the endpoint,
or the batch transform jobs, that use it.

Everything a request says is checked before anything is created on AWS.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from byoc.driver import (
    autoscaling,
    ecr,
    endpoints,
    hosting,
    model_packages,
    repack,
    runs,
    sourcedir,
)
from byoc.driver import multi_model_endpoints as models
from byoc.driver import transform as batch
from byoc.driver.aws import ROLE_ENV, Aws, describe_or_none, resolve_role
from byoc.driver.aws_options import NO_OPTIONS, AwsOptions, parse_env
from byoc.errors import UserError
from byoc.pairs import Pairs, as_pairs

log = logging.getLogger(__name__)

ENDPOINT_TIMEOUT = 3600
TRANSFORM_TIMEOUT = 6 * 3600


@dataclass
class ModelSource:
    """Which model to host: a completed training job (or the tracked run, or the tuning job, that
    names one), a registered version, or an archive and an image; optionally with your inference
    handlers.

    Attributes:
        training_job: host the model of this completed training job.
        run: or of this tracked MLflow run (its training job), on the server `track`.
        tuning_job: or of this tuning job's best training job.
        package: or this version of the Model Registry (a model package ARN), if Approved;
            `force` hosts it whatever its approval status.
        model_data: or this model.tar.gz (with `image`).
        image: the serving image (with `model_data`, or for a multi-model endpoint).
        role: the execution role (default: SAGEMAKER_ROLE_ARN, or the training job's).
        source_dir: a directory with your handlers; `entry_point` the module that defines them.
    """

    training_job: str | None = None
    run: str | None = None
    track: str | None = None
    model_data: str | None = None
    image: str | None = None
    role: str | None = None
    source_dir: str | None = None
    entry_point: str | None = None
    package: str | None = None
    force: bool = False
    tuning_job: str | None = None

    def resolved_training_job(self, aws: Aws | None = None) -> str | None:
        """`training_job`, or the one behind `run`, or `tuning_job`'s best (asked of `aws`)."""
        if self.tuning_job:
            from byoc.driver import jobs

            if aws is None:
                raise UserError("A tuning job's best training job is asked of AWS: pass aws.")
            return jobs.best_training_job(aws, self.tuning_job)
        return runs.training_job(self.run, self.training_job, self.track)


def check_source(source: ModelSource) -> None:
    """A registered version is hosted as it was registered: its own image and model, no more."""
    if source.tuning_job:
        others = [flag for flag, value in (("--training-job", source.training_job),
                                           ("--run", source.run),
                                           ("--model-data", source.model_data),
                                           ("--package", source.package)) if value]
        if others:
            raise UserError(f"--tuning-job hosts its best training job's model; drop "
                            f"{', '.join(others)}, or --tuning-job.")
    if source.force and not source.package:
        raise UserError("--force deploys a registered version that is not Approved: it goes "
                        "with --package ARN only.")
    if not source.package:
        return
    others = [flag for flag, value in (("--training-job", source.training_job),
                                       ("--run", source.run), ("--model-data", source.model_data),
                                       ("--image", source.image),
                                       ("--source-dir", source.source_dir),
                                       ("--entry-point", source.entry_point)) if value]
    if others:
        raise UserError(f"--package hosts a registered version with the image and model it "
                        f"names; drop {', '.join(others)}.")


def serving_code(source: ModelSource, verb: str,
                 environment: dict[str, str]) -> sourcedir.SourceCode | None:
    """The handlers of `source_dir` and `entry_point`, checked before anything is created."""
    check_source(source)
    code = sourcedir.from_flags(source.source_dir, source.entry_point)
    sourcedir.require_entry_point(code, verb)
    sourcedir.check_environment(code, environment)
    return code


def _multi_model(aws: Aws, source: ModelSource, training_job: str | None, name: str,
                 opts: AwsOptions, prefix: str, environment: dict[str, str]) -> str:
    """The multi-model model, named after the endpoint: the image of `image` or of the training
    job, whose model then becomes the first one under the prefix."""
    if source.model_data:
        raise UserError("--model-data is one model; a multi-model endpoint hosts --model-prefix. "
                        "Add models after the deploy: byoc models add --endpoint "
                        f"{name} --model-data S3_URI.")
    if training_job:
        image, _, job_role = endpoints.training_job_model(aws, training_job)
        role = resolve_role(source.role or os.environ.get(ROLE_ENV) or job_role)
    elif source.image:
        image, role = source.image, resolve_role(source.role)
    else:
        raise UserError("Say which image serves the models: --image URI, or --training-job NAME "
                        "(its image, and its model as the first one).")
    ecr.check_image(aws, image)
    # The job's model goes under the prefix first: a missing model.tar.gz then stops the
    # deploy before a SageMaker model exists that a later deploy would reuse.
    if training_job:
        _first_model(aws, prefix, training_job)
    endpoints.create_model(aws, name, image=image, model_data=prefix, role=role, options=opts,
                           mode="MultiModel", environment=environment)
    return name


def _first_model(aws: Aws, prefix: str, training_job: str) -> None:
    """Put the training job's model under the prefix, unless an earlier deploy did."""
    target = f"{training_job}{models.SUFFIX}"
    if any(m.target == target for m in models.stored_under(aws, prefix)):
        log.info("%s is already under %s", target, prefix)
    else:
        models.add_training_job(aws, prefix, training_job)


def create_model(aws: Aws, source: ModelSource, default_name: str, opts: AwsOptions,
                 spec: hosting.Hosting | None = None,
                 environment: dict[str, str] | None = None,
                 code: sourcedir.SourceCode | None = None) -> str:
    """Create the model to host and return its name: from a training job (or the tracked run
    that names one), or from `model_data` and `image`; for a multi-model endpoint, the
    endpoint's model over the prefix. With `code`, the model archive is repacked with it under
    code/ and the environment names the handlers, as the SDK does. A model with an environment
    is named `default_name`, since a training job's own model has none."""
    environment = environment or {}
    if source.package:
        return _package_model(aws, source, default_name, opts, environment)
    training_job = source.resolved_training_job(aws)
    if spec and spec.multi_model_prefix:
        return _multi_model(aws, source, training_job, default_name, opts,
                            spec.multi_model_prefix, environment)
    if training_job:
        image, model_data, job_role = endpoints.training_job_model(aws, training_job)
        # The training job's role already reaches the image and the model data.
        role = resolve_role(source.role or os.environ.get(ROLE_ENV) or job_role)
        name = default_name if environment else training_job
    else:
        if not (source.model_data and source.image):
            raise UserError("Say which model: --training-job NAME, --tuning-job NAME (its best "
                            "training job), or both --model-data s3://.../model.tar.gz and "
                            "--image URI.")
        image, model_data, role = source.image, source.model_data, resolve_role(source.role)
        name = default_name
    ecr.check_image(aws, image)
    if code:
        model_data = repack.repack(aws, model_data, code)
        environment = {**sourcedir.serving_environment(code, sourcedir.MODEL_CODE_DIR,
                                                       aws.region), **environment}
        name = default_name
    endpoints.create_model(aws, name, image=image, model_data=model_data, role=role,
                           options=opts, environment=environment)
    return name


def _package_model(aws: Aws, source: ModelSource, name: str, opts: AwsOptions,
                   environment: dict[str, str]) -> str:
    """The model of a registered version, named after the endpoint (or transform): its container
    names the package, as SageMaker deploys one. A version that is not Approved is refused
    unless `force`, before anything is created."""
    package = model_packages.deployable(aws, source.package, source.force)
    role = resolve_role(model_packages.execution_role(aws, package, source.role))
    endpoints.create_model(aws, name, package=package["ModelPackageArn"], role=role,
                           options=opts, environment=environment)
    return name


@dataclass
class DeployRequest:
    """An endpoint to create, and the model it hosts.

    Attributes:
        endpoint_name: the new endpoint's name.
        model: which model (see `ModelSource`).
        hosting: instances or serverless, one model or many, real-time or asynchronous (see
            `hosting.resolve`); default one `ml.m5.large` instance.
        environment: variables for the serving container, a dict or `KEY=VALUE` strings.
        options: tags, VPC, KMS key and network isolation.
        scaling: autoscaling of its instances, set once it is InService.
    """

    endpoint_name: str
    model: ModelSource
    hosting: hosting.Hosting = field(default_factory=lambda: hosting.resolve(
        default_instance_type=endpoints.DEFAULT_INSTANCE_TYPE))
    environment: Pairs = None
    options: AwsOptions = field(default_factory=lambda: NO_OPTIONS)
    scaling: autoscaling.Scaling | None = None


@dataclass(frozen=True)
class Deployment:
    """An endpoint byoc created: its name, its model, how it hosts, and its autoscaling."""

    endpoint_name: str
    model_name: str
    hosting: hosting.Hosting
    scaling: autoscaling.Scaling | None = None

    def next_steps(self) -> str:
        """What to do with it next, as `byoc deploy` says it."""
        name, spec = self.endpoint_name, self.hosting
        if spec.multi_model_prefix:
            return (f"Add models with byoc models add --endpoint {name} --training-job JOB, "
                    f"then byoc invoke --endpoint {name} --target-model JOB.tar.gz IMAGE.png")
        if spec.async_output:
            return f"Try: byoc invoke --endpoint {name} --async IMAGE.png"
        return f"Try: byoc invoke --endpoint {name} IMAGE.png"


def refuse_serverless_scaling(spec: hosting.Hosting) -> None:
    """A serverless endpoint has no instances to scale."""
    if spec.serverless:
        raise UserError("A serverless endpoint scales by itself up to --max-concurrency; drop "
                        "the autoscaling flags, or --serverless-memory.")


def check_scaling(spec: hosting.Hosting, scaling: autoscaling.Scaling | None) -> None:
    """The autoscaling asked for, checked against how the endpoint hosts."""
    if scaling is None:
        return
    refuse_serverless_scaling(spec)
    if not scaling.min_instances <= spec.instance_count <= scaling.max_instances:
        raise UserError(f"--instance-count {spec.instance_count} is outside --min-instances "
                        f"{scaling.min_instances} .. --max-instances {scaling.max_instances}.")


def checked_code(request: DeployRequest) -> tuple[dict[str, str], sourcedir.SourceCode | None]:
    """The model's environment and handlers, checked against how it is hosted."""
    environment = {**request.hosting.model_environment(),
                   **parse_env(as_pairs(request.environment))}
    code = serving_code(request.model, "byoc deploy", environment)
    if request.model.package and request.hosting.multi_model_prefix:
        raise UserError("--package hosts one registered version; a multi-model endpoint hosts "
                        "the archives under --model-prefix. Drop one of them.")
    if code and request.hosting.multi_model_prefix:
        raise UserError("A multi-model endpoint serves each model with the code in its own "
                        "archive (code/ in MODEL.tar.gz); drop --source-dir and --entry-point, "
                        "and put the handlers into each model's archive.")
    return environment, code


def check_deploy(request: DeployRequest) -> None:
    """Everything `start_deploy` checks before it connects to AWS."""
    checked_code(request)
    check_scaling(request.hosting, request.scaling)


def start_deploy(aws: Aws, request: DeployRequest) -> Deployment:
    """Create the model, its endpoint config and the endpoint; return at once."""
    environment, code = checked_code(request)
    check_scaling(request.hosting, request.scaling)
    name = request.endpoint_name
    endpoints.require_new_endpoint(aws, name, updatable=True)
    model = create_model(aws, request.model, name, request.options, request.hosting,
                         environment, code)
    endpoints.deploy(aws, name, model_name=model, hosting=request.hosting,
                     options=request.options)
    return Deployment(name, model, request.hosting, request.scaling)


def wait_for_deploy(aws: Aws, deployment: Deployment, timeout: float | None = None
                    ) -> Deployment:
    """Wait until the endpoint is InService (raises WaitTimeout after `timeout`, default 1 h;
    SageMaker goes on), then set its autoscaling."""
    endpoints.wait_for_endpoint(aws.client("sagemaker"), deployment.endpoint_name,
                                timeout=timeout or ENDPOINT_TIMEOUT)
    if deployment.scaling:
        autoscaling.apply(aws, deployment.endpoint_name, deployment.scaling)
    return deployment


def existing_model(aws: Aws, name: str) -> str:
    """`name`, once SageMaker has a model of that name."""
    sagemaker = aws.client("sagemaker")
    if describe_or_none(lambda: sagemaker.describe_model(ModelName=name)) is None:
        raise UserError(f"No model named '{name}' in {aws.region}. Create one with --training-job "
                        "NAME, or --model-data and --image.")
    return name


@dataclass(frozen=True)
class TransformJobs:
    """The batch transform jobs of one request: one per content type of the input."""

    name: str
    batches: tuple[batch.Batch, ...]
    spec: batch.TransformSpec

    @property
    def job_names(self) -> list[str]:
        return [b.job_name for b in self.batches]


def check_transform(options: AwsOptions, model: ModelSource | None,
                    model_name: str | None) -> sourcedir.SourceCode | None:
    """A transform uses an existing model (`model_name`) or one byoc creates (`model`)."""
    named = [flag for flag, value in (
        ("--training-job", model and model.training_job), ("--run", model and model.run),
        ("--model-data", model and model.model_data), ("--image", model and model.image))
        if value]
    if model_name and named:
        raise UserError(f"--model-name uses an existing model; {' and '.join(named)} "
                        f"{'names' if len(named) == 1 else 'name'} the model byoc creates. Pass "
                        "one of them: --model-name NAME, or --training-job NAME (or --run, or "
                        "--model-data with --image).")
    if model_name and options.model_fields():
        raise UserError("--subnets, --security-groups and --network-isolation are settings of "
                        "the model byoc creates; --model-name uses an existing model as it is. "
                        "Drop them, or create the model from --training-job or --model-data.")
    code = serving_code(model or ModelSource(), "byoc transform", {})
    if model_name and code:
        raise UserError("--model-name uses an existing model as it is; --source-dir and "
                        "--entry-point go into a model byoc creates. Drop them, or create the "
                        "model from --training-job or --model-data.")
    return code


def start_transform(aws: Aws, name: str, spec: batch.TransformSpec,
                    model: ModelSource | None = None, model_name: str | None = None
                    ) -> TransformJobs:
    """Plan and start the transform jobs over `spec.input_s3`; return at once."""
    from byoc.driver import jobs

    code = check_transform(spec.options, model, model_name)
    batches = batch.plan(aws, name, spec)
    for one in batches:
        jobs.require_new_name(aws, "transform job", one.job_name)
    used = (existing_model(aws, model_name) if model_name
            else create_model(aws, model or ModelSource(), name, spec.options, code=code))
    batch.start(aws, name, used, spec, batches)
    return TransformJobs(name, tuple(batches), spec)


def wait_for_transform(aws: Aws, started: TransformJobs, timeout: float | None = None
                       ) -> list[str]:
    """Wait for every job (WaitTimeout after `timeout`, default 6 h; they go on), then list
    the output objects."""
    batch.wait_for_all(aws.client("sagemaker"), started.job_names,
                       timeout=timeout or TRANSFORM_TIMEOUT)
    return batch.list_outputs(aws, started.spec.output_s3)
