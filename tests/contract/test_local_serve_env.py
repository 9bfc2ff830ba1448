"""`byoc local serve --env KEY=VALUE`: the variables reach the user's handlers in process mode and
in Docker, as `byoc deploy --env` gives them to an endpoint's container; bad pairs, and the
variables local serve sets from its own flags, are refused before any server starts."""

from __future__ import annotations

import pytest

from byoc.cli import main
from tests.support.local_serve import handlers_and_model, post_once
from tests.support.serving import free_port

# Handlers that answer with what the environment says, read once in model_fn.
HANDLERS = """\
import json
import os


def model_fn(model_dir):
    return (os.environ.get("GREETING", "unset"), os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT"),
            os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS"))


def input_fn(body, content_type):
    return body.decode() if isinstance(body, bytes) else body


def predict_fn(data, model):
    greeting, timeout, workers = model
    return {"answer": f"{greeting}, {data}", "timeout": timeout, "workers": workers}


def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


@pytest.fixture
def handlers(tmp_path):
    """(a model dir, a source dir with the handlers)."""
    return handlers_and_model(tmp_path, HANDLERS, {"placeholder.txt": "no file is loaded\n"})


def test_env_reaches_the_handlers_in_process_mode(handlers):
    model, src = handlers
    assert post_once(model, src, "--workers", "1", "--env", "GREETING=bonjour", "--env",
                     "SAGEMAKER_MODEL_SERVER_TIMEOUT=120").json() == {
        "answer": "bonjour, world", "timeout": "120", "workers": "1"}


def test_env_and_workers_reach_the_handlers_in_docker(handlers, serving_image):
    # Without --workers, serve starts one worker per CPU of the container (2 here).
    model, src = handlers
    assert post_once(model, src, "--image", serving_image, "--workers", "1", "--env",
                     "GREETING=hallo").json() == {
        "answer": "hallo, world", "timeout": None, "workers": "1"}


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
