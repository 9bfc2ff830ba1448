"""The SageMaker Python SDK as a client of the CPU image: each SDK line in its own virtualenv.

The SDK's pins (boto3, numpy, pandas, ...) must not fight byoc's, so the tests run under the main
pytest and execute small scripts with another interpreter: `.venv-sdk2` (SDK 2.x with local
mode, from requirements-v2.txt) and `.venv-sdk3` (SDK 3.x, from requirements-v3.txt). Each is
made on first use and remade when its requirements file changes, with uv when it is installed
(seconds) and pip otherwise (minutes).

Local mode drives `docker-compose` (or `docker compose`) on this machine's engine. Every run gets
its own TMPDIR, where the SDK keeps its compose files, so the containers a run started are found
by their compose label afterwards, checked, and removed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.moto import REGION, MotoRecorder, post
from tests.support.net import free_port
from tests.support.sdk import (
    SDK2_VENV,
    SDK3_VENV,
    SNIPPET_BUCKET,
    SdkRun,
    fail_or_skip,
    make_venv,
    run_sdk_script,
    sdk_snippet,
    write_snippet,
)


@pytest.fixture(scope="session")
def sdk2_python() -> Path:
    """The interpreter of the SDK 2.x virtualenv (local mode)."""
    return make_venv(*SDK2_VENV)


@pytest.fixture(scope="session")
def sdk3_python() -> Path:
    """The interpreter of the SDK 3.x virtualenv (ModelTrainer)."""
    return make_venv(*SDK3_VENV)


@pytest.fixture(scope="session")
def compose(engine) -> list[str]:
    """The Compose command local mode will find, checked the way SDK 2.x looks for it: the
    `docker compose` plugin first, then `docker-compose` (docker-up installs Debian's)."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    fail_or_skip("SDK local mode needs `docker compose` or `docker-compose`; "
                  "../shared/tools/docker-up installs Debian's docker-compose")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def sdk_data(synth_data_dir) -> Path:
    """The shared synthetic signs: train/ validation/ test/ of class folders."""
    return synth_data_dir


@pytest.fixture
def moto(moto_server_url: str):
    """moto's server, emptied, recording requests; for the SDK's calls to SageMaker on "AWS"."""
    post(f"{moto_server_url}/moto-api/reset")
    recorder = MotoRecorder(moto_server_url)
    recorder.start()
    yield recorder
    recorder.stop()


LOCAL_SNIPPET = "# SageMaker Python SDK 2.x, local mode"


@pytest.fixture(scope="session")
def local_run(engine, image, compose, sdk2_python, sdk_data, tmp_path_factory) -> SdkRun:
    """The SDK page's 2.x local-mode snippet, run once as written (fit, deploy, predict PNG and
    JSON, delete_endpoint) with three changes: the test's image tag, a free serving port, and
    the shared synthetic signs as `signs/`."""
    cwd = tmp_path_factory.mktemp("sdk2_local")
    (cwd / "signs").symlink_to(sdk_data, target_is_directory=True)
    code = sdk_snippet(LOCAL_SNIPPET)
    for old, new in [('image_uri="byoc:cpu"', f'image_uri="{image}"'),
                     ('session.config = {"local": {"local_code": True}}',
                      f'session.config = {{"local": {{"local_code": True, '
                      f'"serving_port": {free_port()}}}}}')]:
        assert code.count(old) == 1, f"the SDK page's snippet no longer has {old!r}"
        code = code.replace(old, new)
    script = write_snippet(cwd / "snippet.py", code, "{'model_data': estimator.model_data, "
                           "'job': estimator.latest_training_job.name, 'one': one, 'many': many, "
                           "'images': [str(p) for p in images]}")
    return run_sdk_script(engine, sdk2_python, script, cwd=cwd, timeout=900)


@pytest.fixture
def aws(moto, monkeypatch, tmp_path):
    """moto with what the snippets expect to exist: the bucket, the role, the data prefixes."""
    import boto3

    for name, value in {"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials")}.items():
        monkeypatch.setenv(name, value)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    boto3.client("iam").create_role(RoleName="SageMakerRole",
                                    AssumeRolePolicyDocument=json.dumps(trust))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=SNIPPET_BUCKET)
    for channel in ("train", "validation", "test"):
        s3.put_object(Bucket=SNIPPET_BUCKET, Key=f"signs/{channel}/00/sign.png", Body=b"png")
    return moto
