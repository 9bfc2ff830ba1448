"""`byoc stop` for training, tuning, transform and Autopilot jobs.

moto's server stops AutoML V2 jobs (which it never completes), so that path, unknown names and
jobs that have already ended run against it. moto has no StopTrainingJob,
StopHyperParameterTuningJob or StopTransformJob, and completes those jobs at once, so it never
has one to stop: those requests are checked with botocore's Stubber, with SageMaker's own
answers, on a real botocore client.
"""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import Stubber

from byoc.cli import main
from byoc.cli import training_verbs as commands
from byoc.tabular import insurance
from tests.support.stubs import StubbedAws, offline_sagemaker

pytestmark = pytest.mark.aws

ACCOUNT = "123456789012"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/byoc-test"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/byoc:v1"


def _stop_calls(recorder) -> list[dict]:
    return [body for target in ("StopTrainingJob", "StopHyperParameterTuningJob",
                                "StopTransformJob", "StopAutoMLJob")
            for body in recorder.calls(f"SageMaker.{target}")]


# ---------------------------------------------------------------------------------------------
# moto's server


def test_stop_an_autopilot_job_then_again(moto_recorder, role_arn, tmp_path, capsys):
    csv = insurance.write_csv(tmp_path / "ins.csv", rows=500, seed=0)
    assert main(["autopilot", "start", "--csv", str(csv), "--target", "charges", "--role",
                 role_arn, "--job-name", "ins-job", "--no-wait"]) == 0
    capsys.readouterr()
    moto_recorder.start()
    assert main(["stop", "--autopilot-job", "ins-job"]) == 0
    out = capsys.readouterr().out
    assert "Stop requested for the Autopilot job ins-job" in out
    assert "byoc autopilot deploy --job-name ins-job --endpoint-name NAME" in out
    assert moto_recorder.calls("SageMaker.StopAutoMLJob") == [{"AutoMLJobName": "ins-job"}]
    sm = boto3.client("sagemaker")
    assert sm.describe_auto_ml_job_v2(AutoMLJobName="ins-job")["AutoMLJobStatus"] == "Stopped"

    moto_recorder.start()
    assert main(["stop", "--autopilot-job", "ins-job"]) == 0
    assert ("The Autopilot job ins-job has already ended (Stopped); there is nothing to stop."
            in capsys.readouterr().out)
    assert _stop_calls(moto_recorder) == []


def test_a_completed_training_job_is_not_stopped(moto_recorder, ecr_image, role_arn, tmp_path,
                                                 capsys):
    (tmp_path / "data" / "0").mkdir(parents=True)
    (tmp_path / "data" / "0" / "a.png").write_bytes(b"x")
    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "done", "--no-wait"]) == 0
    capsys.readouterr()
    moto_recorder.start()
    assert main(["stop", "--training-job", "done"]) == 0
    assert "has already ended (Completed); there is nothing to stop" in capsys.readouterr().out
    assert _stop_calls(moto_recorder) == []


@pytest.mark.parametrize(("flag", "kind"), [("--training-job", "training job"),
                                            ("--tuning-job", "tuning job"),
                                            ("--transform-job", "transform job"),
                                            ("--autopilot-job", "Autopilot job")])
def test_an_unknown_job_is_a_user_error(moto_recorder, capsys, flag, kind):
    assert main(["stop", flag, "nope"]) == 2
    assert f"No {kind} named 'nope' in us-east-1" in capsys.readouterr().err
    assert _stop_calls(moto_recorder) == []


def test_stop_takes_exactly_one_job(capsys):
    with pytest.raises(SystemExit):
        main(["stop", "--training-job", "a", "--transform-job", "b"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["stop"])
    assert "one of the arguments --training-job" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Exact answers (botocore's Stubber): moto cannot stop these jobs


@pytest.fixture
def stubbed(monkeypatch):
    sm = offline_sagemaker()
    monkeypatch.setattr(commands, "connect_from", lambda args: StubbedAws(sm))
    with Stubber(sm) as stub:
        yield stub
        stub.assert_no_pending_responses()


def training_answer(status: str, **extra) -> dict:
    return {
        "TrainingJobName": "signs-1", "TrainingJobArn": f"{ARN}:training-job/signs-1",
        # Required in the API's answer, though the archive appears only when the job ends.
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/byoc/output/signs-1/output/model.tar.gz"},
        "TrainingJobStatus": status, "SecondaryStatus": "Training",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://b/byoc/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": NOW,
        **extra,
    }


def test_stop_a_training_job_says_where_checkpoints_and_model_are(stubbed, capsys):
    stubbed.add_response("describe_training_job", training_answer(
        "InProgress", CheckpointConfig={"S3Uri": "s3://b/byoc/output/signs-1/checkpoints",
                                        "LocalPath": "/opt/ml/checkpoints"}),
        {"TrainingJobName": "signs-1"})
    stubbed.add_response("stop_training_job", {}, {"TrainingJobName": "signs-1"})
    assert main(["stop", "--training-job", "signs-1"]) == 0
    out = capsys.readouterr().out
    assert "Stop requested for the training job signs-1: it goes to Stopping, then Stopped." in out
    assert "SIGTERM, then SIGKILL 120 s later" in out
    assert ("Checkpoints stay in s3://b/byoc/output/signs-1/checkpoints: a new job with "
            "--checkpoint-s3 s3://b/byoc/output/signs-1/checkpoints resumes") in out
    assert "Model artifacts: s3://b/byoc/output/signs-1/output/model.tar.gz" in out
    assert "has no model to deploy" in out


def test_a_stopping_training_job_is_not_stopped_twice(stubbed, capsys):
    stubbed.add_response("describe_training_job", training_answer("Stopping"),
                         {"TrainingJobName": "signs-1"})
    assert main(["stop", "--training-job", "signs-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The training job signs-1 is already stopping.")
    assert "no checkpoint configuration, so a new job starts from scratch" in out


def test_stop_a_tuning_job_names_the_best_training_job(stubbed, capsys):
    stubbed.add_response("describe_hyper_parameter_tuning_job", {
        "HyperParameterTuningJobName": "tune-1",
        "HyperParameterTuningJobArn": f"{ARN}:hyper-parameter-tuning-job/tune-1",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2}},
        "HyperParameterTuningJobStatus": "InProgress",
        "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 3, "InProgress": 2},
        "ObjectiveStatusCounters": {"Succeeded": 3},
        "BestTrainingJob": {
            "TrainingJobName": "tune-1-003-abc", "TrainingJobArn": f"{ARN}:training-job/t3",
            "CreationTime": NOW, "TrainingJobStatus": "Completed", "TunedHyperParameters": {},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "MetricName": "validation:accuracy", "Value": 0.97}},
    }, {"HyperParameterTuningJobName": "tune-1"})
    stubbed.add_response("stop_hyper_parameter_tuning_job", {},
                         {"HyperParameterTuningJobName": "tune-1"})
    assert main(["stop", "--tuning-job", "tune-1"]) == 0
    out = capsys.readouterr().out
    assert "Stop requested for the tuning job tune-1" in out
    assert "starts no more" in out
    assert ("Best training job so far: tune-1-003-abc (validation:accuracy = 0.97); host it "
            "with byoc deploy --training-job tune-1-003-abc") in out


def test_stop_a_transform_job_says_its_output_is_not_kept(stubbed, capsys):
    stubbed.add_response("describe_transform_job", {
        "TransformJobName": "batch-1", "TransformJobArn": f"{ARN}:transform-job/batch-1",
        "TransformJobStatus": "InProgress", "ModelName": "signs-1",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": "s3://b/in/"}}},
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "CreationTime": NOW,
    }, {"TransformJobName": "batch-1"})
    stubbed.add_response("stop_transform_job", {}, {"TransformJobName": "batch-1"})
    assert main(["stop", "--transform-job", "batch-1"]) == 0
    out = capsys.readouterr().out
    assert "Stop requested for the transform job batch-1" in out
    assert "nothing new is written to s3://b/out/" in out
