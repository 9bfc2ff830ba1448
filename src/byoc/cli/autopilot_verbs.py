"""`byoc autopilot start|status|leaderboard|deploy|notebooks`: SageMaker Autopilot (AutoML V2)
jobs for tabular baselines. The offline baseline's actions (`local`, `predict`, `insurance`) are in
`byoc.cli.tabular_verbs`; both join under `byoc autopilot`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from byoc.cli.aws_flags import (
    add_aws_verb,
    add_no_wait,
    add_options_flags,
    add_timeout,
    connect_from,
    duration,
    options_from,
)
from byoc.cli.tabular_verbs import problem_flags
from byoc.cli.types import positive_float, positive_int
from byoc.driver import jobs
from byoc.driver.autopilot import (
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_RUNTIME,
    MODES,
    POLL_SECONDS,
    WAIT_MARGIN,
    WEIGHT_MODE,
    AutopilotSpec,
    deploy,
    describe,
    download,
    follow,
    job_artifacts,
    leaderboard_lines,
    list_candidates,
    parse_response_keys,
    start,
    status_lines,
)
from byoc.driver.aws import Aws
from byoc.driver.waiting import WaitTimeout
from byoc.errors import UserError


def _print(lines: list[str]) -> None:
    print("\n".join(lines))


def _finish(aws: Aws, name: str, desc: dict, top: int) -> None:
    """What a user wants when a job ends: status, leaderboard, and where the reports are."""
    sagemaker = aws.client("sagemaker")
    _print(status_lines(desc))
    print()
    _print(leaderboard_lines(list_candidates(sagemaker, name), top))


def cmd_start(args: argparse.Namespace) -> int:
    opts = options_from(args)
    aws = connect_from(args)
    name = args.job_name or jobs.job_name("autopilot")
    spec = AutopilotSpec(
        csv=args.csv, target=args.target, role=args.role, problem_type=args.problem_type,
        objective=args.objective, mode=args.mode, max_candidates=args.max_candidates,
        max_runtime=args.max_runtime, max_runtime_per_job=args.max_runtime_per_job,
        validation_fraction=args.validation_fraction,
        sample_weight_column=args.sample_weight_column, output=args.output, options=opts)
    request = start(aws, spec, name)
    tabular = request["AutoMLProblemTypeConfig"]["TabularJobConfig"]
    print(f"Started Autopilot job {name} ({tabular.get('ProblemType', 'problem type inferred')}, "
          f"objective {request.get('AutoMLJobObjective', {}).get('MetricName', 'default')}); "
          f"output {request['OutputDataConfig']['S3OutputPath']}")
    if args.no_wait:
        print(f"Follow it with: byoc autopilot status --job-name {name}")
        return 0
    return _follow(aws, name, args)


def _follow(aws: Aws, name: str, args: argparse.Namespace) -> int:
    sagemaker = aws.client("sagemaker")
    timeout = args.timeout or (args.max_runtime or DEFAULT_MAX_RUNTIME) + WAIT_MARGIN
    try:
        desc = follow(sagemaker, name, timeout=timeout, interval=args.poll,
                      stop_on_timeout=args.stop_on_timeout)
    except WaitTimeout:
        if args.stop_on_timeout:
            print(f"Job {name} was still running after {timeout:g}s; stop requested.",
                  file=sys.stderr)
        else:
            print(f"Job {name} is still running after {timeout:g}s; it was left running. "
                  f"Follow it with `byoc autopilot status --job-name {name}`, stop it with "
                  f"`byoc stop --autopilot-job {name}`, or pass --stop-on-timeout next time.",
                  file=sys.stderr)
        return 1
    _finish(aws, name, desc, args.top)
    return 0 if desc["AutoMLJobStatus"] == "Completed" else 1


def cmd_status(args: argparse.Namespace) -> int:
    aws = connect_from(args)
    if args.wait:
        return _follow(aws, args.job_name, args)
    _print(status_lines(describe(aws.client("sagemaker"), args.job_name)))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    aws = connect_from(args)
    sagemaker = aws.client("sagemaker")
    describe(sagemaker, args.job_name)
    _print(leaderboard_lines(list_candidates(sagemaker, args.job_name), args.top))
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    keys = parse_response_keys(args.inference_response_keys)
    opts = options_from(args)
    aws = connect_from(args)
    model = deploy(aws, job_name=args.job_name, endpoint_name=args.endpoint_name,
                   candidate=args.candidate, instance_type=args.instance_type, role=args.role,
                   response_keys=keys, options=opts, wait_in_service=not args.no_wait)
    state = "is being created" if args.no_wait else "is InService"
    answers = f" It answers with {','.join(keys)} per row." if keys else ""
    print(f"Endpoint {args.endpoint_name} {state} (model {model}). It takes text/csv rows "
          f"without a header and without the target column: byoc invoke --endpoint "
          f"{args.endpoint_name} ROWS.csv.{answers}")
    return 0


def _notebooks_job(args: argparse.Namespace) -> str:
    """The job of `autopilot notebooks`: --job-name, as the other verbs take it, or the
    positional JOB that came first."""
    if args.job and args.job_name and args.job != args.job_name:
        raise UserError(f"Two jobs named: {args.job} and --job-name {args.job_name}. Pass one: "
                        f"byoc autopilot notebooks --job-name {args.job_name} --out DIR")
    if not (args.job or args.job_name):
        raise UserError("Name the Autopilot job: byoc autopilot notebooks --job-name JOB "
                        "--out DIR")
    return args.job_name or args.job


def cmd_notebooks(args: argparse.Namespace) -> int:
    name = _notebooks_job(args)
    aws = connect_from(args)
    desc = describe(aws.client("sagemaker"), name)
    downloaded = download(aws.client("s3"), job_artifacts(desc), Path(args.out))
    _print([d.line() for d in downloaded])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the AWS actions to `byoc autopilot` (its sub-parsers, made by byoc.cli)."""
    follow = argparse.ArgumentParser(add_help=False)
    group = follow.add_argument_group("waiting")
    add_timeout(group, f"--max-runtime + {duration(WAIT_MARGIN)}",
                "stop waiting after this long; the job keeps running unless --stop-on-timeout")
    group.add_argument("--stop-on-timeout", action="store_true",
                       help="stop the job when the wait times out (default: leave it running)")
    group.add_argument("--poll", type=positive_float, default=POLL_SECONDS, metavar="SECONDS",
                       help="seconds between status checks (default 30)")
    group.add_argument("--top", type=positive_int, default=10,
                       help="leaderboard rows to show at the end")

    problem = problem_flags()

    p = add_aws_verb(sub, "start", cmd_start, parents=[problem, follow],
                     help="upload a CSV and run an Autopilot (AutoML V2) job")
    p.add_argument("--csv", required=True, metavar="FILE_OR_S3", help="CSV with a header row")
    p.add_argument("--target", required=True, help="column to predict")
    p.add_argument("--role", help="SageMaker execution role ARN (default: SAGEMAKER_ROLE_ARN)")
    p.add_argument("--job-name", help="default byoc-autopilot-DATE-TIME (at most 32 characters)")
    p.add_argument("--mode", choices=MODES, default="AUTO")
    p.add_argument("--max-candidates", type=positive_int, default=DEFAULT_MAX_CANDIDATES,
                   metavar="N", help=f"default {DEFAULT_MAX_CANDIDATES}")
    p.add_argument("--max-runtime", type=positive_int, default=DEFAULT_MAX_RUNTIME,
                   metavar="SECONDS", help=f"the whole job's limit (default {DEFAULT_MAX_RUNTIME})")
    p.add_argument("--max-runtime-per-job", type=positive_int, metavar="SECONDS",
                   help="limit of each candidate's training job (at most --max-runtime)")
    p.add_argument("--validation-fraction", type=float, metavar="F",
                   help="share of the rows held out for validation, between 0 and 1 "
                        "(Autopilot's default 0.2)")
    p.add_argument("--sample-weight-column", metavar="COLUMN",
                   help="column of non-negative row weights for training and the objective "
                        f"(--mode {WEIGHT_MODE} only); it is not used as a feature")
    p.add_argument("--output", metavar="S3_URI",
                   help="default s3://sagemaker-REGION-ACCOUNT/byoc/autopilot/JOB/output")
    add_no_wait(p, "start the job and return")
    add_options_flags(p, what="Autopilot job", network_isolation=False,
                      kms="the output and the volumes of the jobs it runs")

    p = add_aws_verb(sub, "status", cmd_status, parents=[follow], help="show a job's progress")
    p.add_argument("--job-name", required=True)
    p.add_argument("--wait", action="store_true",
                   help="follow the job until it ends, then show the leaderboard")
    p.set_defaults(max_runtime=None)

    p = add_aws_verb(sub, "leaderboard", cmd_leaderboard, help="a job's candidates, best first")
    p.add_argument("--job-name", required=True)
    p.add_argument("--top", type=positive_int)

    p = add_aws_verb(sub, "notebooks", cmd_notebooks,
                     help="download a job's notebooks and its best candidate's reports")
    p.add_argument("--job-name", help="the Autopilot job's name")
    p.add_argument("job", nargs="?", metavar="JOB",
                   help="the same, as an argument (the older form)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="where they go: DIR/notebooks, DIR/explainability, DIR/model_insights")

    p = add_aws_verb(sub, "deploy", cmd_deploy,
                     help="host a candidate (default: the best) on a real-time endpoint")
    p.add_argument("--job-name", required=True)
    p.add_argument("--candidate", help="candidate name from the leaderboard")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--instance-type", help="default ml.m5.large")
    p.add_argument("--role", help="execution role ARN (default: the job's role)")
    p.add_argument("--inference-response-keys", metavar="KEY,KEY",
                   help="what each answer row holds, in this order, e.g. "
                        "predicted_label,probability (classification: also probabilities, "
                        "labels); default: the predicted label only")
    add_no_wait(p, "return before it is InService")
    add_options_flags(p, what="model, endpoint config and endpoint",
                      kms="the endpoint instances' storage volumes")
