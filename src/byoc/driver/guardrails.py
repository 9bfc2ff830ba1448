"""Deployment guardrails of an endpoint update: how SageMaker moves the traffic from the old fleet
to the new one (all at once, a canary, or linear steps), the CloudWatch alarms that roll it back,
and the update's time limits.

`Guardrails.check` refuses what SageMaker refuses (or would silently ignore) before anything is
created; `deployment_config` is UpdateEndpoint's `DeploymentConfig`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from byoc.driver.hosting import Hosting
from byoc.errors import UserError

# TrafficRoutingConfig.Type, by the flag's word.
MODES = {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
# SageMaker's ranges (a test holds them to botocore's model): WaitIntervalInSeconds,
# TerminationWaitInSeconds, MaximumExecutionTimeoutInSeconds; AutoRollbackConfig.Alarms.
WAIT_RANGE = (0, 3600)
TERMINATION_WAIT_RANGE = (0, 3600)
MAX_UPDATE_TIME_RANGE = (600, 28800)
MAX_ALARMS = 10
MAX_ALARM_NAME = 255
# CanarySize is at most half the new fleet; a LinearStepSize is 10-50 % of it (SageMaker's
# TrafficRoutingConfig), both sent as CAPACITY_PERCENT.
CANARY_PERCENT = (1, 50)
LINEAR_PERCENT = (10, 50)
# How long a canary bakes when --canary gives no WAIT.
DEFAULT_CANARY_WAIT = 600
# SageMaker ignores guardrails on Inferentia 1 instances (it shifts everything at once and does
# not bake), so they are refused there rather than silently dropped.
_INF1 = re.compile(r"ml\.inf1\.")


def _in_range(value: int | None, flag: str, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise UserError(f"{flag} must be between {low} and {high}, got {value}.")


@dataclass(frozen=True)
class Guardrails:
    """How an update shifts traffic, and what rolls it back.

    Attributes:
        mode: "all-at-once", "canary" or "linear".
        percent: the canary (1-50) or each linear step (10-50), in percent of the new fleet.
        wait: seconds the new fleet bakes (alarms watched) after the canary, after each linear
            step, or after the one shift of all-at-once (WaitIntervalInSeconds, 0-3600).
        alarms: CloudWatch alarm names; any of them in ALARM rolls the update back (1-10).
        termination_wait: seconds the old fleet is kept after the shift (0-3600).
        max_update_time: seconds SageMaker allows the whole update (600-28800), more than
            `wait` and `termination_wait` together.
    """

    mode: str = "all-at-once"
    percent: int | None = None
    wait: int = 0
    alarms: tuple[str, ...] = ()
    termination_wait: int | None = None
    max_update_time: int | None = None

    @property
    def gradual(self) -> bool:
        """Whether part of the new fleet takes traffic first (canary or linear)."""
        return self.mode in ("canary", "linear")

    def flags(self) -> list[str]:
        """The `byoc deploy` flags that ask for these guardrails, for messages."""
        return [flag for flag, given in (
            (f"--{self.mode}", self.mode != "all-at-once" or self.wait),
            ("--rollback-alarm", self.alarms),
            ("--termination-wait", self.termination_wait is not None),
            ("--max-update-time", self.max_update_time is not None)) if given]

    def check(self) -> Guardrails:
        """Refuse what SageMaker would refuse; return self."""
        if self.mode not in MODES:
            raise UserError(f"The traffic shift is one of {', '.join(MODES)}, not "
                            f"'{self.mode}'.")
        flag = f"--{self.mode}"
        if self.gradual:
            low, high = CANARY_PERCENT if self.mode == "canary" else LINEAR_PERCENT
            if self.percent is None or not low <= self.percent <= high:
                raise UserError(f"{flag} PERCENT must be between {low} and {high} (percent of "
                                f"the new fleet), got {self.percent}.")
        elif self.percent is not None:
            raise UserError("--all-at-once shifts all the traffic in one step; it takes no "
                            "PERCENT.")
        _in_range(self.wait, f"{flag}'s wait", *WAIT_RANGE)
        _in_range(self.termination_wait, "--termination-wait", *TERMINATION_WAIT_RANGE)
        _in_range(self.max_update_time, "--max-update-time", *MAX_UPDATE_TIME_RANGE)
        self._check_alarms()
        waits = self.wait + (self.termination_wait or 0)
        if self.max_update_time is not None and self.max_update_time <= waits:
            raise UserError(f"--max-update-time {self.max_update_time} must be longer than the "
                            f"waits it holds ({flag}'s {self.wait} s + --termination-wait "
                            f"{self.termination_wait or 0} s).")
        return self

    def _check_alarms(self) -> None:
        if not self.alarms:
            return
        if len(self.alarms) > MAX_ALARMS:
            raise UserError(f"--rollback-alarm: at most {MAX_ALARMS} alarms, got "
                            f"{len(self.alarms)}.")
        for name in self.alarms:
            if not name.strip() or len(name) > MAX_ALARM_NAME:
                raise UserError(f"--rollback-alarm '{name}' is not a CloudWatch alarm name "
                                f"(1-{MAX_ALARM_NAME} characters, not only spaces).")
        if not self.wait:
            raise UserError("--rollback-alarm is watched while the new fleet bakes, and with "
                            "no baking time it never would be: give one, e.g. --canary 10:600, "
                            "--linear 20:300 or --all-at-once 600.")

    def check_for(self, endpoint: str, hosting: Hosting, serverless_now: bool) -> None:
        """Refuse guardrails where SageMaker has none: a serverless endpoint (before or after
        the update), Inferentia 1 instances, or a canary or linear steps on a single instance."""
        flags = ", ".join(self.flags()) or "--all-at-once"
        if hosting.serverless or serverless_now:
            raise UserError(f"Deployment guardrails apply to endpoints on instances (real-time "
                            f"or asynchronous); SageMaker updates a serverless endpoint in one "
                            f"step. Drop {flags} to update {endpoint}.")
        if hosting.instance_type and _INF1.match(hosting.instance_type):
            raise UserError(f"SageMaker does not apply deployment guardrails on "
                            f"{hosting.instance_type} (Inf1): it would shift all the traffic at "
                            f"once and not bake. Drop {flags}, or pick another --instance-type.")
        if self.gradual and hosting.instance_count < 2:
            raise UserError(f"--{self.mode} sends part of the traffic to part of the new fleet, "
                            f"at most half of it; with {hosting.instance_count} instance there is "
                            f"no such part. Use --instance-count 2 or more, or --all-at-once.")

    def waiting(self) -> int:
        """The seconds the update spends waiting on purpose: baking (once, or once per linear
        step) and the old fleet's termination wait."""
        bakes = math.ceil(100 / self.percent) if self.mode == "linear" else 1
        return self.wait * bakes + (self.termination_wait or 0)

    def deployment_config(self) -> dict:
        """UpdateEndpoint's DeploymentConfig."""
        routing: dict = {"Type": MODES[self.mode], "WaitIntervalInSeconds": self.wait}
        if self.mode == "canary":
            routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": self.percent}
        elif self.mode == "linear":
            routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": self.percent}
        policy: dict = {"TrafficRoutingConfiguration": routing}
        if self.termination_wait is not None:
            policy["TerminationWaitInSeconds"] = self.termination_wait
        if self.max_update_time is not None:
            policy["MaximumExecutionTimeoutInSeconds"] = self.max_update_time
        config: dict = {"BlueGreenUpdatePolicy": policy}
        if self.alarms:
            config["AutoRollbackConfiguration"] = {
                "Alarms": [{"AlarmName": name} for name in self.alarms]}
        return config

    def describe(self) -> str:
        """The shift in words, for the log: 'canary 10 %, then the rest after 600 s'."""
        if self.mode == "canary":
            text = f"canary {self.percent} %, then the rest after {self.wait} s"
        elif self.mode == "linear":
            steps = math.ceil(100 / self.percent)
            text = f"linear, {self.percent} % every {self.wait} s ({steps} steps)"
        else:
            text = "all at once" + (f", baking {self.wait} s" if self.wait else "")
        if self.alarms:
            text += f"; rolled back by alarm {', '.join(self.alarms)}"
        return text
