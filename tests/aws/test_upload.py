"""Uploads of a local dataset against moto's server: parallel, and skipped when already there."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from byoc.cli import main
from byoc.driver import upload
from byoc.driver.aws import connect
from byoc.errors import UserError

pytestmark = pytest.mark.aws

BUCKET = "sagemaker-us-east-1-123456789012"


def make_dataset(root: Path, count: int = 6) -> Path:
    for i in range(count):
        channel = "train" if i % 3 else "validation"
        path = root / channel / str(i % 2) / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"image {i}".encode())
    return root


def object_puts(recorder) -> list[str]:
    """Keys written (PutObject or a multipart part), without the bucket's own creation."""
    return [e["url"] for e in recorder.entries()
            if e["method"] == "PUT" and not e["url"].rstrip("/").endswith(BUCKET)]


def train(data: Path, image: str, role: str, job: str, *extra: str) -> int:
    return main(["train", "--image", image, "--data", str(data), "--role", role, "--job-name",
                 job, "--no-wait", *extra])


def test_a_second_train_on_the_same_data_uploads_nothing(moto_recorder, ecr_image, role_arn,
                                                        tmp_path):
    data = make_dataset(tmp_path / "data")
    assert train(data, ecr_image, role_arn, "first") == 0
    assert len(object_puts(moto_recorder)) == 6
    moto_recorder.start()  # record the second run only

    assert train(data, ecr_image, role_arn, "second") == 0

    assert object_puts(moto_recorder) == []
    sm = boto3.client("sagemaker")
    channels = [sm.describe_training_job(TrainingJobName=job)["InputDataConfig"]
                for job in ("first", "second")]
    assert channels[0] == channels[1]  # the same content-addressed prefix


def test_upload_to_a_stable_prefix_sends_only_new_and_changed_files(moto_recorder, ecr_image,
                                                                   role_arn, tmp_path):
    data = make_dataset(tmp_path / "data")
    target = "s3://my-data/signs"
    boto3.client("s3").create_bucket(Bucket="my-data")
    assert train(data, ecr_image, role_arn, "first", "--upload-to", target) == 0
    (data / "train" / "1" / "1.png").write_bytes(b"a better image 1")  # changed, same name
    (data / "train" / "0" / "new.png").write_bytes(b"new")
    (data / "train" / "0" / "4.png").write_bytes(b"image 9")  # same size, other content
    moto_recorder.start()

    assert train(data, ecr_image, role_arn, "second", "--upload-to", target) == 0

    assert sorted(url.rsplit("/signs/", 1)[1] for url in object_puts(moto_recorder)) == [
        "train/0/4.png", "train/0/new.png", "train/1/1.png"]
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName="second")
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in desc["InputDataConfig"]} == {"train": f"{target}/train/",
                                                  "validation": f"{target}/validation/"}


def test_a_prefix_holding_other_objects_is_refused_before_the_job(moto_recorder, ecr_image,
                                                                  role_arn, tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="my-data")
    s3.put_object(Bucket="my-data", Key="signs/train/0/stale.png", Body=b"old")
    assert train(data, ecr_image, role_arn, "job", "--upload-to", "s3://my-data/signs") == 2
    err = capsys.readouterr().err
    assert "holds 1 object(s) that are not in the local data, e.g. signs/train/0/stale.png" in err
    assert "aws s3 rm s3://my-data/signs/train/ --recursive" in err
    assert moto_recorder.calls("SageMaker.CreateTrainingJob") == []


def test_upload_to_with_s3_data_is_refused_before_anything_reaches_aws(moto_recorder, ecr_image,
                                                                      role_arn, capsys):
    moto_recorder.start()
    assert main(["train", "--image", ecr_image, "--data", "s3://b/signs", "--role", role_arn,
                 "--upload-to", "s3://b/elsewhere"]) == 2
    assert "--upload-to is for a local --data directory" in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_the_checksum_of_a_multipart_file_matches_s3s(moto_endpoint, tmp_path):
    """A file above the part size is uploaded in parts; its ETag is the MD5 of the parts' MD5s."""
    big = tmp_path / "big" / "train" / "blob.npy"
    big.parent.mkdir(parents=True)
    big.write_bytes(bytes(range(256)) * (upload.PART_BYTES // 256 + 4096))
    aws = connect()
    boto3.client("s3").create_bucket(Bucket="big-data")
    files = upload.local_files(big.parent)
    assert files[0].etag.endswith("-2")

    assert upload.sync(aws, files, "s3://big-data/big/train/") == upload.Uploaded(sent=1, skipped=0)
    head = boto3.client("s3").head_object(Bucket="big-data", Key="big/train/blob.npy")
    assert head["ETag"].strip('"') == files[0].etag
    assert upload.sync(aws, files, "s3://big-data/big/train/") == upload.Uploaded(sent=0, skipped=1)


def test_an_empty_directory_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no files to upload"):
        upload.local_files(tmp_path / "empty")


def test_an_upload_interrupted_half_way_is_completed_without_sending_everything_again(
        moto_endpoint, tmp_path):
    """Ctrl-C (KeyboardInterrupt) after half the files: the next sync sends only the rest."""
    root = tmp_path / "data" / "train"
    for i in range(40):
        (root / str(i % 4)).mkdir(parents=True, exist_ok=True)
        (root / str(i % 4) / f"{i}.png").write_bytes(f"image {i}".encode() * 50)
    aws = connect()
    boto3.client("s3").create_bucket(Bucket="interrupted")
    files = upload.local_files(root)

    def interrupt_half_way(done: int, total: int) -> None:
        if done == total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload.sync(aws, files, "s3://interrupted/train/", workers=4,
                    progress=interrupt_half_way)
    listed = boto3.client("s3").list_objects_v2(Bucket="interrupted", Prefix="train/")
    already = listed.get("KeyCount", 0)
    # At most the sliding window (2 × workers) was in flight when the sync was interrupted.
    assert len(files) // 2 <= already <= len(files) // 2 + 2 * 4

    again = upload.sync(aws, files, "s3://interrupted/train/", workers=4)
    assert again == upload.Uploaded(sent=len(files) - already, skipped=already)
    assert upload.sync(aws, files, "s3://interrupted/train/") == upload.Uploaded(
        sent=0, skipped=len(files))
