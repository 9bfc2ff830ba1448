"""A development tool, not a fixture: each test's CPU seconds, beside its wall time.

On a shared machine wall time says as much about the neighbours as about the test; CPU seconds
(this process and the children it waited for: `train`, `serve`, gunicorn, pip) do not. Load it
with `-p tests.support.cputime` and name a file in BYOC_CPU_LOG:

    BYOC_CPU_LOG=/tmp/cpu.tsv .venv/bin/python -m pytest -p tests.support.cputime tests/contract
    sort -t$'\\t' -k2 -rn /tmp/cpu.tsv | head -25

Each test (setup, call and teardown) appends one line: its node id, CPU seconds, wall seconds.
A session-scoped fixture's cost falls on the first test that uses it, and a server that lives
for the whole session (moto, MLflow) is counted only when it is reaped, at the end. Under
pytest-xdist every worker appends to the same file.
"""

from __future__ import annotations

import os
import resource
import time

import pytest


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    path = os.environ.get("BYOC_CPU_LOG")
    cpu, wall = _cpu_seconds(), time.monotonic()
    yield
    if path:
        line = f"{item.nodeid}\t{_cpu_seconds() - cpu:.2f}\t{time.monotonic() - wall:.2f}\n"
        # One short write with O_APPEND: xdist workers' lines do not interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
