"""`byoc register` and `byoc registry list|approve|reject`: the SageMaker Model Registry."""

from __future__ import annotations

import argparse
import sys

from byoc import tracking_config
from byoc.cli.aws_flags import add_aws_verb, connect_from
from byoc.cli.types import positive_int
from byoc.driver import model_packages


def cmd_register(args: argparse.Namespace) -> int:
    request = model_packages.RegisterRequest(
        group=args.group, training_job=args.job, run=args.run, track=args.track,
        approve=args.approve, description=args.description, tags=args.tags)
    model_packages.check_register(request)
    version = model_packages.register(connect_from(args), request)
    for line in version.lines():
        print(line, file=sys.stderr)
    print(version.arn)  # alone on standard output: VERSION=$(byoc register ...)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    aws = connect_from(args)
    listing = (model_packages.list_versions(aws, args.group, args.max) if args.group
               else model_packages.list_groups(aws))
    print("\n".join(listing.lines()))
    return 0


def _approval(status: str):
    def run(args: argparse.Namespace) -> int:
        model_packages.check_why(args.why)
        change = model_packages.set_approval(connect_from(args), args.arn, status, args.why)
        print("\n".join(change.lines()))
        return 0
    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    """`byoc register`, then `byoc registry` and its actions."""
    p = add_aws_verb(subparsers, "register", cmd_register,
                     help="register a completed training job as a version in the Model Registry")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", "--training-job", dest="job", metavar="NAME",
                       help="the completed training job whose model is registered")
    which.add_argument("--run", metavar="RUN_ID",
                       help="or the tracked MLflow run of one; the run gets the tag "
                            f"{tracking_config.TAG_MODEL_PACKAGE}")
    p.add_argument("--track", metavar="URI",
                   help=f"with --run: the tracking server (default: "
                        f"{tracking_config.TRACKING_URI_ENV})")
    p.add_argument("--group", required=True,
                   help="the model package group, created (tagged as byoc's) if missing")
    p.add_argument("--approve", action="store_true",
                   help="register it Approved (default: PendingManualApproval)")
    p.add_argument("--description", metavar="TEXT", help="one line kept with the version")
    p.add_argument("--tags", "--tag", dest="tags", action="append", metavar="KEY=VALUE",
                   help="tag the group (SageMaker tags a version through its group), repeatable")

    registry = subparsers.add_parser("registry", help="the Model Registry's versions: list them, "
                                                      "approve or reject one")
    actions = registry.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    p = add_aws_verb(actions, "list", cmd_list,
                     help="the versions of a group with their metrics, newest first; without "
                          "--group, byoc's groups")
    p.add_argument("--group", help="the model package group")
    p.add_argument("--max", type=positive_int, default=model_packages.DEFAULT_MAX_VERSIONS,
                   metavar="N", help=f"the N newest versions (default "
                                     f"{model_packages.DEFAULT_MAX_VERSIONS})")
    for name, status, what in (("approve", model_packages.APPROVED,
                                "approve a version, so that byoc deploy --package hosts it"),
                               ("reject", model_packages.REJECTED,
                                "reject a version; byoc deploy --package then refuses it")):
        p = add_aws_verb(actions, name, _approval(status), help=what)
        p.add_argument("arn", metavar="ARN", help="the version's model package ARN")
        p.add_argument("--why", required=True, metavar="TEXT",
                       help="the reason, kept with the version as its ApprovalDescription")
