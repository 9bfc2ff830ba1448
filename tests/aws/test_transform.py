"""`byoc transform` against moto's server: content types by extension (one job per type, each
with its own manifest, when a prefix mixes them), the payload and concurrency limits, and every
refusal before anything is created or uploaded. moto's recorder keeps the requests as sent."""

from __future__ import annotations

import json

import boto3
import pytest

from byoc.cli import main

pytestmark = pytest.mark.aws

BUCKET = "batch"
DEFAULT_BUCKET = "sagemaker-us-east-1-123456789012"


@pytest.fixture
def put(moto_endpoint):
    """Put objects (key: size in bytes) under s3://batch/."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)

    def put_objects(sizes: dict[str, int]) -> None:
        for key, size in sizes.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * size)

    return put_objects


def _transform(ecr_image, role_arn, *flags: str) -> int:
    return main(["transform", "--model-data", "s3://models/m.tar.gz", "--image", ecr_image,
                 "--role", role_arn, "--input", f"s3://{BUCKET}/in/", "--output",
                 f"s3://{BUCKET}/out/", *flags])


def _manifest(uri: str) -> list:
    bucket, _, key = uri[5:].partition("/")
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_prefix_of_png_and_jpeg_runs_one_job_per_type_from_manifests(
        put, moto_recorder, ecr_image, role_arn, capsys):
    put({"in/a.png": 10, "in/sub/b.png": 10, "in/c.jpg": 10, "in/d.JPEG": 10})
    moto_recorder.start()
    assert _transform(ecr_image, role_arn, "--job-name", "mix", "--max-payload-mb", "10",
                      "--max-concurrent-transforms", "4") == 0
    jpg, png = moto_recorder.calls("SageMaker.CreateTransformJob")
    assert [jpg["TransformJobName"], png["TransformJobName"]] == ["mix-jpg", "mix-png"]
    for request, ctype in ((jpg, "image/jpeg"), (png, "image/png")):
        assert request["TransformInput"]["ContentType"] == ctype
        assert request["TransformInput"]["SplitType"] == "None"
        assert request["BatchStrategy"] == "SingleRecord"
        assert request["MaxPayloadInMB"] == 10
        assert request["MaxConcurrentTransforms"] == 4
        assert request["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/out/"
        assert request["ModelName"] == "mix"
    sources = [r["TransformInput"]["DataSource"]["S3DataSource"] for r in (jpg, png)]
    assert {s["S3DataType"] for s in sources} == {"ManifestFile"}
    assert [s["S3Uri"] for s in sources] == [
        f"s3://{DEFAULT_BUCKET}/byoc/transform/mix/jpg.manifest",
        f"s3://{DEFAULT_BUCKET}/byoc/transform/mix/png.manifest"]
    assert _manifest(sources[0]["S3Uri"]) == [{"prefix": f"s3://{BUCKET}/in/"}, "c.jpg", "d.JPEG"]
    assert _manifest(sources[1]["S3Uri"]) == [{"prefix": f"s3://{BUCKET}/in/"}, "a.png",
                                              "sub/b.png"]
    out = capsys.readouterr().out
    assert "Transform job mix-jpg: image/jpeg, 2 object(s)" in out
    assert "Transform job mix-png: image/png, 2 object(s)" in out


def test_one_file_type_runs_one_job_over_the_prefix_and_uploads_nothing(
        put, moto_recorder, ecr_image, role_arn):
    put({"in/a.jpeg": 10, "in/b.jpg": 10})
    moto_recorder.start()
    assert _transform(ecr_image, role_arn, "--job-name", "jpegs") == 0
    (request,) = moto_recorder.calls("SageMaker.CreateTransformJob")
    assert request["TransformJobName"] == "jpegs"
    assert request["TransformInput"]["ContentType"] == "image/jpeg"
    assert request["TransformInput"]["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/in/"}
    assert "MaxPayloadInMB" not in request and "MaxConcurrentTransforms" not in request
    assert [e for e in moto_recorder.entries() if e["method"] == "PUT"] == []


def test_content_type_sends_every_object_as_that_type(put, moto_recorder, ecr_image, role_arn):
    put({"in/a.png": 10, "in/b.jpg": 10, "in/c.bin": 10})
    moto_recorder.start()
    assert _transform(ecr_image, role_arn, "--job-name", "raw", "--content-type",
                      "application/x-image") == 0
    (request,) = moto_recorder.calls("SageMaker.CreateTransformJob")
    assert request["TransformInput"]["ContentType"] == "application/x-image"
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"


MB = 1024 * 1024


@pytest.mark.parametrize(("objects", "flags", "message"), [
    ({"in/a.png": 1}, ["--max-payload-mb", "101"], "--max-payload-mb must be between 1 and 100"),
    ({"in/a.png": 1}, ["--max-payload-mb", "0"], "byoc's server needs a limit"),
    ({"in/a.png": 1}, ["--max-concurrent-transforms", "17"],
     "--max-concurrent-transforms 17 x --max-payload-mb 6 is over SageMaker's 100 MB"),
    ({"in/a.png": 1}, ["--max-payload-mb", "20", "--max-concurrent-transforms", "6"],
     "with 20 MB, at most 5 concurrent requests"),
    ({"in/a.png": 1}, ["--max-concurrent-transforms", "0"], "must be at least 1"),
    ({"other/a.png": 1}, [], "No objects under s3://batch/in/"),
    ({"in/a.png": 1, "in/notes.txt": 1, "in/b.jpg": 1}, [],
     "1 object(s) under s3://batch/in/ have no known file type, e.g. notes.txt"),
    ({"in/a.png": 1, "in/big.png": 7 * MB}, [],
     "exceed the 6 MB a request may carry, e.g. big.png (7.0 MB): pass --max-payload-mb 7"),
    ({"in/a.png": 1, "in/b.jpg": 1}, ["--job-name", "j" * 60],
     "'" + "j" * 60 + "-jpg' is too long. Pass a shorter --job-name"),
    ({"in/a.png": 1, "in/b.jpg": 1}, ["--job-name", "taken"],
     "A transform job named 'taken-png' already exists"),
    ({"in/a.png": 1}, ["--model-name", "m"], "--model-name uses an existing model; "
     "--model-data and --image name the model byoc creates. Pass one of them"),
])
def test_bad_values_are_refused_before_anything_is_created_or_uploaded(
        put, moto_recorder, ecr_image, role_arn, capsys, objects, flags, message):
    put(objects)
    if "taken" in flags:
        boto3.client("sagemaker").create_transform_job(
            TransformJobName="taken-png", ModelName="m",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": "s3://batch/in/"}}},
            TransformOutput={"S3OutputPath": "s3://batch/out/"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    moto_recorder.start()
    code = None
    try:
        code = _transform(ecr_image, role_arn, *flags)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    sent = moto_recorder.entries()
    assert [e for e in sent if e["method"] in ("PUT", "DELETE")] == []
    assert not [e for e in sent if e["headers"].get("x-amz-target", "").split(".")[-1]
                .startswith("Create")]


@pytest.mark.parametrize(("flags", "message"), [
    (["--model-name", "no-such-model"], "No model named 'no-such-model'"),
    (["--model-name", "m", "--training-job", "signs-1"],
     "--model-name uses an existing model; --training-job names the model byoc creates. Pass "
     "one of them: --model-name NAME, or --training-job NAME"),
])
def test_model_name_alone_or_refused_beside_a_model_to_create(put, moto_recorder, role_arn,
                                                              capsys, flags, message):
    """--model-name and --training-job used to run with one of them silently ignored."""
    put({"in/a.png": 1})
    moto_recorder.start()
    assert main(["transform", "--role", role_arn, "--input", f"s3://{BUCKET}/in/", "--output",
                 f"s3://{BUCKET}/out/", *flags]) == 2
    assert message in capsys.readouterr().err
    assert [e for e in moto_recorder.entries() if e["method"] in ("PUT", "DELETE")] == []
