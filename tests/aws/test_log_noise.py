"""What the `byoc` command prints on an AWS command: its own lines, not botocore's INFO chatter.

The real command in its own process (its logging is set up as a user's is), against moto's
server.
"""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest

from tests.support.executables import exe_env

pytestmark = pytest.mark.aws

BOTOCORE_INFO = ("Found credentials", "Found endpoint")


def _byoc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "byoc.cli", *args], env=exe_env(),
                          capture_output=True, text=True, timeout=300)


def test_an_aws_command_prints_no_botocore_info_lines(moto_endpoint, ecr_image, role_arn,
                                                      tmp_path):
    boto3.client("s3").create_bucket(Bucket="noise")
    (tmp_path / "data" / "0").mkdir(parents=True)
    (tmp_path / "data" / "0" / "a.png").write_bytes(b"x")
    result = _byoc("train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                   role_arn, "--job-name", "quiet", "--output", "s3://noise/out", "--no-wait")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "quiet" in out  # byoc's own lines still come
    for line in BOTOCORE_INFO:
        assert line not in out, out

    # --verbose asks for everything, botocore's lines included.
    verbose = _byoc("-v", "stop", "--training-job", "quiet")
    assert "Found credentials" in verbose.stdout + verbose.stderr
