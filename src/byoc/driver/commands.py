"""The AWS verbs of `byoc`: push, train, tune, deploy, invoke, transform, stop, delete, scale,
models.

The driver modules import boto3 and docker inside their functions, so `byoc --help` stays
instant. Defaults come from flags, then the environment, then the config file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from byoc import tracking
from byoc.cli_args import positive_float, positive_int
from byoc.driver import (
    async_invoke,
    autoscaling,
    ecr,
    endpoints,
    hosting,
    invoke,
    jobs,
    metrics,
    models,
    options,
    repack,
    runs,
    sourcedir,
    stop,
    transform,
)
from byoc.driver.aws import (
    ROLE_ENV,
    Aws,
    data_bucket,
    describe_or_none,
    load_config,
    resolve_role,
    split_s3_uri,
)
from byoc.driver.cli_helpers import add_aws_verb, connect_from
from byoc.driver.progress import WaitTimeout
from byoc.errors import UserError
from byoc.metric_lines import OBJECTIVE_METRIC

log = logging.getLogger(__name__)


def _config(key: str, default=None):
    return load_config().get(key, default)


# How long a verb waits by default. SageMaker ends a training job at its own limits (--max-run,
# or --max-wait with --spot), so the wait outlasts them by a margin for provisioning and upload.
WAIT_MARGIN = 1800
ENDPOINT_TIMEOUT = 3600
TRANSFORM_TIMEOUT = 6 * 3600


def _wait(args: argparse.Namespace, default_timeout: float, still_running: str,
          wait: Callable[[float], dict]) -> dict | None:
    """`wait(timeout)`'s answer; None, after saying what keeps running on AWS, on a timeout."""
    try:
        return wait(args.timeout or default_timeout)
    except WaitTimeout as exc:
        print(f"{exc} {still_running}", file=sys.stderr)
        return None


def _job_limit(spec: jobs.TrainingSpec) -> int:
    return spec.max_wait or spec.max_run


def _no_wait(args: argparse.Namespace, kind: str, name: str) -> bool:
    if args.no_wait:
        print(f"{kind} {name} started; follow it in the SageMaker console or with "
              f"aws sagemaker describe-{kind.replace(' ', '-')} ...")
    return args.no_wait


def _training_spec(args: argparse.Namespace, aws: Aws, kind: str, name: str,
                   check_aws: Callable[[], None] | None = None,
                   tuning: jobs.TuningSpec | None = None) -> jobs.TrainingSpec:
    """Check every flag, then what AWS already holds (image, name, and `check_aws`), and only
    then upload the data and the code: a mistake costs no upload."""
    code = sourcedir.from_flags(args.source_dir, args.entry_point)
    user_script = bool(code and code.entry_point)
    hps = sourcedir.parse_hp_flags(args.hp, code)
    metric_definitions = metrics.definitions(metrics.parse_metric_flags(args.metric),
                                             user_script=user_script)
    track = tracking.job_environment(args.track, args.experiment, image=args.image, remote=True,
                                     tuning_job=name if kind == "tuning job" else None)
    role = resolve_role(args.role)
    if args.upload_to:
        if args.data.startswith("s3://"):
            raise UserError("--upload-to is for a local --data directory; an s3:// --data is "
                            "used where it is.")
        split_s3_uri(args.upload_to)
    if args.distribution == "sharded" and args.instance_count == 1:
        log.warning("--distribution sharded on one instance: that instance gets all the data.")
    elif args.distribution == "sharded":
        log.warning("--distribution sharded: each of the %d instances gets about 1/%d of the "
                    "train channel's files, so a labels file (signnames.csv) reaches one "
                    "instance only; name classes by folder, or the instances will refuse to "
                    "train on class lists they cannot merge.", args.instance_count,
                    args.instance_count)
    spec = jobs.TrainingSpec(
        image=args.image, role=role, channels={}, output=args.output or "", hyperparameters=hps,
        instance_type=args.instance_type or _config("instance_type", jobs.DEFAULT_INSTANCE_TYPE),
        instance_count=args.instance_count, max_run=args.max_run, spot=args.spot,
        max_wait=args.max_wait, checkpoint_s3=args.checkpoint_s3,
        environment={**options.parse_env(args.env), **track}, retries=args.retries,
        keep_alive=args.keep_alive, input_mode=args.input_mode, distribution=args.distribution,
        options=options.from_args(args), metric_definitions=metric_definitions,
    )
    if tuning:
        jobs.check_search(spec, tuning, user_script=user_script)
        if not user_script:
            _check_trial_values(tuning, hps, code)
    bucket = data_bucket(aws)
    spec.output = spec.output or f"s3://{bucket}/byoc/output"
    ecr.check_image(aws, args.image)
    jobs.require_new_name(aws, kind, name)
    if check_aws:
        check_aws()
    spec.channels = jobs.stage_data(aws, args.data, f"s3://{bucket}/byoc/input",
                                    upload_to=args.upload_to)
    if code:
        _stage_code(aws, spec, code, f"s3://{bucket}/byoc/source", name)
    return spec


def _check_trial_values(tuning: jobs.TuningSpec, hps: dict[str, str],
                        code: sourcedir.SourceCode | None) -> None:
    """byoc's trainer checks its hyperparameters: a --range it would refuse fails here, not in
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


def cmd_push(args: argparse.Namespace) -> int:
    print(ecr.push(connect_from(args), variant=args.variant, repository=args.repository,
                   tag=args.tag, registry=args.registry, context=args.context,
                   platform=args.platform))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    name = jobs.check_job_name(args.job_name or jobs.job_name("train"))
    dest = Path(args.download or name)
    if not args.no_wait:
        jobs.check_download_dir(dest)
    aws = connect_from(args)
    spec = _training_spec(args, aws, "training job", name)
    jobs.start_training(aws, name, spec)
    if _no_wait(args, "training job", name):
        return 0
    desc = _wait(
        args, _job_limit(spec) + WAIT_MARGIN,
        f"It ends by itself within its limit (--max-run{', --max-wait' if spec.spot else ''}); "
        f"follow it with aws sagemaker describe-training-job --training-job-name {name}, or "
        f"stop it: byoc stop --training-job {name}",
        lambda timeout: jobs.wait_for_training(aws.client("sagemaker"), aws.client("logs"), name,
                                               timeout=timeout))
    if desc is None:
        return 1
    print(f"Model: {desc['ModelArtifacts']['S3ModelArtifacts']}")
    billing = jobs.billing_line(desc)
    if billing:
        print(billing)
    if jobs.download_output(aws, desc, dest):
        from byoc.evaluation.summary import summary_lines

        for line in summary_lines(dest):
            print(line)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    name = args.job_name or jobs.job_name("tune")
    tuning = jobs.TuningSpec(
        max_jobs=args.max_jobs, max_parallel_jobs=args.max_parallel_jobs,
        strategy=args.strategy, early_stopping=args.early_stopping,
        warm_start=tuple(args.warm_start or ()), warm_start_type=args.warm_start_type,
        objective_metric=args.objective_metric, objective_type=args.objective_type,
        ranges=jobs.parse_ranges(args.range))
    jobs.check_tuning(name, tuning)
    aws = connect_from(args)
    spec = _training_spec(args, aws, "tuning job", name,
                          check_aws=lambda: jobs.require_warm_start_parents(aws, tuning),
                          tuning=tuning)
    jobs.start_tuning(aws, name, spec, tuning)
    if _no_wait(args, "hyper parameter tuning job", name):
        return 0
    rounds = -(-args.max_jobs // args.max_parallel_jobs)
    desc = _wait(
        args, rounds * _job_limit(spec) + WAIT_MARGIN,
        f"Its training jobs go on; stop them all with byoc stop --tuning-job {name}",
        lambda timeout: jobs.wait_for_tuning(aws.client("sagemaker"), name, timeout=timeout))
    if desc is None:
        return 1
    for line in jobs.best_job_lines(desc):
        print(line)
    return 0


def _multi_model(args: argparse.Namespace, aws: Aws, name: str, opts: options.AwsOptions,
                 prefix: str, environment: dict[str, str]) -> str:
    """The multi-model model, named after the endpoint: the image of --image or of the training
    job, whose model then becomes the first one under the prefix."""
    if args.model_data:
        raise UserError("--model-data is one model; a multi-model endpoint hosts --model-prefix. "
                        "Add models after the deploy: byoc models add --endpoint "
                        f"{name} --model-data S3_URI.")
    if args.training_job:
        image, _, job_role = endpoints.training_job_model(aws, args.training_job)
        role = resolve_role(args.role or os.environ.get(ROLE_ENV) or job_role)
    elif args.image:
        image, role = args.image, resolve_role(args.role)
    else:
        raise UserError("Say which image serves the models: --image URI, or --training-job NAME "
                        "(its image, and its model as the first one).")
    ecr.check_image(aws, image)
    # The job's model goes under the prefix first: a missing model.tar.gz then stops the
    # deploy before a SageMaker model exists that a later deploy would reuse.
    if args.training_job:
        _first_model(aws, prefix, args.training_job)
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


def _serving_code(args: argparse.Namespace, verb: str,
                  environment: dict[str, str]) -> sourcedir.SourceCode | None:
    """The handlers of --source-dir and --entry-point, checked before anything is created."""
    code = sourcedir.from_flags(args.source_dir, args.entry_point)
    sourcedir.require_entry_point(code, verb)
    sourcedir.check_environment(code, environment)
    return code


def _model_from_flags(args: argparse.Namespace, aws, default_name: str,
                      opts: options.AwsOptions, spec: hosting.Hosting | None = None,
                      environment: dict[str, str] | None = None,
                      code: sourcedir.SourceCode | None = None) -> str:
    """Create the model to host: from a training job (or the tracked run that names one), or
    from --model-data and --image; for a multi-model endpoint, the endpoint's model over the
    prefix. With `code`, the model archive is repacked with it under code/ and the environment
    names the handlers, as the SDK does. A model with an environment is named `default_name`,
    since a training job's own model has none."""
    environment = environment or {}
    args.training_job = runs.training_job_from_flags(args)
    if spec and spec.multi_model_prefix:
        return _multi_model(args, aws, default_name, opts, spec.multi_model_prefix, environment)
    if args.training_job:
        image, model_data, job_role = endpoints.training_job_model(aws, args.training_job)
        # The training job's role already reaches the image and the model data.
        role = resolve_role(args.role or os.environ.get(ROLE_ENV) or job_role)
        name = default_name if environment else args.training_job
    else:
        if not (args.model_data and args.image):
            raise UserError("Say which model: --training-job NAME, or both --model-data "
                            "s3://.../model.tar.gz and --image URI.")
        image, model_data, role = args.image, args.model_data, resolve_role(args.role)
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


def _deploy_scaling(args: argparse.Namespace, spec: hosting.Hosting
                    ) -> autoscaling.Scaling | None:
    """The autoscaling `byoc deploy` asks for, checked against the rest of its flags."""
    if not autoscaling.given(args):
        return None
    if spec.serverless:
        raise UserError("A serverless endpoint scales by itself up to --max-concurrency; drop "
                        "the autoscaling flags, or --serverless-memory.")
    scaling = autoscaling.from_args(args)
    if not scaling.min_instances <= spec.instance_count <= scaling.max_instances:
        raise UserError(f"--instance-count {spec.instance_count} is outside --min-instances "
                        f"{scaling.min_instances} .. --max-instances {scaling.max_instances}.")
    if args.no_wait:
        raise UserError("Autoscaling is set once the endpoint is InService, so byoc waits for "
                        "it: drop --no-wait, or leave out the autoscaling flags and set them "
                        f"later with byoc scale --endpoint {args.endpoint_name} ...")
    return scaling


def _next_steps(name: str, spec: hosting.Hosting) -> str:
    if spec.multi_model_prefix:
        return (f"Add models with byoc models add --endpoint {name} --training-job JOB, then "
                f"byoc invoke --endpoint {name} --target-model JOB.tar.gz IMAGE.png")
    if spec.async_output:
        return f"Try: byoc invoke --endpoint {name} --async IMAGE.png"
    return f"Try: byoc invoke --endpoint {name} IMAGE.png"


def cmd_deploy(args: argparse.Namespace) -> int:
    opts = options.from_args(args)
    spec = hosting.from_args(args, _config("endpoint_instance_type",
                                           endpoints.DEFAULT_INSTANCE_TYPE))
    environment = {**spec.model_environment(), **options.parse_env(args.env)}
    code = _serving_code(args, "byoc deploy", environment)
    if code and spec.multi_model_prefix:
        raise UserError("A multi-model endpoint serves each model with the code in its own "
                        "archive (code/ in MODEL.tar.gz); drop --source-dir and --entry-point, "
                        "and put the handlers into each model's archive.")
    scaling = _deploy_scaling(args, spec)
    aws = connect_from(args)
    name = args.endpoint_name
    endpoints.require_new_endpoint(aws, name)
    model = _model_from_flags(args, aws, name, opts, spec, environment, code)
    endpoints.deploy(aws, name, model_name=model, hosting=spec, options=opts)
    if _no_wait(args, "endpoint", name):
        return 0
    billed = "per request" if spec.serverless else "per instance-hour"
    if _wait(args, ENDPOINT_TIMEOUT,
             f"SageMaker goes on creating it; once InService it is billed {billed} until you "
             f"delete it: byoc delete --endpoint-name {name}",
             lambda timeout: endpoints.wait_for_endpoint(aws.client("sagemaker"), name,
                                                         timeout=timeout)) is None:
        return 1
    if scaling:
        autoscaling.apply(aws, name, scaling)
        print(f"Autoscaling: {scaling.describe()}")
    print(f"Endpoint {name} is InService. {_next_steps(name, spec)}")
    return 0


def _invoke_async(args: argparse.Namespace) -> int:
    aws = connect_from(args)
    queued = async_invoke.submit(aws, args.endpoint, args.files, args.top_k, args.upload_to)
    if args.no_wait:
        for line in async_invoke.location_lines(queued):
            print(line)
        return 0
    try:
        answers = async_invoke.wait(aws, args.endpoint, queued,
                                    timeout=args.timeout or async_invoke.DEFAULT_TIMEOUT)
    except async_invoke.AsyncWaitTimeout as exc:
        answers = exc.answers
        pending = exc.pending
    else:
        pending = []
    for answer in answers:
        for line in async_invoke.answer_lines(answer):
            print(line, file=sys.stderr if answer.failed else sys.stdout)
    if pending:
        print(f"Stopped waiting after {args.timeout or async_invoke.DEFAULT_TIMEOUT:g} s; "
              f"{len(pending)} request(s) are still queued or running on the endpoint, and "
              "their answers will appear at:", file=sys.stderr)
        for line in async_invoke.location_lines(pending):
            print(line, file=sys.stderr)
        return 1
    failed = [a for a in answers if a.failed]
    if failed:
        raise UserError(f"{len(failed)} of {len(answers)} asynchronous request(s) failed (see "
                        f"above); the endpoint's log is in CloudWatch, log group "
                        f"/aws/sagemaker/Endpoints/{args.endpoint}.")
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    if bool(args.endpoint) == bool(args.url):
        raise UserError("Pass either --endpoint NAME (SageMaker) or --url http://HOST:PORT "
                        "(a local server).")
    if args.asynchronous:
        if args.url:
            raise UserError("--async sends requests through S3 to a SageMaker endpoint: use "
                            "--endpoint NAME, not --url.")
        if args.target_model:
            raise UserError("An asynchronous request has no --target-model: SageMaker's "
                            "multi-model endpoints answer in real time only.")
        return _invoke_async(args)
    async_only = [flag for flag, value in (("--no-wait", args.no_wait),
                                           ("--timeout", args.timeout),
                                           ("--upload-to", args.upload_to)) if value]
    if async_only:
        raise UserError(f"{', '.join(async_only)} {'is' if len(async_only) == 1 else 'are'} for "
                        "asynchronous endpoints: add --async.")
    if args.url:
        lines = invoke.invoke_url(args.url, args.files, args.top_k, args.target_model)
    else:
        lines = invoke.invoke_endpoint(connect_from(args), args.endpoint, args.files, args.top_k,
                                       args.target_model)
    for line in lines:
        print(line)
    return 0


def _existing_model(aws: Aws, name: str) -> str:
    sagemaker = aws.client("sagemaker")
    if describe_or_none(lambda: sagemaker.describe_model(ModelName=name)) is None:
        raise UserError(f"No model named '{name}' in {aws.region}. Create one with --training-job "
                        "NAME, or --model-data and --image.")
    return name


def cmd_transform(args: argparse.Namespace) -> int:
    name = jobs.check_job_name(args.job_name or jobs.job_name("transform"))
    opts = options.from_args(args)
    if args.model_name and opts.model_fields():
        raise UserError("--subnets, --security-groups and --network-isolation are settings of "
                        "the model byoc creates; --model-name uses an existing model as it is. "
                        "Drop them, or create the model from --training-job or --model-data.")
    code = _serving_code(args, "byoc transform", {})
    if args.model_name and code:
        raise UserError("--model-name uses an existing model as it is; --source-dir and "
                        "--entry-point go into a model byoc creates. Drop them, or create the "
                        "model from --training-job or --model-data.")
    spec = transform.TransformSpec(
        input_s3=args.input, output_s3=args.output, content_type=args.content_type,
        instance_type=args.instance_type or _config("instance_type", jobs.DEFAULT_INSTANCE_TYPE),
        instance_count=args.instance_count, max_payload_mb=args.max_payload_mb,
        max_concurrent=args.max_concurrent_transforms, options=opts)
    aws = connect_from(args)
    batches = transform.plan(aws, name, spec)
    for batch in batches:
        jobs.require_new_name(aws, "transform job", batch.job_name)
    model = (_existing_model(aws, args.model_name) if args.model_name
             else _model_from_flags(args, aws, name, opts, code=code))
    transform.start(aws, name, model, spec, batches)
    names = [b.job_name for b in batches]
    for batch in batches:
        print(f"Transform job {batch.job_name}: {batch.content_type}, "
              f"{f'{len(batch.keys)} object(s)' if batch.keys else 'the whole prefix'}")
    if args.no_wait:
        print("Follow them with aws sagemaker describe-transform-job --transform-job-name NAME")
        return 0
    stops = " and ".join(f"byoc stop --transform-job {n}" for n in names)
    if _wait(args, TRANSFORM_TIMEOUT,
             f"{'It goes' if len(names) == 1 else 'They go'} on; stop "
             f"{'it' if len(names) == 1 else 'them'} with {stops}",
             lambda timeout: transform.wait_for_all(aws.client("sagemaker"), names,
                                                    timeout=timeout)) is None:
        return 1
    outputs = transform.list_outputs(aws, args.output)
    print(f"{len(outputs)} output object(s) under {args.output}")
    for uri in outputs:
        print(uri)
    return 0


class _JobFlag(argparse.Action):
    """Stores `(kind, NAME)` in `job`: one destination for the four flags of `byoc stop`."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        namespace.job = (self.const, values)


def cmd_stop(args: argparse.Namespace) -> int:
    kind, name = args.job
    for line in stop.stop(connect_from(args), kind, name):
        print(line)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    gone, kept = endpoints.delete(connect_from(args), args.endpoint_name)
    for what in gone:
        print(f"deleted {what}")
    for what in kept:
        print(f"kept {what}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    role = argparse.ArgumentParser(add_help=False)
    role.add_argument("--role", help=f"SageMaker execution role ARN (default: {ROLE_ENV})")

    wait = argparse.ArgumentParser(add_help=False)
    wait.add_argument("--no-wait", action="store_true", help="start it and return")
    wait.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                      help="stop waiting after this long; what was started keeps running on AWS "
                           "(default: the job's --max-run or --max-wait + 30 min; tuning: that "
                           "for each round of parallel jobs; endpoints 1 h; transform 6 h)")

    p = add_aws_verb(subparsers, "push", cmd_push,
                     help="build the image and push it to ECR")
    p.add_argument("--variant", choices=tuple(ecr.DOCKERFILES), default="cpu",
                   help="Dockerfile (cpu) or Dockerfile.gpu (gpu)")
    p.add_argument("--repository", default=ecr.DEFAULT_REPOSITORY,
                   help="ECR repository (created if missing)")
    p.add_argument("--tag", help="image tag (default: "
                   + ", ".join(f"{tag} for {v}" for v, tag in ecr.DEFAULT_TAGS.items()) + ")")
    p.add_argument("--registry", help="push to this HOST:PORT instead of ECR's registry "
                                      "(default: BYOC_REGISTRY), with the login Docker has for "
                                      "it (docker login HOST); ECR's token goes to ECR only")
    p.add_argument("--context", default=".", help="build context holding the Dockerfiles")
    p.add_argument("--platform", choices=ecr.PLATFORMS, default=ecr.DEFAULT_PLATFORM,
                   help="what to build for, whatever this machine is (default linux/amd64: "
                        "SageMaker's x86 instances; linux/arm64 runs on Graviton endpoints only)")

    job = argparse.ArgumentParser(add_help=False)
    job.add_argument("--image", required=True, help="training image URI (see byoc push)")
    job.add_argument("--data", required=True,
                     help="local dataset directory (train/, validation/, test/ become channels) "
                          "or an s3:// prefix")
    job.add_argument("--job-name")
    job.add_argument("--instance-type", help=f"default {jobs.DEFAULT_INSTANCE_TYPE}")
    job.add_argument("--instance-count", type=positive_int, default=1)
    job.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                     help="hyperparameter, repeatable, e.g. --hp epochs=10")
    job.add_argument("--spot", action="store_true", help="managed spot training")
    job.add_argument("--max-run", type=positive_int, default=jobs.DEFAULT_MAX_RUN,
                     metavar="SECONDS")
    job.add_argument("--max-wait", type=positive_int, metavar="SECONDS",
                     help="with --spot: total time including waiting for capacity "
                          "(default 2 x --max-run)")
    job.add_argument("--upload-to", metavar="S3_URI",
                     help="where a local --data goes (default s3://BUCKET/byoc/input/DIGEST/, "
                          "named after its content); files already there with the same size "
                          "and checksum are not sent again")
    job.add_argument("--output", metavar="S3_URI",
                     help="output path (default s3://sagemaker-REGION-ACCOUNT/byoc/output)")
    job.add_argument("--distribution", choices=tuple(jobs.DISTRIBUTIONS), default="replicated",
                     help="with --instance-count above 1: every instance gets the whole train "
                          "channel (replicated), or a share of its files (sharded)")
    job.add_argument("--input-mode", choices=jobs.INPUT_MODES, default="File",
                     help="File copies the data before training; FastFile streams it from S3")
    job.add_argument("--env", action="append", metavar="KEY=VALUE",
                     help="environment variable for the container, repeatable")
    job.add_argument("--retries", type=positive_int, metavar="N",
                     help=f"retry the job up to N times (1-{jobs.MAX_RETRIES}) after an "
                          "internal SageMaker error")
    job.add_argument("--track", metavar="URI",
                     help="log the job to MLflow: http(s)://HOST:PORT or a SageMaker managed "
                          "MLflow ARN (sets MLFLOW_TRACKING_URI in the container)")
    job.add_argument("--experiment", metavar="NAME",
                     help="with --track: the MLflow experiment (default "
                          f"{tracking.DEFAULT_EXPERIMENT})")
    options.add_flags(job, what="job")
    code = job.add_argument_group("your code")
    sourcedir.add_flags(code, script="training script (default: byoc's trainer)")
    code.add_argument("--metric", action="append", metavar="NAME=REGEX",
                      help="a metric SageMaker reads from your log lines, repeatable: the "
                           "first capture group is the value, e.g. 'val_acc=val_acc: "
                           "([0-9.]+)'; with --entry-point only yours are sent, else byoc's "
                           "trainer's too")

    p = add_aws_verb(subparsers, "train", cmd_train, parents=[job, role, wait],
                     help="run a SageMaker training job with the image")
    p.add_argument("--checkpoint-s3", metavar="S3_URI",
                   help="checkpoint location (default OUTPUT/JOB/checkpoints)")
    p.add_argument("--download", metavar="DIR",
                   help="a new or empty directory to unpack output.tar.gz into (default "
                        "./JOB_NAME); byoc refuses one that holds files")
    p.add_argument("--keep-alive", type=positive_int, metavar="SECONDS",
                   help="keep the instances warm this long after the job (warm pools, up to "
                        f"{jobs.MAX_KEEP_ALIVE} s), so that the next job starts sooner")

    p = add_aws_verb(subparsers, "tune", cmd_tune, parents=[job, role, wait],
                     help="run a hyperparameter tuning job (objective validation:accuracy; "
                          "with --spot, trials keep no checkpoints)")
    p.add_argument("--max-jobs", type=positive_int, default=10)
    p.add_argument("--max-parallel-jobs", type=positive_int, default=2)
    p.add_argument("--strategy", choices=jobs.STRATEGIES, default="Bayesian")
    p.add_argument("--early-stopping", choices=jobs.EARLY_STOPPING, default="Off",
                   help="Auto stops trials that are unlikely to beat the best so far")
    p.add_argument("--warm-start", action="append", metavar="TUNING_JOB",
                   help="start from what these ended tuning jobs learned (repeatable, up to "
                        f"{jobs.MAX_WARM_START_PARENTS})")
    p.add_argument("--warm-start-type", choices=jobs.WARM_START_TYPES,
                   default="TransferLearning",
                   help="IdenticalDataAndAlgorithm when data and image are the same")
    p.add_argument("--objective-metric", default=OBJECTIVE_METRIC, metavar="NAME",
                   help=f"the metric to optimise (default {OBJECTIVE_METRIC}, byoc's trainer's; "
                        "with --entry-point, one of your --metric names)")
    p.add_argument("--objective-type", choices=jobs.OBJECTIVE_TYPES, default="Maximize")
    p.add_argument("--range", action="append", metavar="NAME=LOW:HIGH[:log]|NAME=A,B,C",
                   help="search this hyperparameter, repeatable; replaces byoc's search space "
                        "(learning_rate, epochs, batch_size, model, optimizer, augment), and "
                        f"is needed with --entry-point, e.g. --range {jobs.RANGE_EXAMPLE}")
    p.set_defaults(keep_alive=None)
    # No --checkpoint-s3: every trial would share it (see jobs.start_tuning).
    p.set_defaults(checkpoint_s3=None)

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--training-job", help="host the model of this completed training job")
    model.add_argument("--model-data", metavar="S3_URI", help="model.tar.gz to host (with --image)")
    model.add_argument("--image", help="serving image URI (with --model-data)")
    runs.add_deploy_flags(model)
    sourcedir.add_flags(model.add_argument_group("your code"),
                   script="module that defines your handlers (model_fn, input_fn, predict_fn, "
                          "output_fn); the model archive is repacked with the code under code/")

    p = add_aws_verb(subparsers, "deploy", cmd_deploy, parents=[model, role, wait],
                     help="host a model on an endpoint: real-time, serverless, "
                          "asynchronous or multi-model")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--instance-type", help=f"default {endpoints.DEFAULT_INSTANCE_TYPE}")
    p.add_argument("--instance-count", type=positive_int, default=1)
    p.add_argument("--env", action="append", metavar="KEY=VALUE",
                   help="environment variable for the serving container, repeatable (e.g. "
                        "SAGEMAKER_MODEL_SERVER_WORKERS=2)")
    options.add_flags(p, what="model, endpoint config and endpoint",
                      kms="the endpoint instances' storage volumes")
    hosting.add_flags(p)
    autoscaling.add_flags(p)

    p = add_aws_verb(subparsers, "invoke", cmd_invoke,
                     help="send files to an endpoint (or a local server) and print "
                          "the top-k classes")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".png .jpg .ppm .npy .json or .csv, one request each")
    p.add_argument("--endpoint", help="SageMaker endpoint name")
    p.add_argument("--url", help="local server, e.g. http://127.0.0.1:8080")
    p.add_argument("--top-k", type=positive_int, default=5)
    p.add_argument("--target-model", metavar="NAME.tar.gz",
                   help="on a multi-model endpoint: the model to use (see byoc models list)")
    group = p.add_argument_group("asynchronous endpoints")
    group.add_argument("--async", dest="asynchronous", action="store_true",
                       help="send the files through S3 to an asynchronous endpoint and wait "
                            "for its answers")
    group.add_argument("--upload-to", metavar="S3_PREFIX",
                       help="where the inputs go (default s3://BUCKET/byoc/async-input/...)")
    group.add_argument("--no-wait", action="store_true",
                       help="queue the requests and print where the answers will appear")
    group.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                       help=f"stop waiting after this long (default "
                            f"{async_invoke.DEFAULT_TIMEOUT} s)")

    p = add_aws_verb(subparsers, "transform", cmd_transform, parents=[model, role, wait],
                     help="batch transform over an S3 prefix of images")
    p.add_argument("--model-name", help="an existing SageMaker model")
    p.add_argument("--input", required=True, metavar="S3_PREFIX")
    p.add_argument("--output", required=True, metavar="S3_URI")
    p.add_argument("--content-type",
                   help="send every object as this type (default: by each file's extension; a "
                        "prefix that mixes types runs one job per type)")
    p.add_argument("--job-name",
                   help="default byoc-transform-DATE-TIME; with several file types, each job "
                        "is named JOB-TYPE (JOB-png, JOB-jpg)")
    p.add_argument("--instance-type", help=f"default {jobs.DEFAULT_INSTANCE_TYPE}")
    p.add_argument("--instance-count", type=positive_int, default=1)
    p.add_argument("--max-payload-mb", type=int, metavar="MB",
                   help=f"largest request, 1-{transform.MAX_PAYLOAD_MB} (SageMaker's default: "
                        "6); every file must fit")
    p.add_argument("--max-concurrent-transforms", type=positive_int, metavar="N",
                   help="parallel requests per instance; N x the payload limit is at most "
                        f"{transform.MAX_PAYLOAD_MB} MB")
    options.add_flags(p, what="model and transform jobs",
                      kms="the output and the instances' volumes")

    p = add_aws_verb(subparsers, "stop", cmd_stop,
                     help="stop a training, tuning, transform or Autopilot job, and say what it "
                          "leaves behind")
    which = p.add_mutually_exclusive_group(required=True)
    for kind, flag in stop.FLAGS.items():
        which.add_argument(flag, dest="job", action=_JobFlag, const=kind, metavar="NAME",
                           help=f"the {kind} to stop")

    p = add_aws_verb(subparsers, "delete", cmd_delete,
                     help="delete an endpoint, its config, its model and its autoscaling")
    p.add_argument("--endpoint-name", required=True)

    autoscaling.register(subparsers)
    models.register(subparsers)
