"""Run a script under the SageMaker Python SDK's own interpreter, and the docs' SDK snippets.

The SDK's pins (boto3, numpy, pandas, ...) must not fight byoc's, so each SDK line gets its own
virtualenv, made on first use and remade when its requirements file changes, with uv when it is
installed (seconds) and pip otherwise (minutes).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.docs import code_block
from tests.support.executables import REPO
from tests.support.moto import ACCOUNT_ID, REGION

SDK_TESTS = REPO / "tests" / "sdk"
SCRIPTS = SDK_TESTS / "scripts"
RESULT_PREFIX = "RESULT "
# What the SDK page's "on AWS" snippets name: their bucket and their image in ECR.
SNIPPET_BUCKET = "my-bucket"
SNIPPET_IMAGE_URI = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/byoc:v1"
COMPOSE_FILES_LABEL = "com.docker.compose.project.config_files"

# The SDK's telemetry calls an AWS host after every call (unreachable here, and not ours to call).
SDK_CONFIG = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""


def fail_or_skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def make_venv(venv: Path, requirements: Path) -> Path:
    """`venv` with exactly `requirements` installed; remade when that file changes.

    A lock beside it makes a second maker wait for the first: `make test` builds the venvs in
    the background while the fast tier runs (python -m tests.support.sdk), and the SDK tests'
    fixtures then find them ready, or wait for them."""
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _make_venv(venv, requirements)


def _make_venv(venv: Path, requirements: Path) -> Path:
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if uv:
        steps = [[uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                 [uv, "pip", "install", "--quiet", "--python", str(python),
                  "-r", str(requirements)]]
    else:
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  "-r", str(requirements)]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=1500)
        if result.returncode != 0:
            pytest.fail(f"making {venv.name} failed: {' '.join(step)}\n"
                        f"{result.stdout[-2000:]}{result.stderr[-3000:]}")
    stamp.write_text(digest)
    return python


@dataclass
class SdkRun:
    """One script run with an SDK interpreter, and the containers it left behind."""

    returncode: int
    output: str
    result: dict = field(default_factory=dict)
    containers: list[dict] = field(default_factory=list)

    def check(self) -> dict:
        assert self.returncode == 0, f"exit {self.returncode}\n{self.output[-6000:]}"
        return self.result


def _containers_under(engine, root: Path) -> list[dict]:
    """Containers whose compose file lies under `root`: name, compose files, status, exit code
    and log tail."""
    found = []
    for container in engine.containers.list(all=True):
        config_files = container.labels.get(COMPOSE_FILES_LABEL, "")
        if config_files.startswith(str(root)):
            state = container.attrs["State"]
            found.append({"name": container.name, "image": container.attrs["Config"]["Image"],
                          "compose_files": config_files,
                          "status": state["Status"], "exit_code": state["ExitCode"],
                          "log": container.logs(tail=40).decode(errors="replace")})
            container.remove(force=True)
    return found


def run_sdk_script(engine, python: Path, script: Path, *args: str, cwd: Path,
                   env: dict[str, str] | None = None, timeout: float = 600) -> SdkRun:
    """Run `script` with an SDK interpreter in `cwd`; the script prints `RESULT {json}` last.

    Fake credentials and us-east-1: local mode needs no AWS, but boto3 wants both to exist.
    With an `engine`, the containers the script left behind are listed and removed.
    """
    tmp = Path(cwd) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "sagemaker-config.yaml"
    config.write_text(SDK_CONFIG)
    full_env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp)),
        "TMPDIR": str(tmp),
        "PYTHONPATH": str(REPO / "src"),  # `from byoc import metric_lines`: no TensorFlow needed
        "PYTHONUNBUFFERED": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "aws-credentials"),
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "COLUMNS": "200",
        **(env or {}),
    }
    proc = subprocess.Popen([str(python), str(script), *args], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The SDK's serving thread and docker-compose are in the script's process group.
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n[killed after {timeout:.0f} s]"
    lines = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX):]) if lines else {}
    containers = _containers_under(engine, tmp) if engine is not None else []
    return SdkRun(proc.returncode, output, result, containers)


SDK_PAGE = "sagemaker-sdk.md"


def sdk_snippet(first_line: str) -> str:
    """The SDK page's ```python block whose first line starts with `first_line`."""
    return code_block(SDK_PAGE, "python", first_line)


def write_snippet(path: Path, code: str, result: str) -> Path:
    """`code` followed by a line that prints the Python expression `result` as RESULT json."""
    epilogue = f"import json as _json\nprint({RESULT_PREFIX!r} + _json.dumps({result}))\n"
    path.write_text(f"{code}\n{epilogue}")
    return path


# Each SDK line's virtualenv and the requirements it is made from.
SDK2_VENV = (REPO / ".venv-sdk2", SDK_TESTS / "requirements-v2.txt")
SDK3_VENV = (REPO / ".venv-sdk3", SDK_TESTS / "requirements-v3.txt")

if __name__ == "__main__":
    # `make test` runs this in the background beside the fast tier, which needs neither venv.
    for venv, requirements in (SDK2_VENV, SDK3_VENV):
        print(f"{make_venv(venv, requirements)} is ready")
