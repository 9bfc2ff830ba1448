"""ECR credentials go to the ECR registry they were issued for and nowhere else: the login
decision of `byoc push` with moto's real ECR token, and build_and_push.sh run with the real aws
CLI against moto."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from byoc.driver import ecr
from byoc.driver.aws import connect
from tests.support.moto import ACCOUNT_ID, REGION

ROOT = Path(__file__).resolve().parents[2]
ECR_HOST = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
OTHER_HOST = "127.0.0.1:5999"
pytestmark = pytest.mark.aws


def ecr_password() -> str:
    token = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
    return base64.b64decode(token["authorizationToken"]).decode().partition(":")[2]


def test_ecr_credentials_are_for_the_ecr_host_only(moto_endpoint):
    aws = connect()
    assert ecr.registry_auth(aws, ECR_HOST) == {"username": "AWS", "password": ecr_password()}
    assert ecr.registry_auth(aws, OTHER_HOST) is None


def test_a_denied_push_to_another_registry_says_how_to_log_in():
    message = ecr.push_error(OTHER_HOST, "denied: requested access to the resource is denied",
                             ecr_host=ECR_HOST)
    assert "docker login 127.0.0.1:5999" in message
    assert "ECR credentials go to ECR only" in message
    # An error that is no login problem, or a push to ECR itself, gets no such hint.
    assert "docker login" not in ecr.push_error(OTHER_HOST, "no space left on device",
                                                ecr_host=ECR_HOST)
    assert "docker login" not in ecr.push_error(ECR_HOST, "denied: no such repository",
                                                ecr_host=ECR_HOST)


# The script runs `docker` for login, build, inspect, tag and push. No Docker engine runs here
# (and tests build no images), so a stand-in on PATH records each call and its stdin instead.
FAKE_DOCKER = """#!/usr/bin/env bash
{ printf '%s\\n' "$*"; [ "$1" = login ] && cat; } >> "$DOCKER_CALLS"
case "$1 $2" in
    "image inspect") echo linux/amd64 ;;
esac
if [ "$1" = push ] && [ -n "${DENY_PUSH:-}" ]; then
    echo "denied: requested access to the resource is denied" >&2
    exit 1
fi
exit 0
"""


def run_script(tmp_path: Path, registry: str | None, deny: bool = False):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    calls = tmp_path / "docker-calls.txt"
    calls.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "DOCKER_CALLS": str(calls)}
    env.pop("BYOC_REGISTRY", None)
    if registry:
        env["BYOC_REGISTRY"] = registry
    if deny:
        env["DENY_PUSH"] = "1"
    result = subprocess.run(["bash", str(ROOT / "build_and_push.sh"), "--context",
                             str(tmp_path), "byoc-login-test"], env=env, capture_output=True,
                            text=True, timeout=300)
    return result, calls.read_text()


def test_build_and_push_script_logs_in_to_ecr_with_the_ecr_password(moto_endpoint, tmp_path):
    result, calls = run_script(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert f"login --username AWS --password-stdin {ECR_HOST}\n{ecr_password()}" in calls
    assert result.stdout.strip().splitlines()[-1] == f"{ECR_HOST}/byoc-login-test:latest"


def test_build_and_push_script_sends_no_ecr_password_to_another_registry(moto_endpoint,
                                                                        tmp_path):
    result, calls = run_script(tmp_path, OTHER_HOST)
    assert result.returncode == 0, result.stderr
    assert not [line for line in calls.splitlines() if line.startswith("login")]
    assert ecr_password() not in calls
    assert f"push {OTHER_HOST}/byoc-login-test:latest" in calls

    denied, _ = run_script(tmp_path, OTHER_HOST, deny=True)
    assert denied.returncode != 0
    assert f"docker login {OTHER_HOST}" in denied.stderr
