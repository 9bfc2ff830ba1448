"""Autoscaling against moto's Application Auto Scaling: `byoc deploy` registers the variant and
its target-tracking policy, `byoc scale` shows, changes and removes them, and `byoc delete`
deregisters the target before the endpoint goes."""

from __future__ import annotations

import boto3
import pytest

from byoc.cli import main
from byoc.driver import autoscaling

pytestmark = pytest.mark.aws

RESOURCE = "endpoint/signs/variant/AllTraffic"
TARGET = "AnyScaleFrontendService"  # Application Auto Scaling's X-Amz-Target prefix


@pytest.fixture
def deploy(ecr_image, role_arn):
    def run(*flags: str, name: str = "signs") -> int:
        return main(["deploy", "--model-data", "s3://b/signs/model.tar.gz", "--image", ecr_image,
                     "--role", role_arn, "--endpoint-name", name, *flags])
    return run


def _registered() -> tuple[list[dict], list[dict]]:
    client = boto3.client("application-autoscaling")
    targets = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return targets, policies


def test_deploy_registers_the_variant_and_a_target_tracking_policy(moto_recorder, deploy,
                                                                   capsys):
    assert deploy("--instance-count", "2", "--min-instances", "2", "--max-instances", "6",
                  "--target-invocations", "250", "--scale-in-cooldown", "600",
                  "--scale-out-cooldown", "60") == 0

    (register,) = moto_recorder.calls(f"{TARGET}.RegisterScalableTarget")
    assert register == {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE,
                        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                        "MinCapacity": 2, "MaxCapacity": 6}
    (policy,) = moto_recorder.calls(f"{TARGET}.PutScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["PolicyName"] == "signs-invocations-per-instance"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 250.0,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 600, "ScaleOutCooldown": 60}
    targets, policies = _registered()
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        (RESOURCE, 2, 6)]
    assert [p["PolicyName"] for p in policies] == ["signs-invocations-per-instance"]
    assert "Autoscaling: 2-6 instances at 250 invocations" in capsys.readouterr().out


def test_scale_shows_changes_and_removes_the_policy(moto_endpoint, deploy, capsys):
    assert deploy("--max-instances", "4", "--target-invocations", "100") == 0
    capsys.readouterr()

    assert main(["scale", "--endpoint", "signs"]) == 0
    assert "signs: 1-4 instances at 100 invocations per instance per minute (cooldowns: in " \
           "300 s, out 300 s)" in capsys.readouterr().out

    # Only what is given changes; the rest is kept from what AWS holds.
    assert main(["scale", "--endpoint", "signs", "--max-instances", "8",
                 "--scale-in-cooldown", "900"]) == 0
    now = autoscaling.current(_aws(), "signs")
    assert now == autoscaling.Scaling(1, 8, 100.0, 900, 300)
    targets, policies = _registered()
    assert len(targets) == len(policies) == 1

    assert main(["scale", "--endpoint", "signs", "--max-instances", "0"]) == 2
    assert "--min-instances 1 is above --max-instances 0" in capsys.readouterr().err

    assert main(["scale", "--endpoint", "signs", "--off"]) == 0
    assert _registered() == ([], [])
    assert main(["scale", "--endpoint", "signs"]) == 0
    assert "has no autoscaling; set it with --max-instances" in capsys.readouterr().out


def test_scale_sets_autoscaling_on_an_endpoint_deployed_without_it(moto_endpoint, deploy,
                                                                   capsys):
    assert deploy() == 0
    assert main(["scale", "--endpoint", "signs", "--target-invocations", "50"]) == 2
    assert "Autoscaling needs --max-instances" in capsys.readouterr().err
    assert main(["scale", "--endpoint", "signs", "--max-instances", "3",
                 "--target-invocations", "50"]) == 0
    assert autoscaling.current(_aws(), "signs") == autoscaling.Scaling(1, 3, 50.0)


def test_delete_deregisters_the_scalable_target_before_the_endpoint(moto_recorder, deploy,
                                                                    capsys):
    assert deploy("--max-instances", "3", "--target-invocations", "100") == 0
    moto_recorder.start()
    assert main(["delete", "--endpoint-name", "signs"]) == 0

    order = [e["headers"].get("x-amz-target", "").split(".")[-1]
             for e in moto_recorder.entries()]
    assert order.index("DeregisterScalableTarget") < order.index("DeleteEndpoint")
    assert _registered() == ([], [])
    assert f"deleted autoscaling of {RESOURCE}" in capsys.readouterr().out


def test_scale_refuses_a_serverless_or_missing_endpoint(moto_endpoint, deploy, capsys):
    assert deploy("--serverless-memory", "1024", name="lean") == 0
    assert main(["scale", "--endpoint", "lean", "--max-instances", "3",
                 "--target-invocations", "5"]) == 2
    assert "Endpoint lean is serverless" in capsys.readouterr().err
    assert main(["scale", "--endpoint", "nope", "--off"]) == 2
    assert "No endpoint named 'nope'" in capsys.readouterr().err
    assert main(["scale", "--endpoint", "lean", "--off", "--max-instances", "2"]) == 2
    assert "--off removes autoscaling; it takes no other" in capsys.readouterr().err


def _aws():
    from byoc.driver.aws import connect

    return connect()
