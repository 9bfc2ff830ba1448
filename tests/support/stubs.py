"""Offline AWS clients for botocore's Stubber: exact answer sequences moto cannot produce."""

from __future__ import annotations

import boto3

from byoc.driver.aws import Aws


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
