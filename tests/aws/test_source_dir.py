"""`--source-dir` and `--entry-point` against moto's server: what `byoc train`, `tune`, `deploy`
and `transform` send (the hyperparameters and environment as the SageMaker Python SDK sets them,
sourcedir.tar.gz and the repacked model on S3), and every bad input refused before anything is
uploaded or created. moto's recorder keeps the requests as sent."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import boto3
import pytest

from byoc.cli import main
from byoc.driver import repack, sourcedir
from byoc.metric_lines import METRIC_DEFINITIONS
from tests.support.trained_jobs import output_archive

pytestmark = pytest.mark.aws

BUCKET = "sagemaker-us-east-1-123456789012"  # the default bucket for moto's account
METRIC = r"val_acc=val_acc: ([0-9.]+)"
SCRIPT_HPS = {
    "sagemaker_program": '"train.py"',
    "sagemaker_container_log_level": "20",
    "sagemaker_region": '"us-east-1"',
}


def make_data(root: Path) -> Path:
    (root / "train" / "0").mkdir(parents=True)
    (root / "train" / "0" / "a.png").write_bytes(b"not really a png")
    return root


def make_code(root: Path) -> Path:
    """A course-style project: a script, a helper, requirements, and a cache to leave out."""
    for name, text in {"train.py": "import helper\nprint('val_acc: 0.9')\n",
                       "helper.py": "VALUE = 1\n", "requirements.txt": "numpy\n",
                       "__pycache__/helper.cpython-311.pyc": "bytecode",
                       "inference.py": "def model_fn(model_dir):\n    return model_dir\n",
                       "nets.py": "HYPERPARAMETERS = {'dropout': 0.3}\n\n"
                                  "def build(input_shape, num_classes, hp):\n    ...\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def project(moto_endpoint, tmp_path, monkeypatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    return make_data(tmp_path / "data"), make_code(tmp_path / "src")


def train(ecr_image, role_arn, data: Path, *flags: str, name: str = "script-job") -> int:
    return main(["train", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", name, "--no-wait", *flags])


def read_object(uri: str) -> bytes:
    bucket, _, key = uri[5:].partition("/")
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}


def puts_of(recorder, name: str) -> list[dict]:
    return [e for e in recorder.entries() if e["method"] == "PUT" and name in e["url"]]


# --- training ---------------------------------------------------------------------------------

def test_train_sends_the_script_as_the_sdk_does(project, moto_recorder, ecr_image, role_arn):
    data, src = project
    assert train(ecr_image, role_arn, data, "--source-dir", str(src), "--entry-point",
                 "train.py", "--hp", "epochs=3", "--hp", "layers=[64, 32]",
                 "--metric", METRIC) == 0

    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName="script-job")
    hps = desc["HyperParameters"]
    uri = json.loads(hps.pop("sagemaker_submit_directory"))
    assert hps == {"epochs": "3", "layers": "[64, 32]", **SCRIPT_HPS,
                   "sagemaker_job_name": '"script-job"'}
    assert uri.startswith(f"s3://{BUCKET}/byoc/source/") and uri.endswith("/sourcedir.tar.gz")
    # The archive holds the directory without its cache, and is named after its content.
    packed = read_object(uri)
    assert sorted(members(packed)) == ["helper.py", "inference.py", "nets.py",
                                       "requirements.txt", "train.py"]
    assert members(packed)["train.py"] == (src / "train.py").read_bytes()
    assert uri.split("/")[-2] == sourcedir.digest(sourcedir.pack(
        sourcedir.from_flags(str(src), "train.py"), Path("again.tar.gz")))
    # A script prints its own lines: only its metric definitions are sent (as sent: moto's
    # describe answers with its own).
    (request,) = moto_recorder.calls("SageMaker.CreateTrainingJob")
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "val_acc", "Regex": r"val_acc: ([0-9.]+)"}]


def test_unchanged_code_is_not_uploaded_again(project, moto_recorder, ecr_image, role_arn):
    data, src = project
    flags = ("--source-dir", str(src), "--entry-point", "train.py")
    assert train(ecr_image, role_arn, data, *flags, name="first") == 0
    assert train(ecr_image, role_arn, data, *flags, name="second") == 0
    assert len(puts_of(moto_recorder, sourcedir.ARCHIVE_NAME)) == 1
    sm = boto3.client("sagemaker")
    first, second = (sm.describe_training_job(TrainingJobName=n)["HyperParameters"]
                     for n in ("first", "second"))
    assert first["sagemaker_submit_directory"] == second["sagemaker_submit_directory"]

    (src / "helper.py").write_text("VALUE = 2\n")
    assert train(ecr_image, role_arn, data, *flags, name="third") == 0
    assert len(puts_of(moto_recorder, sourcedir.ARCHIVE_NAME)) == 2
    third = sm.describe_training_job(TrainingJobName="third")["HyperParameters"]
    assert third["sagemaker_submit_directory"] != first["sagemaker_submit_directory"]


def test_a_user_model_in_byocs_trainer_names_only_the_directory(project, moto_recorder,
                                                                ecr_image, role_arn):
    data, src = project
    assert train(ecr_image, role_arn, data, "--source-dir", str(src), "--hp",
                 "model=nets:build", "--hp", "dropout=0.5", "--metric", METRIC) == 0

    (request,) = moto_recorder.calls("SageMaker.CreateTrainingJob")
    hps = request["HyperParameters"]
    assert set(hps) == {"model", "dropout", "sagemaker_submit_directory"}
    assert json.loads(hps["sagemaker_submit_directory"]).endswith("/sourcedir.tar.gz")
    # byoc's trainer prints its own metric lines; the user's come on top.
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [
        *METRIC_DEFINITIONS, {"Name": "val_acc", "Regex": r"val_acc: ([0-9.]+)"}]


def test_with_network_isolation_the_code_comes_as_a_channel(project, moto_recorder, ecr_image,
                                                            role_arn):
    data, src = project
    assert train(ecr_image, role_arn, data, "--entry-point", str(src / "train.py"),
                 "--network-isolation") == 0

    (request,) = moto_recorder.calls("SageMaker.CreateTrainingJob")
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in request["InputDataConfig"]}
    assert channels["code"].endswith("/sourcedir.tar.gz")
    assert request["HyperParameters"]["sagemaker_submit_directory"] == \
        '"/opt/ml/input/data/code/sourcedir.tar.gz"'
    assert request["EnableNetworkIsolation"] is True


def test_tune_searches_the_scripts_own_space_for_its_own_metric(project, moto_recorder,
                                                                ecr_image, role_arn):
    data, src = project
    assert main(["tune", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "script-tune", "--no-wait", "--source-dir", str(src),
                 "--entry-point", "train.py", "--metric", METRIC, "--objective-metric",
                 "val_acc", "--range", "lr=0.0001:0.1:log", "--range", "epochs=2:8",
                 "--hp", "batch=32"]) == 0

    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    definition = request["TrainingJobDefinition"]
    static = definition["StaticHyperParameters"]
    assert json.loads(static.pop("sagemaker_submit_directory")).endswith("/sourcedir.tar.gz")
    assert static == {"batch": "32", **SCRIPT_HPS, "sagemaker_job_name": '"script-tune"'}
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "val_acc", "Regex": r"val_acc: ([0-9.]+)"}]
    config = request["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize",
                                                          "MetricName": "val_acc"}
    assert config["ParameterRanges"] == {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1",
                                       "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "epochs", "MinValue": "2", "MaxValue": "8",
                                    "ScalingType": "Auto"}],
        "CategoricalParameterRanges": []}


def test_tune_with_a_user_model_keeps_byocs_search_space_but_the_model(project, moto_recorder,
                                                                       ecr_image, role_arn):
    data, src = project
    assert main(["tune", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "model-tune", "--no-wait", "--source-dir", str(src),
                 "--hp", "model=nets:build"]) == 0

    (request,) = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")
    config = request["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"]["MetricName"] == "validation:accuracy"
    searched = {r["Name"] for kind in config["ParameterRanges"].values() for r in kind}
    assert "model" not in searched and "learning_rate" in searched
    assert set(request["TrainingJobDefinition"]["StaticHyperParameters"]) == {
        "model", "sagemaker_submit_directory"}

    # --range replaces byoc's search space, with the names the module declares.
    assert main(["tune", "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "dropout-tune", "--no-wait", "--source-dir", str(src),
                 "--hp", "model=nets:build", "--range", "dropout=0.1:0.5"]) == 0
    request = moto_recorder.calls("SageMaker.CreateHyperParameterTuningJob")[-1]
    assert request["HyperParameterTuningJobConfig"]["ParameterRanges"] == {
        "ContinuousParameterRanges": [{"Name": "dropout", "MinValue": "0.1", "MaxValue": "0.5",
                                       "ScalingType": "Auto"}],
        "IntegerParameterRanges": [], "CategoricalParameterRanges": []}


# --- bad input: refused before anything is uploaded or created --------------------------------

def _oversized(src: Path) -> None:
    with open(src / "weights.bin", "wb") as fh:  # sparse: the size costs no disk
        fh.truncate(sourcedir.MAX_BYTES + 1)


@pytest.mark.parametrize("verb, flags, prepare, message", [
    ("train", ["--source-dir", "src", "--entry-point", "trian.py"], None,
     "--entry-point trian.py: no such file in the source directory"),
    ("train", ["--source-dir", "src/train.py", "--entry-point", "train.py"], None,
     "is not a directory"),
    ("train", ["--source-dir", "src", "--entry-point", "train.py"], _oversized,
     "holds more than 256 MiB"),
    ("train", ["--source-dir", "src", "--entry-point", "../data/train/0/a.png"], None,
     "is outside the source directory"),
    ("train", ["--entry-point", "missing.py"], None, "--entry-point missing.py: no such file"),
    ("train", ["--source-dir", "src", "--hp", "model=nets:biuld"], None, "has no function 'biuld'"),
    ("train", ["--source-dir", "src", "--hp", "model=layers:build"], None,
     "expected layers.py there"),
    ("train", ["--source-dir", "src", "--entry-point", "train.py", "--metric", "acc=acc: .*"],
     None, "has no capture group"),
    ("tune", ["--source-dir", "src", "--entry-point", "train.py", "--metric", METRIC,
              "--objective-metric", "val_acc"], None, "needs its search space"),
    ("tune", ["--source-dir", "src", "--entry-point", "train.py", "--range", "lr=0.1:1"], None,
     "--objective-metric validation:accuracy is not among the job's metrics"),
    ("tune", ["--source-dir", "src", "--hp", "model=nets:build", "--range", "dropuot=0.1:0.5"],
     None, "--range dropuot: Unknown hyperparameter 'dropuot'. Did you mean 'dropout'?"),
    ("tune", ["--range", "epochs=0:5"], None, "--range epochs: Hyperparameter 'epochs' has the "
     "value '0'"),
])
def test_bad_code_is_refused_before_anything_is_uploaded_or_created(
        project, moto_recorder, ecr_image, role_arn, capsys, verb, flags, prepare, message):
    data, src = project
    if prepare:
        prepare(src)
    moto_recorder.start()
    assert main([verb, "--image", ecr_image, "--data", str(data), "--role", role_arn,
                 "--job-name", "refused", *flags]) == 2

    assert message in capsys.readouterr().err
    sent = moto_recorder.entries()
    assert [e for e in sent if e["method"] in ("PUT", "POST", "DELETE")
            and "x-amz-target" not in e["headers"]] == []  # nothing written to S3
    assert not [e for e in sent if e["headers"].get("x-amz-target", "").split(".")[-1]
                .startswith("Create")]
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


# --- hosting: the model repacked with the handlers under code/ --------------------------------

MODEL_FILES = {"model.keras": b"weights", "spec.json": b"{}", "code/old.py": b"stale"}


def put_model(uri: str, files: dict[str, bytes] = MODEL_FILES) -> bytes:
    archive = output_archive(files)
    bucket, _, key = uri[5:].partition("/")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=archive)
    return archive


def assert_repacked(model_url: str, original_uri: str, src: Path) -> None:
    """Beside the original, named after its content; the model's files, and code/ replaced."""
    assert model_url.rpartition("/")[0] == original_uri.rpartition("/")[0]
    assert model_url.rpartition("/")[2].startswith(repack.PREFIX)
    found = members(read_object(model_url))
    assert found["model.keras"] == b"weights" and found["spec.json"] == b"{}"
    assert "code/old.py" not in found
    assert found["code/inference.py"] == (src / "inference.py").read_bytes()
    assert "code/__pycache__/helper.cpython-311.pyc" not in found


def test_deploy_repacks_the_training_jobs_model_with_the_handlers(project, moto_recorder,
                                                                  ecr_image, role_arn):
    data, src = project
    assert train(ecr_image, role_arn, data, name="sign-job") == 0
    sm = boto3.client("sagemaker")
    original_uri = sm.describe_training_job(
        TrainingJobName="sign-job")["ModelArtifacts"]["S3ModelArtifacts"]
    original = put_model(original_uri)

    assert main(["deploy", "--training-job", "sign-job", "--endpoint-name", "handlers",
                 "--source-dir", str(src), "--entry-point", "inference.py", "--no-wait"]) == 0

    (request,) = moto_recorder.calls("SageMaker.CreateModel")
    container = request["PrimaryContainer"]
    assert request["ModelName"] == "handlers"
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-east-1"}
    assert_repacked(container["ModelDataUrl"], original_uri, src)
    assert read_object(original_uri) == original  # the training job's output is untouched

    # The same model and code again: the same archive, not sent a second time.
    assert main(["deploy", "--training-job", "sign-job", "--endpoint-name", "handlers-2",
                 "--source-dir", str(src), "--entry-point", "inference.py", "--no-wait"]) == 0
    again = moto_recorder.calls("SageMaker.CreateModel")[-1]["PrimaryContainer"]
    assert again["ModelDataUrl"] == container["ModelDataUrl"]
    assert len(puts_of(moto_recorder, repack.PREFIX)) == 1


def test_transform_repacks_model_data_with_the_handlers(project, moto_recorder, ecr_image,
                                                        role_arn):
    _, src = project
    original_uri = "s3://models/signs/model.tar.gz"
    put_model(original_uri, {"model.keras": b"weights", "spec.json": b"{}"})
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="batch")
    s3.put_object(Bucket="batch", Key="in/a.png", Body=b"x")

    assert main(["transform", "--model-data", original_uri, "--image", ecr_image, "--role",
                 role_arn, "--input", "s3://batch/in/", "--output", "s3://batch/out/",
                 "--job-name", "batch-handlers", "--source-dir", str(src), "--entry-point",
                 "inference.py", "--no-wait"]) == 0

    (model,) = moto_recorder.calls("SageMaker.CreateModel")
    (job,) = moto_recorder.calls("SageMaker.CreateTransformJob")
    assert job["ModelName"] == model["ModelName"] == "batch-handlers"
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert_repacked(model["PrimaryContainer"]["ModelDataUrl"], original_uri, src)


@pytest.mark.parametrize("verb, flags, message", [
    ("deploy", ["--model-data", "s3://models/m.tar.gz", "--endpoint-name", "e",
                "--source-dir", "src"], "byoc deploy --source-dir needs --entry-point"),
    ("deploy", ["--model-data", "s3://models/m.tar.gz", "--endpoint-name", "e",
                "--entry-point", "src/inference.py", "--env", "SAGEMAKER_PROGRAM=x.py"],
     "--env SAGEMAKER_PROGRAM is set by --source-dir"),
    ("deploy", ["--multi-model", "--model-prefix", "s3://models/", "--endpoint-name", "e",
                "--entry-point", "src/inference.py"], "put the handlers into each model's"),
    ("deploy", ["--model-data", "s3://models/m.tar.gz", "--endpoint-name", "e",
                "--source-dir", "src", "--entry-point", "infer.py"], "no such file"),
    ("transform", ["--model-name", "existing", "--input", "s3://batch/in/", "--output",
                   "s3://batch/out/", "--entry-point", "src/inference.py"],
     "--model-name uses an existing model as it is"),
])
def test_bad_handlers_are_refused_before_anything_is_created(
        project, moto_recorder, ecr_image, role_arn, capsys, verb, flags, message):
    moto_recorder.start()
    # An existing model (--model-name) already has its image: --image beside it is refused too.
    image = [] if "--model-name" in flags else ["--image", ecr_image]
    assert main([verb, *image, "--role", role_arn, *flags]) == 2
    assert message in capsys.readouterr().err
    sent = moto_recorder.entries()
    assert [e for e in sent if e["method"] in ("PUT", "DELETE")] == []
    assert not [e for e in sent if e["headers"].get("x-amz-target", "").split(".")[-1]
                .startswith("Create")]
