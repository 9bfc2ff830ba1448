"""Code blocks of the documentation pages (docs/), for the tests that run them as written, and
the expensive steps those pages share, made once per session (the `shared_steps` fixture), and
the tracking page's two tracked runs, which the page's test and the `byoc runs` tests share
(the `tracking_walkthrough` fixture)."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.executables import REPO, exe_env
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


# The steps several pages take word for word before their own point: four pages synthesize the
# same signs, and the serving and multi-model pages then train the same run on them.
SHAREABLE = (("byoc", "data", "synth"), ("byoc", "local", "train"))


def _fingerprint(directory: Path) -> str:
    """Every file under `directory`: its path and its bytes, as one digest."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class SharedSteps:
    """Runs a page's commands, each as written, except a shareable step (SHAREABLE) that an
    earlier test already ran with the same words over a directory with the same files: that one
    gets the directory the first run left, and its output. The pages' own points (serving,
    tracking, the AWS calls) always run; only identical, seeded prerequisites are shared."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.outputs: dict[str, str] = {}

    def run(self, command: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
        words = tuple(shlex.split(command, comments=True))
        if not any(words[:len(step)] == step for step in SHAREABLE):
            return run_command(command, cwd, env, timeout)
        key = hashlib.sha256(repr((words, _fingerprint(cwd))).encode()).hexdigest()[:16]
        after = self.store / key
        if key in self.outputs:
            shutil.copytree(after, cwd, dirs_exist_ok=True, symlinks=True)
            return self.outputs[key]
        out = run_command(command, cwd, env, timeout)
        shutil.copytree(cwd, after, symlinks=True)
        self.outputs[key] = out
        return out

    def run_script(self, script: str, cwd: Path, env: dict[str, str],
                   timeout: float = 600) -> str:
        """A block run as one bash script: its leading shareable steps (after exports and
        comments only, which change no file) through run(), then the rest as written."""
        lines = script.replace("\\\n", " ").splitlines()
        exports: list[str] = []
        out = ""
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("export "):
                exports.append(line)
                continue
            words = tuple(shlex.split(stripped, comments=True))
            if not any(words[:len(step)] == step for step in SHAREABLE):
                break
            out += self.run(stripped, cwd, {**env, **_exported(exports, env)}, timeout)
            lines[i] = f"# {stripped}   (made above)"
        return out + run_command("\n".join(lines) + "\n", cwd, env, timeout)


def _exported(lines: list[str], env: dict[str, str]) -> dict[str, str]:
    """The variables `export` lines set, as bash sets them."""
    script = "\n".join(lines) + "\nenv -0"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                          capture_output=True, text=True, check=True)
    pairs = (item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    return {name: value for name, value in pairs if env.get(name) != value}


@pytest.fixture(scope="session")
def shared_steps(tmp_path_factory: pytest.TempPathFactory) -> SharedSteps:
    """The docs walkthroughs' identical expensive steps, made once per session (SharedSteps)."""
    return SharedSteps(tmp_path_factory.mktemp("shared-steps"))


@dataclass(frozen=True)
class TrackingWalkthrough:
    """Where the tracking page's local block ran, and what its last line, `byoc runs`, printed."""

    directory: Path
    listed: str

    @property
    def store(self) -> Path:
        return self.directory / "mlruns"


@pytest.fixture(scope="session")
def tracking_walkthrough(tmp_path_factory: pytest.TempPathFactory,
                         shared_steps: SharedSteps) -> TrackingWalkthrough:
    """docs/tracking.md's local block run as written in a fresh directory: two `byoc local train
    --track ./mlruns` runs that differ in the learning rate alone, then `byoc runs`. The page's
    test and the `byoc runs` tests (tests/tracking/test_cli_tracking.py) read the same runs."""
    [local] = [b for b in code_blocks("tracking.md", "bash")
               if "--track ./mlruns --experiment signs" in b]
    directory = tmp_path_factory.mktemp("tracking-page")
    env = exe_env()
    *_, listed = [shared_steps.run(c, directory, env) for c in commands(local)]
    return TrackingWalkthrough(directory, listed)


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
