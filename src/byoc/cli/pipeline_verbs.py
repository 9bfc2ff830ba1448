"""`byoc pipeline upsert|start|status|delete`: a SageMaker Pipeline that trains (or tunes), gates
on a metric and registers the model."""

from __future__ import annotations

import argparse
import sys

from byoc.cli.aws_flags import (
    add_aws_verb,
    add_force,
    connect_from,
    duration,
    role_parent,
    wait_or_none,
    wait_parent,
)
from byoc.cli.training_verbs import (
    add_tuning_flags,
    training_flags,
    training_request,
    tuning_spec,
)
from byoc.driver import pipeline_definition, pipelines, train_and_tune
from byoc.errors import UserError


def _request(args: argparse.Namespace) -> pipelines.PipelineRequest:
    if args.job_name:
        raise UserError("A pipeline names the jobs of each execution itself: drop --job-name.")
    search = [flag for flag, value in (
        ("--range", args.range), ("--objective", args.objective),
        ("--objective-metric", args.objective_metric),
        ("--objective-type", args.objective_type), ("--warm-start", args.warm_start)) if value]
    if search and not args.tune:
        raise UserError(f"{', '.join(search)} shape a tuning step: add --tune, or drop them.")
    request = pipelines.PipelineRequest(
        name=args.name, training=training_request(args), gate=args.gate, group=args.group,
        tuning=tuning_spec(args) if args.tune else None, description=args.description)
    pipelines.check_upsert(request)
    return request


def cmd_upsert(args: argparse.Namespace) -> int:
    request = _request(args)
    aws = connect_from(args)
    if args.definition:
        done = pipelines.write_definition(aws, request, args.definition)
    else:
        done = pipelines.upsert(aws, request)
    for line in done.lines():
        print(line, file=sys.stderr)
    if done.arn:
        print(done.arn)  # alone on standard output: ARN=$(byoc pipeline upsert ...)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    pipelines.check_name(args.name)
    pipelines.check_params(args.param)
    aws = connect_from(args)
    execution = pipelines.start(aws, args.name, args.param, args.description)
    print(execution.arn)
    if args.no_wait:
        print(f"Pipeline {args.name} started; follow it with byoc pipeline status {args.name}",
              file=sys.stderr)
        return 0
    desc = wait_or_none(
        args, execution.default_timeout,
        f"Follow it with byoc pipeline status {args.name}",
        lambda timeout: pipelines.wait_for_execution(aws, execution, timeout))
    if desc is None:
        return 1
    print(f"Pipeline {args.name} execution {execution.execution_id}: "
          f"{desc['PipelineExecutionStatus']}. Its steps: byoc pipeline status {args.name}",
          file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    pipelines.check_name(args.name)
    print("\n".join(pipelines.status(connect_from(args), args.name).lines()))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    pipelines.check_name(args.name)
    print("\n".join(pipelines.delete(connect_from(args), args.name, args.force)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """`byoc pipeline` and its actions."""
    pipeline = subparsers.add_parser(
        "pipeline", help="a SageMaker Pipeline: train or tune, gate on a metric, register the "
                         "model")
    actions = pipeline.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)

    p = add_aws_verb(actions, "upsert", cmd_upsert, parents=[training_flags(), role_parent()],
                     help="create the pipeline, or update the one byoc made")
    p.add_argument("name", metavar="NAME", help="the pipeline's name")
    p.add_argument("--gate", required=True, metavar="METRIC>=X",
                   help="register the model only if the job's metric passes, e.g. --gate "
                        f"'{pipeline_definition.GATE_EXAMPLE}' (or <=, >, <); with --tune, "
                        "METRIC is the objective. X is the parameter "
                        f"{pipeline_definition.THRESHOLD}'s default")
    p.add_argument("--group", required=True,
                   help="the model package group the model goes into, pending approval "
                        "(created, tagged as byoc's, if missing)")
    p.add_argument("--description", metavar="TEXT", help="one line kept with the pipeline")
    p.add_argument("--definition", metavar="FILE",
                   help="write the definition (JSON) to FILE instead of creating or updating "
                        "the pipeline; the data is still uploaded, as the definition names it")
    p.add_argument("--checkpoint-s3", metavar="S3_URI",
                   help="checkpoint location (default OUTPUT/EXECUTION_ID/checkpoints)")
    tune = p.add_argument_group("tuning (with --tune)")
    tune.add_argument("--tune", action="store_true",
                      help="a tuning step instead of a training step; the best trial's model "
                           "is registered")
    add_tuning_flags(tune)
    p.set_defaults(keep_alive=None)

    p = add_aws_verb(actions, "start", cmd_start, parents=[wait_parent(
                         "the limit of its training step, or of its tuning step's rounds of "
                         f"parallel trials, + {duration(train_and_tune.WAIT_MARGIN)}")],
                     help="start an execution and wait for it; prints its ARN")
    p.add_argument("name", metavar="NAME", help="the pipeline's name")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help=f"a parameter's value for this execution, repeatable: "
                        f"{pipeline_definition.DATA} (an s3:// prefix), "
                        f"{pipeline_definition.INSTANCE_TYPE}, {pipeline_definition.THRESHOLD}")
    p.add_argument("--description", metavar="TEXT", help="one line kept with the execution")

    p = add_aws_verb(actions, "status", cmd_status,
                     help="the latest execution and the state of each of its steps")
    p.add_argument("name", metavar="NAME", help="the pipeline's name")

    p = add_aws_verb(actions, "delete", cmd_delete,
                     help="delete a pipeline byoc made (its registered versions stay)")
    p.add_argument("name", metavar="NAME", help="the pipeline's name")
    add_force(p, "delete it while an execution runs (SageMaker stops it)")
