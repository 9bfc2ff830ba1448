"""Offline SageMaker clients for botocore's Stubber: exact answer sequences moto cannot produce."""

from __future__ import annotations

import boto3

from byoc.driver.aws import Aws


class StubbedAws(Aws):
    """An Aws whose SageMaker client is the stubbed one."""

    def __init__(self, sagemaker) -> None:
        super().__init__(session=None, region="us-east-1")
        self.sagemaker = sagemaker

    def client(self, service: str):
        assert service == "sagemaker", f"unexpected {service} client"
        return self.sagemaker


def offline_sagemaker():
    """A SageMaker client that never reaches a server: every answer comes from a Stubber."""
    return boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")
