"""The SDK page's snippets (docs/sagemaker-sdk.md), executed.

The local-mode snippet runs for real in test_local_mode.py (`local_run`). The two "on AWS"
snippets run here as written against moto's server (AWS_ENDPOINT_URL), SDK 2.x and 3.x each in
its own virtualenv: moto completes a training job at once without running the image, so these
tests check what the SDK asked SageMaker for, as recorded by moto.
"""

from __future__ import annotations

import pytest

from byoc import metric_lines
from tests.support.sdk import (
    SNIPPET_BUCKET,
    SNIPPET_IMAGE_URI,
    run_sdk_script,
    sdk_snippet,
    write_snippet,
)

pytestmark = pytest.mark.aws

BUCKET, IMAGE_URI = SNIPPET_BUCKET, SNIPPET_IMAGE_URI


def _created_job(aws) -> dict:
    [request] = aws.calls("SageMaker.CreateTrainingJob")
    return request


def _check_job_request(request: dict, checkpoint_uri: str) -> None:
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE_URI
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == metric_lines.METRIC_DEFINITIONS
    # SageMaker passes hyperparameters as strings; both SDKs convert before sending.
    assert request["HyperParameters"] == {"epochs": "20", "batch_size": "64", "top_k": "5"}
    assert request["CheckpointConfig"]["S3Uri"] == checkpoint_uri
    assert request["CheckpointConfig"].get("LocalPath", "/opt/ml/checkpoints") == \
        "/opt/ml/checkpoints"
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600,
                                            "MaxWaitTimeInSeconds": 7200}
    assert request["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert request["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/byoc/output"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in request["InputDataConfig"]}
    assert channels == {c: f"s3://{BUCKET}/signs/{c}/" for c in ("train", "validation", "test")}


def test_sdk2_estimator_on_aws(aws, sdk2_python, tmp_path):
    code = sdk_snippet("# SageMaker Python SDK 2.x, on AWS")
    script = write_snippet(tmp_path / "snippet.py", code, "{'model_data': estimator.model_data}")
    run = run_sdk_script(None, sdk2_python, script, cwd=tmp_path, timeout=300,
                         env={"AWS_ENDPOINT_URL": aws.url})
    result = run.check()
    request = _created_job(aws)
    _check_job_request(request, f"s3://{BUCKET}/byoc/checkpoints/signs-1")
    job = request["TrainingJobName"]
    assert result["model_data"] == f"s3://{BUCKET}/byoc/output/{job}/output/model.tar.gz"


def test_sdk3_model_trainer_on_aws(aws, sdk3_python, tmp_path):
    code = sdk_snippet("# SageMaker Python SDK 3.x, on AWS")
    script = write_snippet(tmp_path / "snippet.py", code,
                           "{'job': trainer._latest_training_job.training_job_name, "
                           "'status': trainer._latest_training_job.training_job_status}")
    # SDK 3.x checks the role with IAM's policy simulator, which moto does not implement.
    run = run_sdk_script(None, sdk3_python, script, cwd=tmp_path, timeout=300,
                         env={"AWS_ENDPOINT_URL": aws.url, "SAGEMAKER_VALIDATE_ROLE": "false"})
    result = run.check()
    request = _created_job(aws)
    _check_job_request(request, f"s3://{BUCKET}/byoc/checkpoints/signs-2")
    assert request["TrainingJobName"].startswith("byoc-signs")
    assert result == {"job": request["TrainingJobName"], "status": "Completed"}
