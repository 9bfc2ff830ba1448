"""`byoc invoke --async` against moto's server: inputs uploaded to S3, InvokeEndpointAsync as
sent, answers and failures read from the locations it returns, and the wait's deadline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from byoc.cli import main
from byoc.driver import async_invoke
from byoc.driver.aws import connect
from tests.support.moto import PREDICTIONS, queue_async_results

pytestmark = pytest.mark.aws


@pytest.fixture
def async_endpoint(moto_endpoint, ecr_image, role_arn) -> str:
    assert main(["deploy", "--model-data", "s3://b/signs/model.tar.gz", "--image", ecr_image,
                 "--role", role_arn, "--endpoint-name", "signs", "--async-output",
                 "s3://answers/out/", "--async-failure", "s3://answers/err/"]) == 0
    boto3.client("s3").create_bucket(Bucket="answers")
    return "signs"


@pytest.fixture
def files(tmp_path) -> list[str]:
    # JSON bodies: moto's runtime cannot take binary ones (see test_endpoints.py).
    paths = [tmp_path / "stop.json", tmp_path / "yield.json"]
    for path in paths:
        path.write_text(json.dumps({"instances": [[[0.0, 0.0, 0.0]]]}))
    return [str(p) for p in paths]


def test_async_invoke_uploads_invokes_waits_and_prints_answers_and_failures(
        async_endpoint, moto_recorder, files, capsys):
    queue_async_results(moto_recorder.url, [
        {"data": json.dumps(PREDICTIONS)},
        {"is_failure": True, "data": "cannot decode application/json: no instances"},
    ])
    assert main(["invoke", "--endpoint", "signs", "--async", "--top-k", "2",
                 "--upload-to", "s3://answers/in/", *files]) == 2

    out, err = capsys.readouterr()
    assert "stop.json: stop (class 14, p=0.9100)" in out
    assert "2. no_entry" in out
    assert "yield.json: failed: cannot decode application/json: no instances" in err
    assert "1 of 2 asynchronous request(s) failed" in err
    assert "2 of 2 answered (1 failed)" in err  # the progress line
    s3 = boto3.client("s3")
    assert s3.get_object(Bucket="answers", Key="in/stop.json")["Body"].read() == \
        Path(files[0]).read_bytes()
    sent = [e for e in moto_recorder.entries() if "async-invocations" in e["url"]]
    assert [e["headers"]["x-amzn-sagemaker-inputlocation"] for e in sent] == [
        "s3://answers/in/stop.json", "s3://answers/in/yield.json"]
    assert {e["headers"]["x-amzn-sagemaker-content-type"] for e in sent} == {"application/json"}
    assert {e["headers"]["x-amzn-sagemaker-accept"] for e in sent} == {"application/json"}
    assert {e["headers"]["x-amzn-sagemaker-custom-attributes"] for e in sent} == {"top_k=2"}


def test_no_wait_prints_where_the_answers_will_appear(async_endpoint, moto_recorder, files,
                                                     capsys):
    assert main(["invoke", "--endpoint", "signs", "--async", "--no-wait", files[0]]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stop.json: inference ")
    assert "  output:  s3://" in out and "  failure: s3://" in out
    # The input went to byoc's default bucket, under a fresh prefix.
    (put,) = [e for e in moto_recorder.entries()
              if e["method"] == "PUT" and e["url"].endswith("/stop.json")]
    assert "/sagemaker-us-east-1-123456789012/byoc/async-input/signs/" in put["url"]


def test_the_wait_polls_until_the_answer_appears(moto_endpoint):
    """Real S3 (moto); the answer is written while the wait sleeps, as the endpoint would."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="answers")
    queued = [async_invoke.Submitted("a.json", "id-1", "s3://answers/in/a.json",
                                     "s3://answers/out/id-1.out", "s3://answers/err/id-1-error.out")]
    now = [0.0]
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        if len(sleeps) == 2:
            s3.put_object(Bucket="answers", Key="out/id-1.out", Body=json.dumps(PREDICTIONS),
                          ContentType="application/json")

    stream = io.StringIO()
    (answer,) = async_invoke.wait(connect(), "signs", queued, timeout=60, interval=5,
                                  stream=stream, clock=lambda: now[0], sleep=sleep)
    assert sleeps == [5, 5]
    assert not answer.failed
    assert async_invoke.answer_lines(answer)[0] == "a.json: stop (class 14, p=0.9100)"
    assert stream.getvalue().splitlines() == ["[00:00] async requests to signs: 0 of 1 answered",
                                              "[00:10] async requests to signs: 1 of 1 answered"]


def test_at_the_deadline_the_unanswered_locations_are_printed(async_endpoint, files,
                                                              monkeypatch, capsys):
    """moto's runtime writes every answer at once; an answer that never comes needs the
    runtime's reply from botocore's Stubber, pointing at S3 keys nobody writes."""
    monkeypatch.setattr(async_invoke, "POLL_SECONDS", 0.2)
    runtime = boto3.client("sagemaker-runtime")
    stub = Stubber(runtime)
    stub.add_response("invoke_endpoint_async", {
        "InferenceId": "slow-1", "OutputLocation": "s3://answers/out/slow-1.out"})
    monkeypatch.setattr(async_invoke, "runtime_client", lambda aws: runtime)
    with stub:
        assert main(["invoke", "--endpoint", "signs", "--async", "--timeout", "0.5",
                     "--upload-to", "s3://answers/in/", files[0]]) == 1
    err = capsys.readouterr().err
    assert "Stopped waiting after 0.5 s; 1 request(s) are still queued or running" in err
    assert "stop.json: inference slow-1" in err
    assert "output:  s3://answers/out/slow-1.out" in err
    assert f"failure: {async_invoke.NO_FAILURE_PATH}" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--async", "--url", "http://127.0.0.1:9"], "--async sends requests through S3"),
    (["--async", "--endpoint", "signs", "--target-model", "a.tar.gz"],
     "An asynchronous request has no --target-model"),
    (["--endpoint", "signs", "--no-wait"], "--no-wait is for asynchronous endpoints"),
    (["--endpoint", "signs", "--timeout", "5", "--upload-to", "s3://a/in/"],
     "--timeout, --upload-to are for asynchronous endpoints"),
])
def test_bad_async_flags_are_refused(moto_recorder, files, capsys, flags, message):
    assert main(["invoke", *flags, files[0]]) == 2
    assert message in capsys.readouterr().err
    assert moto_recorder.entries() == []


def test_two_files_of_one_name_are_refused_before_any_upload(moto_recorder, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.json").write_text("[]")
    assert main(["invoke", "--endpoint", "signs", "--async", str(tmp_path / "a" / "x.json"),
                 str(tmp_path / "b" / "x.json")]) == 2
    assert "Two files share a name" in capsys.readouterr().err
    assert [e for e in moto_recorder.entries() if e["method"] == "PUT"] == []
