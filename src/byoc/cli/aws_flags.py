"""What every AWS sub-command shares: --region and --profile, AWS errors as sentences, the session;
and the flags of the options many verbs share (tags, VPC, KMS key, network isolation).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from byoc.cli.types import positive_float
from byoc.driver import aws_options
from byoc.driver.aws import ROLE_ENV, Aws, connect, load_config, translate_errors
from byoc.driver.waiting import WaitTimeout

T = TypeVar("T")


def reports_aws_errors(handler: Callable[[argparse.Namespace], int]
                       ) -> Callable[[argparse.Namespace], int]:
    """A CLI handler whose AWS errors reach the user as `error: CODE: message; what to do`."""
    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        with translate_errors(vars(args)):
            return handler(args)

    return run


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


def config_value(key: str, default=None):
    """A default from byoc's config file, for a flag left out."""
    return load_config().get(key, default)


def role_parent() -> argparse.ArgumentParser:
    """--role, for the verbs that create something SageMaker runs."""
    role = argparse.ArgumentParser(add_help=False)
    role.add_argument("--role", help=f"SageMaker execution role ARN (default: {ROLE_ENV})")
    return role


def duration(seconds: float) -> str:
    """Seconds as help text says them: 1 h, 6 h, 30 min, 45 s."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


def add_no_wait(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                help: str = "start it and return") -> None:
    """--no-wait: `help` says what the verb does instead of waiting."""
    parser.add_argument("--no-wait", action="store_true", help=help)


def add_timeout(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: str,
                help: str = "stop waiting after this long; what was started keeps running "
                            "on AWS") -> None:
    """--timeout in seconds; `default` is this verb's own wait when the flag is left out."""
    parser.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                        help=f"{help} (default: {default})")


def add_force(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str) -> None:
    """--force: `help` says which refusal it overrides."""
    parser.add_argument("--force", action="store_true", help=help)


def wait_parent(default: str) -> argparse.ArgumentParser:
    """--no-wait and --timeout, for the verbs that start something and wait for it; `default`
    is how long this verb waits without --timeout."""
    wait = argparse.ArgumentParser(add_help=False)
    add_no_wait(wait)
    add_timeout(wait, default)
    return wait


def wait_or_none(args: argparse.Namespace, default_timeout: float, still_running: str,
                 wait: Callable[[float], T]) -> T | None:
    """`wait(timeout)`'s answer; None, after saying what keeps running on AWS, on a timeout."""
    try:
        return wait(args.timeout or default_timeout)
    except WaitTimeout as exc:
        print(f"{exc} {still_running}", file=sys.stderr)
        return None


def said_no_wait(args: argparse.Namespace, kind: str, name: str) -> bool:
    """With --no-wait: say where to follow what was started, and answer True."""
    if args.no_wait:
        print(f"{kind} {name} started; follow it in the SageMaker console or with "
              f"aws sagemaker describe-{kind.replace(' ', '-')} ...")
    return args.no_wait


def options_from(args: argparse.Namespace) -> aws_options.AwsOptions:
    """The options of `add_options_flags`, checked."""
    return aws_options.resolve(tags=args.tags, subnets=args.subnets,
                               security_groups=args.security_groups, kms_key=args.kms_key,
                               network_isolation=getattr(args, "network_isolation", False))


def add_options_flags(parser: argparse.ArgumentParser, *, what: str,
              kms: str = "what is written (output, volumes)",
              network_isolation: bool = True) -> None:
    """The shared flags, in their own help group; `what` names what they apply to, `kms` what
    the key encrypts. `network_isolation=False` leaves that flag out, for verbs whose API has
    no such setting."""
    group = parser.add_argument_group("network and security")
    group.add_argument("--tags", action="append", metavar="KEY=VALUE",
                       help=f"tag the {what}, repeatable")
    group.add_argument("--subnets", metavar="ID,ID", help="VPC subnets (with --security-groups)")
    group.add_argument("--security-groups", metavar="ID,ID", help="VPC security groups")
    group.add_argument("--kms-key", metavar="KEY", help=f"KMS key id, ARN or alias for {kms}")
    if network_isolation:
        group.add_argument("--network-isolation", action="store_true",
                           help="no network access for the container")
