"""Offline AWS clients for botocore's Stubber: exact answer sequences moto cannot produce."""

from __future__ import annotations

import datetime as dt

import boto3

from byoc.driver.aws import Aws

ACCOUNT = "123456789012"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class StubbedAws(Aws):
    """An Aws whose SageMaker client is the stubbed one; other services' stubbed clients are
    given by name, with underscores for hyphens (`application_autoscaling=...`)."""

    def __init__(self, sagemaker, **others) -> None:
        super().__init__(session=None, region="us-east-1")
        self.sagemaker = sagemaker
        self.clients = {"sagemaker": sagemaker,
                        **{name.replace("_", "-"): client for name, client in others.items()}}

    def client(self, service: str, **config):
        assert service in self.clients, f"unexpected {service} client"
        return self.clients[service]


def offline_client(service: str):
    """A client that never reaches a server: every answer comes from a Stubber."""
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def offline_sagemaker():
    """A SageMaker client that never reaches a server: every answer comes from a Stubber."""
    return offline_client("sagemaker")


def training_answer(status: str, secondary: str, message: str = "", **extra) -> dict:
    """DescribeTrainingJob's answer for a job in `status`."""
    return {
        "TrainingJobName": "job",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/job",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/job/output/model.tar.gz"},
        "TrainingJobStatus": status, "SecondaryStatus": secondary,
        "SecondaryStatusTransitions": [{"Status": secondary, "StartTime": NOW,
                                        "StatusMessage": message}],
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": NOW,
        **extra,
    }


def autopilot_job_answer(status: str, secondary: str, **extra) -> dict:
    """DescribeAutoMLJobV2's answer for the insurance job, in `status`."""
    return {
        "AutoMLJobName": "ins-job",
        "AutoMLJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:automl-job/ins-job",
        "AutoMLJobInputDataConfig": [{
            "ChannelType": "training", "ContentType": "text/csv;header=present",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in.csv"}},
        }],
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/autopilot",
        "AutoMLProblemTypeConfig": {"TabularJobConfig": {
            "TargetAttributeName": "charges", "ProblemType": "Regression",
            "CompletionCriteria": {"MaxCandidates": 10}}},
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        "AutoMLJobStatus": status,
        "AutoMLJobSecondaryStatus": secondary,
        **extra,
    }
