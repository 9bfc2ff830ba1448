"""Code blocks of the documentation pages (docs/), for the tests that run them as written."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.executables import REPO
from tests.support.serving import as_at_a_terminal

DOCS = REPO / "docs"


def code_blocks(page: str, language: str) -> list[str]:
    """Every fenced block of `language` in docs/`page`, without its fences, in page order."""
    text = (DOCS / page).read_text()
    return [b.split("```", 1)[0] for b in text.split(f"```{language}\n")[1:]]


def code_block(page: str, language: str, first_line: str) -> str:
    """The one block of `language` in docs/`page` whose first line starts with `first_line`."""
    found = [b for b in code_blocks(page, language) if b.startswith(first_line)]
    assert len(found) == 1, \
        f"docs/{page} has {len(found)} {language} blocks starting {first_line!r}"
    return found[0]


def commands(block: str) -> list[str]:
    """A shell block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = block.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def run_command(command: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """One command of a page, as the reader's bash runs it; its stdout, or a failure that shows
    the command and its output."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@contextmanager
def serving(command: str, cwd: Path, env: dict[str, str], port: int,
            timeout: float = 120) -> Iterator[None]:
    """A page's `byoc local serve` command in the background until `/ping` answers on `port`;
    stopped on exit with SIGINT, as the page's Ctrl-C."""
    server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True, preexec_fn=as_at_a_terminal)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"no answer on /ping: {command}"
            time.sleep(0.5)
        yield
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # Not communicate(): a process that left the group could hold the pipe open.
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            server.stdout.close()
