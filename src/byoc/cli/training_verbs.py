"""`byoc push`, `train`, `tune` and `stop`: the image and the training and tuning jobs on AWS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from byoc import tracking_config
from byoc.cli.aws_flags import (
    add_aws_verb,
    add_options_flags,
    connect_from,
    duration,
    options_from,
    role_parent,
    said_no_wait,
    wait_or_none,
    wait_parent,
)
from byoc.cli.code_flags import add_source_flags
from byoc.cli.types import positive_int
from byoc.driver import channels, ecr, jobs, stop, train_and_tune
from byoc.driver.aws import translate_errors
from byoc.errors import UserError
from byoc.metric_lines import OBJECTIVE_METRIC

# `--objective METRIC:max|min`: the suffix, and the --objective-type it stands for.
OBJECTIVE_SUFFIXES = {"max": "Maximize", "min": "Minimize"}
# The trials' table after `byoc tune` waited: a courtesy once the job has ended, so a listing
# that keeps failing gives up after a few tries instead of byoc's minute of retries.
BOARD_RETRIES = {"max_attempts": 3, "mode": "standard"}


def training_request(args: argparse.Namespace) -> train_and_tune.TrainingRequest:
    """The training job the flags ask for; `byoc tune` runs it in each trial, `byoc pipeline
    upsert` in its training or tuning step."""
    return train_and_tune.TrainingRequest(
        image=args.image, data=args.data, role=args.role, hyperparameters=args.hp,
        instance_type=args.instance_type, instance_count=args.instance_count, spot=args.spot,
        max_run=args.max_run, max_wait=args.max_wait, upload_to=args.upload_to,
        output=args.output, distribution=args.distribution, input_mode=args.input_mode,
        environment=args.env, retries=args.retries, track=args.track,
        experiment=args.experiment, options=options_from(args), source_dir=args.source_dir,
        entry_point=args.entry_point, metrics=args.metric, checkpoint_s3=args.checkpoint_s3,
        keep_alive=args.keep_alive)


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
    job = train_and_tune.start_training(aws, training_request(args), name)
    if said_no_wait(args, "training job", name):
        return 0
    result = wait_or_none(
        args, job.default_timeout,
        f"It ends by itself within its limit (--max-run{', --max-wait' if job.spec.spot else ''}"
        f"); follow it with aws sagemaker describe-training-job --training-job-name {name}, or "
        f"stop it: byoc stop --training-job {name}",
        lambda timeout: train_and_tune.wait_for_training(aws, job, timeout))
    if result is None:
        return 1
    print(f"Model: {result.model_data}")
    if result.billing:
        print(result.billing)
    for line in train_and_tune.fetch_output(aws, result, dest).summary:
        print(line)
    return 0


def objective_from(args: argparse.Namespace) -> tuple[str, str]:
    """The objective metric and its direction: `--objective METRIC:max|min`, or
    `--objective-metric` and `--objective-type` (their defaults when none is given)."""
    long_form = [flag for flag, value in (("--objective-metric", args.objective_metric),
                                          ("--objective-type", args.objective_type)) if value]
    if args.objective is None:
        return (args.objective_metric or OBJECTIVE_METRIC, args.objective_type or "Maximize")
    if long_form:
        raise UserError(f"--objective {args.objective} says the metric and its direction; drop "
                        f"{' and '.join(long_form)}, or --objective.")
    metric, sep, suffix = args.objective.rpartition(":")
    if not sep or not metric or suffix not in OBJECTIVE_SUFFIXES:
        raise UserError(f"--objective {args.objective}: expected METRIC:max or METRIC:min, e.g. "
                        f"--objective {OBJECTIVE_METRIC}:max or --objective validation:loss:min.")
    return metric, OBJECTIVE_SUFFIXES[suffix]


def _print_leaderboard(aws, name: str, desc: dict) -> None:
    """The trials after the wait; a listing that fails leaves the finished job's result as it
    is, and says how to list them later."""
    try:
        with translate_errors():
            board = jobs.leaderboard(aws, name, desc=desc,
                                     sagemaker=aws.client("sagemaker", retries=BOARD_RETRIES))
    except UserError as exc:
        print(f"The trials could not be listed: {exc} List them later with byoc tuning "
              f"leaderboard {name}", file=sys.stderr)
        return
    for line in board.lines():
        print(line)


def tuning_spec(args: argparse.Namespace) -> jobs.TuningSpec:
    """How the flags of `add_tuning_flags` say to search."""
    metric, direction = objective_from(args)
    return jobs.TuningSpec(
        max_jobs=args.max_jobs, max_parallel_jobs=args.max_parallel_jobs,
        strategy=args.strategy, early_stopping=args.early_stopping,
        warm_start=tuple(args.warm_start or ()), warm_start_type=args.warm_start_type,
        objective_metric=metric, objective_type=direction,
        ranges=jobs.parse_ranges(args.range))


def cmd_tune(args: argparse.Namespace) -> int:
    name = args.job_name or jobs.job_name("tune")
    tuning = tuning_spec(args)
    jobs.check_tuning(name, tuning)
    aws = connect_from(args)
    job = train_and_tune.start_tuning(aws, training_request(args), tuning, name)
    if said_no_wait(args, "hyper parameter tuning job", name):
        return 0
    result = wait_or_none(
        args, train_and_tune.tuning_timeout(job, tuning),
        f"Its training jobs go on; stop them all with byoc stop --tuning-job {name}",
        lambda timeout: train_and_tune.wait_for_tuning(aws, job, tuning, timeout))
    if result is None:
        return 1
    for line in result.lines():
        print(line)
    _print_leaderboard(aws, name, result.description)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    board = jobs.leaderboard(connect_from(args), args.job, args.top)
    for line in board.lines():
        print(line)
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



def training_flags() -> argparse.ArgumentParser:
    """The flags of the training job that `byoc train`, `tune` and `pipeline upsert` run,
    as a parent parser."""
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
    job.add_argument("--distribution", choices=tuple(channels.DISTRIBUTIONS), default="replicated",
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
                          f"{tracking_config.DEFAULT_EXPERIMENT})")
    add_options_flags(job, what="job")
    code = job.add_argument_group("your code")
    add_source_flags(code, script="training script (default: byoc's trainer)")
    code.add_argument("--metric", action="append", metavar="NAME=REGEX",
                      help="a metric SageMaker reads from your log lines, repeatable: the "
                           "first capture group is the value, e.g. 'val_acc=val_acc: "
                           "([0-9.]+)'; with --entry-point only yours are sent, else byoc's "
                           "trainer's too")
    return job


def add_tuning_flags(p: argparse.ArgumentParser) -> None:
    """How a tuning job searches: limits, strategy, warm start, objective and ranges."""
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
    p.add_argument("--objective-metric", metavar="NAME",
                   help=f"the metric to optimise (default {OBJECTIVE_METRIC}, byoc's trainer's; "
                        "with --entry-point, one of your --metric names)")
    p.add_argument("--objective-type", choices=jobs.OBJECTIVE_TYPES,
                   help="default Maximize")
    p.add_argument("--objective", metavar="METRIC:max|min",
                   help="the metric and its direction in one flag, e.g. --objective "
                        "validation:loss:min; instead of --objective-metric and --objective-type")
    p.add_argument("--range", action="append", metavar="NAME=LOW:HIGH[:log]|NAME=A,B,C",
                   help="search this hyperparameter, repeatable; replaces byoc's search space "
                        "(learning_rate, epochs, batch_size, model, optimizer, augment), and "
                        f"is needed with --entry-point, e.g. --range {jobs.RANGE_EXAMPLE}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """`byoc push`, `train` and `tune`."""
    role = role_parent()
    margin = duration(train_and_tune.WAIT_MARGIN)

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

    job = training_flags()

    p = add_aws_verb(subparsers, "train", cmd_train, parents=[job, role, wait_parent(
                         f"the job's --max-run, or --max-wait with --spot, + {margin}")],
                     help="run a SageMaker training job with the image")
    p.add_argument("--checkpoint-s3", metavar="S3_URI",
                   help="checkpoint location (default OUTPUT/JOB/checkpoints)")
    p.add_argument("--download", metavar="DIR",
                   help="a new or empty directory to unpack output.tar.gz into (default "
                        "./JOB_NAME); byoc refuses one that holds files")
    p.add_argument("--keep-alive", type=positive_int, metavar="SECONDS",
                   help="keep the instances warm this long after the job (warm pools, up to "
                        f"{jobs.MAX_KEEP_ALIVE} s), so that the next job starts sooner")

    p = add_aws_verb(subparsers, "tune", cmd_tune, parents=[job, role, wait_parent(
                         "the trials' --max-run, or --max-wait with --spot, for each round "
                         f"of --max-parallel-jobs trials, + {margin}")],
                     help="run a hyperparameter tuning job (objective validation:accuracy; "
                          "with --spot, trials keep no checkpoints)")
    add_tuning_flags(p)
    p.set_defaults(keep_alive=None)
    # No --checkpoint-s3: every trial would share it (see jobs.start_tuning).
    p.set_defaults(checkpoint_s3=None)


def register_tuning(subparsers: argparse._SubParsersAction) -> None:
    """`byoc tuning leaderboard`, listed after `byoc tune`."""
    tuning = subparsers.add_parser("tuning", help="a tuning job's trials: byoc tuning "
                                                  "leaderboard JOB")
    actions = tuning.add_subparsers(dest="tuning_command", metavar="ACTION", required=True)
    p = add_aws_verb(actions, "leaderboard", cmd_leaderboard,
                     help="a tuning job's trials (ended or running), best first: status, "
                          "objective and the hyperparameters its ranges tuned")
    p.add_argument("job", metavar="JOB", help="the tuning job's name")
    p.add_argument("--top", type=positive_int, metavar="N", help="the N best trials only")


def register_stop(subparsers: argparse._SubParsersAction) -> None:
    """`byoc stop`, listed after the hosting verbs."""
    p = add_aws_verb(subparsers, "stop", cmd_stop,
                     help="stop a training, tuning, transform or Autopilot job, and say what it "
                          "leaves behind")
    which = p.add_mutually_exclusive_group(required=True)
    for kind, flag in stop.FLAGS.items():
        which.add_argument(flag, dest="job", action=_JobFlag, const=kind, metavar="NAME",
                           help=f"the {kind} to stop")

