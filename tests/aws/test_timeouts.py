"""`--timeout` on the waiting verbs: when it passes, byoc says what keeps running on AWS.

moto completes jobs and endpoints at once. To see a wait run out, the test keeps moto's real
describe answer but rewrites its status to the in-progress one, in botocore's after-call hook,
for the one operation that is waited on.
"""

from __future__ import annotations

import boto3
import pytest

from byoc.cli import main
from byoc.driver import aws as aws_module

pytestmark = pytest.mark.aws


@pytest.fixture
def still_in_progress(monkeypatch):
    """Call with (operation, status key, status): that describe call reports the status."""
    def keep(operation: str, key: str, status: str) -> None:
        make_client = aws_module.Aws.client

        def client(self, service: str, **config):
            made = make_client(self, service, **config)
            if service == "sagemaker":
                def rewrite(parsed, **_):
                    parsed[key] = status

                made.meta.events.register(f"after-call.sagemaker.{operation}", rewrite)
            return made

        monkeypatch.setattr(aws_module.Aws, "client", client)

    return keep


@pytest.fixture
def dataset(tmp_path):
    (tmp_path / "data" / "train" / "0").mkdir(parents=True)
    (tmp_path / "data" / "train" / "0" / "a.png").write_bytes(b"x")
    return tmp_path / "data"


def test_train_timeout_leaves_the_job_running_and_says_how_to_stop_it(
        moto_endpoint, ecr_image, role_arn, dataset, still_in_progress, capsys):
    still_in_progress("DescribeTrainingJob", "TrainingJobStatus", "InProgress")
    assert main(["train", "--image", ecr_image, "--data", str(dataset), "--role", role_arn,
                 "--job-name", "slow-job", "--spot", "--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "Stopped waiting for training job slow-job after 0.2 s; it keeps running on AWS." in err
    assert "within its limit (--max-run, --max-wait)" in err
    assert "stop it: byoc stop --training-job slow-job" in err


def test_tune_timeout_says_how_to_stop_every_trial(moto_endpoint, ecr_image, role_arn, dataset,
                                                   still_in_progress, capsys):
    still_in_progress("DescribeHyperParameterTuningJob", "HyperParameterTuningJobStatus",
                      "InProgress")
    assert main(["tune", "--image", ecr_image, "--data", str(dataset), "--role", role_arn,
                 "--job-name", "slow-tune", "--max-jobs", "2", "--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "Stopped waiting for tuning job slow-tune after 0.2 s" in err
    assert "stop them all with byoc stop --tuning-job slow-tune" in err


def test_deploy_timeout_says_the_endpoint_is_billed_until_deleted(
        moto_endpoint, ecr_image, role_arn, still_in_progress, capsys):
    still_in_progress("DescribeEndpoint", "EndpointStatus", "Creating")
    assert main(["deploy", "--model-data", "s3://b/model.tar.gz", "--image", ecr_image,
                 "--role", role_arn, "--endpoint-name", "slow", "--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "Stopped waiting for endpoint slow after 0.2 s; it keeps running on AWS." in err
    assert "billed per instance-hour until you delete it: byoc delete --endpoint-name slow" in err


def test_transform_timeout_says_how_to_stop_the_job(moto_endpoint, ecr_image, role_arn,
                                                    still_in_progress, capsys):
    still_in_progress("DescribeTransformJob", "TransformJobStatus", "InProgress")
    boto3.client("s3").create_bucket(Bucket="batch")
    boto3.client("s3").put_object(Bucket="batch", Key="in/a.png", Body=b"x")
    assert main(["transform", "--model-data", "s3://b/model.tar.gz", "--image", ecr_image,
                 "--role", role_arn, "--input", "s3://batch/in/", "--output", "s3://batch/out/",
                 "--job-name", "slow-transform", "--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "Stopped waiting for transform job slow-transform after 0.2 s" in err
    assert "stop it with byoc stop --transform-job slow-transform" in err


def test_a_timeout_that_is_not_a_positive_number_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["deploy", "--endpoint-name", "e", "--timeout", "0"])
    assert "argument --timeout: must be positive" in capsys.readouterr().err
