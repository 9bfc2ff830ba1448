"""What every AWS sub-command shares: --region and --profile, AWS errors as sentences, the session.

Used by `byoc.driver.commands` and `byoc.driver.autopilot`, so neither imports the other.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from byoc.driver.aws import Aws, connect, reports_aws_errors


def add_aws_verb(subparsers: argparse._SubParsersAction, name: str,
                 handler: Callable[[argparse.Namespace], int], *, help: str,
                 parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """A sub-command that talks to AWS: --region and --profile, and AWS errors as UserErrors."""
    aws_flags = argparse.ArgumentParser(add_help=False)
    group = aws_flags.add_argument_group("AWS")
    group.add_argument("--region", help="AWS region (default: AWS_REGION, config, us-east-1)")
    group.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")
    parser = subparsers.add_parser(name, parents=[*parents, aws_flags], help=help)
    parser.set_defaults(func=reports_aws_errors(handler))
    return parser


def connect_from(args: argparse.Namespace) -> Aws:
    """The session named by an AWS verb's --region and --profile."""
    return connect(region=args.region, profile=args.profile)
