"""`byoc deploy`'s hosting flags against moto's server: serverless, asynchronous, data capture,
start-up limits and the GPU AMI, each in the request as sent (moto's recorder), and bad
combinations refused before anything is created."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from byoc.cli import main
from byoc.contract import MAX_PAYLOAD_ENV, WORKERS_ENV
from byoc.driver import hosting

pytestmark = pytest.mark.aws

MODEL_DATA = "s3://models-bucket/signs/model.tar.gz"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def deploy(ecr_image, role_arn):
    """Run `byoc deploy --model-data ... --image ...` with more flags; its exit status."""
    def run(*flags: str, name: str = "signs") -> int:
        return main(["deploy", "--model-data", MODEL_DATA, "--image", ecr_image, "--role",
                     role_arn, "--endpoint-name", name, *flags])
    return run


def test_serverless_sends_serverless_config_and_one_worker_per_container(moto_recorder, deploy,
                                                                         capsys):
    assert deploy("--serverless-memory", "2048", "--max-concurrency", "20",
                  "--provisioned-concurrency", "5") == 0
    assert deploy("--serverless-memory", "1024", "--env", f"{WORKERS_ENV}=2",
                  name="two-workers") == 0

    config, _ = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    (variant,) = config["ProductionVariants"]
    assert variant == {"VariantName": "AllTraffic", "ModelName": "signs", "ServerlessConfig": {
        "MemorySizeInMB": 2048, "MaxConcurrency": 20, "ProvisionedConcurrency": 5}}
    model, overridden = moto_recorder.calls("SageMaker.CreateModel")
    assert model["PrimaryContainer"]["Environment"] == {WORKERS_ENV: "1"}
    assert model["PrimaryContainer"]["Mode"] == "SingleModel"
    assert overridden["PrimaryContainer"]["Environment"] == {WORKERS_ENV: "2"}  # --env wins
    sm = boto3.client("sagemaker")
    assert sm.describe_endpoint(EndpointName="signs")["EndpointStatus"] == "InService"
    assert "billed" not in capsys.readouterr().err


def test_a_training_jobs_serverless_model_is_a_model_of_its_own(moto_endpoint, ecr_image,
                                                                role_arn, tmp_path):
    (tmp_path / "data" / "0").mkdir(parents=True)
    (tmp_path / "data" / "0" / "a.png").write_bytes(b"x")
    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "sign-job", "--no-wait"]) == 0
    assert main(["deploy", "--training-job", "sign-job", "--endpoint-name", "on-instances"]) == 0
    assert main(["deploy", "--training-job", "sign-job", "--endpoint-name", "serverless",
                 "--serverless-memory", "1024"]) == 0
    sm = boto3.client("sagemaker")
    # The job's own model has no environment; the serverless one is named after its endpoint.
    assert sorted(m["ModelName"] for m in sm.list_models()["Models"]) == [
        "serverless", "sign-job"]
    serverless = sm.describe_model(ModelName="serverless")["PrimaryContainer"]
    assert serverless["Environment"] == {WORKERS_ENV: "1"}
    assert "Environment" not in sm.describe_model(ModelName="sign-job")["PrimaryContainer"]


def test_async_capture_and_start_up_flags_reach_the_endpoint_config(moto_recorder, deploy):
    assert deploy("--async-output", "s3://answers/out/", "--async-failure", "s3://answers/err/",
                  "--max-concurrent-invocations", "4", "--capture", "s3://captured/signs/",
                  "--capture-percent", "25", "--startup-timeout", "600",
                  "--model-download-timeout", "900", "--env", "LOG_LEVEL=debug",
                  "--no-wait") == 0

    (config,) = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://answers/out/",
                         "S3FailurePath": "s3://answers/err/"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4}}
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True, "InitialSamplingPercentage": 25,
        "DestinationS3Uri": "s3://captured/signs/",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        # JSON and CSV are captured as text; images and .npy as base64.
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"],
                                     "CsvContentTypes": ["text/csv"]}}
    (variant,) = config["ProductionVariants"]
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 900
    assert "InferenceAmiVersion" not in variant  # a CPU instance type
    # An async body may be up to 1 GB: the server's limit is raised to match.
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    assert model["PrimaryContainer"]["Environment"] == {MAX_PAYLOAD_ENV: "1024",
                                                        "LOG_LEVEL": "debug"}
    # moto keeps what it was given: the endpoint describes its async and capture settings too.
    described = boto3.client("sagemaker").describe_endpoint_config(EndpointConfigName="signs")
    assert described["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == \
        "s3://answers/out/"
    assert described["DataCaptureConfig"]["InitialSamplingPercentage"] == 25

    # Without --async-failure, failures go below the output, so that invoke can see them.
    assert deploy("--async-output", "s3://answers/out", "--no-wait", name="plain-async") == 0
    _, plain = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert plain["AsyncInferenceConfig"] == {"OutputConfig": {
        "S3OutputPath": "s3://answers/out", "S3FailurePath": "s3://answers/out/failures/"}}


def test_defaults_send_none_of_the_hosting_fields(moto_recorder, deploy):
    assert deploy("--no-wait") == 0
    (config,) = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert not {"AsyncInferenceConfig", "DataCaptureConfig"} & set(config)
    (variant,) = config["ProductionVariants"]
    assert set(variant) == {"VariantName", "ModelName", "InstanceType", "InitialInstanceCount",
                            "InitialVariantWeight"}
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    assert "Environment" not in model["PrimaryContainer"]


def test_gpu_instance_types_get_an_ami_whose_driver_runs_the_images_cuda(moto_recorder, deploy):
    # moto knows older instance types only (no ml.g5): a T4 and a V100 host here.
    assert deploy("--instance-type", "ml.g4dn.xlarge", "--no-wait", name="gpu") == 0
    assert deploy("--instance-type", "ml.p3.2xlarge", "--inference-ami-version",
                  "al2-ami-sagemaker-inference-gpu-3-1", "--no-wait", name="pinned") == 0
    first, second = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert first["ProductionVariants"][0]["InferenceAmiVersion"] == \
        "al2023-ami-sagemaker-inference-gpu-4-1"
    assert second["ProductionVariants"][0]["InferenceAmiVersion"] == \
        "al2-ami-sagemaker-inference-gpu-3-1"


def test_the_default_ami_covers_the_cuda_of_dockerfile_gpu():
    # The GPU image's CUDA comes from tensorflow[and-cuda]'s wheels, so the container's own
    # check and the AMI deploy picks must agree on it.
    from byoc import gpu

    assert hosting.IMAGE_CUDA[0] == gpu.CUDA_MAJOR
    assert hosting.default_inference_ami() == gpu.INFERENCE_AMI
    _, cuda = hosting.INFERENCE_AMIS[hosting.default_inference_ami()]
    assert cuda >= hosting.IMAGE_CUDA
    # Every AMI offered is one botocore knows.
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(hosting.INFERENCE_AMIS) <= set(
        model.shape_for("ProductionVariantInferenceAmiVersion").enum)
    assert [hosting.is_gpu_instance(t) for t in (
        "ml.g5.xlarge", "ml.p4d.24xlarge", "ml.g6e.2xlarge", "ml.g4ad.xlarge", "ml.c5.large",
        "ml.inf2.xlarge", "ml.m5.large")] == [True, True, True, False, False, False, False]


SERVERLESS = ["--serverless-memory", "2048"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--serverless-memory", "3000"], "--serverless-memory must be one of 1024, 2048"),
    ([*SERVERLESS, "--max-concurrency", "201"], "--max-concurrency must be between 1 and 200"),
    ([*SERVERLESS, "--max-concurrency", "4", "--provisioned-concurrency", "5"],
     "--provisioned-concurrency 5 is above --max-concurrency 4"),
    (["--max-concurrency", "4"], "add --serverless-memory MB"),
    ([*SERVERLESS, "--instance-type", "ml.c5.large", "--capture", "s3://c/"],
     "has no --instance-type, --capture: drop them"),
    ([*SERVERLESS, "--max-instances", "3", "--target-invocations", "10"],
     "scales by itself"),
    (["--min-instances", "4", "--max-instances", "2", "--target-invocations", "100"],
     "--min-instances 4 is above --max-instances 2"),
    (["--max-instances", "2"], "Autoscaling needs --target-invocations"),
    (["--instance-count", "3", "--max-instances", "2", "--target-invocations", "9"],
     "--instance-count 3 is outside --min-instances 1 .. --max-instances 2"),
    (["--max-instances", "2", "--target-invocations", "9", "--no-wait"], "drop --no-wait"),
    (["--async-output", "answers/out/"], "--async-output must be an s3:// URI"),
    (["--async-failure", "s3://a/err/"], "add --async-output"),
    (["--capture-percent", "20"], "--capture-percent needs --capture"),
    (["--capture", "s3://c/", "--capture-percent", "101"],
     "--capture-percent must be between 0 and 100"),
    (["--startup-timeout", "30"], "--startup-timeout must be between 60 and 3600"),
    (["--model-download-timeout", "4000"], "--model-download-timeout must be between 60"),
    (["--inference-ami-version", "al2-ami-sagemaker-inference-gpu-3-1"],
     "ml.m5.large has no NVIDIA GPU"),
    (["--env", "1BAD=x"], "--env: '1BAD' is not a variable name"),
    (["--multi-model"], "--multi-model needs --model-prefix"),
    (["--model-prefix", "s3://m/models/"], "add --multi-model"),
    (["--multi-model", "--model-prefix", "s3://m/models/", "--instance-type", "ml.g4dn.xlarge"],
     "GPU multi-model endpoints run Triton only"),
    (["--multi-model", "--model-prefix", "s3://m/models/"], "--model-data is one model"),
])
def test_bad_hosting_flags_are_refused_before_anything_is_created(moto_recorder, deploy, capsys,
                                                                  flags, message):
    moto_recorder.start()  # after the fixtures' own calls (the image in moto's ECR)
    assert deploy(*flags) == 2
    assert message in capsys.readouterr().err
    sent = [e["headers"].get("x-amz-target", "") for e in moto_recorder.entries()]
    assert not [t for t in sent if t.split(".")[-1].startswith(("Create", "Register", "Put"))]
    assert not [e for e in moto_recorder.entries() if e["method"] in ("PUT", "DELETE")]


def test_a_non_integer_memory_is_an_argument_error(capsys):
    with pytest.raises(SystemExit):
        main(["deploy", "--endpoint-name", "e", "--serverless-memory", "2GB"])
    assert "expected a whole number, got '2GB'" in capsys.readouterr().err
