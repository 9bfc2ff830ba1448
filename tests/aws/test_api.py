"""byoc.api against moto's server: the calls a notebook makes, their typed results, and the
checks they make before anything is created. The whole flow runs in test_python_api_page.py."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from byoc import api
from byoc.errors import UserError
from tests.support.aws_jobs import BUCKET, make_dataset

pytestmark = pytest.mark.aws


def _puts(recorder) -> int:
    return sum(1 for e in recorder.entries() if e["method"] == "PUT" and "/byoc/input/" in e["url"])


def test_upload_sends_a_folder_once_and_names_its_channels(moto_recorder, tmp_path):
    files = make_dataset(tmp_path / "data")
    first = api.upload(tmp_path / "data")
    assert first.prefix.startswith(f"s3://{BUCKET}/byoc/input/")
    assert first.channels == {c: f"{first.prefix}{c}/" for c in files}
    sent = _puts(moto_recorder)
    assert sent == sum(len(names) for names in files.values())

    again = api.upload(tmp_path / "data")
    assert again == first
    assert _puts(moto_recorder) == sent  # nothing new: same sizes and checksums

    in_place = api.upload(first.prefix)
    assert in_place.prefix == first.prefix
    assert in_place.channels == first.channels


def test_train_refuses_a_bad_hyperparameter_before_any_upload(moto_endpoint, ecr_image,
                                                               role_arn, tmp_path):
    make_dataset(tmp_path / "data")
    with pytest.raises(UserError, match="epochs"):
        api.train(image=ecr_image, role=role_arn, data=str(tmp_path / "data"),
                  hyperparameters={"epochs": "many"})
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert BUCKET not in buckets  # nothing was uploaded


def test_train_refuses_a_download_directory_that_holds_files(moto_endpoint, ecr_image, role_arn,
                                                             tmp_path):
    make_dataset(tmp_path / "data")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        api.train(image=ecr_image, role=role_arn, data=str(tmp_path / "data"),
                  download=tmp_path / "out")
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_deploy_from_model_data_then_delete_reports_what_went(moto_endpoint, ecr_image,
                                                             role_arn):
    source = api.ModelSource(model_data=f"s3://{BUCKET}/m/model.tar.gz", image=ecr_image,
                             role=role_arn)
    hosting = api.hosting(default_instance_type="ml.m5.large", instance_count=2)
    deployed = api.deploy(api.DeployRequest("signs", source, hosting))
    assert (deployed.endpoint_name, deployed.model_name) == ("signs", "signs")
    sagemaker = boto3.client("sagemaker")
    assert sagemaker.describe_endpoint(EndpointName="signs")["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName="signs")
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2

    gone = api.delete("signs")
    assert "endpoint signs" in gone.deleted and "model signs" in gone.deleted
    assert gone.kept == []
    assert sagemaker.list_endpoints()["Endpoints"] == []


def test_a_call_says_what_is_wrong_before_it_connects(moto_endpoint):
    with pytest.raises(UserError, match="either endpoint=NAME"):
        api.invoke([Path("stop.png")])
    with pytest.raises(UserError, match="kind must be one of training job"):
        api.stop("job", "x")
    with pytest.raises(UserError, match="No endpoint named 'nowhere'"):
        api.scale("nowhere")
