"""`byoc deploy --update`: a live endpoint moved to a new endpoint config without downtime, with
SageMaker's deployment guardrails (all at once, canary, linear, rollback alarms, time limits).

moto 5.2.6 has no UpdateEndpoint (only UpdateEndpointWeightsAndCapacities), and its endpoints
are InService at once, so nothing from the UpdateEndpoint call on can run against it. That part
runs on real botocore clients with botocore's Stubber, which checks every request against the
one expected and fails on any call it was not given, in any order it was not given. The stubbed
DescribeEndpoint answers follow SageMaker's API model for a blue/green update: Updating, with the
new fleet's VariantStatus under PendingDeploymentSummary (Creating, ActivatingTraffic, Baking) and
the old fleet's Deleting once the traffic has moved, then InService on the new config; and for a
rollback, RollingBack, then InService on the old config. SageMaker does not document the wording
of a rollback's FailureReason, so the one here is illustrative: byoc looks for the alarm names in
it, and reads the outcome from the config the endpoint serves.

What happens before UpdateEndpoint (every refusal, with nothing created, and the shape of the new
endpoint config and model) runs against moto's server.
"""

from __future__ import annotations

import logging
import re
import shlex
from datetime import datetime, timezone
from types import SimpleNamespace

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from byoc import api
from byoc.api import hosting_calls
from byoc.cli import main, update_flags
from byoc.driver import deployment, endpoint_update, guardrails, hosting, waiting
from byoc.driver.aws import connect
from byoc.driver.endpoints import CREATED_BY_BYOC
from byoc.driver.guardrails import Guardrails
from tests.support.docs import code_block, code_blocks, commands
from tests.support.stubs import StubbedAws, offline_client

pytestmark = pytest.mark.aws

ROLE = "arn:aws:iam::123456789012:role/byoc-test"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
NOW = datetime(2026, 1, 12, 9, 41, tzinfo=timezone.utc)
STAMP = "20260112-094100"  # the new config's name is ENDPOINT-STAMP
OLD_DATA = "s3://models-bucket/signs/model.tar.gz"
NEW_DATA = "s3://models-bucket/signs-2/model.tar.gz"
IMAGE = "registry.example.com/byoc:v2"  # not in ECR, so no ECR lookup
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
JOB = "signs-2"
V2 = f"{ARN}:model-package/signs/2"
REASON = "Rolled back as the alarm signs-5xx was in ALARM during the canary's baking period."


def _changed(recorder) -> list[str]:
    """What moto was asked to create, change or delete, as operation names and URLs."""
    sent = [e["headers"].get("x-amz-target", "").split(".")[-1] for e in recorder.entries()]
    return ([t for t in sent if t.startswith(("Create", "Update", "Delete", "Register", "Put",
                                              "Deregister"))] +
            [e["url"] for e in recorder.entries() if e["method"] in ("PUT", "DELETE")])


# ---------------------------------------------------------------------------------------------
# Before UpdateEndpoint: moto's server


@pytest.fixture
def update(moto_endpoint, ecr_image, role_arn):
    """The live endpoint `signs` (2 x ml.c5.large, deployed by byoc); `update(*flags)` runs
    `byoc deploy` on it with the new model and the flags, and answers the exit status."""
    assert main(["deploy", "--model-data", OLD_DATA, "--image", ecr_image, "--role", role_arn,
                 "--endpoint-name", "signs", "--instance-type", "ml.c5.large",
                 "--instance-count", "2"]) == 0

    def run(*flags: str, name: str = "signs") -> int:
        return main(["deploy", "--model-data", NEW_DATA, "--image", ecr_image, "--role",
                     role_arn, "--endpoint-name", name, *flags])
    return run


def test_deploy_to_a_live_endpoint_names_update(update, moto_recorder, capsys):
    moto_recorder.start()
    assert update() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Endpoint 'signs' already exists in us-east-1; pick another "
                          "--endpoint-name, update it in place with byoc deploy --endpoint-name "
                          "signs --update ..., or delete it first: byoc delete --endpoint-name "
                          "signs")
    assert _changed(moto_recorder) == []


def test_update_of_a_missing_endpoint_says_deploy_without_update(update, moto_recorder, capsys):
    moto_recorder.start()
    assert update("--update", "--canary", "10", name="nowhere") == 2
    assert ("No endpoint named 'nowhere' in us-east-1 to update. Deploy it first, without "
            "--update: byoc deploy --endpoint-name nowhere ...") in capsys.readouterr().err
    assert _changed(moto_recorder) == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--canary", "10"], "--canary shapes the update of a live endpoint: add --update"),
    (["--linear", "20:60", "--rollback-alarm", "a"],
     "--linear, --rollback-alarm shape the update of a live endpoint: add --update, or drop "
     "them"),
    (["--update", "--canary", "10", "--linear", "20:60"],
     "Pick one way to shift the traffic: --canary or --linear."),
    (["--update", "--canary", "60"], "--canary PERCENT must be between 1 and 50"),
    (["--update", "--linear", "5:60"], "--linear PERCENT must be between 10 and 50"),
    (["--update", "--linear", "20"], "--linear needs the baking time after each step"),
    (["--update", "--canary", "10:4000"], "--canary's wait must be between 0 and 3600"),
    (["--update", "--rollback-alarm", "signs-5xx"],
     "--rollback-alarm is watched while the new fleet bakes"),
    (["--update", "--canary", "10", *[f for n in range(11) for f in ("--rollback-alarm",
                                                                   f"a{n}")]],
     "--rollback-alarm: at most 10 alarms, got 11."),
    (["--update", "--termination-wait", "4000"],
     "--termination-wait must be between 0 and 3600"),
    (["--update", "--all-at-once", "--max-update-time", "300"],
     "--max-update-time must be between 600 and 28800"),
    (["--update", "--canary", "10:600", "--termination-wait", "300", "--max-update-time", "800"],
     "--max-update-time 800 must be longer than the waits it holds (--canary's 600 s + "
     "--termination-wait 300 s)."),
    (["--update", "--canary", "10", "--instance-count", "1"],
     "--canary sends part of the traffic to part of the new fleet"),
    (["--update", "--linear", "20:60", "--instance-type", "ml.inf1.xlarge"],
     "SageMaker does not apply deployment guardrails on ml.inf1.xlarge (Inf1)"),
    (["--update", "--canary", "10", "--serverless-memory", "2048"],
     "Deployment guardrails apply to endpoints on instances (real-time or asynchronous); "
     "SageMaker updates a serverless endpoint in one step. Drop --canary to update signs."),
    (["--update", "--async-output", "s3://answers/out/"],
     "Endpoint signs is real-time and its clients call InvokeEndpoint"),
    (["--update", "--multi-model", "--model-prefix", "s3://models-bucket/many/"],
     "Endpoint signs hosts one model and its clients name no TargetModel"),
    (["--update", "--canary", "10", "--no-wait", "--max-instances", "4",
      "--target-invocations", "100"], "drop --no-wait"),
])
def test_each_refusal_says_what_to_do_and_creates_nothing(update, moto_recorder, capsys, flags,
                                                          message):
    moto_recorder.start()
    assert update(*flags) == 2
    assert message in capsys.readouterr().err
    assert _changed(moto_recorder) == []


def test_a_serverless_or_asynchronous_endpoint_keeps_its_kind(moto_endpoint, moto_recorder,
                                                              ecr_image, role_arn, capsys):
    model = ["--model-data", OLD_DATA, "--image", ecr_image, "--role", role_arn]
    assert main(["deploy", *model, "--endpoint-name", "lean", "--serverless-memory",
                 "2048"]) == 0
    assert main(["deploy", *model, "--endpoint-name", "queue", "--async-output",
                 "s3://answers/out/"]) == 0
    moto_recorder.start()

    assert main(["deploy", "--update", *model, "--endpoint-name", "lean"]) == 2
    assert ("Endpoint lean is serverless: say how the new endpoint config hosts, with "
            "--serverless-memory MB (serverless again) or --instance-type TYPE (on "
            "instances).") in capsys.readouterr().err
    assert main(["deploy", "--update", *model, "--endpoint-name", "lean", "--instance-type",
                 "ml.m5.large", "--instance-count", "2", "--canary", "50"]) == 2
    assert "SageMaker updates a serverless endpoint in one step. Drop --canary" in \
        capsys.readouterr().err
    assert main(["deploy", "--update", *model, "--endpoint-name", "queue"]) == 2
    assert ("Endpoint queue is asynchronous (its answers go to s3://answers/out/) and its "
            "clients send requests through S3, so the update keeps it asynchronous: add "
            "--async-output S3_URI.") in capsys.readouterr().err
    assert _changed(moto_recorder) == []


def test_an_endpoint_byoc_did_not_shape_is_refused(moto_endpoint, moto_recorder, ecr_image,
                                                   role_arn, capsys):
    sm = boto3.client("sagemaker")
    sm.create_model(ModelName="theirs", ExecutionRoleArn=role_arn,
                    PrimaryContainer={"Image": ecr_image, "ModelDataUrl": OLD_DATA})
    sm.create_endpoint_config(EndpointConfigName="ab", ProductionVariants=[
        {"VariantName": name, "ModelName": "theirs", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1, "InitialVariantWeight": 0.5} for name in ("A", "B")])
    sm.create_endpoint(EndpointName="ab", EndpointConfigName="ab")
    moto_recorder.start()
    assert main(["deploy", "--update", "--model-data", NEW_DATA, "--image", ecr_image, "--role",
                 role_arn, "--endpoint-name", "ab"]) == 2
    assert ("Endpoint ab serves the variants A, B; byoc updates an endpoint with one variant "
            "named AllTraffic") in capsys.readouterr().err
    assert _changed(moto_recorder) == []


def _request(ecr_image: str, role_arn: str, **hosting_flags) -> deployment.DeployRequest:
    return deployment.DeployRequest(
        "signs", deployment.ModelSource(model_data=NEW_DATA, image=ecr_image, role=role_arn),
        hosting.resolve(default_instance_type="ml.c5.large", **hosting_flags))


def test_the_new_config_is_made_beside_the_old_one(update, moto_recorder, ecr_image, role_arn):
    moto_recorder.start()
    made = endpoint_update.prepare_update(
        connect(), _request(ecr_image, role_arn, instance_count=2, capture="s3://captured/"),
        Guardrails("canary", 50, 600))

    assert re.fullmatch(r"signs-\d{8}-\d{6}", made.config_name)
    assert made.old_config_name == "signs"
    [model] = moto_recorder.calls("SageMaker.CreateModel")
    assert model["ModelName"] == made.model_name == made.config_name  # the old one is "signs"
    assert model["PrimaryContainer"] == {"Image": ecr_image, "ModelDataUrl": NEW_DATA,
                                         "Mode": "SingleModel"}
    [config] = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert config["EndpointConfigName"] == made.config_name
    assert config["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "ModelName": made.config_name,
        "InstanceType": "ml.c5.large", "InitialInstanceCount": 2, "InitialVariantWeight": 1.0}]
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://captured/"
    assert config["Tags"] == [CREATED_BY_BYOC]  # what lets the next update delete it
    # The endpoint itself is untouched until UpdateEndpoint.
    endpoint = boto3.client("sagemaker").describe_endpoint(EndpointName="signs")
    assert endpoint["EndpointConfigName"] == "signs"
    assert _changed(moto_recorder) == ["CreateModel", "CreateEndpointConfig"]


def test_with_autoscaling_the_new_fleet_starts_as_large_as_the_old(moto_endpoint, moto_recorder,
                                                                   ecr_image, role_arn):
    assert main(["deploy", "--model-data", OLD_DATA, "--image", ecr_image, "--role", role_arn,
                 "--endpoint-name", "signs", "--instance-type", "ml.c5.large",
                 "--instance-count", "3", "--max-instances", "4",
                 "--target-invocations", "100"]) == 0
    moto_recorder.start()
    made = endpoint_update.prepare_update(connect(), _request(ecr_image, role_arn))
    [config] = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    # One instance asked for, three running: a new fleet of one would take all the traffic.
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 3
    assert made.scaling == made.scaling_before == api.Scaling(1, 4, 100.0)
    assert not made.scaling_removed  # same instance type: the registration stays


# ---------------------------------------------------------------------------------------------
# UpdateEndpoint and after: botocore's Stubber


@pytest.fixture
def stubs(monkeypatch, tmp_path):
    """Stubbed SageMaker and Application Auto Scaling clients for `byoc deploy --update`, the
    new config's name fixed, polls without pauses; `order` lists every call to either."""
    monkeypatch.setenv("BYOC_CONFIG", str(tmp_path / "no-config.json"))
    monkeypatch.delenv("SAGEMAKER_ROLE_ARN", raising=False)
    sm, aas = offline_client("sagemaker"), offline_client("application-autoscaling")
    order: list[str] = []
    for client in (sm, aas):
        client.meta.events.register("before-parameter-build",
                                    lambda model, **_: order.append(model.name))
    aws = StubbedAws(sm, application_autoscaling=aas)
    monkeypatch.setattr(update_flags, "connect_from", lambda args: aws)
    monkeypatch.setattr(endpoint_update, "stamped_name", lambda base: f"{base}-{STAMP}")
    monkeypatch.setattr(waiting, "POLL_SECONDS", 0)
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub:
        yield SimpleNamespace(sm=sm_stub, aas=aas_stub, order=order, aws=aws)


def _done(stubs) -> None:
    stubs.sm.assert_no_pending_responses()
    stubs.aas.assert_no_pending_responses()


def _config_arn(name: str) -> str:
    return f"{ARN}:endpoint-config/{name}"


def _variant(model: str, instance_type: str, count: int) -> dict:
    return {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": instance_type,
            "InitialInstanceCount": count, "InitialVariantWeight": 1.0}


def _endpoint(name: str, status: str, config: str, *, new_fleet: str | None = None,
              old_fleet: str | None = None, reason: str | None = None, count: int = 2) -> dict:
    """A DescribeEndpoint answer: the serving variant, and the new fleet while one is pending."""
    variant = {"VariantName": "AllTraffic", "CurrentWeight": 1.0, "DesiredWeight": 1.0,
               "CurrentInstanceCount": count, "DesiredInstanceCount": count}
    if old_fleet:
        variant["VariantStatus"] = [{"Status": old_fleet, "StartTime": NOW}]
    answer = {"EndpointName": name, "EndpointArn": f"{ARN}:endpoint/{name}",
              "EndpointConfigName": config, "EndpointStatus": status, "CreationTime": NOW,
              "LastModifiedTime": NOW, "ProductionVariants": [variant]}
    if new_fleet:
        answer["PendingDeploymentSummary"] = {
            "EndpointConfigName": f"{name}-{STAMP}", "StartTime": NOW,
            "ProductionVariants": [{"VariantName": "AllTraffic",
                                    "VariantStatus": [{"Status": new_fleet, "StartTime": NOW}]}]}
    if reason:
        answer["FailureReason"] = reason
    return answer


def succeeded(name: str) -> list[dict]:
    """An update that goes through: the new fleet starts, takes traffic, bakes, takes the rest,
    the old fleet goes."""
    return [_endpoint(name, "Updating", name, new_fleet="Creating"),
            _endpoint(name, "Updating", name, new_fleet="Creating"),
            _endpoint(name, "Updating", name, new_fleet="ActivatingTraffic"),
            _endpoint(name, "Updating", name, new_fleet="Baking"),
            _endpoint(name, "Updating", name, new_fleet="ActivatingTraffic"),
            _endpoint(name, "Updating", name, old_fleet="Deleting"),
            _endpoint(name, "InService", f"{name}-{STAMP}")]


def rolled_back(name: str, reason: str | None = REASON) -> list[dict]:
    """An update whose alarm goes off while the canary bakes."""
    return [_endpoint(name, "Updating", name, new_fleet="Creating"),
            _endpoint(name, "Updating", name, new_fleet="ActivatingTraffic"),
            _endpoint(name, "Updating", name, new_fleet="Baking"),
            _endpoint(name, "RollingBack", name),
            _endpoint(name, "InService", name, reason=reason)]


def expect_live(stubs, name: str = "signs", *, instance_type: str = "ml.m5.large",
                count: int = 2, scaling: api.Scaling | None = None) -> None:
    """The reads before anything is made: the endpoint, its config and model, its autoscaling."""
    sm = stubs.sm
    sm.add_response("describe_endpoint", _endpoint(name, "InService", name, count=count),
                    {"EndpointName": name})
    sm.add_response("describe_endpoint_config", {
        "EndpointConfigName": name, "EndpointConfigArn": _config_arn(name), "CreationTime": NOW,
        "ProductionVariants": [_variant(name, instance_type, count)]},
        {"EndpointConfigName": name})
    sm.add_response("describe_model", {
        "ModelName": name, "ModelArn": f"{ARN}:model/{name}", "CreationTime": NOW,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": OLD_DATA, "Mode": "SingleModel"}},
        {"ModelName": name})
    resource = f"endpoint/{name}/variant/AllTraffic"
    target = {"ServiceNamespace": "sagemaker", "ResourceIds": [resource],
              "ScalableDimension": DIMENSION}
    if scaling is None:
        stubs.aas.add_response("describe_scalable_targets", {"ScalableTargets": []}, target)
        return
    stubs.aas.add_response("describe_scalable_targets", {"ScalableTargets": [{
        "ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": DIMENSION,
        "MinCapacity": scaling.min_instances, "MaxCapacity": scaling.max_instances,
        "RoleARN": ROLE, "CreationTime": NOW}]}, target)
    stubs.aas.add_response("describe_scaling_policies",
                           {"ScalingPolicies": [_policy(name, scaling)]},
                           {"ServiceNamespace": "sagemaker", "ResourceId": resource,
                            "ScalableDimension": DIMENSION,
                            "PolicyNames": [f"{name}-invocations-per-instance"]})


def _policy(name: str, scaling: api.Scaling) -> dict:
    return {"PolicyARN": f"arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:{name}",
            "PolicyName": f"{name}-invocations-per-instance", "ServiceNamespace": "sagemaker",
            "ResourceId": f"endpoint/{name}/variant/AllTraffic", "ScalableDimension": DIMENSION,
            "PolicyType": "TargetTrackingScaling", "CreationTime": NOW,
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": scaling.target_invocations,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": scaling.scale_in_cooldown,
                "ScaleOutCooldown": scaling.scale_out_cooldown}}


def expect_new_config(stubs, name: str = "signs", *, instance_type: str = "ml.m5.large",
                      count: int = 2, source: str = "model data") -> None:
    """The new endpoint config, named ENDPOINT-STAMP, and its model: from `--model-data` (a
    model named after the config), `--training-job signs-2` (the job's own model, reused) or
    `--package V2` (a model named after the config that names the version)."""
    new, sm = f"{name}-{STAMP}", stubs.sm
    sm.add_client_error("describe_endpoint_config", "ValidationException",
                        f'Could not find endpoint configuration "{new}".', 400,
                        {"EndpointConfigName": new})
    if source == "training job":
        model = JOB
        sm.add_response("describe_training_job", {
            "TrainingJobName": JOB, "TrainingJobArn": f"{ARN}:training-job/{JOB}",
            "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "ModelArtifacts": {"S3ModelArtifacts": NEW_DATA}, "RoleArn": ROLE,
            "StoppingCondition": {}, "CreationTime": NOW}, {"TrainingJobName": JOB})
        sm.add_response("describe_model", {
            "ModelName": JOB, "ModelArn": f"{ARN}:model/{JOB}", "CreationTime": NOW,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": NEW_DATA,
                                 "Mode": "SingleModel"}}, {"ModelName": JOB})
    else:
        model = new
        if source == "package":
            sm.add_response("describe_model_package", {
                "ModelPackageName": "signs", "ModelPackageArn": V2, "CreationTime": NOW,
                "ModelPackageStatus": "Completed", "ModelApprovalStatus": "Approved",
                "ModelPackageStatusDetails": {"ValidationStatuses": []},
                "InferenceSpecification": {
                    "Containers": [{"Image": IMAGE, "ModelDataUrl": NEW_DATA}],
                    "SupportedContentTypes": ["image/png"],
                    "SupportedResponseMIMETypes": ["application/json"]}},
                {"ModelPackageName": V2})
            container = {"ModelPackageName": V2}
        else:
            container = {"Image": IMAGE, "ModelDataUrl": NEW_DATA, "Mode": "SingleModel"}
        sm.add_client_error("describe_model", "ValidationException",
                            f'Could not find model "{new}".', 400, {"ModelName": new})
        sm.add_response("create_model", {"ModelArn": f"{ARN}:model/{new}"}, {
            "ModelName": new, "PrimaryContainer": container, "ExecutionRoleArn": ROLE,
            "Tags": [CREATED_BY_BYOC]})
    sm.add_response("create_endpoint_config", {"EndpointConfigArn": _config_arn(new)}, {
        "EndpointConfigName": new, "ProductionVariants": [_variant(model, instance_type, count)],
        "Tags": [CREATED_BY_BYOC]})


def expect_update(stubs, name: str = "signs", deployment_config: dict | None = None) -> None:
    params = {"EndpointName": name, "EndpointConfigName": f"{name}-{STAMP}"}
    if deployment_config:
        params["DeploymentConfig"] = deployment_config
    stubs.sm.add_response("update_endpoint", {"EndpointArn": f"{ARN}:endpoint/{name}"}, params)


def expect_polls(stubs, answers: list[dict]) -> None:
    for answer in answers:
        stubs.sm.add_response("describe_endpoint", answer,
                              {"EndpointName": answer["EndpointName"]})


def expect_retired(stubs, name: str = "signs", *, byoc_made: bool = True,
                   instance_type: str = "ml.m5.large", count: int = 2) -> None:
    """After the update: the old config deleted if byoc made it, then its model if byoc made it
    and no config uses it (the new config is the only one left)."""
    new, sm = f"{name}-{STAMP}", stubs.sm
    sm.add_response("list_tags", {"Tags": [CREATED_BY_BYOC] if byoc_made else [
        {"Key": "team", "Value": "vision"}]}, {"ResourceArn": _config_arn(name)})
    if not byoc_made:
        return
    sm.add_response("delete_endpoint_config", {}, {"EndpointConfigName": name})
    sm.add_response("list_endpoint_configs", {"EndpointConfigs": [{
        "EndpointConfigName": new, "EndpointConfigArn": _config_arn(new),
        "CreationTime": NOW}]}, {})
    sm.add_response("describe_endpoint_config", {
        "EndpointConfigName": new, "EndpointConfigArn": _config_arn(new), "CreationTime": NOW,
        "ProductionVariants": [_variant(new, instance_type, count)]},
        {"EndpointConfigName": new})
    sm.add_response("describe_model", {"ModelName": name, "ModelArn": f"{ARN}:model/{name}",
                                       "CreationTime": NOW}, {"ModelName": name})
    sm.add_response("list_tags", {"Tags": [CREATED_BY_BYOC]},
                    {"ResourceArn": f"{ARN}:model/{name}"})
    sm.add_response("delete_model", {}, {"ModelName": name})


def run_update(*flags: str, name: str = "signs") -> int:
    return main(["deploy", "--update", "--endpoint-name", name, "--model-data", NEW_DATA,
                 "--image", IMAGE, "--role", ROLE, *flags])


def _routing(kind: str, wait: int, **size) -> dict:
    return {"Type": kind, "WaitIntervalInSeconds": wait, **size}


@pytest.mark.parametrize(("flags", "deployment_config"), [
    ([], None),  # SageMaker's own default: blue/green, all at once
    (["--all-at-once", "300", "--rollback-alarm", "signs-5xx"], {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": _routing("ALL_AT_ONCE", 300)},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "signs-5xx"}]}}),
    (["--termination-wait", "60"], {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": _routing("ALL_AT_ONCE", 0),
        "TerminationWaitInSeconds": 60}}),
    (["--canary", "10"], {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": _routing(
            "CANARY", guardrails.DEFAULT_CANARY_WAIT,
            CanarySize={"Type": "CAPACITY_PERCENT", "Value": 10})}}),
    (["--canary", "25:300", "--termination-wait", "120", "--max-update-time", "1800",
      "--rollback-alarm", "signs-5xx", "--rollback-alarm", "signs-latency",
      "--rollback-alarm", "signs-5xx"], {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": _routing(
                "CANARY", 300, CanarySize={"Type": "CAPACITY_PERCENT", "Value": 25}),
            "TerminationWaitInSeconds": 120, "MaximumExecutionTimeoutInSeconds": 1800},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "signs-5xx"},
                                                 {"AlarmName": "signs-latency"}]}}),
    (["--linear", "20:120", "--rollback-alarm", "signs-5xx"], {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": _routing(
            "LINEAR", 120, LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 20})},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "signs-5xx"}]}}),
])
def test_each_policy_sends_its_deployment_config(stubs, capsys, flags, deployment_config):
    # The endpoint's instance type and count are kept: none is given.
    expect_live(stubs, instance_type="ml.c5.large", count=2)
    expect_new_config(stubs, instance_type="ml.c5.large", count=2)
    expect_update(stubs, deployment_config=deployment_config)
    assert run_update(*flags, "--no-wait") == 0, capsys.readouterr().err
    _done(stubs)
    assert capsys.readouterr().out == (
        f"Endpoint signs is updating to endpoint config signs-{STAMP}; follow it with aws "
        "sagemaker describe-endpoint --endpoint-name signs. The old endpoint config signs stays "
        f"until you delete it (once the endpoint is InService on signs-{STAMP}): aws sagemaker "
        "delete-endpoint-config --endpoint-config-name signs\n")


CANARY = ["--canary", "50:600", "--rollback-alarm", "signs-5xx"]
CANARY_CONFIG = {
    "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": _routing(
        "CANARY", 600, CanarySize={"Type": "CAPACITY_PERCENT", "Value": 50})},
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "signs-5xx"}]}}


def _lines(text: str) -> list[str]:
    """Lines without the elapsed time of the status line."""
    return [re.sub(r"^\[\d\d:\d\d\] ", "", line) for line in text.splitlines()]


def test_a_canary_update_shows_each_phase_then_deletes_the_old_byoc_config(stubs, capsys):
    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, succeeded("signs"))
    expect_retired(stubs)
    assert run_update(*CANARY) == 0, capsys.readouterr().err
    _done(stubs)
    out, err = capsys.readouterr()
    new = f"signs-{STAMP}"
    assert _lines(err) == [
        f"endpoint signs: Updating (new fleet: 2 x ml.m5.large for endpoint config {new})",
        "endpoint signs: Updating (shifting traffic: a canary of 50 % of the new fleet, then "
        "the rest)",
        "endpoint signs: Updating (baking 600 s, watching alarm signs-5xx)",
        "endpoint signs: Updating (shifting traffic: a canary of 50 % of the new fleet, then "
        "the rest)",
        "endpoint signs: Updating (retiring the old fleet)",
        f"endpoint signs: InService (endpoint config {new})"]
    assert out.splitlines() == [
        "deleted endpoint config signs",
        "deleted model signs",
        f"Endpoint signs is InService on endpoint config {new}. Try: byoc invoke --endpoint "
        "signs IMAGE.png"]


def test_an_old_config_byoc_did_not_make_is_kept(stubs, capsys):
    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs)
    expect_polls(stubs, succeeded("signs"))
    expect_retired(stubs, byoc_made=False)
    assert run_update() == 0, capsys.readouterr().err
    _done(stubs)
    assert ("kept endpoint config signs: byoc did not create it (no byoc:created-by tag); "
            "delete it with aws sagemaker delete-endpoint-config --endpoint-config-name "
            "signs") in capsys.readouterr().out
    assert "DeleteEndpointConfig" not in stubs.order


@pytest.mark.parametrize(("reason", "says"), [
    (REASON, f"alarm signs-5xx went off ({REASON[:-1]})"),
    ("Update rolled back: an alarm was in ALARM state.",
     "one of the alarms signs-5xx went off (Update rolled back: an alarm was in ALARM state)"),
    (None, "SageMaker gave no reason; the new fleet's container logs are in CloudWatch, log "
           "group /aws/sagemaker/Endpoints/signs"),
])
def test_a_rollback_fails_naming_the_alarm_and_keeps_both_configs(stubs, capsys, reason, says):
    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, rolled_back("signs", reason))
    assert run_update(*CANARY) == 2
    _done(stubs)  # and no call after the last DescribeEndpoint: nothing deleted
    assert stubs.order[-1] == "DescribeEndpoint"
    new = f"signs-{STAMP}"
    err = capsys.readouterr().err
    assert _lines(err)[-3:] == [
        "endpoint signs: RollingBack (the traffic goes back to endpoint config signs)",
        "endpoint signs: InService (endpoint config signs, the old one: the update rolled back)",
        f"error: Endpoint signs rolled back: {says}. Its old endpoint config signs still "
        f"serves, as before the update. The new endpoint config {new} (model {new}) is kept "
        "for inspection; delete it with aws sagemaker delete-endpoint-config "
        f"--endpoint-config-name {new}."]


def test_autoscaling_stays_registered_when_only_the_model_changes(stubs, capsys):
    scaling = api.Scaling(1, 4, 100.0)
    expect_live(stubs, count=3, scaling=scaling)
    expect_new_config(stubs, count=3)  # as many as run now, not the default one
    expect_update(stubs)
    expect_polls(stubs, succeeded("signs"))
    expect_retired(stubs, count=3)
    assert run_update() == 0, capsys.readouterr().err
    _done(stubs)
    assert not {"DeregisterScalableTarget", "RegisterScalableTarget"} & set(stubs.order)
    assert f"Autoscaling: {scaling.describe()}" in capsys.readouterr().out


@pytest.mark.parametrize("outcome", ["succeeded", "rolled back"])
def test_a_new_instance_type_moves_autoscaling_around_the_update(stubs, capsys, outcome):
    """SageMaker refuses to change the instance type of a variant that autoscales: byoc
    deregisters it first, and registers the same limits and policy after, whatever the end."""
    scaling = api.Scaling(2, 6, 250.0, 600, 60)
    resource = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/signs/variant/AllTraffic",
                "ScalableDimension": DIMENSION}
    expect_live(stubs, count=2, scaling=scaling)
    expect_new_config(stubs, instance_type="ml.c5.xlarge", count=2)
    # autoscaling.remove: the target, its policies, then deregistration.
    stubs.aas.add_response("describe_scalable_targets", {"ScalableTargets": [{
        **resource, "MinCapacity": 2, "MaxCapacity": 6, "RoleARN": ROLE, "CreationTime": NOW}]},
        {"ServiceNamespace": "sagemaker", "ResourceIds": [resource["ResourceId"]],
         "ScalableDimension": DIMENSION})
    stubs.aas.add_response("describe_scaling_policies",
                           {"ScalingPolicies": [_policy("signs", scaling)]}, resource)
    stubs.aas.add_response("delete_scaling_policy", {},
                           {**resource, "PolicyName": "signs-invocations-per-instance"})
    stubs.aas.add_response("deregister_scalable_target", {}, resource)
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, succeeded("signs") if outcome == "succeeded" else rolled_back("signs"))
    stubs.aas.add_response("register_scalable_target", {},
                           {**resource, "MinCapacity": 2, "MaxCapacity": 6})
    stubs.aas.add_response("put_scaling_policy", {"PolicyARN": "arn:policy"}, {
        **resource, "PolicyName": "signs-invocations-per-instance",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": _policy(
            "signs", scaling)["TargetTrackingScalingPolicyConfiguration"]})
    if outcome == "succeeded":
        expect_retired(stubs, instance_type="ml.c5.xlarge")

    status = run_update("--instance-type", "ml.c5.xlarge", *CANARY)
    _done(stubs)
    order = stubs.order
    assert order.index("DeregisterScalableTarget") < order.index("UpdateEndpoint")
    last_poll = len(order) - 1 - order[::-1].index("DescribeEndpoint")
    assert last_poll < order.index("RegisterScalableTarget") < order.index("PutScalingPolicy")
    out, err = capsys.readouterr()
    if outcome == "succeeded":
        assert status == 0
        assert f"Autoscaling: {scaling.describe()}" in out
    else:
        assert status == 2
        assert f"Its autoscaling is set again: {scaling.describe()}." in err


def test_no_wait_is_refused_where_autoscaling_must_be_set_again(stubs, capsys):
    expect_live(stubs, scaling=api.Scaling(1, 4, 100.0))
    assert run_update("--instance-type", "ml.c5.xlarge", "--no-wait") == 2
    _done(stubs)  # nothing made: the reads alone
    assert ("Endpoint signs's autoscaling is set again once the update is done, so byoc waits "
            "for it: drop --no-wait, or keep the instance type ml.m5.large.") in \
        capsys.readouterr().err


def test_timeout_leaves_the_update_running_and_says_what_is_left(stubs, capsys):
    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, succeeded("signs")[:1])
    # A deadline that has passed by the first answer: one poll, then byoc stops waiting.
    assert run_update(*CANARY, "--timeout", "0.000001") == 1
    _done(stubs)
    assert (f"Stopped waiting for endpoint signs after 1e-06 s; it keeps running on AWS. "
            f"SageMaker goes on updating it; once it is InService on endpoint config "
            f"signs-{STAMP}, the old one is no longer needed: aws sagemaker "
            "delete-endpoint-config --endpoint-config-name signs.") in capsys.readouterr().err


@pytest.mark.parametrize(("status", "says"), [
    ("Failed", f"error: Endpoint signs is Failed after the update to endpoint config "
               f"signs-{STAMP}: The primary container did not pass the ping health check. "
               "Container logs: CloudWatch log group /aws/sagemaker/Endpoints/signs."),
    ("UpdateRollbackFailed", "error: The update of endpoint signs failed, and so did "
                             "SageMaker's rollback to endpoint config signs: The primary "
                             "container did not pass the ping health check. See what it serves "
                             "with aws sagemaker describe-endpoint --endpoint-name signs."),
])
def test_an_endpoint_the_update_broke_is_an_error_with_its_reason(stubs, capsys, status, says):
    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs)
    expect_polls(stubs, [_endpoint("signs", "Updating", "signs", new_fleet="Creating"),
                         _endpoint("signs", status, "signs", reason="The primary container "
                                   "did not pass the ping health check.")])
    assert run_update() == 2
    _done(stubs)  # nothing deleted
    assert says in capsys.readouterr().err


def test_a_busy_endpoint_is_refused_before_anything_is_made(stubs, capsys):
    stubs.sm.add_response("describe_endpoint", _endpoint("signs", "Updating", "signs"),
                          {"EndpointName": "signs"})
    assert run_update() == 2
    _done(stubs)
    assert ("Endpoint signs is Updating; SageMaker updates an InService endpoint only. Wait for "
            "it (aws sagemaker wait endpoint-in-service --endpoint-name signs), then update "
            "it.") in capsys.readouterr().err


def test_an_update_sagemaker_refuses_takes_its_new_config_back(stubs, capsys):
    expect_live(stubs)
    expect_new_config(stubs)
    stubs.sm.add_client_error(
        "update_endpoint", "ValidationException",
        "Cannot update in-progress endpoint \"arn:aws:sagemaker:us-east-1:123456789012:"
        "endpoint/signs\".", 400,
        expected_params={"EndpointName": "signs", "EndpointConfigName": f"signs-{STAMP}"})
    stubs.sm.add_response("delete_endpoint_config", {},
                          {"EndpointConfigName": f"signs-{STAMP}"})
    assert run_update() == 2
    _done(stubs)
    assert "ValidationException: Cannot update in-progress endpoint" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Python


def test_the_python_call_returns_the_update_or_raises_the_rollback(stubs, monkeypatch):
    monkeypatch.setattr(hosting_calls, "_aws", lambda region, profile: stubs.aws)
    request = api.DeployRequest(
        "signs", api.ModelSource(model_data=NEW_DATA, image=IMAGE, role=ROLE),
        api.hosting(default_instance_type="ml.m5.large", instance_count=2))
    canary = api.Guardrails("canary", 50, wait=600, alarms=("signs-5xx",))
    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, succeeded("signs"))
    expect_retired(stubs)
    done = api.update_endpoint(request, canary)
    assert isinstance(done, api.EndpointUpdate)
    assert (done.endpoint_name, done.config_name, done.old_config_name, done.model_name) == (
        "signs", f"signs-{STAMP}", "signs", f"signs-{STAMP}")
    assert done.in_service and done.guardrails == canary
    assert done.deleted == ("endpoint config signs", "model signs") and done.kept == ()

    expect_live(stubs)
    expect_new_config(stubs)
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, rolled_back("signs"))
    with pytest.raises(api.UpdateRolledBack) as rolled:
        api.update_endpoint(request, canary)
    assert rolled.value.alarms == ("signs-5xx",)
    assert rolled.value.reason == REASON
    assert rolled.value.update.config_name == f"signs-{STAMP}"
    _done(stubs)

    with pytest.raises(api.UserError, match="set it later with scale"):
        api.update_endpoint(api.DeployRequest("signs", request.model, request.hosting,
                                              scaling=api.Scaling(1, 2, 10.0)), wait=False)


def test_the_python_api_pages_update_runs_as_written(stubs, monkeypatch, capsys):
    """docs/python-api.md's update, a ```py block (moto's server, which runs the page's
    ```python blocks, has no UpdateEndpoint), on the stubbed clients."""
    monkeypatch.setattr(hosting_calls, "_aws", lambda region, profile: stubs.aws)
    [snippet] = [b for b in code_blocks("python-api.md", "py") if "update_endpoint" in b]
    expect_live(stubs)
    expect_new_config(stubs, source="training job")
    expect_update(stubs, deployment_config=CANARY_CONFIG)
    expect_polls(stubs, succeeded("signs"))
    expect_retired(stubs)
    exec(snippet, {"api": api})
    _done(stubs)
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"signs-{STAMP} ('endpoint config signs', 'model signs')")


# ---------------------------------------------------------------------------------------------
# docs/production.md


PAGE = "production.md"


def _page_update() -> list[str]:
    """The page's update command, as argv, with its version's ARN."""
    [block] = [b for b in code_blocks(PAGE, "bash") if "--update" in b]
    [command] = commands(block)
    argv = shlex.split(command)
    assert "$V2" in argv, "the page's update no longer hosts version 2"
    return [V2 if arg == "$V2" else arg for arg in argv]


def _shown(first_line: str) -> list[str]:
    return _lines(code_block(PAGE, "text", first_line))


def test_the_production_pages_update_runs_as_written(stubs, monkeypatch, capsys, caplog):
    """The page's command, the output it shows (times aside), then the rollback it quotes."""
    caplog.set_level(logging.INFO, logger="byoc")
    monkeypatch.setenv("SAGEMAKER_ROLE_ARN", ROLE)
    argv = _page_update()
    assert argv[:3] == ["byoc", "deploy", "--update"]
    name = argv[argv.index("--endpoint-name") + 1]
    alarm = argv[argv.index("--rollback-alarm") + 1]

    def expect_version_2() -> None:
        expect_live(stubs, name)
        expect_new_config(stubs, name, source="package")
        expect_update(stubs, name, {
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": _routing(
                "CANARY", 600, CanarySize={"Type": "CAPACITY_PERCENT", "Value": 50})},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}})

    # It goes through: what the page shows under "What you see".
    expect_version_2()
    expect_polls(stubs, succeeded(name))
    expect_retired(stubs, name)
    assert main(argv[1:]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    printed = caplog.messages + _lines(err) + _lines(out)
    shown = _shown(f"Updating endpoint {name}")
    assert [line for line in shown if line not in printed] == []

    # It rolls back: the error the page quotes, with SageMaker's FailureReason left out.
    expect_version_2()
    expect_polls(stubs, rolled_back(name, f"The alarm {alarm} was in ALARM state."))
    assert main(argv[1:]) == 2
    _done(stubs)
    error = _lines(capsys.readouterr().err)[-1]
    [quoted] = _shown(f"error: Endpoint {name} rolled back")
    assert re.sub(r"went off \(.*?\)\.", "went off (...).", error) == quoted


# ---------------------------------------------------------------------------------------------
# The limits, against botocore's model of SageMaker's API


def test_the_ranges_are_sagemakers():
    model = botocore.session.get_session().get_service_model("sagemaker")

    def bounds(shape: str, member: str) -> tuple[int, int]:
        meta = model.shape_for(shape).members[member].metadata
        return meta["min"], meta["max"]

    assert bounds("TrafficRoutingConfig", "WaitIntervalInSeconds") == guardrails.WAIT_RANGE
    assert bounds("BlueGreenUpdatePolicy", "TerminationWaitInSeconds") == \
        guardrails.TERMINATION_WAIT_RANGE
    assert bounds("BlueGreenUpdatePolicy", "MaximumExecutionTimeoutInSeconds") == \
        guardrails.MAX_UPDATE_TIME_RANGE
    alarms = model.shape_for("AutoRollbackConfig").members["Alarms"].metadata
    assert alarms["max"] == guardrails.MAX_ALARMS
    name = model.shape_for("Alarm").members["AlarmName"].metadata
    assert name["max"] == guardrails.MAX_ALARM_NAME
    assert set(guardrails.MODES.values()) == set(
        model.shape_for("TrafficRoutingConfigType").enum)
    assert set(endpoint_update.UPDATE_ENDED) <= set(model.shape_for("EndpointStatus").enum)
