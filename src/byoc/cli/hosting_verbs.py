"""`byoc deploy`, `invoke`, `transform` and `delete`: models on endpoints and in batch jobs."""

from __future__ import annotations

import argparse
import sys

from byoc.cli import scaling_verbs as autoscaling_flags
from byoc.cli import update_flags
from byoc.cli.aws_flags import (
    add_aws_verb,
    add_force,
    add_no_wait,
    add_options_flags,
    add_timeout,
    config_value,
    connect_from,
    duration,
    options_from,
    role_parent,
    said_no_wait,
    wait_or_none,
    wait_parent,
)
from byoc.cli.code_flags import add_source_flags
from byoc.cli.hosting_flags import (
    add_hosting_flags,
    hosting_from,
    model_source_from,
    scaling_from,
)
from byoc.cli.runs_verbs import add_run_flags
from byoc.cli.types import positive_int
from byoc.driver import (
    async_invoke,
    deployment,
    endpoints,
    invoke,
    jobs,
    transform,
)
from byoc.errors import UserError


def cmd_deploy(args: argparse.Namespace) -> int:
    guardrails = update_flags.guardrails_from(args)
    if args.update:
        return update_flags.cmd_update(args, guardrails)
    opts = options_from(args)
    spec = hosting_from(args, config_value("endpoint_instance_type",
                                           endpoints.DEFAULT_INSTANCE_TYPE))
    request = deployment.DeployRequest(args.endpoint_name, model_source_from(args), spec,
                                       environment=args.env, options=opts)
    deployment.check_deploy(request)
    request.scaling = scaling_from(args, spec)
    aws = connect_from(args)
    name = args.endpoint_name
    started = deployment.start_deploy(aws, request)
    if said_no_wait(args, "endpoint", name):
        return 0
    billed = "per request" if spec.serverless else "per instance-hour"
    done = wait_or_none(
        args, deployment.ENDPOINT_TIMEOUT,
        f"SageMaker goes on creating it; once InService it is billed {billed} until you "
        f"delete it: byoc delete --endpoint-name {name}",
        lambda timeout: deployment.wait_for_deploy(aws, started, timeout))
    if done is None:
        return 1
    if done.scaling:
        print(f"Autoscaling: {done.scaling.describe()}")
    print(f"Endpoint {name} is InService. {done.next_steps()}")
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
        answers = invoke.invoke_url(args.url, args.files, args.top_k, args.target_model)
    else:
        answers = invoke.invoke_endpoint(connect_from(args), args.endpoint, args.files,
                                         args.top_k, args.target_model)
    for answer in answers:
        for line in answer.lines():
            print(line)
    return 0


def cmd_transform(args: argparse.Namespace) -> int:
    name = jobs.check_job_name(args.job_name or jobs.job_name("transform"))
    opts = options_from(args)
    source = None if args.model_name else model_source_from(args)
    deployment.check_transform(opts, model_source_from(args), args.model_name)
    spec = transform.TransformSpec(
        input_s3=args.input, output_s3=args.output, content_type=args.content_type,
        instance_type=args.instance_type or config_value("instance_type",
                                                          jobs.DEFAULT_INSTANCE_TYPE),
        instance_count=args.instance_count, max_payload_mb=args.max_payload_mb,
        max_concurrent=args.max_concurrent_transforms, options=opts)
    aws = connect_from(args)
    started = deployment.start_transform(aws, name, spec, source, args.model_name)
    names = started.job_names
    for batch in started.batches:
        print(f"Transform job {batch.job_name}: {batch.content_type}, "
              f"{f'{len(batch.keys)} object(s)' if batch.keys else 'the whole prefix'}")
    if args.no_wait:
        print("Follow them with aws sagemaker describe-transform-job --transform-job-name NAME")
        return 0
    stops = " and ".join(f"byoc stop --transform-job {n}" for n in names)
    outputs = wait_or_none(
        args, deployment.TRANSFORM_TIMEOUT,
        f"{'It goes' if len(names) == 1 else 'They go'} on; stop "
        f"{'it' if len(names) == 1 else 'them'} with {stops}",
        lambda timeout: deployment.wait_for_transform(aws, started, timeout))
    if outputs is None:
        return 1
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
    role = role_parent()
    hour = duration(deployment.ENDPOINT_TIMEOUT)
    deploy_wait = f"{hour}; with --update, {hour} beyond its baking and --termination-wait"

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--training-job", help="host the model of this completed training job")
    model.add_argument("--model-data", metavar="S3_URI", help="model.tar.gz to host (with --image)")
    model.add_argument("--image", help="serving image URI (with --model-data)")
    add_run_flags(model)
    add_source_flags(model.add_argument_group("your code"),
                   script="module that defines your handlers (model_fn, input_fn, predict_fn, "
                          "output_fn); the model archive is repacked with the code under code/")

    p = add_aws_verb(subparsers, "deploy", cmd_deploy, parents=[model, role,
                                                                wait_parent(deploy_wait)],
                     help="host a model on an endpoint: real-time, serverless, "
                          "asynchronous or multi-model")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--tuning-job", metavar="NAME",
                   help="host the model of this tuning job's best training job")
    group = p.add_argument_group("Model Registry")
    group.add_argument("--package", metavar="ARN",
                       help="host this registered version (a model package ARN, see byoc "
                            "registry list); it must be Approved")
    add_force(group, "with --package: host it even if it is not Approved")
    p.add_argument("--instance-type", help=f"default {endpoints.DEFAULT_INSTANCE_TYPE}; with "
                                          "--update, the endpoint's")
    p.add_argument("--instance-count", type=positive_int,
                   help="default 1; with --update, as many as the endpoint runs now")
    p.add_argument("--env", action="append", metavar="KEY=VALUE",
                   help="environment variable for the serving container, repeatable (e.g. "
                        "SAGEMAKER_MODEL_SERVER_WORKERS=2)")
    add_options_flags(p, what="model, endpoint config and endpoint",
                      kms="the endpoint instances' storage volumes")
    add_hosting_flags(p)
    autoscaling_flags.add_scaling_flags(p)
    update_flags.add_update_flags(p)

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
    add_no_wait(group, "queue the requests and print where the answers will appear")
    add_timeout(group, duration(async_invoke.DEFAULT_TIMEOUT),
                "stop waiting after this long; the requests stay queued on the endpoint")

    p = add_aws_verb(subparsers, "transform", cmd_transform, parents=[
                         model, role, wait_parent(duration(deployment.TRANSFORM_TIMEOUT))],
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
