"""`byoc push`, `train`, `tune` and `stop`: the image and the training and tuning jobs on AWS."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from byoc import tracking
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
from byoc.cli.types import positive_int
from byoc.driver import aws_options, ecr, jobs, metrics, sourcedir, stop
from byoc.driver.aws import Aws, data_bucket, resolve_role, split_s3_uri
from byoc.errors import UserError
from byoc.metric_lines import OBJECTIVE_METRIC

log = logging.getLogger(__name__)

# How long a verb waits by default. SageMaker ends a training job at its own limits (--max-run,
# or --max-wait with --spot), so the wait outlasts them by a margin for provisioning and upload.
WAIT_MARGIN = 1800


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
        instance_type=args.instance_type or config_value("instance_type",
                                                          jobs.DEFAULT_INSTANCE_TYPE),
        instance_count=args.instance_count, max_run=args.max_run, spot=args.spot,
        max_wait=args.max_wait, checkpoint_s3=args.checkpoint_s3,
        environment={**aws_options.parse_env(args.env), **track}, retries=args.retries,
        keep_alive=args.keep_alive, input_mode=args.input_mode, distribution=args.distribution,
        options=options_from(args), metric_definitions=metric_definitions,
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
    if said_no_wait(args, "training job", name):
        return 0
    desc = wait_or_none(
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
    if said_no_wait(args, "hyper parameter tuning job", name):
        return 0
    rounds = -(-args.max_jobs // args.max_parallel_jobs)
    desc = wait_or_none(
        args, rounds * _job_limit(spec) + WAIT_MARGIN,
        f"Its training jobs go on; stop them all with byoc stop --tuning-job {name}",
        lambda timeout: jobs.wait_for_tuning(aws.client("sagemaker"), name, timeout=timeout))
    if desc is None:
        return 1
    for line in jobs.best_job_lines(desc):
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



def register(subparsers: argparse._SubParsersAction) -> None:
    """`byoc push`, `train` and `tune`."""
    role, wait = role_parent(), wait_parent()

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
    add_options_flags(job, what="job")
    code = job.add_argument_group("your code")
    add_source_flags(code, script="training script (default: byoc's trainer)")
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


def register_stop(subparsers: argparse._SubParsersAction) -> None:
    """`byoc stop`, listed after the hosting verbs."""
    p = add_aws_verb(subparsers, "stop", cmd_stop,
                     help="stop a training, tuning, transform or Autopilot job, and say what it "
                          "leaves behind")
    which = p.add_mutually_exclusive_group(required=True)
    for kind, flag in stop.FLAGS.items():
        which.add_argument(flag, dest="job", action=_JobFlag, const=kind, metavar="NAME",
                           help=f"the {kind} to stop")

