"""`byoc runs` and `byoc runs compare`; and `--run`, the training job of a tracked run."""

from __future__ import annotations

import argparse
import os

from byoc import tracking_config
from byoc.cli.types import positive_int
from byoc.driver import runs


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """`--run RUN_ID` and `--track URI` for the verbs that host a training job's model."""
    parser.add_argument("--run", metavar="RUN_ID",
                        help="host the model of this tracked MLflow run (its training job)")
    parser.add_argument("--track", metavar="URI",
                        help=f"with --run: the tracking server (default: "
                             f"{tracking_config.TRACKING_URI_ENV})")


def cmd_runs(args: argparse.Namespace) -> int:
    uri = runs.tracking_uri(args.track)
    experiment = tracking_config.check_experiment(args.experiment)
    if getattr(args, "runs_command", None) == "compare":
        lines = runs.compare(uri, args.run_ids)
    else:
        lines = runs.list_runs(uri, experiment, args.sort, args.max)
    print("\n".join(lines))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--track", metavar="URI",
                       help="tracking server: http(s)://HOST:PORT, a SageMaker MLflow ARN, or a "
                            "local store such as ./mlruns "
                            f"(default: {tracking_config.TRACKING_URI_ENV})")
    where.add_argument("--experiment", metavar="NAME",
                       default=os.environ.get(tracking_config.EXPERIMENT_ENV),
                       help=f"default: {tracking_config.EXPERIMENT_ENV} or "
                            f"{tracking_config.DEFAULT_EXPERIMENT}")
    p = subparsers.add_parser("runs", parents=[where],
                              help="list the tracked runs of an experiment (MLflow), or compare "
                                   "some")
    p.add_argument("--sort", metavar="METRIC",
                   help="order by this metric: highest first, lowest first for losses")
    p.add_argument("--max", type=positive_int, default=50, metavar="N",
                   help="the N most recent runs (default 50)")
    p.set_defaults(func=cmd_runs)
    verbs = p.add_subparsers(dest="runs_command", metavar="ACTION")
    c = verbs.add_parser("compare", parents=[where], help="show runs side by side")
    c.add_argument("run_ids", nargs="+", metavar="RUN")
    c.set_defaults(func=cmd_runs, sort=None, max=50)
