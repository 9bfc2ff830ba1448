"""Multi-model endpoints against moto's server: `byoc deploy --multi-model`, `byoc models add`
and `list`, and `byoc invoke --target-model`, in the requests as sent (moto's recorder)."""

from __future__ import annotations

import json

import boto3
import pytest

from byoc.cli import main
from tests.support.moto import PREDICTIONS, queue_endpoint_results

pytestmark = pytest.mark.aws

BUCKET = "models-bucket"
PREFIX = f"s3://{BUCKET}/signs/models/"


@pytest.fixture
def trained(moto_endpoint, ecr_image, role_arn, tmp_path) -> dict[str, str]:
    """Two completed training jobs (moto completes them at once), with their model.tar.gz in
    S3 where the jobs say they are (moto runs no container to write them)."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    (tmp_path / "data" / "0").mkdir(parents=True)
    (tmp_path / "data" / "0" / "a.png").write_bytes(b"x")
    artifacts = {}
    for job in ("signs-a", "signs-b"):
        assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                     role_arn, "--job-name", job, "--output", f"s3://{BUCKET}/out",
                     "--no-wait"]) == 0
        uri = boto3.client("sagemaker").describe_training_job(
            TrainingJobName=job)["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, _, key = uri[5:].partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=f"bundle of {job}".encode())
        artifacts[job] = uri
    return artifacts


def _objects() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="signs/models/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_deploy_add_list_and_invoke_a_multi_model_endpoint(trained, moto_recorder, ecr_image,
                                                           role_arn, tmp_path, capsys):
    # From a training job: its image and role serve, its model is the first one.
    assert main(["deploy", "--multi-model", "--model-prefix", PREFIX.rstrip("/"),
                 "--training-job", "signs-a", "--endpoint-name", "signs"]) == 0
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    assert model["ModelName"] == "signs"
    assert model["PrimaryContainer"] == {"Image": ecr_image, "ModelDataUrl": PREFIX,
                                         "Mode": "MultiModel"}
    assert _objects() == {"signs/models/signs-a.tar.gz": b"bundle of signs-a"}
    assert "byoc models add --endpoint signs" in capsys.readouterr().out

    assert main(["models", "add", "--endpoint", "signs", "--training-job", "signs-b"]) == 0
    assert "Added signs-b.tar.gz" in capsys.readouterr().out
    # The same model again under another name, from its S3 URI.
    assert main(["models", "add", "--endpoint", "signs", "--model-data", trained["signs-a"],
                 "--name", "signs-a-copy"]) == 0
    assert _objects() == {"signs/models/signs-a.tar.gz": b"bundle of signs-a",
                          "signs/models/signs-b.tar.gz": b"bundle of signs-b",
                          "signs/models/signs-a-copy.tar.gz": b"bundle of signs-a"}
    capsys.readouterr()

    assert main(["models", "list", "--endpoint", "signs"]) == 0
    out = capsys.readouterr().out
    assert f"3 model(s) under {PREFIX}" in out
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        "signs-a-copy.tar.gz", "signs-a.tar.gz", "signs-b.tar.gz"]

    queue_endpoint_results(moto_recorder.url, [
        {"Body": json.dumps(PREDICTIONS), "ContentType": "application/json"}])
    (tmp_path / "stop.json").write_text(json.dumps({"instances": [[[0.0, 0.0, 0.0]]]}))
    assert main(["invoke", "--endpoint", "signs", "--target-model", "signs-b.tar.gz",
                 str(tmp_path / "stop.json")]) == 0
    assert "stop.json: stop (class 14, p=0.9100)" in capsys.readouterr().out
    (sent,) = [e for e in moto_recorder.entries()
               if e["url"].endswith("/endpoints/signs/invocations")]
    assert sent["headers"]["x-amzn-sagemaker-target-model"] == "signs-b.tar.gz"


def test_deploy_from_an_image_with_an_empty_prefix(moto_recorder, ecr_image, role_arn, capsys):
    assert main(["deploy", "--multi-model", "--model-prefix", PREFIX, "--image", ecr_image,
                 "--role", role_arn, "--endpoint-name", "empty", "--no-wait"]) == 0
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    assert model["PrimaryContainer"]["Mode"] == "MultiModel"
    assert model["ExecutionRoleArn"] == role_arn
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    capsys.readouterr()
    assert main(["models", "list", "--endpoint", "empty"]) == 0
    assert f"No models under {PREFIX} yet" in capsys.readouterr().out


BAD_ADDS = [
    (["--training-job", "signs-b", "--name", "../escape"], "is not a model name"),
    (["--training-job", "signs-b", "--name", "a/b"], "is not a model name"),
    (["--training-job", "signs-a"], "signs-a.tar.gz exists already"),
    (["--model-data", "s3://models-bucket/out/signs-a/output/model.tar.gz"],
     "give this one a name with --name"),
    (["--model-data", "s3://models-bucket/missing.tar.gz"], "does not exist"),
    (["--model-data", "s3://models-bucket/weights.h5"], "is not a .tar.gz"),
    (["--training-job", "signs-b", "--model-data", "s3://b/m.tar.gz"], "Say which model"),
    (["--training-job", "nope"], "No training job named 'nope'"),
]


def test_models_add_refuses_bad_names_reuse_and_missing_sources(trained, capsys):
    # One endpoint for every case: each is refused without touching the prefix.
    assert main(["deploy", "--multi-model", "--model-prefix", PREFIX, "--training-job",
                 "signs-a", "--endpoint-name", "signs", "--no-wait"]) == 0
    before = _objects()
    for flags, message in BAD_ADDS:
        assert main(["models", "add", "--endpoint", "signs", *flags]) == 2, flags
        assert message in capsys.readouterr().err, flags
        assert _objects() == before, flags


def test_deploy_checks_the_training_jobs_model_before_creating_anything(trained, capsys):
    """A training job whose model.tar.gz is gone: no SageMaker model is left behind, and once
    the model is back the same command deploys (nothing stale to reuse)."""
    s3 = boto3.client("s3")
    bucket, _, key = trained["signs-b"][5:].partition("/")
    s3.delete_object(Bucket=bucket, Key=key)
    flags = ["deploy", "--multi-model", "--model-prefix", PREFIX, "--training-job", "signs-b",
             "--endpoint-name", "signs", "--no-wait"]
    assert main(flags) == 2
    assert f"{trained['signs-b']} does not exist" in capsys.readouterr().err
    sagemaker = boto3.client("sagemaker")
    assert sagemaker.list_models()["Models"] == []
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert _objects() == {}

    s3.put_object(Bucket=bucket, Key=key, Body=b"bundle of signs-b")
    assert main(flags) == 0
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["signs"]
    assert _objects() == {"signs/models/signs-b.tar.gz": b"bundle of signs-b"}


def test_models_of_a_single_model_endpoint_are_refused(trained, capsys):
    assert main(["deploy", "--training-job", "signs-a", "--endpoint-name", "one"]) == 0
    assert main(["models", "list", "--endpoint", "one"]) == 2
    assert "Endpoint one hosts one model (signs-a), not many" in capsys.readouterr().err
    assert main(["models", "add", "--endpoint", "missing", "--training-job", "signs-b"]) == 2
    assert "No endpoint named 'missing'" in capsys.readouterr().err


def test_delete_keeps_the_models_under_the_prefix(trained, capsys):
    assert main(["deploy", "--multi-model", "--model-prefix", PREFIX, "--training-job",
                 "signs-a", "--endpoint-name", "signs"]) == 0
    assert main(["delete", "--endpoint-name", "signs"]) == 0
    assert boto3.client("sagemaker").list_models()["Models"] == []
    assert list(_objects()) == ["signs/models/signs-a.tar.gz"]
