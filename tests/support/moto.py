"""moto: one real moto server per session, and an environment pointing at it (fixtures).

Every boto3 client (and the aws CLI) honours AWS_ENDPOINT_URL, so the driver code under test runs
unchanged against moto's HTTP server.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.net import free_port

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/byoc-test"


def _moto_server_executable() -> str:
    # The venv's console script sits next to its python; fall back to PATH for other layouts.
    candidate = Path(sys.executable).parent / "moto_server"
    return str(candidate) if candidate.exists() else "moto_server"


def _wait_until_answering(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {url} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def moto_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real moto server on a free loopback port, for the whole session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tmp_path_factory.mktemp("moto")
    # The recorder keeps every request as sent, for tests that check fields moto does not echo.
    env = {**os.environ, "MOTO_RECORDER_FILEPATH": str(workdir / "recording.jsonl")}
    with open(workdir / "moto_server.log", "wb") as log_file:
        proc = subprocess.Popen(
            [_moto_server_executable(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=workdir,
        )
    try:
        _wait_until_answering(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def moto_endpoint(moto_server_url: str, monkeypatch: pytest.MonkeyPatch,
                  tmp_path: Path) -> str:
    """Point boto3, the aws CLI and byoc at the moto server, with fake credentials.

    Returns the endpoint URL. The server's state is reset first, so each test starts empty.
    """
    post(f"{moto_server_url}/moto-api/reset")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "SAGEMAKER_ROLE_ARN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ENDPOINT_URL": moto_server_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Keep the user's real AWS files and byoc config out of the tests.
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "BYOC_CONFIG": str(tmp_path / "byoc-config.json"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return moto_server_url


@pytest.fixture(scope="session")
def find_free_port() -> Callable[[], int]:
    """A function returning a loopback port that nothing listens on."""
    return free_port


@pytest.fixture
def role_arn() -> str:
    return ROLE_ARN


def post(url: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as r:
        return r.read()


class MotoRecorder:
    """The requests moto's server received, as the client sent them."""

    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> None:
        post(f"{self.url}/moto-api/recorder/reset-recording")
        post(f"{self.url}/moto-api/recorder/start-recording")

    def stop(self) -> None:
        post(f"{self.url}/moto-api/recorder/stop-recording")

    def entries(self) -> list[dict]:
        """Every recorded request: url, method, headers (lower-case names) and body bytes."""
        with urllib.request.urlopen(f"{self.url}/moto-api/recorder/download-recording",
                                    timeout=10) as r:
            entries = [json.loads(line) for line in r.read().decode().splitlines() if line]
        for entry in entries:
            entry["headers"] = {k.lower(): v for k, v in entry["headers"].items()}
            body = entry["body"] or ""
            entry["body"] = base64.b64decode(body) if entry["body_encoded"] else body.encode()
        return entries

    def calls(self, target: str) -> list[dict]:
        """JSON bodies of the calls to `target`, e.g. "SageMaker.CreateTrainingJob"."""
        return [json.loads(e["body"]) for e in self.entries()
                if e["headers"].get("x-amz-target") == target]


@pytest.fixture
def moto_recorder(moto_endpoint: str) -> Iterator[MotoRecorder]:
    recorder = MotoRecorder(moto_endpoint)
    recorder.start()
    yield recorder
    recorder.stop()


@pytest.fixture
def ecr_image(moto_endpoint: str) -> str:
    """An image URI that moto's ECR knows (repository `byoc`, tag `v1`), as after `byoc push`."""
    import boto3

    ecr = boto3.client("ecr")
    repo = ecr.create_repository(repositoryName="byoc")["repository"]
    manifest = {"schemaVersion": 2, "mediaType":
                "application/vnd.docker.distribution.manifest.v2+json",
                "config": {}, "layers": []}
    ecr.put_image(repositoryName="byoc", imageManifest=json.dumps(manifest), imageTag="v1")
    return f"{repo['repositoryUri']}:v1"


# What moto's SageMaker runtime answers invoke_endpoint with, for the tests that queue it.
PREDICTIONS = {"predictions": [{
    "class_id": 14, "label": "stop", "probability": 0.91,
    "top_k": [{"class_id": 14, "label": "stop", "probability": 0.91},
              {"class_id": 17, "label": "no_entry", "probability": 0.06}],
}]}


def queue_endpoint_results(url: str, results: list[dict]) -> None:
    """moto's runtime answers invoke_endpoint with canned data; queue the answers it gives."""
    _queue(url, "endpoint-results", results)


def queue_async_results(url: str, results: list[dict]) -> None:
    """moto's runtime writes each queued result to S3 at once, as the output or the failure."""
    _queue(url, "async-endpoint-results", results)


def _queue(url: str, kind: str, results: list[dict]) -> None:
    request = urllib.request.Request(
        f"{url}/moto-api/static/sagemaker/{kind}", method="POST",
        data=json.dumps({"results": results}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def no_trial_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`byoc tune` lists the trials once its job ends, with ListTrainingJobsForHyperParameter-
    TuningJob, which moto 5.2.6 does not implement (its server answers 500, retried): the
    listing is empty here; tests/aws/test_tuning_board.py checks it with Stubber."""
    from byoc.driver import jobs

    monkeypatch.setattr(jobs, "leaderboard", lambda aws, name, top=None, desc=None, sagemaker=None:
                        jobs.TuningLeaderboard(name, "Completed", "objective", "Maximize", (),
                                               (), 0))
