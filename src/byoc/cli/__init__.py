"""The `byoc` command: one sub-command per user verb, a thin layer over the library.

Each area module of this package adds its verbs with a `register(subparsers)` function, and the
library keeps heavy imports (TensorFlow, boto3, docker) inside its functions, so `byoc --help` is
instant and the driver never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from byoc import __version__
from byoc.errors import ByocError

# What adds sub-commands, as MODULE:FUNCTION, in the order `byoc --help` lists them. An entry
# listed with a group adds its actions under that shared command, so two areas can share a verb.
COMMAND_MODULES = (
    ("byoc.cli.data_verbs:register", None),  # byoc data synth
    ("byoc.cli.local_verbs:register", None),  # byoc local train|serve
    ("byoc.cli.training_verbs:register", None),  # byoc push|train|tune
    ("byoc.cli.training_verbs:register_tuning", None),  # byoc tuning leaderboard
    ("byoc.cli.hosting_verbs:register", None),  # byoc deploy|invoke|transform
    ("byoc.cli.training_verbs:register_stop", None),  # byoc stop
    ("byoc.cli.job_verbs:register", None),  # byoc logs|attach|jobs
    ("byoc.cli.hosting_verbs:register_delete", None),  # byoc delete
    ("byoc.cli.scaling_verbs:register", None),  # byoc scale
    ("byoc.cli.multi_model_verbs:register", None),  # byoc models add|list
    ("byoc.cli.runs_verbs:register", None),  # byoc runs [compare]
    ("byoc.cli.registry_verbs:register", None),  # byoc register, registry list|approve|reject
    ("byoc.cli.pipeline_verbs:register", None),  # byoc pipeline upsert|start|status|delete
    ("byoc.cli.autopilot_verbs:register", "autopilot"),  # autopilot start|status|...|deploy
    ("byoc.cli.tabular_verbs:register", "autopilot"),  # autopilot local|predict|insurance
)
GROUPS = {"autopilot": "tabular baselines: SageMaker Autopilot, or the same steps offline"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="byoc",
        description="Train and serve your own container on Amazon SageMaker, or locally.",
    )
    parser.add_argument("--version", action="version", version=f"byoc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for entry, group in COMMAND_MODULES:
        name, _, function = entry.partition(":")
        try:
            register = getattr(importlib.import_module(name), function)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("byoc"):
                continue  # an area not installed in this build
            raise
        if group is None:
            register(sub)
            continue
        if group not in groups:
            groups[group] = sub.add_parser(group, help=GROUPS[group]).add_subparsers(
                dest=f"{group}_command", metavar="ACTION", required=True)
        register(groups[group])
    return parser


# Libraries whose INFO lines say nothing a user acts on (botocore: "Found credentials in
# environment variables.", "Found endpoint for s3 via: environment_global." on every command;
# shap: every explained row's values). Their warnings and errors still show; --verbose shows
# everything.
QUIET_LOGGERS = ("botocore", "shap")


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
    )
    if not args.verbose:
        quiet_libraries()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # SIGTERM (kill, a supervisor, a script's cleanup) stops a command as Ctrl-C does, so local
    # servers and training containers are shut down cleanly instead of left running.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return int(args.func(args) or 0)
    except ByocError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        print(
            f"error: {exc.name} is not installed. Install the extra that provides it, e.g. "
            "pip install 'byoc[driver]' (AWS and Docker), 'byoc[train,serve]' (TensorFlow) or "
            "'byoc[tabular]'.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

