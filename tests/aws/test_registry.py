"""The Model Registry against moto's server: `byoc register` (the CreateModelPackage request as
sent, through moto's recorder), `byoc registry list|approve|reject`, `byoc deploy --package`,
the Python calls, and every refusal, each made before anything is created.

moto completes a training job at once, so a job that is still running or has failed comes from
botocore's Stubber (tests.support.stubs)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from byoc import api, content_types, tracking_config
from byoc.cli import main
from byoc.driver import endpoints, model_packages, runs
from byoc.errors import UserError
from tests.support.moto import ROLE_ARN
from tests.support.stubs import StubbedAws, offline_sagemaker
from tests.support.trained_jobs import METRICS, completed_job

pytestmark = pytest.mark.aws

OUTPUT = "s3://registry-bucket/byoc/output"
REGISTRY = f"{OUTPUT}/signs-1/registry"


def _register(*flags: str) -> int:
    return main(["register", *flags])


def _created(recorder) -> list[str]:
    """The create, update and put calls moto received (SageMaker targets, S3 PUTs)."""
    sent = [e["headers"].get("x-amz-target", "").split(".")[-1] for e in recorder.entries()]
    return ([t for t in sent if t.startswith(("Create", "Update", "Add", "Put"))] +
            [e["url"] for e in recorder.entries() if e["method"] in ("PUT", "DELETE")])


@pytest.fixture
def job(moto_endpoint, ecr_image, role_arn) -> dict:
    """Completed training job signs-1, with metrics.json and report.md in its output."""
    return completed_job("signs-1", ecr_image, role_arn, output=OUTPUT)


def test_register_sends_the_version_sagemaker_hosts(job, moto_recorder, ecr_image, capsys):
    assert _register("--job", "signs-1", "--group", "signs", "--description", "LeNet, 15 epochs",
                     "--tag", "team=vision") == 0
    out, err = capsys.readouterr()
    [arn] = out.split()  # the ARN alone on standard output
    [request] = moto_recorder.calls("SageMaker.CreateModelPackage")
    assert request["ModelPackageGroupName"] == "signs"
    assert request["ModelPackageDescription"] == "LeNet, 15 epochs"
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    assert "Tags" not in request  # SageMaker tags a version through its group
    spec = request["InferenceSpecification"]
    assert spec["Containers"] == [{"Image": ecr_image,
                                   "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}]
    # What serve reads and answers in, as its codecs say (byoc.content_types is held to them).
    assert spec["SupportedContentTypes"] == list(content_types.REQUEST_TYPES)
    assert "image/png" in spec["SupportedContentTypes"]
    assert spec["SupportedResponseMIMETypes"] == ["application/json", "text/csv",
                                                  "application/x-npy"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == \
        spec["SupportedTransformInstanceTypes"] == list(model_packages.INSTANCE_TYPES)
    assert request["MetadataProperties"] == {"GeneratedBy": job["TrainingJobArn"]}
    statistics = request["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"] == f"{REGISTRY}/metrics.json"
    assert statistics["ContentType"] == "application/json"
    assert statistics["ContentDigest"].startswith("sha256:")
    assert request["CustomerMetadataProperties"] == {
        "byoc.training_job": "signs-1",
        "byoc.data.train": "s3://registry-bucket/data/train/",
        "byoc.data.test": "s3://registry-bucket/data/test/",
        "byoc.report": f"{REGISTRY}/report.md"}
    # The job's metrics.json and report.md sit next to its model, as the version says.
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket="registry-bucket", Key="byoc/output/signs-1/registry/metrics.json")
    assert json.loads(body["Body"].read()) == METRICS
    report = s3.get_object(Bucket="registry-bucket", Key="byoc/output/signs-1/registry/report.md")
    assert report["Body"].read().startswith(b"# Evaluation report")

    assert "Created model package group signs (tagged byoc:created-by=byoc)." in err
    assert "Registered training job signs-1 as version 1 of signs: PendingManualApproval." in err
    assert "test_accuracy 0.9120, test_macro_f1 0.9050, test_loss 0.3104" in err
    assert f"Approve it: byoc registry approve {arn} --why TEXT" in err
    described = boto3.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert described["ModelPackageVersion"] == 1


def test_the_group_is_created_once_tagged_as_byocs(job, moto_recorder, ecr_image, role_arn,
                                                   capsys):
    completed_job("signs-2", ecr_image, role_arn, output=OUTPUT)
    assert _register("--job", "signs-1", "--group", "signs", "--tags", "team=vision") == 0
    assert _register("--job", "signs-2", "--group", "signs", "--approve") == 0
    [group] = moto_recorder.calls("SageMaker.CreateModelPackageGroup")
    assert group["ModelPackageGroupName"] == "signs"
    assert group["Tags"] == [{"Key": "team", "Value": "vision"}, endpoints.CREATED_BY_BYOC]
    first, second = moto_recorder.calls("SageMaker.CreateModelPackage")
    assert (first["ModelApprovalStatus"], second["ModelApprovalStatus"]) == (
        "PendingManualApproval", "Approved")
    err = capsys.readouterr().err
    assert "version 2 of signs: Approved." in err and "Deploy it: byoc deploy --package" in err
    assert err.count("Created model package group") == 1


def test_an_image_pinned_by_digest_is_recorded(moto_endpoint, moto_recorder, ecr_image,
                                               role_arn):
    ecr = boto3.client("ecr")
    [image] = ecr.describe_images(repositoryName="byoc")["imageDetails"]
    pinned = f"{ecr_image.rpartition(':')[0]}@{image['imageDigest']}"
    completed_job("pinned", pinned, role_arn, output=OUTPUT)
    assert _register("--job", "pinned", "--group", "signs") == 0
    [request] = moto_recorder.calls("SageMaker.CreateModelPackage")
    [container] = request["InferenceSpecification"]["Containers"]
    assert container["Image"] == pinned
    assert container["ImageDigest"] == image["imageDigest"]
    assert request["CustomerMetadataProperties"]["byoc.image_digest"] == image["imageDigest"]


@pytest.mark.parametrize(("wrote_output", "says"), [
    (True, "its output.tar.gz holds no metrics.json"),
    (False, "the job wrote no s3://registry-bucket/byoc/output/bare/output/output.tar.gz")])
def test_a_job_without_metrics_is_registered_without_model_metrics(
        moto_endpoint, moto_recorder, ecr_image, role_arn, capsys, wrote_output, says):
    completed_job("bare", ecr_image, role_arn, output=OUTPUT, metrics=None, report=None,
                  wrote_output=wrote_output)
    assert _register("--job", "bare", "--group", "signs") == 0
    [request] = moto_recorder.calls("SageMaker.CreateModelPackage")
    assert "ModelMetrics" not in request
    assert "byoc.report" not in request["CustomerMetadataProperties"]
    assert f"No metrics: {says}, so the version has no ModelMetrics." in capsys.readouterr().err


def test_list_shows_the_versions_newest_first_with_their_metrics(job, ecr_image, role_arn,
                                                                 capsys):
    better = {**METRICS, "test_accuracy": 0.9431, "test_macro_f1": 0.9377, "test_loss": 0.2}
    completed_job("signs-2", ecr_image, role_arn, output=OUTPUT, metrics=better)
    completed_job("bare", ecr_image, role_arn, output=OUTPUT, metrics=None)
    for name in ("signs-1", "signs-2", "bare"):
        assert _register("--job", name, "--group", "signs") == 0
    # A group byoc did not make is not listed among its own.
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName="someone-elses")
    capsys.readouterr()

    assert main(["registry", "list", "--group", "signs"]) == 0
    header, rule, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["version", "status", "created", "test_accuracy", "test_macro_f1",
                              "test_loss", "training", "job", "arn"]
    assert set(rule) == {"-", " "}
    cells = [row.split() for row in rows]
    assert [c[0] for c in cells] == ["3", "2", "1"]
    assert cells[0][1] == "PendingManualApproval" and cells[0][4:8] == ["-", "-", "-", "bare"]
    assert cells[1][4:8] == ["0.9431", "0.9377", "0.2000", "signs-2"]
    assert cells[2][4:8] == ["0.9120", "0.9050", "0.3104", "signs-1"]
    assert cells[2][8].endswith(":model-package/signs/1")

    assert main(["registry", "list", "--group", "signs", "--max", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3

    assert main(["registry", "list"]) == 0
    out = capsys.readouterr().out
    assert "signs" in out and "someone-elses" not in out
    [row] = [line for line in out.splitlines() if line.startswith("signs ")]
    assert row.split()[3:5] == ["3", "PendingManualApproval"]


def test_approve_and_reject_keep_the_reason(job, moto_recorder, capsys):
    assert _register("--job", "signs-1", "--group", "signs") == 0
    arn = capsys.readouterr().out.strip()
    sagemaker = boto3.client("sagemaker")

    assert main(["registry", "approve", arn, "--why", "best macro F1 so far"]) == 0
    out = capsys.readouterr().out
    assert f"{arn}: PendingManualApproval -> Approved (best macro F1 so far)." in out
    assert f"Deploy it: byoc deploy --package {arn} --endpoint-name NAME" in out
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "best macro F1 so far"

    assert main(["registry", "reject", arn, "--why", "fails on night images"]) == 0
    assert "Approved -> Rejected (fails on night images)." in capsys.readouterr().out
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == \
        "Rejected"
    assert [(c["ModelApprovalStatus"], c["ApprovalDescription"])
            for c in moto_recorder.calls("SageMaker.UpdateModelPackage")] == [
        ("Approved", "best macro F1 so far"), ("Rejected", "fails on night images")]


def test_deploy_of_an_approved_version_names_the_package_in_its_container(job, moto_recorder,
                                                                          capsys):
    assert _register("--job", "signs-1", "--group", "signs", "--approve") == 0
    arn = capsys.readouterr().out.strip()
    assert main(["deploy", "--package", arn, "--endpoint-name", "signs-prod",
                 "--serverless-memory", "2048"]) == 0
    assert "Endpoint signs-prod is InService." in capsys.readouterr().out
    [model] = moto_recorder.calls("SageMaker.CreateModel")
    assert model["ModelName"] == "signs-prod"
    # As SageMaker deploys a package, plus the serverless worker count deploy always sets.
    assert model["PrimaryContainer"] == {"ModelPackageName": arn,
                                         "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}}
    assert model["ExecutionRoleArn"] == ROLE_ARN  # the training job's role
    assert endpoints.CREATED_BY_BYOC in model["Tags"]
    [config] = moto_recorder.calls("SageMaker.CreateEndpointConfig")
    assert config["ProductionVariants"][0]["ModelName"] == "signs-prod"

    assert main(["delete", "--endpoint-name", "signs-prod"]) == 0
    assert "deleted model signs-prod" in capsys.readouterr().out


def test_deploy_of_a_pending_version_is_refused_before_anything_is_created(job, moto_recorder,
                                                                           capsys):
    assert _register("--job", "signs-1", "--group", "signs") == 0
    arn = capsys.readouterr().out.strip()
    moto_recorder.start()
    assert main(["deploy", "--package", arn, "--endpoint-name", "signs-prod"]) == 2
    err = capsys.readouterr().err
    assert f"Model package {arn} is PendingManualApproval, not Approved" in err
    assert f"byoc registry approve {arn} --why TEXT" in err and "--force" in err
    assert _created(moto_recorder) == []
    assert boto3.client("sagemaker").list_models()["Models"] == []

    # --force hosts it all the same.
    assert main(["deploy", "--package", arn, "--endpoint-name", "signs-prod", "--force",
                 "--no-wait"]) == 0
    [model] = moto_recorder.calls("SageMaker.CreateModel")
    assert model["PrimaryContainer"] == {"ModelPackageName": arn}


def test_the_python_calls_return_typed_results(job, ecr_image, role_arn):
    version = api.register("signs-1", group="signs", description="first",
                           tags={"team": "vision"})
    assert isinstance(version, api.RegisteredVersion)
    assert (version.group, version.version, version.status, version.training_job) == (
        "signs", 1, "PendingManualApproval", "signs-1")
    assert version.metrics == METRICS and version.missing_metrics is None

    listing = api.list_packages("signs")
    [listed] = listing.versions
    assert isinstance(listed, api.PackageVersion)
    assert (listed.arn, listed.metrics, listed.description) == (version.arn, METRICS, "first")
    assert isinstance(listed.created, datetime) and listed.created.tzinfo is not None
    [group] = api.list_packages().groups
    assert (group.name, group.latest.version) == ("signs", 1)

    change = api.approve(version.arn, why="good enough")
    assert (change.before, change.after, change.why) == ("PendingManualApproval", "Approved",
                                                         "good enough")
    assert api.reject(version.arn, why="superseded").after == "Rejected"
    with pytest.raises(UserError, match="Rejected, not Approved"):
        api.deploy(api.DeployRequest("prod", api.ModelSource(package=version.arn)))
    deployed = api.deploy(api.DeployRequest("prod", api.ModelSource(package=version.arn,
                                                                    force=True)), wait=False)
    assert deployed.model_name == "prod"


# ---------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize("group", ["-signs", "signs-", "traffic_signs", "s" * 64, "signs v2"])
def test_a_group_name_sagemaker_refuses_is_refused_before_any_call(moto_recorder, group, capsys):
    assert _register("--job", "signs-1", f"--group={group}") == 2
    assert f"Model package group name '{group}' is not valid" in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_a_missing_job_is_refused(moto_recorder, capsys):
    assert _register("--job", "nowhere", "--group", "signs") == 2
    assert "No training job named 'nowhere' in us-east-1" in capsys.readouterr().err
    assert _created(moto_recorder) == []


@pytest.mark.parametrize(("status", "says"), [
    ("InProgress", "Wait until it ends (aws sagemaker wait training-job-completed-or-stopped"),
    ("Failed", "See why with aws sagemaker describe-training-job"),
    ("Stopped", "register a job that completed")])
def test_a_job_that_did_not_complete_is_refused_before_anything_is_created(status, says):
    """moto completes every job at once: the Stubber answers with the status, and would fail
    the test on any further call (a group, an upload, a package)."""
    sagemaker = offline_sagemaker()
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_training_job", {
            "TrainingJobName": "signs-1", "TrainingJobStatus": status,
            "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/signs-1",
            "ModelArtifacts": {"S3ModelArtifacts": f"{OUTPUT}/signs-1/output/model.tar.gz"},
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "SecondaryStatus": "Training", "StoppingCondition": {},
            "CreationTime": datetime(2025, 1, 1, tzinfo=timezone.utc)},
            {"TrainingJobName": "signs-1"})
        with pytest.raises(UserError) as refused:
            model_packages.register(StubbedAws(sagemaker), model_packages.RegisterRequest(
                "signs", training_job="signs-1"))
        stub.assert_no_pending_responses()
    assert f"Training job signs-1 is {status}; only a completed job has a model" in \
        str(refused.value)
    assert says in str(refused.value)


@pytest.mark.parametrize(("argv", "message"), [
    (["register", "--group", "signs", "--job", "signs-1", "--description", "two\nlines"],
     "--description must be one line"),
    (["register", "--group", "signs", "--job", "signs-1", "--tags", "novalue"],
     "--tags expects KEY=VALUE"),
    (["registry", "approve", "arn:aws:sagemaker:us-east-1:123456789012:model-package/signs/1",
      "--why", "  "], "Say why"),
    (["registry", "reject", "arn:aws:sagemaker:us-east-1:123456789012:model-package/signs/9",
      "--why", "bad"], "No model package 'arn:aws:sagemaker:us-east-1:123456789012:model-package"
                       "/signs/9' in us-east-1"),
    (["registry", "list", "--group", "nothing-here"], "No model package group 'nothing-here'"),
    (["deploy", "--package", "arn:p", "--training-job", "signs-1", "--endpoint-name", "e"],
     "--package hosts a registered version with the image and model it names; drop "
     "--training-job."),
    (["deploy", "--package", "arn:p", "--model-data", "s3://b/m.tar.gz", "--image", "i",
      "--endpoint-name", "e"], "drop --model-data, --image."),
    (["deploy", "--package", "arn:p", "--run", "abc", "--endpoint-name", "e"], "drop --run."),
    (["deploy", "--training-job", "signs-1", "--force", "--endpoint-name", "e"],
     "goes with --package ARN only"),
    (["deploy", "--package", "arn:p", "--multi-model", "--model-prefix", "s3://b/m/",
      "--endpoint-name", "e"], "--package hosts one registered version"),
    (["deploy", "--package", "arn:aws:sagemaker:us-east-1:123456789012:model-package/signs/4",
      "--endpoint-name", "e"], "No model package"),
])
def test_each_refusal_says_what_to_do_and_creates_nothing(moto_recorder, argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert _created(moto_recorder) == []


@pytest.mark.parametrize("argv", [
    ["register", "--group", "signs"],  # neither --job nor --run
    ["register", "--group", "signs", "--job", "a", "--run", "b"],
    ["registry", "approve", "arn:x"],  # no --why
])
def test_the_command_line_needs_one_model_and_a_reason(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "error:" in capsys.readouterr().err


def test_the_python_call_needs_one_model(moto_endpoint):
    with pytest.raises(UserError, match="Say which model to register"):
        api.register(group="signs")
    with pytest.raises(UserError, match="not both"):
        api.register("signs-1", run="abc", group="signs")
    with pytest.raises(UserError, match="Say why"):
        api.approve("arn:x", why="")


def test_every_instance_type_is_one_sagemaker_takes_for_both_kinds():
    model = botocore.session.get_session().get_service_model("sagemaker")
    spec = model.shape_for("InferenceSpecification")
    for field in ("SupportedRealtimeInferenceInstanceTypes", "SupportedTransformInstanceTypes"):
        assert set(model_packages.INSTANCE_TYPES) <= set(spec.members[field].member.enum)
    assert endpoints.DEFAULT_INSTANCE_TYPE in model_packages.INSTANCE_TYPES
    assert any(t.startswith("ml.g") for t in model_packages.INSTANCE_TYPES)


# ---------------------------------------------------------------------------------------------
# A tracked run


@pytest.mark.tracking
def test_register_a_run_links_the_run_and_the_version(job, moto_recorder, tmp_path, monkeypatch,
                                                      capsys):
    """A local ./mlruns store with one run tagged with its training job, as `train` logs it."""
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlruns").mkdir()
    uri = tracking_config.check_uri("./mlruns")
    client = runs.client(uri)
    experiment = client.create_experiment("signs")
    run = client.create_run(experiment, tags={tracking_config.TAG_TRAINING_JOB: "signs-1"})
    run_id = run.info.run_id

    assert _register("--run", run_id, "--track", "./mlruns", "--group", "signs") == 0
    arn = capsys.readouterr().out.strip()
    [request] = moto_recorder.calls("SageMaker.CreateModelPackage")
    assert request["CustomerMetadataProperties"]["byoc.mlflow_run"] == run_id
    assert request["CustomerMetadataProperties"]["byoc.training_job"] == "signs-1"
    assert request["MetadataProperties"]["GeneratedBy"].endswith(":training-job/signs-1")
    assert client.get_run(run_id).data.tags[tracking_config.TAG_MODEL_PACKAGE] == arn
