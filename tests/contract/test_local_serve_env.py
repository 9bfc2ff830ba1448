"""`byoc local serve --env KEY=VALUE`: the variables reach the user's handlers in process mode and
in Docker, as `byoc deploy --env` gives them to an endpoint's container; bad pairs, and the
variables local serve sets from its own flags, are refused before any server starts."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from byoc.cli import main
from byoc.driver.local import process
from tests.support.executables import exe_env
from tests.support.serving import as_at_a_terminal, free_port

# Handlers that answer with what the environment says, read once in model_fn.
HANDLERS = """\
import json
import os


def model_fn(model_dir):
    return os.environ.get("GREETING", "unset"), os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT")


def input_fn(body, content_type):
    return body.decode() if isinstance(body, bytes) else body


def predict_fn(data, model):
    greeting, timeout = model
    return {"answer": f"{greeting}, {data}", "timeout": timeout}


def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


@pytest.fixture
def handlers(tmp_path):
    """(a model dir, a source dir with the handlers)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "placeholder.txt").write_text("the handlers load no file\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "inference.py").write_text(HANDLERS)
    return model, src


def _answer(model, src, *flags: str) -> dict:
    """Start `byoc local serve` with the handlers and `flags`, POST once, stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "byoc.cli", "local", "serve", "--model", str(model), "--port",
         str(port), "--source-dir", str(src), "--entry-point", "inference.py", *flags],
        env=exe_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=as_at_a_terminal)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_for_ping(url, timeout=180, alive=lambda: proc.poll() is None)
        answer = requests.post(f"{url}/invocations", data=b"world",
                               headers={"Content-Type": "text/plain", "Connection": "close"},
                               timeout=30)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert answer.status_code == 200, out[-2000:]
    return answer.json()


def test_env_reaches_the_handlers_in_process_mode(handlers):
    model, src = handlers
    assert _answer(model, src, "--workers", "1", "--env", "GREETING=bonjour", "--env",
                   "SAGEMAKER_MODEL_SERVER_TIMEOUT=120") == {
        "answer": "bonjour, world", "timeout": "120"}


def test_env_reaches_the_handlers_in_docker(handlers, serving_image):
    model, src = handlers
    assert _answer(model, src, "--image", serving_image, "--env", "GREETING=hallo") == {
        "answer": "hallo, world", "timeout": None}


@pytest.mark.parametrize(("flags", "message"), [
    (["--env", "GREETING"], "--env expects KEY=VALUE, got 'GREETING'. Example: --env "
                            "LOG_LEVEL=debug"),
    (["--env", "2FAST=1"], "--env: '2FAST' is not a variable name"),
    (["--env", "SAGEMAKER_BIND_TO_PORT=9000"],
     "--env SAGEMAKER_BIND_TO_PORT: byoc local serve sets it itself; use --port."),
    (["--env", "BYOC_BIND_HOST=0.0.0.0"],
     "--env BYOC_BIND_HOST: byoc local serve sets it itself; use --host."),
    (["--env", "SAGEMAKER_BASE_DIR=/tmp"], "it lays out /opt/ml in a directory of its own"),
    (["--workers", "2", "--env", "SAGEMAKER_MODEL_SERVER_WORKERS=3"],
     "--workers and --env SAGEMAKER_MODEL_SERVER_WORKERS both set the number of workers"),
    (["--source-dir", "SRC", "--entry-point", "inference.py", "--env", "SAGEMAKER_PROGRAM=x.py"],
     "--env SAGEMAKER_PROGRAM is set by --source-dir and --entry-point"),
])
def test_bad_env_is_refused_before_a_server_starts(handlers, capsys, flags, message):
    model, src = handlers
    flags = [str(src) if flag == "SRC" else flag for flag in flags]
    assert main(["local", "serve", "--model", str(model), "--port", str(free_port()),
                 *flags]) == 2
    assert message in capsys.readouterr().err
