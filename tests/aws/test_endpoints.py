"""`byoc deploy`, `invoke --endpoint`, `transform` and `delete` against moto's server."""

from __future__ import annotations

import json

import boto3
import pytest

from byoc.cli import main
from tests.support.moto import PREDICTIONS, queue_endpoint_results

pytestmark = pytest.mark.aws

BUCKET = "models-bucket"
@pytest.fixture
def trained_job(moto_endpoint, ecr_image, role_arn, tmp_path) -> str:
    """A completed training job (moto completes it at once)."""
    (tmp_path / "data" / "0").mkdir(parents=True)
    (tmp_path / "data" / "0" / "a.png").write_bytes(b"x")
    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "sign-job", "--no-wait"]) == 0
    return "sign-job"


def test_deploy_from_training_job_creates_model_config_and_endpoint(trained_job, role_arn,
                                                                    ecr_image, capsys):
    assert main(["deploy", "--training-job", trained_job, "--endpoint-name", "signs",
                 "--instance-type", "ml.c5.large", "--instance-count", "2"]) == 0

    sm = boto3.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="signs")
    assert endpoint["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["ModelName"] == trained_job
    assert variant["InstanceType"] == "ml.c5.large"
    assert variant["InitialInstanceCount"] == 2
    model = sm.describe_model(ModelName=trained_job)
    assert model["PrimaryContainer"]["Image"] == ecr_image
    job = sm.describe_training_job(TrainingJobName=trained_job)
    assert model["PrimaryContainer"]["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["ExecutionRoleArn"] == role_arn  # the training job's role, reused
    assert "Endpoint signs is InService" in capsys.readouterr().out


def test_deploy_from_model_data_then_invoke_then_delete_everything(
        moto_endpoint, moto_recorder, ecr_image, role_arn, tmp_path, capsys):
    model_data = f"s3://{BUCKET}/signs/model.tar.gz"
    assert main(["deploy", "--model-data", model_data, "--image", ecr_image, "--role",
                 role_arn, "--endpoint-name", "signs"]) == 0
    sm = boto3.client("sagemaker")
    assert sm.describe_model(ModelName="signs")["PrimaryContainer"]["ModelDataUrl"] == model_data
    capsys.readouterr()

    queue_endpoint_results(moto_endpoint, [
        {"Body": json.dumps(PREDICTIONS), "ContentType": "application/json"},
        {"Body": "1,0.93\n", "ContentType": "text/csv"},
    ])
    # moto's runtime fails on a binary request body (it JSON-encodes it), so the images go in a
    # .json request here; binary files are sent over HTTP in test_invoke.py.
    (tmp_path / "stop.json").write_text(json.dumps({"instances": [[[0.0, 0.0, 0.0]]]}))
    (tmp_path / "row.csv").write_text("5.1,3.5,1.4\n")
    assert main(["invoke", "--endpoint", "signs", "--top-k", "2", str(tmp_path / "stop.json"),
                 str(tmp_path / "row.csv")]) == 0
    out = capsys.readouterr().out
    assert "stop.json: stop (class 14, p=0.9100)" in out
    assert "2. no_entry" in out
    assert "row.csv:\n  1,0.93" in out  # a CSV answer is printed as returned
    sent = [e for e in moto_recorder.entries() if e["url"].endswith("/endpoints/signs/invocations")]
    assert [e["headers"]["content-type"] for e in sent] == ["application/json", "text/csv"]
    assert {e["headers"]["x-amzn-sagemaker-custom-attributes"] for e in sent} == {"top_k=2"}
    assert sent[1]["body"] == b"5.1,3.5,1.4\n"
    # Our container answers JSON; a tabular container picks its own format for CSV.
    assert sent[0]["headers"]["accept"] == "application/json"
    assert sent[1]["headers"].get("accept") != "application/json"

    assert main(["delete", "--endpoint-name", "signs"]) == 0
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    out = capsys.readouterr().out
    assert "deleted endpoint config signs" in out and "deleted model signs" in out


def test_deploy_needs_a_training_job_or_model_data_and_image(moto_endpoint, role_arn, capsys):
    assert main(["deploy", "--model-data", "s3://b/m.tar.gz", "--role", role_arn,
                 "--endpoint-name", "e"]) == 2
    err = capsys.readouterr().err
    assert "--training-job NAME, --tuning-job NAME (its best training job), or both " \
        "--model-data" in err


def test_a_training_jobs_model_is_reused_by_deploy_then_transform(trained_job, capsys):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("s3").put_object(Bucket=BUCKET, Key="in/a.png", Body=b"x")
    assert main(["deploy", "--training-job", trained_job, "--endpoint-name", "signs"]) == 0
    assert main(["transform", "--training-job", trained_job, "--input", f"s3://{BUCKET}/in/",
                 "--output", f"s3://{BUCKET}/out/", "--job-name", "again"]) == 0
    models = boto3.client("sagemaker").list_models()["Models"]
    assert [m["ModelName"] for m in models] == [trained_job]


def test_a_model_name_taken_by_another_image_is_a_user_error(moto_endpoint, ecr_image, role_arn,
                                                             capsys):
    args = ["--role", role_arn, "--image", ecr_image, "--endpoint-name", "signs"]
    assert main(["deploy", "--model-data", "s3://b/one.tar.gz", *args]) == 0
    assert main(["delete", "--endpoint-name", "signs"]) == 0
    boto3.client("sagemaker").create_model(
        ModelName="signs", ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": ecr_image, "ModelDataUrl": "s3://b/other.tar.gz"})
    assert main(["deploy", "--model-data", "s3://b/one.tar.gz", *args]) == 2
    assert "A model named 'signs' already exists" in capsys.readouterr().err


def test_a_model_name_conflict_names_the_differences_without_their_values(
        moto_endpoint, ecr_image, role_arn, capsys):
    """The existing model's environment may hold secrets: the error names keys, not values."""
    boto3.client("sagemaker").create_model(
        ModelName="signs", ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": ecr_image, "ModelDataUrl": "s3://b/one.tar.gz",
                          "Environment": {"API_TOKEN": "s3cr3t-value", "TOP_K": "3"}})
    assert main(["deploy", "--model-data", "s3://b/one.tar.gz", "--image", ecr_image, "--role",
                 role_arn, "--endpoint-name", "signs", "--env", "TOP_K=5"]) == 2
    err = capsys.readouterr().err
    assert "A model named 'signs' already exists with another environment (API_TOKEN, TOP_K)" \
        in err
    assert "s3cr3t-value" not in err and "=3" not in err


def test_delete_keeps_a_model_that_another_endpoint_config_uses(trained_job, capsys):
    """Two endpoints of one training job share its model: deleting one keeps it for the other,
    and deleting the last one removes it."""
    for endpoint in ("signs-a", "signs-b"):
        assert main(["deploy", "--training-job", trained_job, "--endpoint-name", endpoint]) == 0
    capsys.readouterr()
    sm = boto3.client("sagemaker")

    assert main(["delete", "--endpoint-name", "signs-a"]) == 0

    out = capsys.readouterr().out
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [trained_job]
    assert "deleted endpoint signs-a" in out and "deleted endpoint config signs-a" in out
    assert (f"kept model {trained_job}: endpoint config signs-b references it" in out)
    assert f"deleted model {trained_job}" not in out

    assert main(["delete", "--endpoint-name", "signs-b"]) == 0
    assert f"deleted model {trained_job}" in capsys.readouterr().out
    assert sm.list_models()["Models"] == []


def test_delete_keeps_a_model_that_byoc_did_not_create(trained_job, role_arn, ecr_image,
                                                       capsys):
    sm = boto3.client("sagemaker")
    job = sm.describe_training_job(TrainingJobName=trained_job)
    sm.create_model(ModelName=trained_job, ExecutionRoleArn=role_arn, PrimaryContainer={
        "Image": ecr_image, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
    assert main(["deploy", "--training-job", trained_job, "--endpoint-name", "signs"]) == 0

    assert main(["delete", "--endpoint-name", "signs"]) == 0

    out = capsys.readouterr().out
    assert f"kept model {trained_job}: byoc did not create it" in out
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [trained_job]


def test_deploy_of_an_unknown_training_job_is_a_user_error(moto_endpoint, capsys):
    assert main(["deploy", "--training-job", "nope", "--endpoint-name", "e"]) == 2
    assert "No training job named 'nope'" in capsys.readouterr().err


def test_delete_of_an_unknown_endpoint_is_a_user_error(moto_endpoint, capsys):
    assert main(["delete", "--endpoint-name", "nope"]) == 2
    assert "No endpoint named 'nope'" in capsys.readouterr().err


def test_transform_from_training_job_runs_single_record_over_the_prefix(trained_job, capsys):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="batch-in/a.png", Body=b"x")
    # moto runs no container, so nothing writes results: put one where SageMaker would.
    s3.put_object(Bucket=BUCKET, Key="batch-out/a.png.out", Body=json.dumps(PREDICTIONS))

    assert main(["transform", "--training-job", trained_job, "--input",
                 f"s3://{BUCKET}/batch-in/", "--output", f"s3://{BUCKET}/batch-out/",
                 "--job-name", "sign-batch", "--instance-type", "ml.m5.large"]) == 0

    desc = boto3.client("sagemaker").describe_transform_job(TransformJobName="sign-batch")
    assert desc["ModelName"] == trained_job
    assert desc["BatchStrategy"] == "SingleRecord"
    assert desc["TransformInput"]["SplitType"] == "None"
    assert desc["TransformInput"]["ContentType"] == "image/png"
    assert desc["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == \
        f"s3://{BUCKET}/batch-in/"
    assert desc["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/batch-out/"
    assert desc["TransformResources"]["InstanceType"] == "ml.m5.large"
    out = capsys.readouterr().out
    assert f"s3://{BUCKET}/batch-out/a.png.out" in out


def test_an_existing_endpoint_name_is_refused_before_a_model_is_created(trained_job, ecr_image,
                                                                        role_arn, capsys):
    assert main(["deploy", "--training-job", trained_job, "--endpoint-name", "signs",
                 "--no-wait"]) == 0
    assert main(["deploy", "--model-data", "s3://b/other.tar.gz", "--image", ecr_image,
                 "--role", role_arn, "--endpoint-name", "signs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Endpoint 'signs' already exists in us-east-1;")
    assert "byoc delete --endpoint-name signs" in err
    models = boto3.client("sagemaker").list_models()["Models"]
    assert [m["ModelName"] for m in models] == [trained_job]


def test_a_leftover_endpoint_config_name_is_refused_with_how_to_delete_it(
        moto_endpoint, ecr_image, role_arn, capsys):
    sm = boto3.client("sagemaker")
    sm.create_model(ModelName="old", ExecutionRoleArn=role_arn,
                    PrimaryContainer={"Image": ecr_image, "ModelDataUrl": "s3://b/m.tar.gz"})
    sm.create_endpoint_config(
        EndpointConfigName="left", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "old",
            "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert main(["deploy", "--model-data", "s3://b/m.tar.gz", "--image", ecr_image, "--role",
                 role_arn, "--endpoint-name", "left"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Endpoint config 'left' already exists")
    assert "aws sagemaker delete-endpoint-config --endpoint-config-name left" in err
