"""The `byoc` command: one sub-command per user verb, wired from the modules that implement them.

Each area module exposes `register(subparsers)` and keeps heavy imports (TensorFlow, boto3,
docker) inside its handlers, so `byoc --help` is instant and the driver never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from byoc import __version__
from byoc.errors import ByocError

# Modules that add sub-commands, in the order `byoc --help` lists them. A module listed with a
# group adds its actions under that shared command, so two areas can share one user verb.
COMMAND_MODULES = (
    ("byoc.data.commands", None),  # byoc data synth
    ("byoc.driver.local.commands", None),  # byoc local train|serve
    ("byoc.driver.commands", None),  # byoc push|train|tune|deploy|invoke|transform|stop|delete
    ("byoc.driver.runs", None),  # byoc runs [compare]
    ("byoc.driver.autopilot", "autopilot"),  # byoc autopilot start|status|leaderboard|deploy
    ("byoc.tabular.commands", "autopilot"),  # byoc autopilot local|predict|insurance
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
    for name, group in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("byoc"):
                continue  # an area not installed in this build
            raise
        if group is None:
            module.register(sub)
            continue
        if group not in groups:
            groups[group] = sub.add_parser(group, help=GROUPS[group]).add_subparsers(
                dest=f"{group}_command", metavar="ACTION", required=True)
        module.register(groups[group])
    return parser


# Libraries whose INFO lines say nothing a user acts on (botocore: "Found credentials in
# environment variables.", "Found endpoint for s3 via: environment_global." on every command).
# Their warnings and errors still show; --verbose shows everything.
QUIET_LOGGERS = ("botocore",)


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


if __name__ == "__main__":
    sys.exit(main())
