"""Data and job records the moto tests of the driver share: a tiny dataset, the S3 prefix it
uploads to, and the CloudWatch lines a job's container would have written."""

from __future__ import annotations

import time
from pathlib import Path

import boto3

from byoc.driver import jobs, upload
from byoc.driver.channels import split_channel_dirs

BUCKET = "sagemaker-us-east-1-123456789012"  # the default bucket for moto's account


def make_dataset(root: Path) -> dict[str, list[str]]:
    """A tiny class-folder dataset; the bytes do not matter to the upload under test."""
    files = {"train": ["0/a.png", "0/b.png", "1/c.png"], "validation": ["0/d.png", "1/e.png"]}
    for channel, names in files.items():
        for name in names:
            path = root / channel / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"not really a png")
    return files


def content_prefix(bucket: str, data: Path) -> str:
    """The prefix a local dataset goes to by default: named after its content."""
    local = {name: upload.local_files(path) for name, path in split_channel_dirs(data).items()}
    return f"s3://{bucket}/byoc/input/{upload.fingerprint(local)}"


def put_job_logs(job: str, lines: list[str]) -> None:
    """The container's log lines, as SageMaker's agent ships them to CloudWatch."""
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=jobs.LOG_GROUP)
    stream = f"{job}/algo-1-1700000000"
    logs.create_log_stream(logGroupName=jobs.LOG_GROUP, logStreamName=stream)
    now_ms = int(time.time() * 1000)  # CloudWatch drops events older than 14 days
    logs.put_log_events(logGroupName=jobs.LOG_GROUP, logStreamName=stream, logEvents=[
        {"timestamp": now_ms + i, "message": line} for i, line in enumerate(lines)
    ])
