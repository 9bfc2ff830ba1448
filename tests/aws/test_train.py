"""`byoc train` and `byoc tune` against moto's server: what the jobs were created with."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest

from byoc import hyperparams
from byoc.cli import main
from byoc.driver import jobs
from byoc.metric_lines import METRIC_DEFINITIONS, OBJECTIVE_METRIC
from tests.support.archives import member, snapshot, symlink_chain, write_tar, written_outside
from tests.support.aws_jobs import BUCKET, content_prefix, make_dataset, put_job_logs

pytestmark = pytest.mark.aws



def keys_under(prefix: str) -> list[str]:
    bucket, _, key = prefix[5:].partition("/")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)
    return sorted(o["Key"][len(key):] for o in listing.get("Contents", []))


def put_job_output(job: str, output_data: Path) -> None:
    """moto completes a job at once but writes no output: put the output.tar.gz SageMaker would
    have made of /opt/ml/output/data, so the download and summary path runs for real."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(output_data.iterdir()):
            tar.add(path, arcname=path.name)
    put_output_archive(job, buf.getvalue())


def put_output_archive(job: str, body: bytes) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"byoc/output/{job}/output/output.tar.gz", Body=body)


def write_evaluation(out: Path) -> dict:
    """What `train` writes to output/data: the real report for a 2-class model that gets 3 of
    4 test images right."""
    from byoc.evaluation import SplitResult, write_report

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    return write_report(out, class_names=["stop", "yield"],
                        splits={"test": SplitResult(np.array([0, 1, 1, 1]), probs)},
                        history={}, class_counts={}, top_k=3)


def test_train_uploads_channels_starts_job_streams_logs_and_prints_evaluation(
        moto_recorder, ecr_image, role_arn, tmp_path, capsys, monkeypatch):
    files = make_dataset(tmp_path / "data")
    metrics = write_evaluation(tmp_path / "output-data")
    put_job_output("sign-job", tmp_path / "output-data")
    put_job_logs("sign-job", ["epoch 1/2", "#metrics epoch=1 val_accuracy=0.5"])
    monkeypatch.chdir(tmp_path)

    code = main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"),
                 "--role", role_arn, "--job-name", "sign-job", "--hp", "epochs=2",
                 "--hp", "learning_rate=0.01", "--spot", "--max-run", "600",
                 "--max-wait", "1200", "--instance-type", "ml.c5.xlarge"])

    out = capsys.readouterr().out
    assert code == 0
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName="sign-job")
    assert desc["AlgorithmSpecification"]["TrainingImage"] == ecr_image
    assert desc["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert desc["HyperParameters"] == {"epochs": "2", "learning_rate": "0.01"}
    assert desc["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert desc["EnableManagedSpotTraining"] is True
    assert desc["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}
    assert desc["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/byoc/output/sign-job/checkpoints",
        "LocalPath": "/opt/ml/checkpoints",
    }
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in desc["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    for channel, names in files.items():
        assert channels[channel] == f"{content_prefix(BUCKET, tmp_path / 'data')}/{channel}/"
        assert keys_under(channels[channel]) == sorted(names)
    uploads = [e for e in moto_recorder.entries()
               if e["method"] == "PUT" and "/byoc/input/" in e["url"]]
    assert len(uploads) == 5
    assert {e["headers"].get("x-amz-expected-bucket-owner") for e in uploads} == {
        "123456789012"}
    # moto replaces MetricDefinitions with canned ones in its answer; check the request sent.
    (request,) = moto_recorder.calls("SageMaker.CreateTrainingJob")
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS

    assert "#metrics epoch=1 val_accuracy=0.5" in out
    assert f"  {'test_accuracy':32s} 0.7500" in out
    assert f"  {'test_top_3_accuracy':32s} 1.0000" in out
    assert f"  {'test_samples':32s} 4" in out
    assert f"Report: {Path('sign-job') / 'report.md'}" in out
    assert json.loads((tmp_path / "sign-job" / "metrics.json").read_text()) == metrics


def test_train_download_refuses_a_hostile_output_archive(moto_endpoint, ecr_image, role_arn,
                                                        tmp_path, capsys):
    """A job's output.tar.gz is written by the image's code: byoc unpacks it with the checks of
    byoc.archives, here against the symlink chain of CVE-2025-4517."""
    make_dataset(tmp_path / "data")
    dest = tmp_path / "box" / "out"
    put_output_archive("evil-job", write_tar(tmp_path / "o.tar.gz",
                                             symlink_chain(dest)).read_bytes())
    before = snapshot(tmp_path / "box")

    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "evil-job", "--download", str(dest)]) == 2

    err = capsys.readouterr().err
    uri = f"s3://{BUCKET}/byoc/output/evil-job/output/output.tar.gz"
    assert f"error: {uri}: member a is a symbolic link" in err
    assert f"aws s3 cp {uri}" in err
    assert written_outside(tmp_path / "box", before, dest) == []


def test_train_download_refuses_a_directory_that_is_not_empty_before_the_job(
        moto_recorder, ecr_image, role_arn, tmp_path, capsys):
    make_dataset(tmp_path / "data")
    dest = tmp_path / "results"
    dest.mkdir()
    (dest / "metrics.json").write_text("an earlier job's")

    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "sign-job", "--download", str(dest)]) == 2

    err = capsys.readouterr().err
    assert f"--download {dest} is not empty" in err
    assert "Choose a new or empty directory" in err
    assert moto_recorder.calls("SageMaker.CreateTrainingJob") == []
    assert (dest / "metrics.json").read_text() == "an earlier job's"


def test_train_download_into_an_empty_directory_and_over_nothing(moto_endpoint, ecr_image,
                                                                 role_arn, tmp_path, capsys):
    make_dataset(tmp_path / "data")
    write_evaluation(tmp_path / "output-data")
    put_job_output("sign-job", tmp_path / "output-data")
    dest = tmp_path / "empty"
    dest.mkdir()

    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "sign-job", "--download", str(dest)]) == 0

    assert (dest / "metrics.json").is_file()
    assert f"Report: {dest / 'report.md'}" in capsys.readouterr().out


def test_train_download_refuses_an_output_with_a_link(moto_endpoint, ecr_image, role_arn,
                                                      tmp_path, capsys):
    make_dataset(tmp_path / "data")
    put_output_archive("link-job", write_tar(tmp_path / "o.tar.gz", [
        member("metrics.json", data=b"{}"),
        member("report.md", tarfile.SYMTYPE, link="/etc/passwd")]).read_bytes())

    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"), "--role",
                 role_arn, "--job-name", "link-job", "--download", str(tmp_path / "out")]) == 2

    assert "member report.md is a symbolic link" in capsys.readouterr().err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_train_from_s3_prefix_uses_its_channel_subprefixes(moto_endpoint, ecr_image, role_arn):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="my-data")
    for key in ("signs/training/0/a.png", "signs/test/0/b.png"):
        s3.put_object(Bucket="my-data", Key=key, Body=b"x")

    assert main(["train", "--image", ecr_image, "--data", "s3://my-data/signs", "--role",
                 role_arn, "--job-name", "s3-job", "--output", "s3://my-data/out"]) == 0

    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName="s3-job")
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in desc["InputDataConfig"]} == {"train": "s3://my-data/signs/training/",
                                                  "test": "s3://my-data/signs/test/"}
    assert desc["EnableManagedSpotTraining"] is False
    assert desc["CheckpointConfig"]["S3Uri"] == "s3://my-data/out/s3-job/checkpoints"


@pytest.mark.parametrize("extra, message", [
    (["--hp", "learnig_rate=0.1"], "Did you mean 'learning_rate'"),
    (["--hp", "epochs=many"], "Hyperparameter 'epochs' has the value 'many'"),
    (["--max-wait", "100"], "--max-wait applies to spot training only"),
    (["--spot", "--max-run", "600", "--max-wait", "100"], "must be at least --max-run"),
])
def test_train_rejects_bad_input_before_anything_is_created(
        moto_endpoint, ecr_image, role_arn, tmp_path, capsys, extra, message):
    make_dataset(tmp_path)
    code = main(["train", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    assert boto3.client("s3").list_buckets()["Buckets"] == []


def test_train_fails_fast_on_an_image_missing_from_ecr(moto_endpoint, ecr_image, role_arn,
                                                       tmp_path, capsys):
    make_dataset(tmp_path)
    missing = ecr_image.replace(":v1", ":v2")
    assert main(["train", "--image", missing, "--data", str(tmp_path), "--role", role_arn]) == 2
    err = capsys.readouterr().err
    assert f"Image {missing} is not in ECR (ImageNotFoundException)" in err
    assert "byoc push --repository byoc --tag v2" in err


def test_train_without_a_role_says_how_to_give_one(moto_endpoint, ecr_image, tmp_path, capsys):
    make_dataset(tmp_path)
    assert main(["train", "--image", ecr_image, "--data", str(tmp_path)]) == 2
    assert "SAGEMAKER_ROLE_ARN" in capsys.readouterr().err


def test_train_role_comes_from_the_environment(moto_endpoint, ecr_image, role_arn, tmp_path,
                                               monkeypatch):
    make_dataset(tmp_path)
    monkeypatch.setenv("SAGEMAKER_ROLE_ARN", role_arn)
    assert main(["train", "--image", ecr_image, "--data", str(tmp_path), "--job-name", "env-job",
                 "--no-wait"]) == 0
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName="env-job")
    assert desc["RoleArn"] == role_arn


def test_role_bucket_and_instance_type_come_from_the_config_file(moto_endpoint, ecr_image,
                                                                 role_arn, tmp_path):
    make_dataset(tmp_path / "data")
    Path(os.environ["BYOC_CONFIG"]).write_text(json.dumps(
        {"role": role_arn, "bucket": "team-bucket", "instance_type": "ml.c5.2xlarge"}))
    assert main(["train", "--image", ecr_image, "--data", str(tmp_path / "data"),
                 "--job-name", "cfg-job", "--no-wait"]) == 0
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName="cfg-job")
    assert desc["RoleArn"] == role_arn
    assert desc["ResourceConfig"]["InstanceType"] == "ml.c5.2xlarge"
    assert desc["OutputDataConfig"]["S3OutputPath"] == "s3://team-bucket/byoc/output"
    prefix = content_prefix("team-bucket", tmp_path / "data")
    assert keys_under(f"{prefix}/train/") == ["0/a.png", "0/b.png", "1/c.png"]


def test_unknown_region_and_missing_credentials_are_user_errors(moto_endpoint, ecr_image,
                                                                role_arn, tmp_path, capsys,
                                                                monkeypatch):
    args = ["train", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn]
    assert main([*args, "--region", "mars-north-1"]) == 2
    assert "Unknown AWS region 'mars-north-1'" in capsys.readouterr().err
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # No instance metadata service here: keep botocore from waiting for one.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(args) == 2
    assert "No AWS credentials found" in capsys.readouterr().err


def test_tune_creates_a_tuning_job_over_the_search_space(moto_recorder, ecr_image, role_arn,
                                                         tmp_path, capsys, no_trial_listing):
    make_dataset(tmp_path)
    code = main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 "--job-name", "sign-tune", "--hp", "epochs=3", "--hp", "model=vgg",
                 "--max-jobs", "6", "--max-parallel-jobs", "2"])
    assert code == 0
    desc = boto3.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="sign-tune")
    config = desc["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize",
                                                          "MetricName": OBJECTIVE_METRIC}
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert config["ResourceLimits"]["MaxParallelTrainingJobs"] == 2
    ranges = config["ParameterRanges"]
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.01",
         "ScalingType": "Logarithmic"}]
    categorical = {r["Name"]: r["Values"] for r in ranges["CategoricalParameterRanges"]}
    # `model` and `epochs` were fixed with --hp, so they are static, not searched.
    assert "model" not in categorical and ranges["IntegerParameterRanges"] == []
    assert categorical["batch_size"] == ["32", "64", "128"]
    definition = desc["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"] == {"epochs": "3", "model": "vgg"}
    assert definition["AlgorithmSpecification"]["TrainingImage"] == ecr_image
    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    assert (request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
            == METRIC_DEFINITIONS)
    printed = capsys.readouterr()
    assert "tuning job sign-tune: Completed" in printed.err
    # moto answers with a canned best job; the exact printout is checked with Stubber elsewhere.
    assert "Best training job: FakeTrainingJobName" in printed.out


def test_every_tuning_range_value_is_a_valid_hyperparameter():
    for r in jobs.CATEGORICAL_RANGES:
        for value in r["Values"]:
            hyperparams.parse({r["Name"]: value})
    for r in jobs.CONTINUOUS_RANGES + jobs.INTEGER_RANGES:
        hyperparams.parse({r["Name"]: r["MinValue"]})
        hyperparams.parse({r["Name"]: r["MaxValue"]})
    assert {r["Name"] for r in jobs.CATEGORICAL_RANGES} >= {"model", "batch_size"}
    assert next(r for r in jobs.CATEGORICAL_RANGES
                if r["Name"] == "model")["Values"] == list(hyperparams.ARCHITECTURE_NAMES)


def test_a_reused_training_job_name_is_refused_before_the_upload(moto_recorder, ecr_image,
                                                                 role_arn, tmp_path, capsys):
    make_dataset(tmp_path)
    args = ["train", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
            "--job-name", "sign-job", "--no-wait"]
    assert main(args) == 0
    moto_recorder.start()  # record only the second run

    assert main(args) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: A training job named 'sign-job' already exists in us-east-1;")
    assert "pick another --job-name" in err
    sent = moto_recorder.entries()
    assert not [e for e in sent if e["method"] == "PUT"], "the data was uploaded again"
    assert moto_recorder.calls("SageMaker.CreateTrainingJob") == []


def test_an_aws_error_is_a_sentence_with_its_code_not_a_traceback(moto_endpoint, ecr_image,
                                                                 role_arn, capsys):
    assert main(["train", "--image", ecr_image, "--data", "s3://no-such-bucket/signs",
                 "--role", role_arn]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: NoSuchBucket: The specified bucket does not exist")
    assert "check the bucket in the s3:// URI, and --region" in err


@pytest.mark.parametrize("extra, message", [
    (["--max-jobs", "2", "--max-parallel-jobs", "3"],
     "--max-parallel-jobs (3) must be between 1 and --max-jobs (2)"),
    (["--job-name", "t" * 33], "use 1-32 letters, digits and hyphens"),
])
def test_tune_checks_its_flags_before_anything_reaches_aws(moto_recorder, ecr_image, role_arn,
                                                           tmp_path, capsys, extra, message):
    make_dataset(tmp_path)
    moto_recorder.start()  # forget the fixtures' own calls
    assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 *extra]) == 2
    assert message in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_spot_tuning_trials_share_no_checkpoint_prefix(moto_recorder, ecr_image, role_arn,
                                                       tmp_path):
    make_dataset(tmp_path)
    assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 "--job-name", "spot-tune", "--spot", "--max-run", "600", "--no-wait"]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    definition = request["TrainingJobDefinition"]
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 600,
                                               "MaxWaitTimeInSeconds": 1200}
    # One definition serves every trial: a CheckpointConfig would be one prefix for all of them.
    assert "CheckpointConfig" not in definition


def test_tune_takes_no_checkpoint_location(ecr_image, role_arn, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
              "--checkpoint-s3", "s3://b/checkpoints"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --checkpoint-s3" in capsys.readouterr().err


def test_hyperparameter_flags_may_be_absent():
    assert hyperparams.parse_hp_flags(None) == {}
    assert hyperparams.parse_hp_flags([" epochs = 3"]) == {"epochs": "3"}


def test_a_default_bucket_owned_by_another_account_is_refused():
    """S3 answers 403 to HeadBucket when ExpectedBucketOwner does not match (botocore's Stubber:
    moto does not check bucket owners)."""
    from botocore.stub import Stubber

    from byoc.driver.aws import Aws, ensure_bucket
    from byoc.errors import UserError

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="x")

    class OneClient(Aws):
        def client(self, service: str, **config):
            return s3

    aws = OneClient(session=None, region="us-east-1")
    aws.account_id = "123456789012"
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", 403,
                              expected_params={"Bucket": BUCKET,
                                               "ExpectedBucketOwner": "123456789012"})
        with pytest.raises(UserError, match="exists but is not owned by your account"):
            ensure_bucket(aws, BUCKET)
        stub.assert_no_pending_responses()


def test_track_sets_the_job_environment(moto_recorder, ecr_image, role_arn, tmp_path):
    make_dataset(tmp_path)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/signs"
    assert main(["tune", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 "--job-name", "tracked-tune", "--track", arn, "--experiment", "signs",
                 "--max-jobs", "2", "--no-wait"]) == 0
    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    env = request["TrainingJobDefinition"]["Environment"]
    assert env["MLFLOW_TRACKING_URI"] == arn and env["MLFLOW_EXPERIMENT_NAME"] == "signs"
    assert env["BYOC_TUNING_JOB"] == "tracked-tune" and env["BYOC_IMAGE"] == ecr_image


@pytest.mark.parametrize("track, message", [
    ("arn:aws:sagemaker:us-east-1:123:mlflow-tracking-server/signs", "is not a SageMaker managed"),
    ("mlflow://host", "unknown URI scheme"),
    ("./mlruns", "cannot reach this machine"),
])
def test_a_bad_tracking_uri_is_refused_before_anything_is_created(
        moto_endpoint, ecr_image, role_arn, tmp_path, capsys, track, message):
    make_dataset(tmp_path)
    code = main(["train", "--image", ecr_image, "--data", str(tmp_path), "--role", role_arn,
                 "--track", track])
    assert code == 2
    assert message in capsys.readouterr().err
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    assert boto3.client("s3").list_buckets()["Buckets"] == []
