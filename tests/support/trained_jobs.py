"""A completed training job in moto, with the output SageMaker would have left: moto completes a
job at once without running its image, so its output.tar.gz (metrics.json, report.md) and its
model.tar.gz are put in S3 here."""

from __future__ import annotations

import io
import json
import tarfile

import boto3

# What byoc's evaluation writes to metrics.json, abridged.
METRICS = {"test_accuracy": 0.912, "test_loss": 0.3104, "test_macro_f1": 0.905,
           "test_samples": 430}
REPORT = "# Evaluation report\n\nTest accuracy 0.9120.\n"


def output_archive(files: dict[str, bytes]) -> bytes:
    """An output.tar.gz holding `files` at its top level, as SageMaker tars output/data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def completed_job(name: str, image: str, role: str, *, output: str,
                  metrics: dict | None = METRICS, report: str | None = REPORT,
                  wrote_output: bool = True) -> dict:
    """Create training job `name` (moto completes it) writing to `output` (s3://BUCKET/PREFIX),
    put its output.tar.gz (with `metrics` and `report`, each left out when None; none at all
    without `wrote_output`) and model.tar.gz in place; return its description."""
    bucket, _, prefix = output[len("s3://"):].partition("/")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": channel, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/{channel}/"}}}
            for channel in ("train", "test")],
        OutputDataConfig={"S3OutputPath": output},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                        "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    files = {}
    if metrics is not None:
        files["metrics.json"] = json.dumps(metrics).encode()
    if report is not None:
        files["report.md"] = report.encode()
    base = f"{prefix.strip('/')}/{name}/output".lstrip("/")
    if wrote_output:
        s3.put_object(Bucket=bucket, Key=f"{base}/output.tar.gz", Body=output_archive(files))
    s3.put_object(Bucket=bucket, Key=f"{base}/model.tar.gz", Body=output_archive({}))
    return sagemaker.describe_training_job(TrainingJobName=name)
