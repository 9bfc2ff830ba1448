"""The "On AWS" walkthrough (docs/aws.md) and the hosting page that continues it
(docs/hosting.md), run as written against moto's server.

The block runs as bash in a fresh directory. Three things stand in for what moto cannot do:
- the image is one that moto's ECR already holds (pushing needs a Docker engine and a registry:
  tests/aws/test_push.py runs that step);
- the jobs' output.tar.gz and model.tar.gz are put in place first, since moto completes a job
  at once without running the image, and its endpoints answer with queued, canned predictions;
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
from tests.support.moto import (
    PREDICTIONS,
    MotoRecorder,
    queue_async_results,
    queue_endpoint_results,
)

# About a minute: the page uploads 4,300 synthetic signs to moto.
pytestmark = [pytest.mark.aws, pytest.mark.slow]

PAGE, HOSTING = "aws.md", "hosting.md"
DEFAULT_BUCKET = "sagemaker-us-east-1-123456789012"  # moto's account, the page's region
PUSH = re.compile(r"^IMAGE=\$\(byoc push .*\)$", re.M)
INVOKE = "byoc invoke --endpoint signs --top-k 5 stop.png yield.ppm\n"


def _put_job_output(job: str) -> None:
    """The output.tar.gz SageMaker would make of the job's /opt/ml/output/data, and a
    model.tar.gz (its bytes do not matter to moto)."""
    body = json.dumps({"test_accuracy": 0.9, "test_samples": 10}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("metrics.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=DEFAULT_BUCKET)
    output = f"byoc/output/{job}/output"
    s3.put_object(Bucket=DEFAULT_BUCKET, Key=f"{output}/output.tar.gz", Body=buf.getvalue())
    s3.put_object(Bucket=DEFAULT_BUCKET, Key=f"{output}/model.tar.gz", Body=buf.getvalue())


def _as_json(command: str) -> str:
    """A real-time `byoc invoke` line with each image sent as JSON (see the module's note)."""
    if not command.startswith("byoc invoke") or "--async" in command:
        return command
    return re.sub(r"(\S+\.(?:png|ppm))\b", r"\1.json", command)


def test_the_aws_pages_run_as_written_against_moto(moto_endpoint, ecr_image, tmp_path,
                                                      shared_steps):
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
    out = shared_steps.run_script(before, tmp_path, env, timeout=600)
    for image in ("stop.png", "yield.ppm"):
        b64 = base64.b64encode((tmp_path / image).read_bytes()).decode()
        (tmp_path / f"{image}.json").write_text(json.dumps({"instances": [{"b64": b64}]}))
    out += run_command(_as_json(INVOKE), tmp_path, env)
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

    # docs/hosting.md, in the same directory, with the variables the first page set.
    [hosting] = [b for b in code_blocks(HOSTING, "bash") if "--serverless-memory" in b]
    _put_job_output("signs-2")
    queue_endpoint_results(moto_endpoint, [{"Body": json.dumps(PREDICTIONS),
                                            "ContentType": "application/json"}] * 2)
    queue_async_results(moto_endpoint, [{"data": json.dumps(PREDICTIONS)}] * 2)
    script = exports + f"IMAGE={ecr_image}\n" + "\n".join(
        _as_json(line) for line in hosting.replace("\\\n", " ").splitlines())
    # Recorded from here on: the first page's 4,300 uploads would be copied for nothing.
    recorder = MotoRecorder(moto_endpoint)
    recorder.start()
    try:
        out = run_command(script, tmp_path, env, timeout=600)
        configs = recorder.calls("SageMaker.CreateEndpointConfig")
    finally:
        recorder.stop()

    assert (tmp_path / "batch.npy").is_file()
    serverless = [v["ServerlessConfig"] for c in configs
                  for v in c["ProductionVariants"] if "ServerlessConfig" in v]
    assert serverless == [{"MemorySizeInMB": 2048, "MaxConcurrency": 10,
                           "ProvisionedConcurrency": 2}]
    [async_config] = [c["AsyncInferenceConfig"] for c in configs if "AsyncInferenceConfig" in c]
    assert async_config["OutputConfig"]["S3OutputPath"] == "s3://my-bucket/async/out/"
    assert sagemaker.describe_training_job(TrainingJobName="signs-2")["HyperParameters"][
        "learning_rate"] == "0.003"
    models = boto3.client("s3").list_objects_v2(Bucket="my-bucket", Prefix="signs/models/")
    assert sorted(o["Key"] for o in models["Contents"]) == [
        f"signs/models/{name}.tar.gz" for name in ("other", "signs-1", "signs-2")]
    assert "batch.npy" in out
    assert sagemaker.list_endpoints()["Endpoints"] == []  # the page's clean-up
