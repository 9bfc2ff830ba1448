"""`byoc scale`, and the autoscaling flags `byoc deploy` shares with it."""

from __future__ import annotations

import argparse

from byoc.cli.aws_flags import add_aws_verb, connect_from
from byoc.driver import autoscaling
from byoc.errors import UserError


def add_scaling_flags(parser: argparse.ArgumentParser, *, changes: bool = False) -> None:
    """The autoscaling flags; `changes` for `byoc scale`, where a flag left out keeps its
    current value."""
    group = parser.add_argument_group("autoscaling" + (
        " (a flag left out keeps its current value)" if changes else ""))
    group.add_argument("--min-instances", type=int, metavar="N",
                       help=f"fewest instances (default {autoscaling.DEFAULT_MIN_INSTANCES})")
    group.add_argument("--max-instances", type=int, metavar="N", help="most instances")
    group.add_argument("--target-invocations", type=float, metavar="T",
                       help="invocations per instance per minute to keep "
                            f"({autoscaling.METRIC})")
    group.add_argument("--scale-in-cooldown", type=int, metavar="SECONDS",
                       help="wait after a scale-in (default "
                            f"{autoscaling.DEFAULT_SCALE_IN_COOLDOWN})")
    group.add_argument("--scale-out-cooldown", type=int, metavar="SECONDS",
                       help="wait after a scale-out (default "
                            f"{autoscaling.DEFAULT_SCALE_OUT_COOLDOWN})")


_FLAGS = ("min_instances", "max_instances", "target_invocations", "scale_in_cooldown",
          "scale_out_cooldown")


def given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) is not None for name in _FLAGS)


def values_from(args: argparse.Namespace) -> dict[str, int | float]:
    """The autoscaling flags given, by `Scaling` field."""
    return {name: getattr(args, name) for name in _FLAGS if getattr(args, name, None) is not None}


def scaling_from(args: argparse.Namespace, current: autoscaling.Scaling | None = None
                 ) -> autoscaling.Scaling | None:
    """The scaling the flags ask for, on top of `current` (what `byoc scale` changes)."""
    if not given(args):
        return None
    return autoscaling.scaling_from(values_from(args), current)


def cmd_scale(args: argparse.Namespace) -> int:
    if args.off and given(args):
        raise UserError("--off removes autoscaling; it takes no other autoscaling flag.")
    if (args.min_instances is not None and args.max_instances is not None
            and args.min_instances > args.max_instances):
        autoscaling.Scaling(args.min_instances, args.max_instances, 1.0).check()
    aws = connect_from(args)
    endpoint = args.endpoint
    autoscaling.require_instance_endpoint(aws, endpoint)
    if args.off:
        removed = autoscaling.remove(aws, endpoint)
        print(f"Removed the autoscaling of endpoint {endpoint}; its instance count stays as it "
              "is now." if removed else f"Endpoint {endpoint} has no autoscaling.")
        return 0
    now = autoscaling.current(aws, endpoint)
    if not given(args):
        print(f"Endpoint {endpoint}: {now.describe()}" if now else
              f"Endpoint {endpoint} has no autoscaling; set it with --max-instances N "
              "--target-invocations T.")
        return 0
    scaling = scaling_from(args, now)
    autoscaling.apply(aws, endpoint, scaling)
    print(f"Endpoint {endpoint}: {scaling.describe()}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_aws_verb(subparsers, "scale", cmd_scale,
                     help="show, set or remove the autoscaling of an endpoint's instances")
    p.add_argument("--endpoint", "--endpoint-name", dest="endpoint", required=True)
    p.add_argument("--off", action="store_true", help="remove autoscaling")
    add_scaling_flags(p, changes=True)
