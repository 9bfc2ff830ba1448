"""`byoc autopilot start|status|leaderboard|deploy` against moto's server, and with exact answers.

moto creates, describes and stops AutoML V2 jobs, but its jobs never complete and it has no
list_candidates_for_auto_ml_job. So the wait loop's timeout, the stop and the deployment of the
best candidate run against moto's server; a job that goes through its phases to completion or
failure, the leaderboard and a named candidate's deployment use botocore's Stubber with the exact
answers SageMaker gives, on real botocore clients.
"""

from __future__ import annotations

import datetime as dt
import io

import boto3
import pytest
from botocore.stub import ANY, Stubber

from byoc.cli import autopilot_verbs as autopilot_cli
from byoc.cli import main
from byoc.driver import autopilot, jobs
from byoc.driver.endpoints import CREATED_BY_BYOC
from byoc.errors import UserError
from byoc.tabular import insurance
from tests.support.stubs import NOW, StubbedAws, offline_sagemaker
from tests.support.stubs import autopilot_job_answer as job_answer

ACCOUNT = "123456789012"
BUCKET = f"sagemaker-us-east-1-{ACCOUNT}"


@pytest.fixture
def insurance_csv(tmp_path):
    # Autopilot's minimum row count (autopilot.MIN_ROWS).
    return insurance.write_csv(tmp_path / "insurance.csv", rows=autopilot.MIN_ROWS, seed=0)


def _start(csv_path, role_arn, *extra: str) -> int:
    return main(["autopilot", "start", "--csv", str(csv_path), "--target", "charges",
                 "--role", role_arn, "--job-name", "ins-job", "--no-wait", *extra])


# ---------------------------------------------------------------------------------------------
# moto's server


def test_start_uploads_the_csv_and_creates_a_tabular_job(moto_endpoint, role_arn, insurance_csv,
                                                         capsys):
    assert _start(insurance_csv, role_arn, "--max-candidates", "5", "--max-runtime", "3600",
                  "--mode", "ENSEMBLING") == 0
    assert "Started Autopilot job ins-job (Regression, objective MSE)" in capsys.readouterr().out

    data_key = "byoc/autopilot/ins-job/input/insurance.csv"
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=data_key)["Body"].read()
    assert body == insurance_csv.read_bytes()
    job = boto3.client("sagemaker").describe_auto_ml_job_v2(AutoMLJobName="ins-job")
    assert job["AutoMLProblemTypeConfig"]["TabularJobConfig"] == {
        "TargetAttributeName": "charges",
        "ProblemType": "Regression",  # inferred from the many distinct numbers in `charges`
        "CompletionCriteria": {"MaxCandidates": 5, "MaxAutoMLJobRuntimeInSeconds": 3600},
        "Mode": "ENSEMBLING",
    }
    (channel,) = job["AutoMLJobInputDataConfig"]
    assert channel["ChannelType"] == "training"
    assert channel["ContentType"] == "text/csv;header=present"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/{data_key}"
    assert job["OutputDataConfig"]["S3OutputPath"] == \
        f"s3://{BUCKET}/byoc/autopilot/ins-job/output"
    assert job["AutoMLJobObjective"] == {"MetricName": "MSE"}
    assert job["RoleArn"] == role_arn


def test_start_sends_per_job_runtime_validation_fraction_and_sample_weights(
        moto_recorder, role_arn, insurance_csv):
    assert _start(insurance_csv, role_arn, "--mode", "ENSEMBLING", "--max-runtime", "7200",
                  "--max-runtime-per-job", "600", "--validation-fraction", "0.25",
                  "--sample-weight-column", "bmi") == 0
    (request,) = moto_recorder.calls("SageMaker.CreateAutoMLJobV2")
    tabular = request["AutoMLProblemTypeConfig"]["TabularJobConfig"]
    assert tabular["CompletionCriteria"] == {"MaxCandidates": 10,
                                             "MaxRuntimePerTrainingJobInSeconds": 600,
                                             "MaxAutoMLJobRuntimeInSeconds": 7200}
    assert tabular["SampleWeightAttributeName"] == "bmi"
    assert tabular["Mode"] == "ENSEMBLING"
    assert request["DataSplitConfig"] == {"ValidationFraction": 0.25}


def test_start_without_them_sends_none(moto_recorder, role_arn, insurance_csv):
    assert _start(insurance_csv, role_arn) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateAutoMLJobV2")
    tabular = request["AutoMLProblemTypeConfig"]["TabularJobConfig"]
    assert "SampleWeightAttributeName" not in tabular
    assert "MaxRuntimePerTrainingJobInSeconds" not in tabular["CompletionCriteria"]
    assert "DataSplitConfig" not in request


def test_start_from_s3_reads_only_the_header(moto_endpoint, role_arn, insurance_csv, capsys):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="data")
    s3.upload_file(str(insurance_csv), "data", "in/insurance.csv")
    assert main(["autopilot", "start", "--csv", "s3://data/in/insurance.csv", "--target", "age",
                 "--problem-type", "Regression", "--objective", "MAE", "--role", role_arn,
                 "--job-name", "by-age", "--no-wait"]) == 0
    job = boto3.client("sagemaker").describe_auto_ml_job_v2(AutoMLJobName="by-age")
    (channel,) = job["AutoMLJobInputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/in/insurance.csv"
    assert job["AutoMLJobObjective"] == {"MetricName": "MAE"}

    assert main(["autopilot", "start", "--csv", "s3://data/in/insurance.csv", "--target", "cost",
                 "--problem-type", "Regression", "--role", role_arn, "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert "Target column 'cost' is not in s3://data/in/insurance.csv" in err
    assert "age, sex, bmi, children, smoker, region, charges" in err


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_spreadsheet_export_is_uploaded_as_plain_commas(moto_endpoint, role_arn, insurance_csv,
                                                          tmp_path, capsys, delimiter):
    # Autopilot reads comma-separated UTF-8 only: a ';'- or tab-separated file with Excel's
    # byte-order mark is checked with its own separator, then uploaded as a comma copy.
    export = tmp_path / "export.csv"
    rows = insurance_csv.read_text().splitlines()
    export.write_bytes(b"\xef\xbb\xbf" + "\n".join(
        delimiter.join(row.split(",")) for row in rows).encode() + b"\n")
    original = export.read_bytes()
    assert _start(export, role_arn) == 0
    captured = capsys.readouterr()
    assert "uploading a comma-separated UTF-8 copy" in captured.err
    assert "(Regression, objective MSE)" in captured.out
    body = boto3.client("s3").get_object(
        Bucket=BUCKET, Key="byoc/autopilot/ins-job/input/export.csv")["Body"].read()
    assert body.decode().splitlines() == rows
    assert export.read_bytes() == original  # the user's file is left as it was


def test_a_semicolon_separated_s3_object_is_refused_with_the_way_out(moto_endpoint, role_arn,
                                                                     insurance_csv, tmp_path,
                                                                     capsys):
    export = tmp_path / "export.csv"
    export.write_text(insurance_csv.read_text().replace(",", ";"))
    uri = _put_csv(export, "in/export.csv")
    assert main(["autopilot", "start", "--csv", uri, "--target", "charges", "--role", role_arn,
                 "--no-wait"]) == 2
    assert "is semicolon-separated, and Autopilot reads only comma-separated" in \
        capsys.readouterr().err
    assert boto3.client("sagemaker").list_auto_ml_jobs()["AutoMLJobSummaries"] == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--target", "cost"], "Its columns are: age, sex, bmi"),
    (["--target", "charges", "--objective", "F1", "--problem-type", "Regression"],
     "Objective 'F1' does not fit Regression. Use one of: MSE, RMSE, MAE, R2."),
    (["--target", "charges", "--objective", "LogLoss"], "Unknown objective 'LogLoss'"),
    (["--target", "charges", "--job-name", "no_underscores"], "is not valid"),
    (["--target", "charges", "--max-runtime", "600", "--max-runtime-per-job", "900"],
     "--max-runtime-per-job (900 s) is longer than the whole job's --max-runtime (600 s)"),
    (["--target", "charges", "--validation-fraction", "0"],
     "--validation-fraction must be between 0 and 1"),
    (["--target", "charges", "--validation-fraction", "1.5"],
     "--validation-fraction must be between 0 and 1, e.g. 0.2 (a fifth of the rows), not 1.5"),
    (["--target", "charges", "--mode", "ENSEMBLING", "--sample-weight-column", "weight"],
     "Sample weight column 'weight' is not in"),
    (["--target", "charges", "--mode", "ENSEMBLING", "--sample-weight-column", "charges"],
     "--sample-weight-column names the target"),
    (["--target", "charges", "--sample-weight-column", "bmi"],
     "sample weights in ENSEMBLING mode only: add --mode ENSEMBLING"),
    (["--target", "charges", "--mode", "ENSEMBLING", "--sample-weight-column", "row weight"],
     "Autopilot takes column names of letters, digits, _ and - only"),
])
def test_bad_input_is_refused_before_anything_is_created(moto_endpoint, role_arn, insurance_csv,
                                                         capsys, flags, message):
    assert main(["autopilot", "start", "--csv", str(insurance_csv), "--role", role_arn,
                 "--no-wait", *flags]) == 2
    assert message in capsys.readouterr().err
    assert boto3.client("s3").list_buckets()["Buckets"] == []
    assert boto3.client("sagemaker").list_auto_ml_jobs()["AutoMLJobSummaries"] == []


def test_empty_csv_is_refused(moto_endpoint, role_arn, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _start(empty, role_arn) == 2
    assert "is empty" in capsys.readouterr().err


def test_target_with_one_value_is_refused(moto_endpoint, role_arn, tmp_path, capsys):
    flat = tmp_path / "flat.csv"
    flat.write_text("x,charges\n1,5\n2,5.0\n3,5\n")
    assert _start(flat, role_arn) == 2
    assert "fewer than two distinct values" in capsys.readouterr().err


def _put_csv(source, key: str) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="data")
    s3.upload_file(str(source), "data", key)
    return f"s3://data/{key}"


@pytest.mark.parametrize(("objective", "sample_bytes", "problem_type"), [
    ("MAE", None, "Regression"),  # a small object is read whole: the type comes from the data
    ("Accuracy", None, "MulticlassClassification"),  # `children` takes 6 values
    ("RMSE", 4096, "Regression"),  # a large object is probed: RMSE names the type itself
    ("F1macro", 4096, "MulticlassClassification"),
])
def test_start_from_s3_with_an_objective_also_sends_the_problem_type(
        moto_recorder, role_arn, insurance_csv, monkeypatch, objective, sample_bytes,
        problem_type):
    """The API takes AutoMLJobObjective only together with TabularJobConfig.ProblemType."""
    from byoc.tabular import csv_check as probe

    if sample_bytes:
        assert insurance_csv.stat().st_size > sample_bytes
        monkeypatch.setattr(probe, "SAMPLE_BYTES", sample_bytes)
    uri = _put_csv(insurance_csv, "in/insurance.csv")
    target = "charges" if problem_type == "Regression" else "children"
    assert main(["autopilot", "start", "--csv", uri, "--target", target, "--objective",
                 objective, "--role", role_arn, "--job-name", "s3-job", "--no-wait"]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateAutoMLJobV2")
    assert request["AutoMLJobObjective"] == {"MetricName": objective}
    tabular = request["AutoMLProblemTypeConfig"]["TabularJobConfig"]
    assert tabular["ProblemType"] == problem_type


def test_start_from_a_large_s3_object_refuses_an_objective_that_fits_two_types(
        moto_recorder, role_arn, insurance_csv, monkeypatch, capsys):
    from byoc.tabular import csv_check as probe

    monkeypatch.setattr(probe, "SAMPLE_BYTES", 4096)
    uri = _put_csv(insurance_csv, "in/insurance.csv")
    assert main(["autopilot", "start", "--csv", uri, "--target", "smoker", "--objective",
                 "Accuracy", "--role", role_arn, "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert "Objective 'Accuracy' fits BinaryClassification and MulticlassClassification" in err
    assert "pass --problem-type" in err
    assert moto_recorder.calls("SageMaker.CreateAutoMLJobV2") == []


@pytest.mark.parametrize("where", ["local", "s3"])
def test_fewer_rows_than_autopilot_takes_are_refused_before_anything_is_created(
        moto_recorder, role_arn, tmp_path, capsys, where):
    small = insurance.write_csv(tmp_path / "small.csv", rows=autopilot.MIN_ROWS - 1, seed=0)
    source = str(small) if where == "local" else _put_csv(small, "in/small.csv")
    moto_recorder.start()  # forget the upload above
    assert main(["autopilot", "start", "--csv", source, "--target", "charges", "--role",
                 role_arn, "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert f"has {autopilot.MIN_ROWS - 1} data rows; Autopilot needs at least 500" in err
    assert "byoc autopilot local --csv" in err
    assert [e["method"] for e in moto_recorder.entries()] in ([], ["GET"])  # the S3 probe only


def test_start_waits_and_stops_on_timeout(moto_endpoint, role_arn, insurance_csv, capsys):
    assert main(["autopilot", "start", "--csv", str(insurance_csv), "--target", "charges",
                 "--role", role_arn, "--job-name", "ins-job", "--timeout", "0.3", "--poll",
                 "0.05", "--stop-on-timeout"]) == 1
    assert "stop requested" in capsys.readouterr().err
    sm = boto3.client("sagemaker")
    assert sm.describe_auto_ml_job_v2(AutoMLJobName="ins-job")["AutoMLJobStatus"] == "Stopped"


def test_wait_times_out_and_leaves_the_job_running(moto_endpoint, role_arn, insurance_csv,
                                                   capsys):
    assert _start(insurance_csv, role_arn) == 0
    assert main(["autopilot", "status", "--job-name", "ins-job", "--wait", "--timeout", "0.3",
                 "--poll", "0.05"]) == 1
    err = capsys.readouterr().err
    assert "autopilot ins-job: InProgress" in err
    assert "it was left running" in err and "--stop-on-timeout" in err
    assert "stop it with `byoc stop --autopilot-job ins-job`" in err
    sm = boto3.client("sagemaker")
    assert sm.describe_auto_ml_job_v2(AutoMLJobName="ins-job")["AutoMLJobStatus"] == "InProgress"

    assert main(["autopilot", "status", "--job-name", "ins-job", "--wait", "--timeout", "0.3",
                 "--poll", "0.05", "--stop-on-timeout"]) == 1
    assert "stop requested" in capsys.readouterr().err
    assert sm.describe_auto_ml_job_v2(AutoMLJobName="ins-job")["AutoMLJobStatus"] == "Stopped"


def test_status_shows_problem_objective_and_artifacts(moto_endpoint, role_arn, insurance_csv,
                                                      capsys):
    assert _start(insurance_csv, role_arn, "--objective", "R2") == 0
    capsys.readouterr()
    assert main(["autopilot", "status", "--job-name", "ins-job"]) == 0
    out = capsys.readouterr().out
    assert "Job: ins-job" in out
    assert "Problem type: Regression  Objective: R2" in out
    # moto fills the artifact locations with placeholders; the labels are what matters.
    assert "Data exploration notebook: " in out and "Candidate definition notebook: " in out
    assert "Explainability report: " in out and "Model insights report: " in out


def test_status_of_an_unknown_job(moto_endpoint, capsys):
    assert main(["autopilot", "status", "--job-name", "nope"]) == 2
    assert "No Autopilot job named 'nope'" in capsys.readouterr().err


def test_deploy_best_candidate_hosts_its_container_pipeline(moto_endpoint, role_arn,
                                                            insurance_csv, capsys):
    assert _start(insurance_csv, role_arn) == 0
    assert main(["autopilot", "deploy", "--job-name", "ins-job", "--endpoint-name", "charges",
                 "--instance-type", "ml.c5.large"]) == 0
    assert "Endpoint charges is InService" in capsys.readouterr().out

    sm = boto3.client("sagemaker")
    best = sm.describe_auto_ml_job_v2(AutoMLJobName="ins-job")["BestCandidate"]
    endpoint = sm.describe_endpoint(EndpointName="charges")
    assert endpoint["EndpointStatus"] == "InService"
    (variant,) = sm.describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.large"
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["Containers"] == best["InferenceContainers"]
    assert model["ExecutionRoleArn"] == role_arn  # the job's role by default


# ---------------------------------------------------------------------------------------------
# Exact answer sequences (botocore's Stubber): what moto cannot produce


ROLE = f"arn:aws:iam::{ACCOUNT}:role/autopilot"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
PIPELINE = [
    {"Image": "sagemaker-sklearn-automl:2.5-1-cpu-py3",
     "ModelDataUrl": "s3://b/out/ins-job/data-processor-models/dpp0/output/model.tar.gz",
     "Environment": {"AUTOML_TRANSFORM_MODE": "feature-transform",
                     "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/x-recordio-protobuf"}},
    {"Image": "sagemaker-xgboost:1.7-1-cpu-py3",
     "ModelDataUrl": "s3://b/out/ins-job/tuning/dpp0-xgb/output/model.tar.gz",
     "Environment": {"MAX_CONTENT_LENGTH": "20971520",
                     "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}},
]


def candidate(name: str, value: float | None, metric: str = "MSE", kind: str = "Minimize",
              status: str = "Completed", **extra) -> dict:
    answer = {
        "CandidateName": name,
        "ObjectiveStatus": "Succeeded" if value is not None else "Failed",
        "CandidateSteps": [],
        "CandidateStatus": status,
        "CreationTime": NOW,
        "EndTime": NOW + dt.timedelta(minutes=7, seconds=5),
        "LastModifiedTime": NOW,
        **extra,
    }
    if value is not None:
        answer["FinalAutoMLJobObjectiveMetric"] = {"MetricName": metric, "Value": value,
                                                   "Type": kind}
        answer["InferenceContainers"] = PIPELINE
    return answer


ARTIFACTS = {
    "AutoMLJobArtifacts": {
        "CandidateDefinitionNotebookLocation":
            "s3://b/out/ins-job/sagemaker-automl-candidates/notebooks/"
            "SageMakerAutopilotCandidateDefinitionNotebook.ipynb",
        "DataExplorationNotebookLocation":
            "s3://b/out/ins-job/sagemaker-automl-candidates/notebooks/"
            "SageMakerAutopilotDataExplorationNotebook.ipynb",
    },
    "BestCandidate": candidate("ins-job-xgb-2", 1.9e7, CandidateProperties={
        "CandidateArtifactLocations": {
            "Explainability": "s3://b/out/ins-job/documentation/explainability/output",
            "ModelInsights": "s3://b/out/ins-job/documentation/model_monitor/output"}}),
}
JOB = {"AutoMLJobName": "ins-job"}


def test_status_wait_follows_each_phase_then_prints_leaderboard_and_reports(monkeypatch,
                                                                            capsys):
    sm = offline_sagemaker()
    monkeypatch.setattr(autopilot_cli, "connect_from", lambda args: StubbedAws(sm))
    with Stubber(sm) as stub:
        for secondary in ("Starting", "AnalyzingData", "FeatureEngineering", "ModelTuning",
                          "ModelTuning", "GeneratingExplainabilityReport"):
            stub.add_response("describe_auto_ml_job_v2", job_answer("InProgress", secondary), JOB)
        stub.add_response("describe_auto_ml_job_v2",
                          job_answer("Completed", "Completed", **ARTIFACTS), JOB)
        stub.add_response("list_candidates_for_auto_ml_job",
                          {"Candidates": [candidate("ins-job-lin-1", 3.8e7)]}, JOB)
        assert main(["autopilot", "status", "--job-name", "ins-job", "--wait", "--poll",
                     "0.001"]) == 0
        stub.assert_no_pending_responses()
    captured = capsys.readouterr()
    phases = [line.split(": ", 1)[1] for line in captured.err.splitlines()]
    assert phases == ["InProgress (Starting)", "InProgress (AnalyzingData)",
                      "InProgress (FeatureEngineering)", "InProgress (ModelTuning)",
                      "InProgress (GeneratingExplainabilityReport)", "Completed (Completed)"]
    out = captured.out
    assert "Best candidate: ins-job-xgb-2  MSE=19000000.0" in out
    assert ("Data exploration notebook: s3://b/out/ins-job/sagemaker-automl-candidates/"
            "notebooks/SageMakerAutopilotDataExplorationNotebook.ipynb") in out
    assert "Explainability report: s3://b/out/ins-job/documentation/explainability/output" in out
    assert "Model insights report: s3://b/out/ins-job/documentation/model_monitor/output" in out
    assert "ins-job-lin-1  MSE" in out


def test_failed_job_says_why():
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_response("describe_auto_ml_job_v2", job_answer("InProgress", "AnalyzingData"),
                          JOB)
        stub.add_response("describe_auto_ml_job_v2", job_answer(
            "Failed", "Failed", FailureReason="ClientError: target column has 1 unique value"),
            JOB)
        with pytest.raises(UserError, match="failed: ClientError: target column has 1 unique"):
            autopilot.wait(sm, "ins-job", timeout=60, interval=0, stream=io.StringIO())


def test_leaderboard_ranks_by_objective_direction_across_pages(monkeypatch, capsys):
    sm = offline_sagemaker()
    monkeypatch.setattr(autopilot_cli, "connect_from", lambda args: StubbedAws(sm))
    with Stubber(sm) as stub:
        stub.add_response("describe_auto_ml_job_v2", job_answer("Completed", "Completed"), JOB)
        stub.add_response("list_candidates_for_auto_ml_job", {
            "Candidates": [candidate("c-mid", 2.5e7), candidate("c-failed", None,
                                                                 status="Failed")],
            "NextToken": "page-2"}, JOB)
        stub.add_response("list_candidates_for_auto_ml_job", {
            "Candidates": [candidate("c-best", 1.9e7), candidate("c-worst", 4.0e7)]},
            {**JOB, "NextToken": "page-2"})
        assert main(["autopilot", "leaderboard", "--job-name", "ins-job"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "candidate", "objective", "value", "status", "time"]
    assert [line.split()[1] for line in lines[1:]] == ["c-best", "c-mid", "c-worst", "c-failed"]
    assert lines[1].split() == ["1", "c-best", "MSE", "1.9e+07", "Completed", "7m05s"]


def test_leaderboard_maximized_objective_and_top():
    ranked = autopilot.leaderboard_lines([
        candidate("low", 0.81, "F1", "Maximize"), candidate("high", 0.93, "F1", "Maximize"),
        candidate("mid", 0.88, "F1", "Maximize")], top=2)
    assert [line.split()[1] for line in ranked[1:]] == ["high", "mid"]


def expect_free_endpoint_name(stub: Stubber, name: str) -> None:
    """SageMaker's answers when neither an endpoint nor an endpoint config has that name."""
    stub.add_client_error("describe_endpoint", "ValidationException",
                          f"Could not find endpoint \"{name}\".", 400, {"EndpointName": name})
    stub.add_client_error("describe_endpoint_config", "ValidationException",
                          f"Could not find endpoint configuration \"{name}\".", 400,
                          {"EndpointConfigName": name})


def test_deploy_named_candidate_creates_pipeline_model_and_waits_in_service(capsys):
    sm = offline_sagemaker()
    chosen = candidate("ins-job-xgb-7", 2.1e7)
    with Stubber(sm) as stub:
        expect_free_endpoint_name(stub, "charges")
        stub.add_response("describe_auto_ml_job_v2",
                          job_answer("Completed", "Completed", **ARTIFACTS), JOB)
        stub.add_response("list_candidates_for_auto_ml_job", {"Candidates": [chosen]},
                          {**JOB, "CandidateNameEquals": "ins-job-xgb-7"})
        stub.add_response("create_model", {"ModelArn": f"{ARN}:model/charges"},
                          {"ModelName": ANY, "Containers": PIPELINE, "ExecutionRoleArn": ROLE,
                           "Tags": [CREATED_BY_BYOC]})
        stub.add_response("create_endpoint_config", {
            "EndpointConfigArn": f"{ARN}:endpoint-config/charges"}, {
            "EndpointConfigName": "charges",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": ANY,
                                    "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
                                    "InitialVariantWeight": 1.0}],
            "Tags": [CREATED_BY_BYOC]})
        stub.add_response("create_endpoint", {"EndpointArn": f"{ARN}:endpoint/charges"},
                          {"EndpointName": "charges", "EndpointConfigName": "charges"})
        for status in ("Creating", "Creating", "InService"):
            stub.add_response("describe_endpoint", {
                "EndpointName": "charges", "EndpointArn": f"{ARN}:endpoint/charges",
                "EndpointConfigName": "charges", "EndpointStatus": status,
                "CreationTime": NOW, "LastModifiedTime": NOW}, {"EndpointName": "charges"})
        model = autopilot.deploy(StubbedAws(sm), job_name="ins-job", endpoint_name="charges",
                                 candidate="ins-job-xgb-7", interval=0)
        stub.assert_no_pending_responses()
    assert model.startswith("charges-")
    assert "endpoint charges: InService" in capsys.readouterr().err


# A binary classification pipeline as Autopilot builds it: features, the algorithm, then the
# container that turns label ids back into labels. The last two list the keys they can emit.
CLASSIFIER = [
    PIPELINE[0],
    {**PIPELINE[1], "Environment": {
        **PIPELINE[1]["Environment"], "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
        "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities"}},
    {"Image": "sagemaker-sklearn-automl:2.5-1-cpu-py3",
     "ModelDataUrl": "s3://b/out/ins-job/data-processor-models/dpp0/output/model.tar.gz",
     "Environment": {"AUTOML_TRANSFORM_MODE": "inverse-label-transform",
                     "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                     "SAGEMAKER_INFERENCE_INPUT": "predicted_label",
                     "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
                     "SAGEMAKER_INFERENCE_SUPPORTED":
                         "predicted_label,probability,labels,probabilities"}},
]


def test_deploy_with_response_keys_sets_each_containers_input_and_output(monkeypatch, capsys):
    sm = offline_sagemaker()
    monkeypatch.setattr(autopilot_cli, "connect_from", lambda args: StubbedAws(sm))
    best = {**candidate("ins-job-xgb-2", 0.93, "F1", "Maximize"), "InferenceContainers": CLASSIFIER}
    expected = [
        CLASSIFIER[0],  # lists no keys: left as it is
        {**CLASSIFIER[1], "Environment": {
            **CLASSIFIER[1]["Environment"],
            "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"}},
        {**CLASSIFIER[2], "Environment": {
            **CLASSIFIER[2]["Environment"],
            "SAGEMAKER_INFERENCE_INPUT": "predicted_label,probability",
            "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"}},
    ]
    with Stubber(sm) as stub:
        expect_free_endpoint_name(stub, "smokers")
        stub.add_response("describe_auto_ml_job_v2",
                          job_answer("Completed", "Completed", BestCandidate=best), JOB)
        stub.add_response("create_model", {"ModelArn": f"{ARN}:model/smokers"},
                          {"ModelName": ANY, "Containers": expected, "ExecutionRoleArn": ROLE,
                           "Tags": [CREATED_BY_BYOC]})
        stub.add_response("create_endpoint_config", {
            "EndpointConfigArn": f"{ARN}:endpoint-config/smokers"}, {
            "EndpointConfigName": "smokers", "ProductionVariants": ANY,
            "Tags": [CREATED_BY_BYOC]})
        stub.add_response("create_endpoint", {"EndpointArn": f"{ARN}:endpoint/smokers"},
                          {"EndpointName": "smokers", "EndpointConfigName": "smokers"})
        assert main(["autopilot", "deploy", "--job-name", "ins-job", "--endpoint-name",
                     "smokers", "--inference-response-keys", "predicted_label,probability",
                     "--no-wait"]) == 0
        stub.assert_no_pending_responses()
    assert "It answers with predicted_label,probability per row." in capsys.readouterr().out


@pytest.mark.parametrize(("containers", "keys", "message"), [
    (CLASSIFIER, ("probability", "confidence"),
     "cannot answer with confidence. It supports: predicted_label, probability, labels, "
     "probabilities"),
    (PIPELINE, ("probability",), "answers with its prediction only"),
])
def test_unsupported_response_keys_are_refused(containers, keys, message):
    with pytest.raises(UserError, match=message):
        autopilot.with_response_keys(containers, keys)


def test_response_keys_are_refused_before_a_model_is_created(moto_recorder, role_arn,
                                                             insurance_csv, capsys):
    """moto's best candidate lists no keys, as a regression pipeline does."""
    assert _start(insurance_csv, role_arn) == 0
    moto_recorder.start()
    assert main(["autopilot", "deploy", "--job-name", "ins-job", "--endpoint-name", "charges",
                 "--inference-response-keys", "probability"]) == 2
    assert "drop --inference-response-keys" in capsys.readouterr().err
    assert moto_recorder.calls("SageMaker.CreateModel") == []
    assert main(["autopilot", "deploy", "--job-name", "ins-job", "--endpoint-name", "charges",
                 "--inference-response-keys", " , "]) == 2
    assert "--inference-response-keys is empty" in capsys.readouterr().err


def test_deploy_refuses_unknown_candidate_and_unfinished_job():
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        expect_free_endpoint_name(stub, "e")
        stub.add_response("describe_auto_ml_job_v2", job_answer("Completed", "Completed"), JOB)
        stub.add_response("list_candidates_for_auto_ml_job", {"Candidates": []},
                          {**JOB, "CandidateNameEquals": "typo"})
        with pytest.raises(UserError, match="no candidate named 'typo'"):
            autopilot.deploy(StubbedAws(sm), job_name="ins-job", endpoint_name="e",
                             candidate="typo")
        expect_free_endpoint_name(stub, "e")
        stub.add_response("describe_auto_ml_job_v2", job_answer("InProgress", "ModelTuning"),
                          JOB)
        with pytest.raises(UserError, match="no best candidate yet"):
            autopilot.deploy(StubbedAws(sm), job_name="ins-job", endpoint_name="e")


def test_wait_timeout_uses_the_clock_not_the_job():
    """The deadline is checked between polls: a fake clock makes the sequence exact."""
    sm = offline_sagemaker()
    now = [0.0]
    with Stubber(sm) as stub:
        for _ in range(3):
            stub.add_response("describe_auto_ml_job_v2", job_answer("InProgress", "ModelTuning"),
                              JOB)
        with pytest.raises(autopilot.WaitTimeout):
            autopilot.wait(sm, "ins-job", timeout=60, interval=30, stream=io.StringIO(),
                           clock=lambda: now[0],
                           sleep=lambda s: now.__setitem__(0, now[0] + s))
        stub.assert_no_pending_responses()


def test_start_uploads_to_the_config_files_bucket(moto_endpoint, role_arn, insurance_csv):
    import json
    import os

    boto3.client("s3").create_bucket(Bucket="team-bucket")
    with open(os.environ["BYOC_CONFIG"], "w") as fh:
        json.dump({"bucket": "team-bucket"}, fh)
    assert _start(insurance_csv, role_arn) == 0
    job = boto3.client("sagemaker").describe_auto_ml_job_v2(AutoMLJobName="ins-job")
    (channel,) = job["AutoMLJobInputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://team-bucket/byoc/autopilot/ins-job/input/insurance.csv")
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://team-bucket/byoc/autopilot/ins-job/output"


def test_uploads_to_the_default_bucket_expect_this_account_to_own_it(moto_recorder, role_arn,
                                                                     insurance_csv):
    """Anyone could create sagemaker-REGION-ACCOUNT first; S3 refuses the request if they did."""
    assert _start(insurance_csv, role_arn) == 0
    # CreateBucket is the one call that takes no expected owner: it fails if the name is taken.
    to_bucket = [e for e in moto_recorder.entries()
                 if BUCKET in e["url"] and e["method"] in ("PUT", "HEAD")
                 and not (e["method"] == "PUT" and e["url"].rstrip("/").endswith(BUCKET))]
    assert {e["method"] for e in to_bucket} == {"PUT", "HEAD"}
    assert {e["headers"].get("x-amz-expected-bucket-owner") for e in to_bucket} == {ACCOUNT}


@pytest.mark.parametrize("endpoint", ["e" * 40, "e" * 53, "e" * 62, "e" * 63,
                                      "a" * 46 + "-" + "b" * 6])
def test_pipeline_model_names_fit_sagemakers_rules(endpoint):
    name = autopilot.pipeline_model_name(endpoint)
    assert len(name) <= 63
    assert jobs.check_job_name(name) == name  # letters, digits, inner hyphens; no '-' at the end
    assert name.startswith(endpoint[:40])


# ---------------------------------------------------------------------------------------------
# `autopilot notebooks`: DescribeAutoMLJobV2 from botocore's Stubber, in the exact shape a
# finished job gives (moto fills these fields with placeholders that are not S3 URIs), and the
# files themselves from moto's real S3.

OUTPUT = f"s3://{BUCKET}/out/ins-job"
NOTEBOOKS = f"{OUTPUT}/sagemaker-automl-candidates/ins-job-pr-1-abc/notebooks"
WRITTEN = {
    f"{NOTEBOOKS}/SageMakerAutopilotDataExplorationNotebook.ipynb": b'{"cells": ["explore"]}',
    f"{NOTEBOOKS}/SageMakerAutopilotCandidateDefinitionNotebook.ipynb": b'{"cells": ["define"]}',
    f"{OUTPUT}/documentation/explainability/output/ins-job-xgb-2/analysis.json": b"{}",
    f"{OUTPUT}/documentation/explainability/output/ins-job-xgb-2/report.pdf": b"%PDF",
    f"{OUTPUT}/documentation/model_monitor/output/ins-job-xgb-2/report.html": b"<html>",
}
FINISHED = {
    "AutoMLJobArtifacts": {
        "CandidateDefinitionNotebookLocation":
            f"{NOTEBOOKS}/SageMakerAutopilotCandidateDefinitionNotebook.ipynb",
        "DataExplorationNotebookLocation":
            f"{NOTEBOOKS}/SageMakerAutopilotDataExplorationNotebook.ipynb",
    },
    "BestCandidate": candidate("ins-job-xgb-2", 1.9e7, CandidateProperties={
        "CandidateArtifactLocations": {
            "Explainability": f"{OUTPUT}/documentation/explainability/output",
            "ModelInsights": f"{OUTPUT}/documentation/model_monitor/output"}}),
}


def _put(written: dict[str, bytes]) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for uri, body in written.items():
        s3.put_object(Bucket=BUCKET, Key=uri.removeprefix(f"s3://{BUCKET}/"), Body=body)


def _notebooks(monkeypatch, answer: dict, out, job: tuple[str, ...] = ("ins-job",)) -> int:
    sm = offline_sagemaker()
    monkeypatch.setattr(autopilot_cli, "connect_from",
                        lambda args: StubbedAws(sm, s3=boto3.client("s3")))
    with Stubber(sm) as stub:
        stub.add_response("describe_auto_ml_job_v2", answer, JOB)
        code = main(["autopilot", "notebooks", *job, "--out", str(out)])
        stub.assert_no_pending_responses()
    return code


def test_notebooks_downloads_both_notebooks_and_both_reports(moto_endpoint, monkeypatch,
                                                             tmp_path, capsys):
    _put(WRITTEN)
    out = tmp_path / "job"
    assert _notebooks(monkeypatch, job_answer("Completed", "Completed", **FINISHED), out) == 0
    printed = capsys.readouterr().out.splitlines()
    explore = out / "notebooks" / "SageMakerAutopilotDataExplorationNotebook.ipynb"
    define = out / "notebooks" / "SageMakerAutopilotCandidateDefinitionNotebook.ipynb"
    assert explore.read_bytes() == b'{"cells": ["explore"]}'
    assert define.read_bytes() == b'{"cells": ["define"]}'
    assert (out / "explainability" / "ins-job-xgb-2" / "report.pdf").read_bytes() == b"%PDF"
    assert (out / "explainability" / "ins-job-xgb-2" / "analysis.json").is_file()
    assert (out / "model_insights" / "ins-job-xgb-2" / "report.html").read_bytes() == b"<html>"
    assert printed[0] == (f"Data exploration notebook: {explore} (from "
                          f"{FINISHED['AutoMLJobArtifacts']['DataExplorationNotebookLocation']})")
    assert printed[1].startswith(f"Candidate definition notebook: {define} (from s3://")
    assert printed[2].startswith(f"Explainability report: 2 files in "
                                 f"{out / 'explainability' / 'ins-job-xgb-2'} (from s3://")
    assert printed[3].startswith("Model insights report: ")


@pytest.mark.parametrize("job", [("--job-name", "ins-job"), ("ins-job", "--job-name", "ins-job")])
def test_notebooks_takes_the_job_name_as_the_other_autopilot_verbs_do(moto_endpoint, monkeypatch,
                                                                      tmp_path, capsys, job):
    _put(WRITTEN)
    assert _notebooks(monkeypatch, job_answer("Completed", "Completed", **FINISHED), tmp_path,
                      job) == 0
    assert (tmp_path / "notebooks" / "SageMakerAutopilotDataExplorationNotebook.ipynb").is_file()


@pytest.mark.parametrize(("job", "message"), [
    (("ins-job", "--job-name", "other-job"),
     "Two jobs named: ins-job and --job-name other-job. Pass one: byoc autopilot notebooks "
     "--job-name other-job --out DIR"),
    ((), "Name the Autopilot job: byoc autopilot notebooks --job-name JOB --out DIR"),
])
def test_notebooks_refuses_two_jobs_or_none_before_aws(monkeypatch, tmp_path, capsys, job,
                                                       message):
    monkeypatch.setattr(autopilot_cli, "connect_from", lambda args: pytest.fail("asked AWS"))
    assert main(["autopilot", "notebooks", *job, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_notebooks_says_what_a_job_did_not_produce(moto_endpoint, monkeypatch, tmp_path, capsys):
    """A job whose best candidate has no reports, and whose candidate notebook is not (or no
    longer) in S3: what exists is downloaded, the rest is named with the reason."""
    _put({uri: body for uri, body in WRITTEN.items() if "DataExploration" in uri})
    answer = job_answer("Completed", "Completed", AutoMLJobArtifacts=FINISHED["AutoMLJobArtifacts"],
                        BestCandidate=candidate("ins-job-xgb-2", 1.9e7))
    assert _notebooks(monkeypatch, answer, tmp_path) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("Data exploration notebook: ")
    assert printed[1] == ("Candidate definition notebook: not found at "
                          f"{FINISHED['AutoMLJobArtifacts']['CandidateDefinitionNotebookLocation']}")
    assert printed[2:] == ["Explainability report: not produced",
                           "Model insights report: not produced"]
    assert [p.name for p in (tmp_path / "notebooks").iterdir()] == [
        "SageMakerAutopilotDataExplorationNotebook.ipynb"]


def test_status_lists_which_of_the_four_exist(monkeypatch, capsys):
    sm = offline_sagemaker()
    monkeypatch.setattr(autopilot_cli, "connect_from", lambda args: StubbedAws(sm))
    answer = job_answer("InProgress", "GeneratingExplainabilityReport",
                        AutoMLJobArtifacts=FINISHED["AutoMLJobArtifacts"])
    with Stubber(sm) as stub:
        stub.add_response("describe_auto_ml_job_v2", answer, JOB)
        assert main(["autopilot", "status", "--job-name", "ins-job"]) == 0
    out = capsys.readouterr().out
    assert f"Data exploration notebook: {NOTEBOOKS}/" in out
    assert f"Candidate definition notebook: {NOTEBOOKS}/" in out
    assert "Explainability report: not produced" in out
    assert "Model insights report: not produced" in out


def test_notebooks_of_a_moto_job_through_the_python_api(moto_endpoint, role_arn, insurance_csv,
                                                        tmp_path):
    """moto's own answer: its placeholder locations are no S3 URIs, and are said to be so."""
    from byoc import api

    assert _start(insurance_csv, role_arn) == 0
    result = api.autopilot_notebooks("ins-job", tmp_path / "job")
    assert result.files == {}
    lines = result.lines()
    assert lines[0] == "Data exploration notebook: not an S3 location: data/notebook/location"
    assert [line.split(":")[0] for line in lines] == [
        "Data exploration notebook", "Candidate definition notebook", "Explainability report",
        "Model insights report"]


def test_notebooks_refuses_a_file_as_out(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        autopilot.download(None, autopilot.job_artifacts(FINISHED), tmp_path / "f")


@pytest.mark.parametrize("key", ["../escape.json", "a/../../b", "/abs"])
def test_a_key_that_would_land_outside_out_is_refused(tmp_path, key):
    from byoc.driver.autopilot.artifacts import _inside

    with pytest.raises(UserError, match="outside"):
        _inside(tmp_path, key)
