"""`byoc deploy --update`: a live endpoint moved to a new endpoint config without downtime, with
SageMaker's deployment guardrails (--all-at-once, --canary, --linear, --rollback-alarm,
--termination-wait, --max-update-time)."""

from __future__ import annotations

import argparse

from byoc.cli.aws_flags import config_value, connect_from, options_from, wait_or_none
from byoc.cli.hosting_flags import hosting_from, model_source_from, scaling_from
from byoc.cli.types import whole_number
from byoc.driver import deployment, endpoint_update, endpoints, guardrails
from byoc.driver.guardrails import Guardrails
from byoc.errors import UserError

_MODES = ("all_at_once", "canary", "linear")


def _percent_and_wait(text: str) -> tuple[int, int | None]:
    """argparse type: PERCENT or PERCENT:SECONDS, whole numbers."""
    percent, _, wait = text.partition(":")
    try:
        return int(percent), (int(wait) if wait else None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PERCENT[:SECONDS] in whole numbers, e.g. 10:600, got '{text}'") from None


def add_update_flags(parser: argparse.ArgumentParser) -> None:
    """--update and the deployment guardrails, in their own help group."""
    group = parser.add_argument_group(
        "updating a live endpoint (zero downtime; see docs/production.md)")
    group.add_argument("--update", action="store_true",
                       help="move the existing endpoint to a new endpoint config with this "
                            "model and hosting, without downtime (UpdateEndpoint)")
    group.add_argument("--all-at-once", nargs="?", const=0, type=whole_number,
                       metavar="SECONDS",
                       help="shift all traffic to the new fleet at once, then bake SECONDS "
                            "(default 0) before the old fleet goes")
    group.add_argument("--canary", type=_percent_and_wait, metavar="PERCENT[:WAIT]",
                       help=f"send PERCENT of the traffic ({guardrails.CANARY_PERCENT[0]}-"
                            f"{guardrails.CANARY_PERCENT[1]}, share of the new fleet) to the "
                            f"new fleet, bake WAIT seconds (default "
                            f"{guardrails.DEFAULT_CANARY_WAIT}), then shift the rest")
    group.add_argument("--linear", type=_percent_and_wait, metavar="PERCENT:INTERVAL",
                       help=f"shift the traffic in steps of PERCENT ({guardrails.LINEAR_PERCENT[0]}"
                            f"-{guardrails.LINEAR_PERCENT[1]}) of the new fleet, baking INTERVAL "
                            "seconds after each")
    group.add_argument("--rollback-alarm", action="append", metavar="NAME",
                       help="CloudWatch alarm that rolls the update back while the new fleet "
                            "bakes, repeatable")
    group.add_argument("--termination-wait", type=whole_number, metavar="SECONDS",
                       help="keep the old fleet this long after the shift (0-"
                            f"{guardrails.TERMINATION_WAIT_RANGE[1]})")
    group.add_argument("--max-update-time", type=whole_number, metavar="SECONDS",
                       help="SageMaker's limit for the whole update "
                            f"({guardrails.MAX_UPDATE_TIME_RANGE[0]}-"
                            f"{guardrails.MAX_UPDATE_TIME_RANGE[1]})")


def _given(args: argparse.Namespace) -> list[str]:
    """The guardrail flags given, as typed."""
    names = (*_MODES, "rollback_alarm", "termination_wait", "max_update_time")
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is not None]


def guardrails_from(args: argparse.Namespace) -> Guardrails | None:
    """The guardrails the flags ask for, checked; None without any."""
    given = _given(args)
    if not given:
        return None
    if not args.update:
        raise UserError(f"{', '.join(given)} shape{'s' if len(given) == 1 else ''} the update "
                        "of a live endpoint: add --update, or drop "
                        f"{'it' if len(given) == 1 else 'them'} for a new endpoint.")
    modes = [f"--{m.replace('_', '-')}" for m in _MODES if getattr(args, m) is not None]
    if len(modes) > 1:
        raise UserError(f"Pick one way to shift the traffic: {' or '.join(modes)}.")
    if args.canary:
        percent, wait = args.canary
        shift = Guardrails("canary", percent, guardrails.DEFAULT_CANARY_WAIT if wait is None
                           else wait)
    elif args.linear:
        percent, wait = args.linear
        if wait is None:
            raise UserError(f"--linear needs the baking time after each step: --linear "
                            f"{percent}:SECONDS.")
        shift = Guardrails("linear", percent, wait)
    else:
        shift = Guardrails("all-at-once", wait=args.all_at_once or 0)
    alarms = tuple(dict.fromkeys(args.rollback_alarm or ()))
    return Guardrails(shift.mode, shift.percent, shift.wait, alarms, args.termination_wait,
                      args.max_update_time).check()


def _hosting(args: argparse.Namespace, live: endpoint_update.LiveEndpoint):
    """The new config's hosting: the flags, with the endpoint's instance type and count where
    they are left out."""
    if live.serverless and not (args.serverless_memory or args.instance_type):
        raise UserError(f"Endpoint {live.name} is serverless: say how the new endpoint config "
                        "hosts, with --serverless-memory MB (serverless again) or "
                        "--instance-type TYPE (on instances).")
    default = live.instance_type or config_value("endpoint_instance_type",
                                                 endpoints.DEFAULT_INSTANCE_TYPE)
    return hosting_from(args, default, 1 if live.serverless else live.instance_count)


def cmd_update(args: argparse.Namespace, shift: Guardrails | None) -> int:
    name = args.endpoint_name
    opts = options_from(args)
    # Every flag is checked once before AWS is asked anything; the endpoint then supplies the
    # instance type and count left out.
    spec = hosting_from(args, config_value("endpoint_instance_type",
                                           endpoints.DEFAULT_INSTANCE_TYPE))
    request = deployment.DeployRequest(name, model_source_from(args), spec,
                                       environment=args.env, options=opts)
    request.scaling = scaling_from(args, spec, check_count=args.instance_count is not None)
    endpoint_update.check_update(request, shift)
    aws = connect_from(args)
    live = endpoint_update.read_live(aws, name)
    request.hosting = _hosting(args, live)
    started = endpoint_update.start_update(aws, request, shift, wait=not args.no_wait, live=live)
    if args.no_wait:
        print(f"Endpoint {name} is updating to endpoint config {started.config_name}; follow it "
              f"with aws sagemaker describe-endpoint --endpoint-name {name}. The old endpoint "
              f"config {started.old_config_name} stays until you delete it (once the endpoint "
              f"is InService on {started.config_name}): aws sagemaker delete-endpoint-config "
              f"--endpoint-config-name {started.old_config_name}")
        return 0
    done = wait_or_none(args, endpoint_update.update_timeout(shift),
                        endpoint_update.still_running(started),
                        lambda timeout: endpoint_update.wait_for_update(aws, started, timeout))
    if done is None:
        return 1
    for what in done.deleted:
        print(f"deleted {what}")
    for what in done.kept:
        print(f"kept {what}")
    if done.scaling:
        print(f"Autoscaling: {done.scaling.describe()}")
    print(f"Endpoint {name} is InService on endpoint config {done.config_name}. "
          f"{done.next_steps()}")
    return 0
