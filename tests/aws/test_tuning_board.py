"""A tuning job the user shapes: `byoc tune --objective METRIC:max|min`, the leaderboard of its
trials (after `byoc tune`, and `byoc tuning leaderboard`), and `byoc deploy --tuning-job`.

moto 5.2.6 does not implement ListTrainingJobsForHyperParameterTuningJob (its server answers
500), and its DescribeHyperParameterTuningJob names a canned BestTrainingJob
("FakeTrainingJobName"); those two calls are answered by botocore's Stubber with SageMaker's
exact answer shapes, and every other call goes to moto's server.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.stub import Stubber

from byoc import api
from byoc.api import job_calls
from byoc.cli import hosting_verbs, main, training_verbs
from byoc.driver.aws import Aws, connect
from byoc.errors import UserError
from tests.support.aws_jobs import BUCKET, make_dataset
from tests.support.stubs import StubbedAws, offline_sagemaker
from tests.support.trained_jobs import completed_job

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
OUTPUT = f"s3://{BUCKET}/byoc/output"
RANGES = {"ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.0001",
                                         "MaxValue": "0.1", "ScalingType": "Logarithmic"}],
          "IntegerParameterRanges": [],
          "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["adam", "sgd"]}]}


def tuning_answer(status: str = "Completed", direction: str = "Maximize",
                  metric: str = "validation:accuracy", best: str | None = "tune-003") -> dict:
    """DescribeHyperParameterTuningJob's answer for tuning job `tune` over RANGES."""
    answer = {
        "HyperParameterTuningJobName": "tune",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/t",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": RANGES},
        "HyperParameterTuningJobStatus": status, "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 3, "NonRetryableError": 1, "Stopped": 1},
        "ObjectiveStatusCounters": {"Succeeded": 3, "Failed": 2},
    }
    if best:
        answer["BestTrainingJob"] = {
            "TrainingJobName": best, "TrainingJobArn": f"arn:x:{best}", "CreationTime": NOW,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"learning_rate": "0.01", "optimizer": "adam"},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": metric,
                                                            "Value": 0.97}}
    return answer


def trial(name: str, status: str, value: float | None = None, **hps: str) -> dict:
    """One TrainingJobSummary of ListTrainingJobsForHyperParameterTuningJob. SageMaker adds
    `_tuning_objective_metric` to the tuned hyperparameters; the leaderboard leaves it out."""
    summary = {"TrainingJobName": name, "TrainingJobArn": f"arn:x:{name}", "CreationTime": NOW,
               "TrainingJobStatus": status, "TunedHyperParameters": {
                   "learning_rate": "0.001", "optimizer": "sgd",
                   "_tuning_objective_metric": "validation:accuracy", **hps}}
    if value is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": "validation:accuracy", "Value": value}
        summary["ObjectiveStatus"] = "Succeeded"
    if status == "Failed":
        summary["FailureReason"] = "AlgorithmError: out of memory"
    return summary


# SageMaker's own order (by objective value), with the failed and stopped trials among them.
TRIALS = [trial("tune-001", "Completed", 0.80, learning_rate="0.0005"),
          trial("tune-002", "Failed"),
          trial("tune-003", "Completed", 0.97, learning_rate="0.01", optimizer="adam"),
          trial("tune-004", "Stopped", 0.99),
          trial("tune-005", "Completed", 0.91)]


def list_params(direction: str = "Maximize", token: str | None = None) -> dict:
    params = {"HyperParameterTuningJobName": "tune", "MaxResults": 100,
              "SortBy": "FinalObjectiveMetricValue",
              "SortOrder": "Descending" if direction == "Maximize" else "Ascending"}
    if token:
        params["NextToken"] = token
    return params


def stub_listing(stub: Stubber, direction: str = "Maximize") -> None:
    """The trials in two pages: the leaderboard follows NextToken."""
    stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job",
                      {"TrainingJobSummaries": TRIALS[:3], "NextToken": "page-2"},
                      list_params(direction))
    stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job",
                      {"TrainingJobSummaries": TRIALS[3:]}, list_params(direction, "page-2"))


def stub_describe(stub: Stubber, answer: dict) -> None:
    stub.add_response("describe_hyper_parameter_tuning_job", answer,
                      {"HyperParameterTuningJobName": "tune"})


class _SageMaker:
    """moto's SageMaker client, but the tuning job calls moto lacks go to the stubbed client."""

    STUBBED = ("describe_hyper_parameter_tuning_job",
               "list_training_jobs_for_hyper_parameter_tuning_job")

    def __init__(self, moto, stubbed) -> None:
        self.moto, self.stubbed = moto, stubbed

    def __getattr__(self, name: str):
        return getattr(self.stubbed if name in self.STUBBED else self.moto, name)


class MotoWithStubbedTuning(Aws):
    def __init__(self, stubbed) -> None:
        aws = connect()
        super().__init__(session=aws.session, region=aws.region)
        self.stubbed = stubbed

    def client(self, service: str, **config):
        real = super().client(service, **config)
        return _SageMaker(real, self.stubbed) if service == "sagemaker" else real


# --- --objective METRIC:max|min

@pytest.mark.parametrize("flags, objective", [
    (["--objective", "validation:loss:min"], {"Type": "Minimize",
                                              "MetricName": "validation:loss"}),
    (["--objective", "validation:accuracy:max"], {"Type": "Maximize",
                                                  "MetricName": "validation:accuracy"}),
    (["--objective-metric", "validation:loss", "--objective-type", "Minimize"],
     {"Type": "Minimize", "MetricName": "validation:loss"}),
    ([], {"Type": "Maximize", "MetricName": "validation:accuracy"}),
])
def test_objective_shorthand_and_the_long_flags_send_the_same_objective(
        moto_recorder, ecr_image, role_arn, tmp_path, flags, objective):
    make_dataset(tmp_path)
    assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 "--job-name", "obj-tune", "--no-wait", "--max-jobs", "2", *flags]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == \
        objective


@pytest.mark.parametrize("flags, message", [
    (["--objective", "validation:loss:min", "--objective-type", "Minimize"],
     "drop --objective-type, or --objective"),
    (["--objective", "validation:loss:min", "--objective-metric", "validation:loss"],
     "drop --objective-metric, or --objective"),
    (["--objective", "validation:loss:lowest"], "expected METRIC:max or METRIC:min"),
    (["--objective", "validation:loss"], "expected METRIC:max or METRIC:min"),
    (["--objective", ":max"], "expected METRIC:max or METRIC:min"),
])
def test_objective_shorthand_refusals_reach_no_aws(moto_recorder, ecr_image, role_arn, tmp_path,
                                                   capsys, flags, message):
    make_dataset(tmp_path)
    moto_recorder.start()
    assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 "--job-name", "bad-tune", "--no-wait", *flags]) == 2
    assert message in capsys.readouterr().err
    assert moto_recorder.entries() == []


# --- the leaderboard

def board_rows(out: str) -> list[list[str]]:
    """The table's rows under its header and rule, split into cells."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    return [line.split() for line in lines[start + 2:]]


def test_leaderboard_of_a_maximized_job_is_best_first_and_failed_trials_last(monkeypatch,
                                                                              capsys):
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub_describe(stub, tuning_answer())
        stub_listing(stub)
        monkeypatch.setattr(training_verbs, "connect_from", lambda args: StubbedAws(sm))
        assert main(["tuning", "leaderboard", "tune"]) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("Tuning job tune (Completed): 5 trial(s), Maximize "
                                   "validation:accuracy")
    header = out.splitlines()[1].split()
    # Only the hyperparameters the ranges tuned: not SageMaker's _tuning_objective_metric.
    assert header == ["rank", "training", "job", "status", "validation:accuracy",
                      "learning_rate", "optimizer"]
    assert board_rows(out) == [
        ["1", "tune-003", "Completed", "0.97", "0.01", "adam"],
        ["2", "tune-005", "Completed", "0.91", "0.001", "sgd"],
        ["3", "tune-001", "Completed", "0.8", "0.0005", "sgd"],
        ["4", "tune-002", "Failed", "-", "0.001", "sgd"],
        ["5", "tune-004", "Stopped", "0.99", "0.001", "sgd"]]


def test_leaderboard_of_a_minimized_job_puts_the_lowest_first_and_top_cuts_it(monkeypatch):
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub_describe(stub, tuning_answer(status="InProgress", direction="Minimize",
                                          best=None))
        stub_listing(stub, "Minimize")
        monkeypatch.setattr(job_calls, "_aws", lambda region, profile: StubbedAws(sm))
        board = api.tuning_leaderboard("tune", top=2)
        stub.assert_no_pending_responses()
    assert isinstance(board, api.TuningLeaderboard)
    assert board.objective_type == "Minimize" and board.status == "InProgress"
    assert board.tuned == ("learning_rate", "optimizer") and board.total == 5
    assert [(t.rank, t.training_job, t.objective) for t in board.trials] == [
        (1, "tune-001", 0.80), (2, "tune-005", 0.91)]
    assert board.best == board.trials[0]
    assert board.trials[0].hyperparameters == {"learning_rate": "0.0005", "optimizer": "sgd"}
    assert board.lines()[0] == ("Tuning job tune (InProgress): 2 of 5 trial(s), Minimize "
                                "validation:accuracy")


def test_leaderboard_keeps_failure_reasons_and_refuses_an_unknown_job(monkeypatch, capsys):
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub_describe(stub, tuning_answer())
        stub_listing(stub)
        stub.add_client_error("describe_hyper_parameter_tuning_job", "ValidationException",
                              "Amazon SageMaker can't find a tuning job with name nope",
                              expected_params={"HyperParameterTuningJobName": "nope"})
        monkeypatch.setattr(job_calls, "_aws", lambda region, profile: StubbedAws(sm))
        board = api.tuning_leaderboard("tune")
        failed = [t for t in board.trials if t.status == "Failed"]
        assert failed[0].failure_reason == "AlgorithmError: out of memory"
        with pytest.raises(UserError, match="No tuning job named 'nope' in us-east-1"):
            api.tuning_leaderboard("nope")
        stub.assert_no_pending_responses()


def test_tune_prints_the_leaderboard_when_the_job_ends(moto_endpoint, ecr_image, role_arn,
                                                      tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path)
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        # The name is free, then the wait finds the job ended.
        stub.add_client_error("describe_hyper_parameter_tuning_job", "ValidationException",
                              "Amazon SageMaker can't find a tuning job with name tune",
                              expected_params={"HyperParameterTuningJobName": "tune"})
        stub_describe(stub, tuning_answer())
        stub_listing(stub)
        monkeypatch.setattr(training_verbs, "connect_from",
                            lambda args: MotoWithStubbedTuning(sm))
        assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                     "--job-name", "tune", "--max-jobs", "5",
                     "--range", "learning_rate=0.0001:0.1:log",
                     "--range", "optimizer=adam,sgd"]) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert "Best training job: tune-003" in out
    assert [row[:3] for row in board_rows(out)] == [
        ["1", "tune-003", "Completed"], ["2", "tune-005", "Completed"],
        ["3", "tune-001", "Completed"], ["4", "tune-002", "Failed"],
        ["5", "tune-004", "Stopped"]]


def test_tune_whose_trials_cannot_be_listed_still_reports_its_best_job(
        moto_endpoint, ecr_image, role_arn, tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path)
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_client_error("describe_hyper_parameter_tuning_job", "ValidationException",
                              "Amazon SageMaker can't find a tuning job with name tune",
                              expected_params={"HyperParameterTuningJobName": "tune"})
        stub_describe(stub, tuning_answer())
        stub.add_client_error("list_training_jobs_for_hyper_parameter_tuning_job",
                              "AccessDeniedException", "not authorized to perform "
                              "sagemaker:ListTrainingJobsForHyperParameterTuningJob")
        monkeypatch.setattr(training_verbs, "connect_from",
                            lambda args: MotoWithStubbedTuning(sm))
        assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                     "--job-name", "tune", "--max-jobs", "5"]) == 0
        stub.assert_no_pending_responses()
    captured = capsys.readouterr()
    assert "Best training job: tune-003" in captured.out
    assert "The trials could not be listed" in captured.err
    assert "List them later with byoc tuning leaderboard tune" in captured.err


# --- deploy --tuning-job

def test_deploy_tuning_job_hosts_its_best_training_jobs_model(moto_recorder, ecr_image, role_arn,
                                                              monkeypatch, capsys):
    completed_job("tune-003", ecr_image, role_arn, output=OUTPUT)
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub_describe(stub, tuning_answer())
        monkeypatch.setattr(hosting_verbs, "connect_from",
                            lambda args: MotoWithStubbedTuning(sm))
        moto_recorder.start()
        assert main(["deploy", "--tuning-job", "tune", "--endpoint-name", "best"]) == 0
        stub.assert_no_pending_responses()
    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    assert model["ModelName"] == "tune-003"
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"{OUTPUT}/tune-003/output/model.tar.gz")
    assert model["PrimaryContainer"]["Image"] == ecr_image
    (endpoint,) = moto_recorder.calls("SageMaker.CreateEndpoint")
    assert endpoint["EndpointName"] == "best"
    assert "Endpoint best is InService" in capsys.readouterr().out


@pytest.mark.parametrize("status, message", [
    ("InProgress", "Tuning job tune is InProgress and has no best training job yet: wait"),
    ("Failed", "Tuning job tune is Failed with no best training job"),
])
def test_deploy_tuning_job_without_a_best_job_creates_nothing(moto_recorder, monkeypatch,
                                                              capsys, status, message):
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub_describe(stub, tuning_answer(status=status, best=None))
        monkeypatch.setattr(hosting_verbs, "connect_from",
                            lambda args: MotoWithStubbedTuning(sm))
        moto_recorder.start()
        assert main(["deploy", "--tuning-job", "tune", "--endpoint-name", "best"]) == 2
    err = capsys.readouterr().err
    assert message in err and "byoc tuning leaderboard tune" in err
    assert [e for e in moto_recorder.entries()
            if ".Create" in e["headers"].get("x-amz-target", "")] == []


@pytest.mark.parametrize("flags, dropped", [
    (["--training-job", "job"], "--training-job"),
    (["--run", "abc"], "--run"),
    (["--model-data", "s3://b/model.tar.gz", "--image", "i"], "--model-data"),
    (["--package", "arn:aws:sagemaker:us-east-1:1:model-package/g/1"], "--package"),
])
def test_deploy_tuning_job_goes_with_no_other_model_source(moto_recorder, capsys, flags,
                                                           dropped):
    moto_recorder.start()
    assert main(["deploy", "--tuning-job", "tune", "--endpoint-name", "best", *flags]) == 2
    assert f"drop {dropped}, or --tuning-job" in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_the_aws_pages_tuning_block_parses_as_byoc_commands():
    """docs/aws.md's "Shape a tuning job": every command names flags byoc has, and the
    --objective it shows is one byoc reads."""
    import shlex

    from byoc.cli import build_parser
    from tests.support.docs import code_block, commands

    block = code_block("aws.md", "bash", "# Tune two hyperparameters of your choice")
    verbs = []
    for command in commands(block):
        argv = shlex.split(command.replace('"$IMAGE"', "IMAGE"))
        assert argv[0] == "byoc"
        args = build_parser().parse_args(argv[1:])
        verbs.append(args.command)
        if args.command == "tune":
            assert training_verbs.objective_from(args) == ("validation:loss", "Minimize")
        if args.command == "deploy":
            assert args.tuning_job == "signs-tune"
    assert verbs == ["tune", "tuning", "deploy"]
