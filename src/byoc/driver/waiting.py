"""Waiting on a long-running AWS resource: the one poll loop every waiting verb uses.

Training, tuning, endpoints, transform and Autopilot each pass a describe call, the statuses
that end the wait, what to show per poll (a status line, new log lines) and a deadline.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection
from typing import TextIO

from byoc.errors import UserError

POLL_SECONDS = 15.0
ENDED_AS = {"Failed": "failed", "Stopped": "stopped"}  # how a status reads after the label


class WaitTimeout(UserError):
    """The resource was still running on AWS when the wait's deadline passed."""

    def __init__(self, label: str, timeout: float) -> None:
        super().__init__(f"Stopped waiting for {label} after {timeout:g} s; it keeps running "
                         "on AWS.")
        self.label = label
        self.timeout = timeout


class StatusLine:
    """Prints `label: status (detail)` with the elapsed time, only when the text changes."""

    def __init__(self, label: str, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.last: str | None = None

    def update(self, status: str, detail: str = "") -> bool:
        """Show the status if it changed; return whether it did."""
        text = f"{status} ({detail})" if detail else status
        if text == self.last:
            return False
        self.last = text
        elapsed = int(self.clock() - self.started)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {self.label}: {text}",
              file=self.stream, flush=True)
        return True


def wait_until_ended(
    label: str,
    describe: Callable[[], dict],
    status_key: str,
    ended: Collection[str],
    success: Collection[str],
    *,
    show: Callable[[dict], tuple[str, str]] | None = None,
    on_poll: Callable[[dict], None] | None = None,
    failure: Callable[[dict], str] | None = None,
    hint: str = "",
    timeout: float | None = None,
    interval: float | None = None,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Call `describe` until its `status_key` is in `ended`; return that last answer.

    Every answer is shown on a status line (`show` gives its status and detail; by default the
    status alone), then passed to `on_poll` (to stream logs). An end outside `success` raises a
    UserError: `failure`'s sentence, or `Label failed: FailureReason. hint`. With `timeout`
    (seconds), WaitTimeout is raised once the deadline passes before the end; the deadline is
    checked between polls, so the last describe happens at the deadline at the latest.
    """
    line = StatusLine(label, stream=stream, clock=clock)
    pause = POLL_SECONDS if interval is None else interval
    deadline = None if timeout is None else clock() + timeout
    while True:
        desc = describe()
        line.update(*(show(desc) if show else (desc[status_key], "")))
        if on_poll:
            on_poll(desc)
        if desc[status_key] in ended:
            break
        if deadline is not None:
            remaining = deadline - clock()
            if remaining <= 0:
                raise WaitTimeout(label, timeout)
            sleep(min(pause, remaining))
        else:
            sleep(pause)
    status = desc[status_key]
    if status in success:
        return desc
    if failure:
        raise UserError(failure(desc))
    reason = desc.get("FailureReason") or "no reason given"
    raise UserError(f"{label[:1].upper()}{label[1:]} {ENDED_AS.get(status, f'ended {status}')}: "
                    f"{reason.rstrip('.')}. {hint}".rstrip())
