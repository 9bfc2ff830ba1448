"""The wait loops and retries, with exact AWS answer sequences.

moto completes every job at once, without log streams, failures or throttling; botocore's Stubber
gives the sequences a real job goes through, on real botocore clients.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from byoc.driver import aws as aws_module
from byoc.driver import endpoints, jobs
from byoc.errors import UserError
from tests.support.stubs import NOW, training_answer

pytestmark = pytest.mark.aws



def offline_client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_training_wait_prints_each_transition_streams_logs_and_reports_the_failure(capsys):
    sm, logs = offline_client("sagemaker"), offline_client("logs")
    params = {"TrainingJobName": "job"}
    stream_params = {"logGroupName": jobs.LOG_GROUP, "logStreamNamePrefix": "job/"}
    events = {"logGroupName": jobs.LOG_GROUP, "logStreamName": "job/algo-1",
              "startFromHead": True}
    with Stubber(sm) as sm_stub, Stubber(logs) as logs_stub:
        sm_stub.add_response("describe_training_job",
                             training_answer("InProgress", "Starting", "Preparing instances"),
                             params)
        # Before the container logs anything the log group does not exist.
        logs_stub.add_client_error("describe_log_streams", "ResourceNotFoundException",
                                   expected_params=stream_params)
        sm_stub.add_response("describe_training_job",
                             training_answer("InProgress", "Training", "Training in progress"),
                             params)
        logs_stub.add_response("describe_log_streams",
                               {"logStreams": [{"logStreamName": "job/algo-1"}]}, stream_params)
        logs_stub.add_response("get_log_events", {
            "events": [{"timestamp": 1, "message": "epoch 1/2"}], "nextForwardToken": "f/1"},
            events)
        logs_stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f/1"},
                               {**events, "nextToken": "f/1"})
        sm_stub.add_response("describe_training_job", training_answer(
            "Failed", "Failed", "Training job failed",
            FailureReason="AlgorithmError: Unknown hyperparameter 'lr'"), params)
        logs_stub.add_response("describe_log_streams",
                               {"logStreams": [{"logStreamName": "job/algo-1"}]}, stream_params)
        logs_stub.add_response("get_log_events", {
            "events": [{"timestamp": 2, "message": "Unknown hyperparameter 'lr'"}],
            "nextForwardToken": "f/2"}, {**events, "nextToken": "f/1"})
        logs_stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f/2"},
                               {**events, "nextToken": "f/2"})
        # The job has ended: one last read, for lines that reach CloudWatch late.
        logs_stub.add_response("describe_log_streams",
                               {"logStreams": [{"logStreamName": "job/algo-1"}]}, stream_params)
        logs_stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f/2"},
                               {**events, "nextToken": "f/2"})

        with pytest.raises(UserError) as failure:
            jobs.wait_for_training(sm, logs, "job", interval=0)
        sm_stub.assert_no_pending_responses()
        logs_stub.assert_no_pending_responses()

    assert "Training job job failed: AlgorithmError: Unknown hyperparameter 'lr'" in str(
        failure.value)
    printed = capsys.readouterr()
    statuses = [line.split(": ", 1)[1] for line in printed.err.splitlines()]
    assert statuses == ["InProgress / Starting (Preparing instances)",
                        "InProgress / Training (Training in progress)",
                        "Failed / Failed (Training job failed)"]
    assert printed.out.splitlines() == ["epoch 1/2", "Unknown hyperparameter 'lr'"]


def test_training_wait_reads_the_log_once_more_after_the_job_ends(capsys):
    sm, logs = offline_client("sagemaker"), offline_client("logs")
    stream_params = {"logGroupName": jobs.LOG_GROUP, "logStreamNamePrefix": "job/"}
    events = {"logGroupName": jobs.LOG_GROUP, "logStreamName": "job/algo-1",
              "startFromHead": True}
    streams = {"logStreams": [{"logStreamName": "job/algo-1"}]}
    pauses = []
    with Stubber(sm) as sm_stub, Stubber(logs) as logs_stub:
        sm_stub.add_response("describe_training_job",
                             training_answer("Completed", "Completed", "Training job completed"),
                             {"TrainingJobName": "job"})
        logs_stub.add_response("describe_log_streams", streams, stream_params)
        logs_stub.add_response("get_log_events", {
            "events": [{"timestamp": 1, "message": "epoch 2/2"}], "nextForwardToken": "f/1"},
            events)
        logs_stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f/1"},
                               {**events, "nextToken": "f/1"})
        # The container's last lines reached CloudWatch after the job ended.
        logs_stub.add_response("describe_log_streams", streams, stream_params)
        logs_stub.add_response("get_log_events", {
            "events": [{"timestamp": 2, "message": "#metrics final test_accuracy=0.97"}],
            "nextForwardToken": "f/2"}, {**events, "nextToken": "f/1"})
        logs_stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f/2"},
                               {**events, "nextToken": "f/2"})
        jobs.wait_for_training(sm, logs, "job", sleep=pauses.append)
        logs_stub.assert_no_pending_responses()
    assert capsys.readouterr().out.splitlines() == ["epoch 2/2",
                                                    "#metrics final test_accuracy=0.97"]
    assert pauses == [jobs.LOG_SETTLE_SECONDS]


@pytest.mark.parametrize(("secondary", "message", "hint"), [
    ("MaxRuntimeExceeded", "Training job runtime exceeded MaxRuntimeInSeconds provided",
     "--max-run SECONDS"),
    ("MaxWaitTimeExceeded", "Training job exceeded MaxWaitTimeInSeconds provided",
     "raise it, or train without --spot"),
])
def test_a_stopped_training_job_says_why_and_where_its_model_and_checkpoints_are(
        secondary, message, hint):
    sm = offline_client("sagemaker")
    checkpoints = "s3://b/out/job/checkpoints"
    with Stubber(sm) as stub:
        stub.add_response("describe_training_job", training_answer(
            "Stopped", secondary, message, CheckpointConfig={"S3Uri": checkpoints}),
            {"TrainingJobName": "job"})
        with pytest.raises(UserError) as stopped:
            jobs.wait_for_training(sm, None, "job", interval=0)
    text = str(stopped.value)
    assert f"Training job job stopped: {secondary} ({message}); " in text
    assert f"{hint}. Model artifacts: s3://b/out/job/output/model.tar.gz." in text
    assert f"Checkpoints: {checkpoints} (a new job with --checkpoint-s3 {checkpoints}" in text
    assert "no reason given" not in text


def test_tuning_wait_prints_the_best_job_and_its_hyperparameters():
    sm = offline_client("sagemaker")
    answer = {
        "HyperParameterTuningJobName": "tune",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/t",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {
            "MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1}},
        "HyperParameterTuningJobStatus": "Completed", "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 2},
        "ObjectiveStatusCounters": {"Succeeded": 2},
        "BestTrainingJob": {
            "TrainingJobName": "tune-002-abc", "TrainingJobArn": "arn:x", "CreationTime": NOW,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"learning_rate": "0.0031", "model": "resnet"},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "MetricName": "validation:accuracy", "Value": 0.97},
        },
    }
    with Stubber(sm) as stub:
        stub.add_response("describe_hyper_parameter_tuning_job", answer,
                          {"HyperParameterTuningJobName": "tune"})
        desc = jobs.wait_for_tuning(sm, "tune", interval=0)
    assert jobs.best_job_lines(desc) == [
        "Best training job: tune-002-abc", "  validation:accuracy = 0.97",
        "  learning_rate = 0.0031", "  model = resnet"]


def test_endpoint_wait_reports_why_an_endpoint_failed():
    sm = offline_client("sagemaker")
    base = {"EndpointName": "e", "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/e",
            "EndpointConfigName": "e", "CreationTime": NOW, "LastModifiedTime": NOW}
    with Stubber(sm) as stub:
        stub.add_response("describe_endpoint", {**base, "EndpointStatus": "Creating"})
        stub.add_response("describe_endpoint", {
            **base, "EndpointStatus": "Failed",
            "FailureReason": "The primary container did not pass the ping health check."})
        with pytest.raises(UserError, match="did not pass the ping health check"):
            endpoints.wait_for_endpoint(sm, "e", interval=0)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def test_clients_retry_throttling_with_backoff(moto_endpoint):
    """Two throttled answers (injected at the HTTP layer, so botocore's retry handler sees them
    as it would from AWS), then moto's real one."""
    client = aws_module.connect().client("sagemaker")
    attempts = []

    def throttle(request, **_):
        attempts.append(request.url)
        if len(attempts) > 2:
            return None  # send it to moto
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        return AWSResponse(request.url, 400, {"x-amzn-requestid": "1"}, _Raw(body.encode()))

    client.meta.events.register("before-send.sagemaker.ListTrainingJobs", throttle)
    answer = client.list_training_jobs()
    assert answer["TrainingJobSummaries"] == []
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(attempts) == 3
    assert client.meta.config.retries["mode"] == "adaptive"
