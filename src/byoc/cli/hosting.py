"""`byoc deploy`, `invoke`, `transform` and `delete`: models on endpoints and in batch jobs."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from byoc.cli import autoscaling as autoscaling_flags
from byoc.cli.aws_flags import (
    add_aws_verb,
    add_options_flags,
    config_value,
    connect_from,
    options_from,
    role_parent,
    said_no_wait,
    wait_or_none,
    wait_parent,
)
from byoc.cli.code_flags import add_source_flags
from byoc.cli.runs import add_run_flags, training_job_from_flags
from byoc.cli.types import positive_float, positive_int, whole_number
from byoc.driver import (
    async_invoke,
    autoscaling,
    aws_options,
    ecr,
    endpoints,
    hosting,
    invoke,
    jobs,
    models,
    repack,
    sourcedir,
    transform,
)
from byoc.driver.aws import ROLE_ENV, Aws, describe_or_none, resolve_role
from byoc.errors import UserError

log = logging.getLogger(__name__)

ENDPOINT_TIMEOUT = 3600
TRANSFORM_TIMEOUT = 6 * 3600


def _multi_model(args: argparse.Namespace, aws: Aws, name: str, opts: aws_options.AwsOptions,
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
    endpoints.create_model(aws, name, image=image, model_data=prefix, role=role, options=opts,
                           mode="MultiModel", environment=environment)
    if args.training_job:
        target = f"{args.training_job}{models.SUFFIX}"
        if any(m.target == target for m in models.stored_under(aws, prefix)):
            log.info("%s is already under %s", target, prefix)
        else:
            models.add_training_job(aws, prefix, args.training_job)
    return name


def _serving_code(args: argparse.Namespace, verb: str,
                  environment: dict[str, str]) -> sourcedir.SourceCode | None:
    """The handlers of --source-dir and --entry-point, checked before anything is created."""
    code = sourcedir.from_flags(args.source_dir, args.entry_point)
    sourcedir.require_entry_point(code, verb)
    sourcedir.check_environment(code, environment)
    return code


def _model_from_flags(args: argparse.Namespace, aws, default_name: str,
                      opts: aws_options.AwsOptions, spec: hosting.Hosting | None = None,
                      environment: dict[str, str] | None = None,
                      code: sourcedir.SourceCode | None = None) -> str:
    """Create the model to host: from a training job (or the tracked run that names one), or
    from --model-data and --image; for a multi-model endpoint, the endpoint's model over the
    prefix. With `code`, the model archive is repacked with it under code/ and the environment
    names the handlers, as the SDK does. A model with an environment is named `default_name`,
    since a training job's own model has none."""
    environment = environment or {}
    args.training_job = training_job_from_flags(args)
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
    if not autoscaling_flags.given(args):
        return None
    if spec.serverless:
        raise UserError("A serverless endpoint scales by itself up to --max-concurrency; drop "
                        "the autoscaling flags, or --serverless-memory.")
    scaling = autoscaling_flags.scaling_from(args)
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
    opts = options_from(args)
    spec = hosting_from(args, config_value("endpoint_instance_type",
                                           endpoints.DEFAULT_INSTANCE_TYPE))
    environment = {**spec.model_environment(), **aws_options.parse_env(args.env)}
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
    if said_no_wait(args, "endpoint", name):
        return 0
    billed = "per request" if spec.serverless else "per instance-hour"
    if wait_or_none(args, ENDPOINT_TIMEOUT,
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
    opts = options_from(args)
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
        instance_type=args.instance_type or config_value("instance_type",
                                                          jobs.DEFAULT_INSTANCE_TYPE),
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
    if wait_or_none(args, TRANSFORM_TIMEOUT,
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


def cmd_delete(args: argparse.Namespace) -> int:
    gone, kept = endpoints.delete(connect_from(args), args.endpoint_name)
    for what in gone:
        print(f"deleted {what}")
    for what in kept:
        print(f"kept {what}")
    return 0




def register(subparsers: argparse._SubParsersAction) -> None:
    """`byoc deploy`, `invoke` and `transform`."""
    role, wait = role_parent(), wait_parent()

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--training-job", help="host the model of this completed training job")
    model.add_argument("--model-data", metavar="S3_URI", help="model.tar.gz to host (with --image)")
    model.add_argument("--image", help="serving image URI (with --model-data)")
    add_run_flags(model)
    add_source_flags(model.add_argument_group("your code"),
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
    add_options_flags(p, what="model, endpoint config and endpoint",
                      kms="the endpoint instances' storage volumes")
    add_hosting_flags(p)
    autoscaling_flags.add_scaling_flags(p)

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
    add_options_flags(p, what="model and transform jobs",
                      kms="the output and the instances' volumes")


def register_delete(subparsers: argparse._SubParsersAction) -> None:
    """`byoc delete`, listed after `byoc stop`."""
    p = add_aws_verb(subparsers, "delete", cmd_delete,
                     help="delete an endpoint, its config, its model and its autoscaling")
    p.add_argument("--endpoint-name", required=True)


_HOSTING_FLAGS = ("instance_type", "instance_count", "serverless_memory", "max_concurrency",
                  "provisioned_concurrency", "multi_model", "model_prefix", "async_output",
                  "async_failure", "max_concurrent_invocations", "capture", "capture_percent",
                  "startup_timeout", "model_download_timeout", "inference_ami_version",
                  "subnets", "network_isolation")


def hosting_from(args: argparse.Namespace, default_instance_type: str) -> hosting.Hosting:
    """The `Hosting` that `byoc deploy`'s flags ask for, checked."""
    return hosting.resolve(default_instance_type=default_instance_type,
                           **{name: getattr(args, name) for name in _HOSTING_FLAGS})


def add_hosting_flags(parser: argparse.ArgumentParser) -> None:
    """`byoc deploy`'s hosting flags, in help groups by feature."""
    group = parser.add_argument_group("multi-model endpoint")
    group.add_argument("--multi-model", action="store_true",
                       help="host every model under --model-prefix (Mode=MultiModel); add "
                            "models with byoc models add, invoke with --target-model")
    group.add_argument("--model-prefix", metavar="S3_PREFIX",
                       help="with --multi-model: the S3 prefix that holds the models' .tar.gz")

    group = parser.add_argument_group("serverless")
    group.add_argument("--serverless-memory", type=whole_number, metavar="MB",
                       help="host serverless with this much memory: "
                            f"{', '.join(map(str, hosting.SERVERLESS_MEMORY_MB))}")
    group.add_argument("--max-concurrency", type=whole_number, metavar="N",
                       help=f"concurrent requests, 1-{hosting.MAX_SERVERLESS_CONCURRENCY} "
                            "(default 1)")
    group.add_argument("--provisioned-concurrency", type=whole_number, metavar="N",
                       help="containers kept warm, at most --max-concurrency")

    group = parser.add_argument_group("asynchronous")
    group.add_argument("--async-output", metavar="S3_URI",
                       help="make the endpoint asynchronous; its answers go here (invoke it "
                            "with byoc invoke --async)")
    group.add_argument("--async-failure", metavar="S3_URI",
                       help="where the errors of failed requests go (default "
                            f"ASYNC_OUTPUT/{hosting.DEFAULT_FAILURE_PREFIX})")
    group.add_argument("--max-concurrent-invocations", type=whole_number, metavar="N",
                       help=f"requests each instance works on at once, 1-"
                            f"{hosting.MAX_CONCURRENT_INVOCATIONS} (default: SageMaker's choice)")

    group = parser.add_argument_group("data capture and start-up")
    group.add_argument("--capture", metavar="S3_URI",
                       help="capture requests and answers here (JSON and CSV as text)")
    group.add_argument("--capture-percent", type=whole_number, metavar="P",
                       help="share of requests captured, 0-100 (default 100)")
    group.add_argument("--startup-timeout", type=whole_number, metavar="SECONDS",
                       help=f"time for the container to answer /ping, {hosting.TIMEOUT_RANGE[0]}-"
                            f"{hosting.TIMEOUT_RANGE[1]}")
    group.add_argument("--model-download-timeout", type=whole_number, metavar="SECONDS",
                       help=f"time to download and extract the model, {hosting.TIMEOUT_RANGE[0]}-"
                            f"{hosting.TIMEOUT_RANGE[1]}")
    group.add_argument("--inference-ami-version", choices=tuple(hosting.INFERENCE_AMIS),
                       metavar="AMI",
                       help="GPU host image (default on GPU instance types: "
                            f"{hosting.default_inference_ami()}, whose NVIDIA driver runs the "
                            "image's "
                            f"CUDA {'.'.join(map(str, hosting.IMAGE_CUDA))}); one of "
                            f"{', '.join(hosting.INFERENCE_AMIS)}")
