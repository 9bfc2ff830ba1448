"""`byoc logs`, `attach` and `jobs` against moto's server; botocore's Stubber where moto cannot
give the sequence (moto completes a job at once, so it is never seen running, and never fails)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from byoc import api
from byoc.cli import job_verbs, main
from byoc.driver import rejoin, waiting
from byoc.driver.aws_options import CREATED_BY_BYOC
from byoc.driver.jobs import training_progress
from tests.support.aws_jobs import BUCKET, make_dataset, put_job_logs
from tests.support.docs import code_block, run_command
from tests.support.executables import exe_env
from tests.support.stubs import NOW, StubbedAws, offline_sagemaker, training_answer
from tests.support.stubs import autopilot_job_answer as autopilot_answer
from tests.support.trained_jobs import METRICS, completed_job, output_archive

pytestmark = pytest.mark.aws

OUTPUT = f"s3://{BUCKET}/byoc/output"


def tuning_answer() -> dict:
    """DescribeHyperParameterTuningJob's answer for a completed tuning job `tune`."""
    return {
        "HyperParameterTuningJobName": "tune",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/t",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {
            "MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1}},
        "HyperParameterTuningJobStatus": "Completed", "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 2},
        "ObjectiveStatusCounters": {"Succeeded": 2},
        "BestTrainingJob": {
            "TrainingJobName": "tune-002-abc", "TrainingJobArn": "arn:x", "CreationTime": NOW,
            "TrainingJobStatus": "Completed", "TunedHyperParameters": {"epochs": "3"},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "MetricName": "validation:accuracy", "Value": 0.97}},
    }


@pytest.fixture
def no_pauses(monkeypatch):
    """The waits poll and settle at once: the answers are canned or already there."""
    monkeypatch.setattr(waiting, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(training_progress, "LOG_SETTLE_SECONDS", 0.0)


def test_logs_prints_a_training_jobs_lines_and_follows_it_to_its_end(
        moto_endpoint, ecr_image, role_arn, capsys, no_pauses):
    completed_job("sign-job", ecr_image, role_arn, output=OUTPUT)
    put_job_logs("sign-job", ["epoch 1/2", "#metrics epoch=1 val_accuracy=0.5"])

    assert main(["logs", "sign-job"]) == 0
    assert capsys.readouterr().out.splitlines() == ["epoch 1/2",
                                                    "#metrics epoch=1 val_accuracy=0.5"]

    assert main(["logs", "sign-job", "--kind", "training", "--follow", "--timeout", "60"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["epoch 1/2", "#metrics epoch=1 val_accuracy=0.5"]
    assert "training job sign-job: Completed" in captured.err


def test_logs_of_an_unknown_job_names_every_kind_tried(moto_endpoint, capsys):
    assert main(["logs", "nope"]) == 2
    assert ("No training, tuning, transform or Autopilot job named 'nope' in us-east-1"
            in capsys.readouterr().err)

    assert main(["logs", "nope", "--kind", "transform"]) == 2
    assert "No transform job named 'nope'" in capsys.readouterr().err


def test_logs_trial_is_for_a_tuning_job(moto_endpoint, ecr_image, role_arn, capsys):
    completed_job("sign-job", ecr_image, role_arn, output=OUTPUT)
    assert main(["logs", "sign-job", "--trial", "other"]) == 2
    assert "--trial names a training job of a tuning job" in capsys.readouterr().err


NOT_FOUND = "ValidationException"  # how SageMaker answers a describe of a missing job


def _stubbed_logs(monkeypatch, sm) -> None:
    """`byoc logs` with the stubbed SageMaker client, and moto's CloudWatch Logs."""
    monkeypatch.setattr(job_verbs, "connect_from",
                        lambda args: StubbedAws(sm, logs=boto3.client("logs")))


def test_logs_of_a_tuning_job_are_its_best_training_jobs(moto_endpoint, monkeypatch, capsys):
    # Stubber for SageMaker: moto's tuning jobs name no best training job.
    put_job_logs("tune-002-abc", ["epoch 1/1 (the best trial)"])
    best = tuning_answer()["BestTrainingJob"]["TrainingJobName"]
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_client_error("describe_training_job", NOT_FOUND)
        stub.add_response("describe_hyper_parameter_tuning_job", tuning_answer(),
                          {"HyperParameterTuningJobName": "tune"})
        _stubbed_logs(monkeypatch, sm)
        assert main(["logs", "tune"]) == 0
        stub.assert_no_pending_responses()
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["epoch 1/1 (the best trial)"]
    assert f"Best training job of tune: {best}." in captured.err


def test_logs_of_an_autopilot_job_without_a_best_candidate_say_where_they_are(
        moto_endpoint, monkeypatch, capsys):
    # Stubber for SageMaker: moto's Autopilot jobs complete at once, with a best candidate.
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_response("describe_auto_ml_job_v2",
                          autopilot_answer("InProgress", "AnalyzingData"),
                          {"AutoMLJobName": "ins-job"})
        _stubbed_logs(monkeypatch, sm)
        assert main(["logs", "ins-job", "--kind", "autopilot"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Autopilot job ins-job has no best candidate yet" in captured.err
    assert "byoc autopilot leaderboard --job-name ins-job" in captured.err


def test_attach_to_a_completed_job_prints_its_summary_and_artifacts(
        moto_endpoint, ecr_image, role_arn, capsys, tmp_path):
    completed_job("sign-job", ecr_image, role_arn, output=OUTPUT)

    assert main(["attach", "sign-job"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["Training job sign-job: Completed",
                       f"Model: {OUTPUT}/sign-job/output/model.tar.gz",
                       f"Output: {OUTPUT}/sign-job/output/output.tar.gz"]
    assert "Evaluation" in out
    assert f"  {'test_accuracy':32s} {METRICS['test_accuracy']:.4f}" in out
    assert not any(line.startswith("Report:") for line in out)  # nothing kept, nothing named

    dest = tmp_path / "run1"
    assert main(["attach", "sign-job", "--download", str(dest)]) == 0
    assert f"Report: {dest / 'report.md'}" in capsys.readouterr().out
    assert (dest / "metrics.json").is_file()
    # A directory that holds files is refused before anything is read.
    assert main(["attach", "sign-job", "--download", str(dest)]) == 2
    assert f"--download {dest} is not empty" in capsys.readouterr().err


def test_attach_to_an_unknown_job_says_so(moto_endpoint, capsys):
    assert main(["attach", "nope"]) == 2
    assert "No training job named 'nope' in us-east-1" in capsys.readouterr().err


def test_attach_to_a_failed_job_prints_the_reason_and_fails(monkeypatch, capsys):
    # Stubber: moto completes every job, so it cannot give a failed one.
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_response("describe_training_job", training_answer(
            "Failed", "Failed", FailureReason="AlgorithmError: out of memory",
            OutputDataConfig={"S3OutputPath": OUTPUT}), {"TrainingJobName": "job"})
        monkeypatch.setattr(job_verbs, "connect_from", lambda args: StubbedAws(sm))
        assert main(["attach", "job"]) == 2
        stub.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert "Training job job failed: AlgorithmError: out of memory." in err
    assert "Full logs: CloudWatch log group /aws/sagemaker/TrainingJobs" in err


def test_attach_to_a_running_job_follows_it_then_reads_its_output(
        moto_endpoint, capsys, no_pauses):
    # Stubber for SageMaker: moto's jobs complete at once, never InProgress. CloudWatch, S3 and
    # STS are moto's, with the job's log lines and output put in place.
    put_job_logs("job", ["epoch 1/1", "#metrics epoch=1 val_accuracy=0.75"])
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="byoc/output/job/output/output.tar.gz",
                  Body=output_archive({"metrics.json": b'{"test_accuracy": 0.75}'}))
    sm = offline_sagemaker()
    fields = {"OutputDataConfig": {"S3OutputPath": OUTPUT}}
    with Stubber(sm) as stub:
        for status, secondary in [("InProgress", "Training"), ("InProgress", "Training"),
                                  ("Completed", "Completed")]:
            stub.add_response("describe_training_job",
                              training_answer(status, secondary, **fields),
                              {"TrainingJobName": "job"})
        aws = StubbedAws(sm, logs=boto3.client("logs"), s3=s3, sts=boto3.client("sts"))
        attached = rejoin.attach(aws, "job", timeout=60)
        stub.assert_no_pending_responses()
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["epoch 1/1", "#metrics epoch=1 val_accuracy=0.75"]
    assert "training job job: InProgress / Training" in captured.err
    assert attached.followed
    assert attached.summary == ("Evaluation", f"  {'test_accuracy':32s} 0.7500")
    assert attached.training.model_data == "s3://b/out/job/output/model.tar.gz"


def _tagged_transform_job(name: str, tags: list[dict]) -> None:
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName="m",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://in/"}}},
        TransformOutput={"S3OutputPath": "s3://out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1}, Tags=tags)


def test_jobs_lists_what_byoc_started_with_filters_and_max(
        moto_recorder, ecr_image, role_arn, tmp_path, capsys):
    make_dataset(tmp_path / "data")
    for name in ("byoc-1", "byoc-2"):
        assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                     role_arn, "--job-name", name, "--no-wait"]) == 0
    completed_job("not-byoc", ecr_image, role_arn, output=OUTPUT)  # no byoc mark
    _tagged_transform_job("byoc-batch", [CREATED_BY_BYOC])
    capsys.readouterr()

    assert main(["jobs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "STATUS", "STARTED", "DURATION", "METRIC"]
    rows = {line.split("  ")[1].strip(): line for line in lines[1:]}
    assert set(rows) == {"byoc-1", "byoc-2", "byoc-batch"}
    assert rows["byoc-1"].startswith("training job")
    assert "Completed" in rows["byoc-1"]

    assert main(["jobs", "--kind", "transform"]) == 0
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()[1:]] == [
        "byoc-batch"]

    assert main(["jobs", "--status", "Failed"]) == 0
    assert "No jobs started by byoc match" in capsys.readouterr().out

    moto_recorder.start()
    listing = api.list_jobs(kind="training job", max_jobs=1)
    assert len(listing.jobs) == 1
    # One ListTags per job listed, at most --max of each kind; one describe per job shown.
    assert len(moto_recorder.calls("SageMaker.ListTags")) <= 1
    assert len(moto_recorder.calls("SageMaker.DescribeTrainingJob")) == 1


def test_jobs_refuses_a_max_out_of_range(moto_recorder, capsys):
    assert main(["jobs", "--max", "500"]) == 2
    assert "--max must be between 1 and 100" in capsys.readouterr().err
    assert moto_recorder.calls("SageMaker.ListTrainingJobs") == []


def test_the_rejoin_block_of_the_aws_page_runs_as_written(moto_endpoint, ecr_image, role_arn,
                                                          tmp_path):
    """docs/aws.md's "Re-join a job", as bash, on a job byoc started: moto completes it at once,
    so its log lines and output are put in place first (its --follow sees it ended)."""
    desc = completed_job("signs-1", ecr_image, role_arn, output=OUTPUT)
    boto3.client("sagemaker").add_tags(ResourceArn=desc["TrainingJobArn"],
                                       Tags=[CREATED_BY_BYOC])
    put_job_logs("signs-1", ["epoch 15/15", "#metrics epoch=15 val_accuracy=0.93"])
    block = code_block("aws.md", "bash", "# The training jobs byoc started")

    out = run_command(block, tmp_path, exe_env(), timeout=300)

    assert [line.split()[:4] for line in out.splitlines()[:2]] == [
        ["KIND", "NAME", "STATUS", "STARTED"], ["training", "job", "signs-1", "Completed"]]
    assert "#metrics epoch=15 val_accuracy=0.93" in out
    assert "Training job signs-1: Completed" in out
    assert f"  {'test_accuracy':32s} {METRICS['test_accuracy']:.4f}" in out
    assert (tmp_path / "signs-1-again" / "metrics.json").is_file()
