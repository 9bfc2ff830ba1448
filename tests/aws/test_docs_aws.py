"""The "On AWS" walkthrough (docs/aws.md), run as written against moto's server.

The block runs as bash in a fresh directory. Three things stand in for what moto cannot do:
- the image is one that moto's ECR already holds (pushing needs a Docker engine and a registry:
  tests/aws/test_push.py runs that step);
- the job's output.tar.gz is put in place first, since moto completes a job at once without
  running the image, and its endpoint answers with queued, canned predictions;
- moto's runtime fails on a binary request body, so `byoc invoke` sends the same two images as
  JSON (`{"instances": [{"b64": ...}]}`) instead of as PNG and PPM.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile

import boto3
import pytest

from tests.support.docs import code_blocks, run_command
from tests.support.executables import exe_env
from tests.support.moto import PREDICTIONS, queue_endpoint_results

# About a minute: the page uploads 4,300 synthetic signs to moto.
pytestmark = [pytest.mark.aws, pytest.mark.slow]

PAGE = "aws.md"
DEFAULT_BUCKET = "sagemaker-us-east-1-123456789012"  # moto's account, the page's region
PUSH = re.compile(r"^IMAGE=\$\(byoc push .*\)$", re.M)
INVOKE = "byoc invoke --endpoint signs --top-k 5 stop.png yield.ppm\n"


def _put_job_output(job: str) -> None:
    """The output.tar.gz SageMaker would make of the job's /opt/ml/output/data."""
    body = json.dumps({"test_accuracy": 0.9, "test_samples": 10}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("metrics.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=DEFAULT_BUCKET)
    s3.put_object(Bucket=DEFAULT_BUCKET, Key=f"byoc/output/{job}/output/output.tar.gz",
                  Body=buf.getvalue())


def test_the_aws_walkthrough_runs_as_written_against_moto(moto_endpoint, ecr_image, tmp_path):
    [block] = [b for b in code_blocks(PAGE, "bash") if "byoc push" in b]
    assert len(PUSH.findall(block)) == 1, "the page's push line changed"
    script = PUSH.sub(f"IMAGE={ecr_image}", block)
    boto3.client("s3").create_bucket(Bucket="my-bucket")
    _put_job_output("signs-1")
    queue_endpoint_results(moto_endpoint, [{"Body": json.dumps(PREDICTIONS),
                                            "ContentType": "application/json"}] * 2)

    assert script.count(INVOKE) == 1, "the page's invoke line changed"
    before, after = script.split(INVOKE)
    exports = "".join(line + "\n" for line in before.splitlines() if line.startswith("export "))
    env = exe_env()
    out = run_command(before, tmp_path, env, timeout=600)
    for image in ("stop.png", "yield.ppm"):
        b64 = base64.b64encode((tmp_path / image).read_bytes()).decode()
        (tmp_path / f"{image}.json").write_text(json.dumps({"instances": [{"b64": b64}]}))
    out += run_command(INVOKE.replace("stop.png yield.ppm", "stop.png.json yield.ppm.json"),
                       tmp_path, env)
    out += run_command(exports + after, tmp_path, env, timeout=600)

    sagemaker = boto3.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName="signs-1")
    assert job["AlgorithmSpecification"]["TrainingImage"] == ecr_image
    assert job["HyperParameters"]["epochs"] == "15"
    assert job["EnableManagedSpotTraining"] is True
    [tuning] = sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert tuning["HyperParameterTuningJobStatus"]
    jobs = {j["TransformJobName"]: j for j in
            sagemaker.list_transform_jobs()["TransformJobSummaries"]}
    assert len(jobs) == 2 and {n.rsplit("-", 1)[1] for n in jobs} == {"png", "ppm"}
    assert sagemaker.list_endpoints()["Endpoints"] == []  # step 6 deleted it
    assert "stop.png.json" in out and "yield.ppm.json" in out
