"""`byoc pipeline upsert|start|status|delete` against moto's server: the CreatePipeline,
UpdatePipeline and StartPipelineExecution requests as sent (moto's recorder), the definition
moto keeps, the Python calls, and every refusal, each made before anything is created.

moto 5.2.6 has create, update, describe, start, list-executions and delete for pipelines, and
completes an execution at once. It lacks ListPipelineExecutionSteps, and never shows an
execution still running: those answers come from botocore's Stubber (SageMaker's exact shapes),
and every other call goes to moto's server.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from byoc import api
from byoc.api import lifecycle_calls
from byoc.cli import main, pipeline_verbs
from byoc.driver import endpoints, jobs, pipeline_definition
from byoc.errors import UserError
from tests.support.aws_jobs import BUCKET, content_prefix, make_dataset
from tests.support.pipelines import NAME, MotoWithStubs, pipeline_request, upsert_argv
from tests.support.stubs import offline_sagemaker

pytestmark = pytest.mark.aws

NOW = datetime(2026, 1, 12, 9, 40, tzinfo=timezone.utc)


def _upsert(ecr_image: str, role_arn: str, data, *flags: str, name: str = NAME) -> int:
    return main(upsert_argv(ecr_image, role_arn, data, *flags, name=name))


def _targets(recorder) -> list[str]:
    """The SageMaker operations moto received, in order."""
    return [e["headers"].get("x-amz-target", "").split(".")[-1] for e in recorder.entries()
            if e["headers"].get("x-amz-target", "").startswith("SageMaker.")]


def _changes(recorder) -> list[str]:
    """What was created, changed, started or deleted: SageMaker calls and S3 writes."""
    return ([t for t in _targets(recorder)
             if t.startswith(("Create", "Update", "Add", "Start", "Delete"))] +
            [e["url"] for e in recorder.entries() if e["method"] in ("PUT", "DELETE")])


def _definition() -> dict:
    desc = boto3.client("sagemaker").describe_pipeline(PipelineName=NAME)
    return json.loads(desc["PipelineDefinition"])


# --- upsert


def test_upsert_creates_the_pipeline_and_its_group_tagged_as_byocs(
        moto_recorder, ecr_image, role_arn, tmp_path, capsys):
    make_dataset(tmp_path)
    assert _upsert(ecr_image, role_arn, tmp_path, "--hp", "epochs=5", "--tags", "team=vision"
                   ) == 0
    out, err = capsys.readouterr()
    arn = out.strip()
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{NAME}"
    assert f"Created pipeline {NAME}: Train -> CheckMetric -> Register-RegisterModel." in err
    assert f"Start it: byoc pipeline start {NAME}" in err

    [create] = moto_recorder.calls("SageMaker.CreatePipeline")
    assert create["RoleArn"] == role_arn
    assert {"Key": "team", "Value": "vision"} in create["Tags"]
    assert endpoints.CREATED_BY_BYOC in create["Tags"]
    [group] = moto_recorder.calls("SageMaker.CreateModelPackageGroup")
    assert group["ModelPackageGroupName"] == "signs"
    assert endpoints.CREATED_BY_BYOC in group["Tags"]

    definition = _definition()
    assert definition == json.loads(create["PipelineDefinition"])
    assert definition["Version"] == "2020-12-01"
    root = content_prefix(BUCKET, tmp_path)  # where the local data went
    assert definition["Parameters"] == [
        {"Name": "InputData", "Type": "String", "DefaultValue": root},
        {"Name": "InstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
        {"Name": "MetricThreshold", "Type": "Float", "DefaultValue": 0.9}]
    train, gate = definition["Steps"]
    args = train["Arguments"]
    # The training step sends what byoc train sends, less the job's name.
    assert train["Type"] == "Training" and "TrainingJobName" not in args
    assert args["HyperParameters"] == {"epochs": "5"}
    assert args["AlgorithmSpecification"]["TrainingImage"] == ecr_image
    assert args["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.InstanceType"}
    assert endpoints.CREATED_BY_BYOC in args["Tags"]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in args["InputDataConfig"]}
    assert channels == {c: {"Std:Join": {"On": "/", "Values": [{"Get": "Parameters.InputData"},
                                                               f"{c}/"]}}
                        for c in ("train", "validation")}
    condition = gate["Arguments"]["Conditions"][0]
    assert condition == {"Type": "GreaterThanOrEqualTo",
                         "LeftValue": {"Get": "Steps.Train.FinalMetricDataList["
                                              "'test:accuracy'].Value"},
                         "RightValue": {"Get": "Parameters.MetricThreshold"}}
    [register] = gate["Arguments"]["IfSteps"]
    assert register["Type"] == "RegisterModel"
    assert register["Arguments"]["ModelPackageGroupName"] == "signs"
    assert register["Arguments"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["Arguments"]["InferenceSpecification"]["Containers"] == [
        {"Image": ecr_image, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts."
                                                     "S3ModelArtifacts"}}]
    assert gate["Arguments"]["ElseSteps"] == []


def test_upsert_of_byocs_pipeline_updates_it(moto_recorder, ecr_image, role_arn, tmp_path,
                                             capsys):
    make_dataset(tmp_path)
    assert _upsert(ecr_image, role_arn, tmp_path) == 0
    moto_recorder.start()
    assert _upsert(ecr_image, role_arn, tmp_path, "--gate", "test:accuracy>=0.95",
                   "--instance-type", "ml.c5.xlarge", "--tags", "stage=2") == 0
    assert "Updated pipeline" in capsys.readouterr().err
    targets = _targets(moto_recorder)
    assert "UpdatePipeline" in targets and "CreatePipeline" not in targets
    assert "CreateModelPackageGroup" not in targets  # the group exists
    # The user's tags go on the pipeline (and on the group, as byoc register adds them).
    tagged = {c["ResourceArn"].rpartition(":")[2]: c["Tags"]
              for c in moto_recorder.calls("SageMaker.AddTags")}
    assert tagged[f"pipeline/{NAME}"] == [{"Key": "stage", "Value": "2"}]
    params = {p["Name"]: p["DefaultValue"] for p in _definition()["Parameters"]}
    assert params["MetricThreshold"] == 0.95
    assert params["InstanceType"] == "ml.c5.xlarge"


def test_upsert_with_tune_has_a_tuning_step_gated_on_the_best_objective(
        moto_recorder, ecr_image, role_arn, tmp_path):
    make_dataset(tmp_path)
    assert main(upsert_argv(ecr_image, role_arn, tmp_path, "--tune", "--max-jobs", "4",
                            "--range", "learning_rate=0.0001:0.1:log", "--objective",
                            "validation:loss:min", gate="validation:loss<=0.3")) == 0
    tune, gate = _definition()["Steps"]
    assert tune["Name"] == "Tune" and tune["Type"] == "Tuning"
    config = tune["Arguments"]["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Minimize",
                                                          "MetricName": "validation:loss"}
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4
    assert "HyperParameterTuningJobName" not in tune["Arguments"]
    [condition] = gate["Arguments"]["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"] == {"Get": "Steps.Tune.BestTrainingJob."
                                             "FinalHyperParameterTuningJobObjectiveMetric.Value"}
    model = gate["Arguments"]["IfSteps"][0]["Arguments"]["InferenceSpecification"][
        "Containers"][0]["ModelDataUrl"]
    assert model["Std:Join"]["Values"][1] == {
        "Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}


def test_upsert_definition_writes_the_json_and_creates_no_pipeline(
        moto_recorder, ecr_image, role_arn, tmp_path, capsys):
    data = tmp_path / "data"
    make_dataset(data)
    out = tmp_path / "pipeline.json"
    assert _upsert(ecr_image, role_arn, data, "--definition", str(out)) == 0
    assert capsys.readouterr().out == ""
    written = json.loads(out.read_text())
    assert [s["Name"] for s in written["Steps"]] == ["Train", "CheckMetric"]
    targets = _targets(moto_recorder)
    assert "CreatePipeline" not in targets and "CreateModelPackageGroup" not in targets


# --- refusals of upsert: before anything is created or uploaded


@pytest.mark.parametrize("flags, says", [
    (["--gate", "test:accuracy"], "--gate expects METRIC>=THRESHOLD"),
    (["--gate", "test:accuracy>=high"], "'high' is not a number"),
    (["--gate", "test:f1>=0.9"], "the job reports no metric test:f1"),
    (["--group", "no_underscores"], "Model package group name 'no_underscores' is not valid"),
    (["--job-name", "j1"], "drop --job-name"),
    (["--range", "epochs=1:5"], "--range shape a tuning step: add --tune"),
    (["--tune"], "with --tune the gate reads the best trial's objective, validation:accuracy"),
    (["--tune", "--checkpoint-s3", "s3://b/c"], "A tuning step takes no --checkpoint-s3"),
    (["--description", "two\nlines"], "--description must be one line"),
    (["--tune", "--warm-start", "nope", "--gate", "validation:accuracy>=0.9"],
     "--warm-start: no tuning job named 'nope'"),
    (["--tune", "--max-jobs", "2", "--max-parallel-jobs", "3", "--gate",
      "validation:accuracy>=0.9"], "--max-parallel-jobs (3) must be between 1 and --max-jobs"),
])
def test_upsert_refusals_create_and_upload_nothing(moto_recorder, ecr_image, role_arn, tmp_path,
                                                   capsys, flags, says):
    make_dataset(tmp_path)
    moto_recorder.start()
    assert _upsert(ecr_image, role_arn, tmp_path, *flags) == 2
    assert says in capsys.readouterr().err
    assert _changes(moto_recorder) == []


def test_upsert_refuses_a_bad_pipeline_name_before_aws(moto_recorder, ecr_image, role_arn,
                                                       tmp_path, capsys):
    moto_recorder.start()
    assert _upsert(ecr_image, role_arn, tmp_path, name="bad_name") == 2
    assert "Pipeline name 'bad_name' is not valid" in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_upsert_leaves_a_pipeline_byoc_did_not_make_alone(moto_recorder, ecr_image, role_arn,
                                                          tmp_path, capsys):
    make_dataset(tmp_path)
    boto3.client("sagemaker").create_pipeline(PipelineName=NAME, RoleArn=role_arn,
                                              PipelineDefinition="{}")
    moto_recorder.start()
    assert _upsert(ecr_image, role_arn, tmp_path) == 2
    assert "byoc did not make it" in capsys.readouterr().err
    assert _changes(moto_recorder) == []


def test_upsert_definition_refuses_a_directory(moto_recorder, ecr_image, role_arn, tmp_path,
                                               capsys):
    make_dataset(tmp_path)
    moto_recorder.start()
    assert _upsert(ecr_image, role_arn, tmp_path, "--definition", str(tmp_path)) == 2
    assert "is a directory; name a file" in capsys.readouterr().err


# --- start


@pytest.fixture
def pipeline(moto_recorder, ecr_image, role_arn, tmp_path) -> str:
    """byoc's pipeline in moto, and the recorder emptied."""
    make_dataset(tmp_path)
    assert _upsert(ecr_image, role_arn, tmp_path) == 0
    moto_recorder.start()
    return NAME


def test_start_sends_the_params_and_waits_for_the_execution(pipeline, moto_recorder, capsys):
    assert main(["pipeline", "start", NAME, "--param", "MetricThreshold=0.95", "--param",
                 "InputData=s3://other-bucket/signs/", "--description", "nightly"]) == 0
    out, err = capsys.readouterr()
    [sent] = moto_recorder.calls("SageMaker.StartPipelineExecution")
    assert sent["PipelineParameters"] == [
        {"Name": "MetricThreshold", "Value": "0.95"},
        # without its trailing slash: the steps add /train/
        {"Name": "InputData", "Value": "s3://other-bucket/signs"}]
    assert sent["PipelineExecutionDescription"] == "nightly"
    assert out.strip().startswith(
        f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{NAME}/execution/")
    assert "Succeeded" in err
    assert "DescribePipelineExecution" in _targets(moto_recorder)


def test_start_no_wait_returns_at_once(pipeline, moto_recorder, capsys):
    assert main(["pipeline", "start", NAME, "--no-wait"]) == 0
    assert "byoc pipeline status" in capsys.readouterr().err
    assert "DescribePipelineExecution" not in _targets(moto_recorder)
    [sent] = moto_recorder.calls("SageMaker.StartPipelineExecution")
    assert sent["PipelineParameters"] == []


@pytest.mark.parametrize("params, says", [
    (["Threshold=0.95"], "declares no such parameter; it takes InputData, InstanceType, "
                         "MetricThreshold. Did you mean MetricThreshold?"),
    (["MetricThreshold=high"], "MetricThreshold is a number (Float)"),
    (["InputData=/local/signs"], "the data's S3 prefix"),
    (["MetricThreshold"], "--param expects KEY=VALUE"),
])
def test_start_refuses_params_the_pipeline_does_not_take(pipeline, moto_recorder, capsys, params,
                                                         says):
    flags = [f for p in params for f in ("--param", p)]
    assert main(["pipeline", "start", NAME, *flags]) == 2
    assert says in capsys.readouterr().err
    assert _changes(moto_recorder) == []


def test_start_refuses_a_bad_name_before_aws(moto_recorder, capsys):
    moto_recorder.start()
    assert main(["pipeline", "start", "bad_name", "--param", "MetricThreshold=1"]) == 2
    assert "Pipeline name 'bad_name' is not valid" in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_the_python_call_refuses_keep_alive(moto_recorder, ecr_image, role_arn, tmp_path):
    request = pipeline_request(ecr_image, role_arn, tmp_path, keep_alive=600)
    moto_recorder.start()
    with pytest.raises(UserError, match="--keep-alive is for one training job at a time"):
        api.pipeline_upsert(request)
    assert moto_recorder.entries() == []


def test_start_of_a_missing_pipeline_says_how_to_make_it(moto_recorder, capsys):
    assert main(["pipeline", "start", "nope"]) == 2
    assert "No pipeline named 'nope' in us-east-1. Create it with byoc pipeline upsert nope" in \
        capsys.readouterr().err
    assert _changes(moto_recorder) == []


def test_start_timeout_leaves_the_execution_running(pipeline, monkeypatch, capsys):
    # moto ends an execution at once: SageMaker's answer for one still running comes from Stubber.
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        for _ in range(3):  # the wait asks again until its deadline has passed
            stub.add_response("describe_pipeline_execution", {
                "PipelineExecutionArn": "arn:x", "PipelineExecutionStatus": "Executing"})
        monkeypatch.setattr(pipeline_verbs, "connect_from",
                            lambda args: MotoWithStubs(sm, "describe_pipeline_execution"))
        assert main(["pipeline", "start", NAME, "--timeout", "0.01"]) == 1
    err = capsys.readouterr().err
    assert "Stopped waiting for pipeline signs-pipeline execution" in err
    assert f"Follow it with byoc pipeline status {NAME}" in err


def test_a_failed_execution_says_why_and_where_to_look(pipeline, monkeypatch, capsys):
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_response("describe_pipeline_execution", {
            "PipelineExecutionArn": "arn:x", "PipelineExecutionStatus": "Failed",
            "FailureReason": "Step failure: One or multiple steps failed."})
        monkeypatch.setattr(pipeline_verbs, "connect_from",
                            lambda args: MotoWithStubs(sm, "describe_pipeline_execution"))
        assert main(["pipeline", "start", NAME]) == 2
    assert ("failed: Step failure: One or multiple steps failed. See its steps: byoc pipeline "
            f"status {NAME}") in capsys.readouterr().err


# --- status

STEPS = [
    {"StepName": "Train", "StepStatus": "Succeeded", "StartTime": NOW, "EndTime": NOW,
     "Metadata": {"TrainingJob": {"Arn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                         "training-job/pipelines-abc-train-1"}}},
    {"StepName": "CheckMetric", "StepStatus": "Succeeded", "StartTime": NOW, "EndTime": NOW,
     "Metadata": {"Condition": {"Outcome": "True"}}},
    {"StepName": "Register-RegisterModel", "StepStatus": "Failed", "StartTime": NOW,
     "EndTime": NOW, "FailureReason": "ModelPackageGroup signs does not exist."},
]


def test_status_shows_the_latest_executions_steps(pipeline, monkeypatch, capsys):
    assert main(["pipeline", "start", NAME, "--no-wait"]) == 0
    latest = capsys.readouterr().out.strip()
    # moto lacks ListPipelineExecutionSteps: SageMaker's answer comes from Stubber.
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": STEPS},
                          {"PipelineExecutionArn": latest, "SortOrder": "Ascending"})
        monkeypatch.setattr(pipeline_verbs, "connect_from",
                            lambda args: MotoWithStubs(sm, "list_pipeline_execution_steps"))
        assert main(["pipeline", "status", NAME]) == 0
        stub.assert_no_pending_responses()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Pipeline {NAME}, execution {latest}: Succeeded (started ")
    assert lines[1].split() == ["step", "status", "started", "ended", "outcome"]
    rows = [line.split(maxsplit=6) for line in lines[3:]]
    assert [r[:2] for r in rows] == [["Train", "Succeeded"], ["CheckMetric", "Succeeded"],
                                     ["Register-RegisterModel", "Failed"]]
    assert rows[0][-1].endswith("training-job/pipelines-abc-train-1")
    assert lines[4].endswith("condition True")
    assert lines[5].endswith("ModelPackageGroup signs does not exist.")


def test_status_of_a_pipeline_that_never_ran(pipeline, capsys):
    assert main(["pipeline", "status", NAME]) == 0
    assert capsys.readouterr().out.strip() == (f"Pipeline {NAME} has not run yet. Start it: "
                                               f"byoc pipeline start {NAME}")


def test_status_of_a_missing_pipeline(moto_endpoint, capsys):
    assert main(["pipeline", "status", "nope"]) == 2
    assert "No pipeline named 'nope'" in capsys.readouterr().err


# --- delete


def test_delete_removes_byocs_pipeline_and_keeps_the_group(pipeline, capsys):
    assert main(["pipeline", "delete", NAME]) == 0
    assert f"Deleted pipeline {NAME}." in capsys.readouterr().out
    sagemaker = boto3.client("sagemaker")
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []
    sagemaker.describe_model_package_group(ModelPackageGroupName="signs")


def test_delete_refuses_a_pipeline_byoc_did_not_make(moto_recorder, role_arn, capsys):
    boto3.client("sagemaker").create_pipeline(PipelineName="theirs", RoleArn=role_arn,
                                              PipelineDefinition="{}")
    moto_recorder.start()
    assert main(["pipeline", "delete", "theirs"]) == 2
    assert "aws sagemaker delete-pipeline --pipeline-name theirs" in capsys.readouterr().err
    assert _changes(moto_recorder) == []


def _running(sm) -> Stubber:
    stub = Stubber(sm)
    stub.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": [{
        "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/"
                                f"{NAME}/execution/abc",
        "PipelineExecutionStatus": "Executing", "StartTime": NOW}]})
    return stub


def test_delete_refuses_a_running_pipeline_unless_forced(pipeline, moto_recorder, monkeypatch,
                                                         capsys):
    sm = offline_sagemaker()
    monkeypatch.setattr(pipeline_verbs, "connect_from",
                        lambda args: MotoWithStubs(sm, "list_pipeline_executions"))
    with _running(sm):
        assert main(["pipeline", "delete", NAME]) == 2
    assert "is running" in capsys.readouterr().err
    assert _changes(moto_recorder) == []
    with _running(sm):
        assert main(["pipeline", "delete", NAME, "--force"]) == 0
    assert "is stopped with it" in capsys.readouterr().out
    assert _targets(moto_recorder)[-1] == "DeletePipeline"


def test_delete_of_a_missing_pipeline(moto_endpoint, capsys):
    assert main(["pipeline", "delete", "nope"]) == 2
    assert "No pipeline named 'nope'" in capsys.readouterr().err


# --- Python


def test_the_python_calls_upsert_start_check_and_delete(moto_recorder, ecr_image, role_arn,
                                                        tmp_path, monkeypatch):
    make_dataset(tmp_path)
    request = pipeline_request(ecr_image, role_arn, tmp_path)
    done = api.pipeline_upsert(request)
    assert done.created and done.parameters["MetricThreshold"] == 0.9
    started = api.pipeline_start(NAME, params={"InstanceType": "ml.c5.xlarge"})
    assert started.parameters == ({"Name": "InstanceType", "Value": "ml.c5.xlarge"},)
    # A training job's limit (a day by default) and the 30-minute margin.
    assert started.default_timeout == jobs.DEFAULT_MAX_RUN + 1800
    assert api.pipeline_upsert(request).created is False
    with pytest.raises(UserError, match="Did you mean InstanceType"):
        api.pipeline_start(NAME, params={"InstanceTyp": "ml.c5.xlarge"})
    sm = offline_sagemaker()
    with Stubber(sm) as stub:  # moto lacks ListPipelineExecutionSteps
        stub.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": STEPS})
        monkeypatch.setattr(lifecycle_calls, "_aws", lambda region, profile: MotoWithStubs(
            sm, "list_pipeline_execution_steps"))
        status = api.pipeline_status(NAME)
    assert status.execution["PipelineExecutionArn"] == started.arn
    assert [s["StepName"] for s in status.steps] == [s["StepName"] for s in STEPS]
    assert api.pipeline_delete(NAME)[0] == f"Deleted pipeline {NAME}."
    written = tmp_path / "p.json"
    api.pipeline_upsert(request, definition=written)
    assert json.loads(written.read_text())["Version"] == pipeline_definition.VERSION
    with pytest.raises(UserError, match="Pipeline name"):
        api.pipeline_upsert(api.PipelineRequest("a_b", request.training, "test:accuracy>=1",
                                                "signs"))
