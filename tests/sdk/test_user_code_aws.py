"""SDK 3.x's `ModelTrainer(source_code=SourceCode(...))` against moto: what it asks SageMaker
for when the user brings a script to byoc's image.

moto completes the job at once without running the image, so this checks the request and what
the SDK staged on S3; test_user_code.py runs the same ModelTrainer in the SDK's local container
mode, where the image really runs the SDK's driver scripts.
"""

from __future__ import annotations

import io
import tarfile

import boto3
import pytest

from tests.support.executables import REPO
from tests.support.sdk import SCRIPTS, SNIPPET_BUCKET, SNIPPET_IMAGE_URI, run_sdk_script

pytestmark = pytest.mark.aws

SOURCE = REPO / "examples" / "keras_script"
DRIVERS = "/opt/ml/input/data/sm_drivers"


def _staged(uri: str) -> set[str]:
    """The file names under an S3 prefix, archives opened."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    names = set()
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        key = item["Key"]
        if key.endswith(".tar.gz"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                names |= {m.name.removeprefix("./") for m in tar.getmembers() if m.isfile()}
        else:
            names.add(key.removeprefix(prefix).lstrip("/"))
    return names


def test_sdk3_model_trainer_sends_the_users_script_and_its_drivers(aws, sdk3_python, tmp_path):
    run = run_sdk_script(None, sdk3_python, SCRIPTS / "aws_model_trainer.py", SNIPPET_IMAGE_URI,
                         SNIPPET_BUCKET, str(SOURCE), cwd=tmp_path, timeout=300,
                         env={"AWS_ENDPOINT_URL": aws.url, "SAGEMAKER_VALIDATE_ROLE": "false"})
    result = run.check()
    assert "error" not in result, result["error"] + run.output[-3000:]
    [request] = aws.calls("SageMaker.CreateTrainingJob")
    assert result == {"job": request["TrainingJobName"], "status": "Completed"}
    spec = request["AlgorithmSpecification"]
    assert spec["TrainingImage"] == SNIPPET_IMAGE_URI
    # Not `train`: the SDK's own driver, through bash. The image must have /bin/bash, and a
    # python3 with the user's libraries first on PATH (test_user_code.py runs it).
    assert spec["ContainerEntrypoint"] == ["/bin/bash"]
    assert spec["ContainerArguments"][0] == "-c"
    assert f"{DRIVERS}/sm_train.sh" in spec["ContainerArguments"][1]
    assert request["ResourceConfig"]["InstanceCount"] == 2
    # SageMaker passes hyperparameters as strings; the driver turns them into --key value.
    assert request["HyperParameters"] == {"epochs": "20", "batch-size": "64"}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in request["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "code", "sm_drivers"}
    assert channels["train"] == f"s3://{SNIPPET_BUCKET}/signs/train/"
    # The user's directory as given, and the SDK's drivers, staged where the channels say.
    assert {"train.py", "inference.py"} <= _staged(channels["code"])
    assert "sm_train.sh" in _staged(channels["sm_drivers"])
