"""The AWS options of `byoc train`, `tune`, `deploy`, `transform` and `autopilot start|deploy`:
each one in the request sent to moto's server (moto's recorder keeps requests as sent), and each
one checked before anything is created."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from byoc.cli import main
from byoc.driver import jobs
from byoc.driver.endpoints import CREATED_BY_BYOC

pytestmark = pytest.mark.aws


@pytest.fixture
def data(tmp_path) -> Path:
    for channel, name in (("train", "0/a.png"), ("train", "1/b.png"), ("validation", "0/c.png")):
        path = tmp_path / "data" / channel / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    return tmp_path / "data"


def _channels(request: dict) -> dict[str, tuple[str, str]]:
    return {c["ChannelName"]: (c["DataSource"]["S3DataSource"]["S3DataDistributionType"],
                               c["InputMode"]) for c in request["InputDataConfig"]}


NETWORK = ["--subnets", "subnet-0a1,subnet-0b2", "--security-groups", "sg-0c3",
           "--kms-key", "alias/byoc", "--network-isolation", "--tags", "team=vision",
           "--tags", "cost-center=42"]


def test_train_sends_every_option(moto_recorder, ecr_image, role_arn, data):
    assert main(["train", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "opts", "--no-wait", "--instance-count", "2",
                 "--distribution", "sharded", "--input-mode", "FastFile",
                 "--env", "LOG_LEVEL=debug", "--env", "TF_CPP_MIN_LOG_LEVEL=2",
                 "--retries", "3", "--keep-alive", "600", *NETWORK]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateTrainingJob")
    # Only the train channel is split between the two instances.
    assert _channels(request) == {"train": ("ShardedByS3Key", "FastFile"),
                                  "validation": ("FullyReplicated", "FastFile")}
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert request["Environment"] == {"LOG_LEVEL": "debug", "TF_CPP_MIN_LOG_LEVEL": "2"}
    assert request["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    assert request["ResourceConfig"] == {
        "InstanceType": jobs.DEFAULT_INSTANCE_TYPE, "InstanceCount": 2, "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": "alias/byoc", "KeepAlivePeriodInSeconds": 600}
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/byoc"
    assert request["VpcConfig"] == {"Subnets": ["subnet-0a1", "subnet-0b2"],
                                    "SecurityGroupIds": ["sg-0c3"]}
    assert request["EnableNetworkIsolation"] is True
    assert request["Tags"] == [{"Key": "team", "Value": "vision"},
                               {"Key": "cost-center", "Value": "42"}, CREATED_BY_BYOC]


def test_train_defaults_send_none_of_them(moto_recorder, ecr_image, role_arn, data):
    assert main(["train", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "plain", "--no-wait", "--instance-count", "2"]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateTrainingJob")
    assert _channels(request) == {"train": ("FullyReplicated", "File"),
                                  "validation": ("FullyReplicated", "File")}
    for absent in ("Environment", "RetryStrategy", "VpcConfig", "EnableNetworkIsolation"):
        assert absent not in request
    assert request["Tags"] == [CREATED_BY_BYOC]  # byoc's mark, for byoc jobs
    assert "KeepAlivePeriodInSeconds" not in request["ResourceConfig"]
    assert "KmsKeyId" not in request["OutputDataConfig"]


def test_tune_sends_strategy_early_stopping_warm_start_and_options(moto_recorder, ecr_image,
                                                                   role_arn, data,
                                                                   no_trial_listing):
    assert main(["tune", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "parent", "--max-jobs", "2", "--max-parallel-jobs", "1"]) == 0
    moto_recorder.start()
    assert main(["tune", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "child", "--no-wait", "--max-jobs", "4",
                 "--strategy", "Random", "--early-stopping", "Auto", "--warm-start", "parent",
                 "--warm-start-type", "IdenticalDataAndAlgorithm", "--instance-count", "2",
                 "--distribution", "sharded", "--env", "A=1", "--retries", "2", *NETWORK]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random"
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"}
    definition = request["TrainingJobDefinition"]
    assert _channels(definition)["train"] == ("ShardedByS3Key", "File")
    assert definition["Environment"] == {"A": "1"}
    assert definition["RetryStrategy"] == {"MaximumRetryAttempts": 2}
    assert definition["VpcConfig"]["SecurityGroupIds"] == ["sg-0c3"]
    assert definition["EnableNetworkIsolation"] is True
    assert definition["OutputDataConfig"]["KmsKeyId"] == "alias/byoc"
    assert request["Tags"] == [{"Key": "team", "Value": "vision"},
                               {"Key": "cost-center", "Value": "42"}, CREATED_BY_BYOC]


def test_hyperband_runs_with_its_own_early_stopping(moto_recorder, ecr_image, role_arn, data):
    assert main(["tune", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "hb", "--no-wait", "--strategy", "Hyperband"]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    assert request["HyperParameterTuningJobConfig"]["Strategy"] == "Hyperband"
    assert request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Off"


@pytest.mark.parametrize(("verb", "flags", "message"), [
    ("train", ["--env", "1BAD=x"], "--env: '1BAD' is not a variable name"),
    ("train", ["--env", "novalue"], "--env expects KEY=VALUE, got 'novalue'"),
    ("train", ["--tags", "aws:owner=me"], "starts with aws:"),
    ("train", ["--subnets", "subnet-1"], "--subnets and --security-groups go together"),
    ("train", ["--subnets", "vpc-1", "--security-groups", "sg-1"], "is not an id like subnet-"),
    ("train", ["--kms-key", " "], "--kms-key is empty"),
    ("train", ["--retries", "31"], "--retries must be between 1 and 30"),
    ("train", ["--keep-alive", "5000"], "--keep-alive must be between 1 and 3600"),
    ("train", ["--keep-alive", "60", "--spot"], "does not work with --spot"),
    ("tune", ["--strategy", "Hyperband", "--early-stopping", "Auto"],
     "Hyperband stops weak trials itself"),
    ("tune", ["--warm-start", "no-such-tuning"], "no tuning job named 'no-such-tuning'"),
])
def test_bad_options_are_refused_before_anything_is_created_or_uploaded(
        moto_recorder, ecr_image, role_arn, data, capsys, verb, flags, message):
    moto_recorder.start()  # forget the fixtures' own calls
    assert main([verb, "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "bad", *flags]) == 2
    assert message in capsys.readouterr().err
    sent = moto_recorder.entries()
    assert [e for e in sent if e["method"] in ("PUT", "DELETE")] == []
    assert not [e for e in sent if e["headers"].get("x-amz-target", "").split(".")[-1]
                .startswith(("Create", "Stop"))]
    assert boto3.client("s3").list_buckets()["Buckets"] == []


def test_billing_line_reports_spot_savings():
    desc = {"BillableTimeInSeconds": 120, "TrainingTimeInSeconds": 480,
            "EnableManagedSpotTraining": True,
            "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1}}
    assert jobs.billing_line(desc) == ("Billable time: 120 s on 1 x ml.g5.xlarge; managed spot "
                                       "saved 75% of the 480 s of training")
    on_demand = {**desc, "EnableManagedSpotTraining": False}
    assert jobs.billing_line(on_demand) == "Billable time: 120 s on 1 x ml.g5.xlarge"
    assert jobs.billing_line({}) is None


# ---------------------------------------------------------------------------------------------
# deploy, transform and Autopilot

MODEL_FLAGS = ["--model-data", "s3://models/m.tar.gz"]
# The option checks come first, so these refusals never reach the image or the role.
ANY_MODEL = [*MODEL_FLAGS, "--image", "byoc:v1", "--role", "arn:aws:iam::123456789012:role/r"]


USER_TAGS = [{"Key": "team", "Value": "vision"}, {"Key": "cost-center", "Value": "42"}]


def _model_options(request: dict) -> None:
    assert request["VpcConfig"] == {"Subnets": ["subnet-0a1", "subnet-0b2"],
                                    "SecurityGroupIds": ["sg-0c3"]}
    assert request["EnableNetworkIsolation"] is True
    # The user's tags, and byoc's mark, by which `byoc delete` knows the models it may remove.
    assert request["Tags"] == [*USER_TAGS, CREATED_BY_BYOC]


def test_deploy_sends_every_option(moto_recorder, ecr_image, role_arn):
    assert main(["deploy", *MODEL_FLAGS, "--image", ecr_image, "--role", role_arn,
                 "--endpoint-name", "signs", "--no-wait", *NETWORK]) == 0
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    _model_options(model)
    (config,) = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert config["KmsKeyId"] == "alias/byoc"
    # The config carries byoc's mark too: `deploy --update` deletes only configs byoc made.
    assert config["Tags"] == [*USER_TAGS, CREATED_BY_BYOC]
    (endpoint,) = moto_recorder.calls("SageMaker.CreateEndpoint")
    assert endpoint["Tags"] == USER_TAGS


def test_deploy_defaults_send_none_of_them(moto_recorder, ecr_image, role_arn):
    assert main(["deploy", *MODEL_FLAGS, "--image", ecr_image, "--role", role_arn,
                 "--endpoint-name", "signs", "--no-wait"]) == 0
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    (config,) = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    (endpoint,) = moto_recorder.calls("SageMaker.CreateEndpoint")
    assert not {"VpcConfig", "EnableNetworkIsolation"} & set(model)
    assert model["Tags"] == config["Tags"] == [CREATED_BY_BYOC]
    assert "KmsKeyId" not in config
    assert "Tags" not in endpoint


def test_a_model_is_not_reused_with_other_network_settings(moto_recorder, ecr_image, role_arn,
                                                           capsys):
    args = [*MODEL_FLAGS, "--image", ecr_image, "--role", role_arn]
    assert main(["deploy", *args, "--endpoint-name", "signs", "--no-wait"]) == 0
    assert main(["delete", "--endpoint-name", "signs"]) == 0
    boto3.client("sagemaker").create_model(
        ModelName="signs", ExecutionRoleArn=role_arn, VpcConfig={
            "Subnets": ["subnet-9"], "SecurityGroupIds": ["sg-9"]},
        PrimaryContainer={"Image": ecr_image, "ModelDataUrl": MODEL_FLAGS[1]})
    moto_recorder.start()
    assert main(["deploy", *args, "--endpoint-name", "signs"]) == 2
    assert "already exists with other VPC or network isolation settings" in \
        capsys.readouterr().err
    assert moto_recorder.calls("SageMaker.CreateEndpointConfig") == []


def test_transform_sends_every_option(moto_recorder, ecr_image, role_arn):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="batch")
    s3.put_object(Bucket="batch", Key="in/a.png", Body=b"x")
    assert main(["transform", *MODEL_FLAGS, "--image", ecr_image, "--role", role_arn,
                 "--input", "s3://batch/in/", "--output", "s3://batch/out/", "--job-name",
                 "opts", "--no-wait", *NETWORK]) == 0
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    _model_options(model)
    (job,) = moto_recorder.calls("SageMaker.CreateTransformJob")
    assert job["TransformOutput"]["KmsKeyId"] == "alias/byoc"
    assert job["TransformResources"]["VolumeKmsKeyId"] == "alias/byoc"
    assert job["Tags"] == [*USER_TAGS, CREATED_BY_BYOC]


def test_autopilot_start_sends_security_config_and_tags(moto_recorder, role_arn, tmp_path):
    from byoc.tabular import insurance

    csv = insurance.write_csv(tmp_path / "ins.csv", rows=500, seed=0)
    assert main(["autopilot", "start", "--csv", str(csv), "--target", "charges", "--role",
                 role_arn, "--job-name", "secure", "--no-wait", *NETWORK[:6],
                 "--tags", "team=vision"]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateAutoMLJobV2")
    assert request["SecurityConfig"] == {
        "VolumeKmsKeyId": "alias/byoc",
        "VpcConfig": {"Subnets": ["subnet-0a1", "subnet-0b2"], "SecurityGroupIds": ["sg-0c3"]}}
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/byoc"
    assert request["Tags"] == [{"Key": "team", "Value": "vision"}, CREATED_BY_BYOC]


def test_autopilot_deploy_sends_model_and_endpoint_options(moto_recorder, role_arn, tmp_path):
    from byoc.tabular import insurance

    csv = insurance.write_csv(tmp_path / "ins.csv", rows=500, seed=0)
    assert main(["autopilot", "start", "--csv", str(csv), "--target", "charges", "--role",
                 role_arn, "--job-name", "ins-job", "--no-wait"]) == 0
    moto_recorder.start()
    assert main(["autopilot", "deploy", "--job-name", "ins-job", "--endpoint-name", "charges",
                 "--no-wait", *NETWORK]) == 0
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    _model_options(model)
    (config,) = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert config["KmsKeyId"] == "alias/byoc"


@pytest.mark.parametrize(("argv", "message"), [
    (["deploy", *ANY_MODEL, "--endpoint-name", "e", "--subnets", "subnet-1"],
     "--subnets and --security-groups go together"),
    (["deploy", *ANY_MODEL, "--endpoint-name", "e", "--tags", "aws:x=1"], "starts with aws:"),
    (["transform", "--model-name", "m", "--input", "s3://batch/in/", "--output",
      "s3://batch/out/", "--network-isolation"],
     "--model-name uses an existing model as it is"),
    (["transform", *ANY_MODEL, "--input", "s3://batch/in/", "--output", "s3://batch/out/",
      "--kms-key", ""], "--kms-key is empty"),
    (["autopilot", "deploy", "--job-name", "j", "--endpoint-name", "e", "--tags", "novalue"],
     "--tags expects KEY=VALUE"),
])
def test_bad_options_of_deploy_transform_and_autopilot_are_refused_before_anything_is_created(
        moto_recorder, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    sent = moto_recorder.entries()
    assert [e for e in sent if e["method"] in ("PUT", "DELETE")] == []
    assert not [e for e in sent if e["headers"].get("x-amz-target", "").split(".")[-1]
                .startswith("Create")]


def test_autopilot_start_has_no_network_isolation(capsys):
    with pytest.raises(SystemExit):
        main(["autopilot", "start", "--csv", "x.csv", "--target", "y", "--network-isolation"])
    assert "unrecognized arguments: --network-isolation" in capsys.readouterr().err


def test_tags_leave_room_for_byocs_mark():
    from byoc.driver import aws_options
    from byoc.errors import UserError

    assert len(aws_options.parse_tags([f"k{i}=v" for i in range(49)])) == 49
    with pytest.raises(UserError, match="at most 49 tags, got 50 .*byoc:created-by"):
        aws_options.parse_tags([f"k{i}=v" for i in range(50)])
