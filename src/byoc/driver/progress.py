"""Waiting on a long-running AWS resource: poll a describe call and print each status change once.

Generic on purpose: any verb that waits (training, tuning, endpoints, transform, AutoML) passes a
describe function and the statuses that end the wait.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection
from typing import TextIO

from byoc.errors import UserError

POLL_SECONDS = 15.0


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


def wait_for(
    describe: Callable[[], dict],
    status_of: Callable[[dict], str],
    done: Collection[str],
    *,
    on_poll: Callable[[dict], None] | None = None,
    interval: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Call `describe` until `status_of` its answer is in `done`; return the last answer.

    `on_poll` sees every answer, the final one included, to print status transitions or stream
    logs.
    """
    pause = POLL_SECONDS if interval is None else interval
    while True:
        answer = describe()
        if on_poll:
            on_poll(answer)
        if status_of(answer) in done:
            return answer
        sleep(pause)


def wait_until_ended(label: str, describe: Callable[[], dict], status_key: str,
                     ended: Collection[str], success: str, logs_hint: str, *,
                     interval: float | None = None) -> dict:
    """Wait with a status line until the resource ends; raise its FailureReason unless `success`."""
    line = StatusLine(label)
    desc = wait_for(describe, lambda d: d[status_key], ended,
                    on_poll=lambda d: line.update(d[status_key]), interval=interval)
    if desc[status_key] != success:
        raise UserError(f"{label[:1].upper()}{label[1:]} ended {desc[status_key]}: "
                        f"{desc.get('FailureReason') or 'no reason given'}. {logs_hint}")
    return desc
