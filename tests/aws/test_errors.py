"""How AWS errors reach the user: code, AWS's message and what to do, never a traceback.

moto accepts duplicate names and has no quotas, so the errors real SageMaker gives are produced
by botocore's Stubber on real clients; botocore raises them exactly as it would from AWS.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from byoc.driver import endpoints, jobs
from byoc.driver.aws import translate_errors
from byoc.errors import UserError
from tests.support.stubs import StubbedAws, offline_sagemaker

pytestmark = pytest.mark.aws

ROLE = "arn:aws:iam::123456789012:role/byoc-test"


@pytest.fixture
def sagemaker():
    client = offline_sagemaker()
    with Stubber(client) as stub:
        yield client, stub


def test_a_quota_error_says_where_to_raise_the_quota(sagemaker):
    client, stub = sagemaker
    quota = ("The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 "
             "Instances, with current utilization of 0 Instances and a request delta of 1.")
    stub.add_client_error("create_training_job", "ResourceLimitExceeded", quota)
    spec = jobs.TrainingSpec(image="img", role=ROLE, channels={"train": "s3://b/train/"},
                             output="s3://b/out", instance_type="ml.p3.2xlarge")
    with pytest.raises(UserError) as error, translate_errors({"job_name": "gpu-job"}):
        jobs.start_training(StubbedAws(client), "gpu-job", spec)
    text = str(error.value)
    assert text.startswith(f"ResourceLimitExceeded: {quota[:-1]} (CreateTrainingJob); ")
    assert "Service Quotas" in text


def test_an_existing_endpoint_config_names_the_endpoint_to_delete(sagemaker):
    client, stub = sagemaker
    stub.add_client_error(
        "create_endpoint_config", "ValidationException",
        'Cannot create already existing endpoint configuration "arn:aws:sagemaker:us-east-1:'
        '123456789012:endpoint-config/signs".')
    with pytest.raises(UserError) as error, translate_errors({"endpoint_name": "signs"}):
        endpoints.deploy(StubbedAws(client), "signs", model_name="m",
                         instance_type="ml.m5.large")
    text = str(error.value)
    assert text.startswith("ValidationException: Cannot create already existing endpoint "
                           "configuration")
    assert "pick another --endpoint-name" in text
    assert "byoc delete --endpoint-name signs" in text


def test_other_client_errors_keep_code_and_message_and_others_pass_through(sagemaker):
    client, stub = sagemaker
    stub.add_client_error("describe_training_job", "InternalFailure", "Try again later.", 500)
    with pytest.raises(UserError, match=r"^InternalFailure: Try again later "
                                        r"\(DescribeTrainingJob\)\.$"), translate_errors():
        client.describe_training_job(TrainingJobName="x")
    with pytest.raises(UserError, match="^EndpointConnectionError: Could not connect"), \
            translate_errors():
        raise EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com")
    with pytest.raises(KeyError), translate_errors():
        raise KeyError("not from AWS")
