"""docs/python-api.md, executed as written: every ```python block, in order, as one script run by
a fresh interpreter against moto's server (AWS_ENDPOINT_URL).

moto completes a training job at once and writes no output, so the output.tar.gz SageMaker would
have made of the job's /opt/ml/output/data is put in S3 first (byoc's real evaluation report).
moto's SageMaker runtime cannot take a binary body (it decodes every request as UTF-8), so the
page's PNG requests go to a stand-in for the runtime that records them and answers as byoc's
server does (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME); everything else is moto.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import numpy as np
import pytest

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "python-api.md"
BUCKET = "sagemaker-us-east-1-123456789012"  # the default bucket for moto's account
JOB = "signs-1"  # the page's job name
ANSWER = {"predictions": [{
    "class_id": 14, "label": "stop", "probability": 0.91,
    "top_k": [{"class_id": 14, "label": "stop", "probability": 0.91},
              {"class_id": 17, "label": "no_entry", "probability": 0.06}],
}]}


def page_code() -> str:
    blocks = [b.split("```", 1)[0] for b in PAGE.read_text().split("```python\n")[1:]]
    assert len(blocks) >= 7, "the page lost its code blocks"
    return "\n".join(blocks)


@pytest.fixture
def runtime_stand_in(monkeypatch):
    """A SageMaker runtime that records each InvokeEndpoint and answers like byoc's server."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            payload = json.dumps(ANSWER).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
                       f"http://127.0.0.1:{server.server_address[1]}")
    yield received
    server.shutdown()


def put_image_and_output(tmp_path: Path) -> dict:
    """The page's image in moto's ECR, and the job's evaluation output in S3; the metrics."""
    from byoc.evaluation import SplitResult, write_report

    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="byoc")
    manifest = {"schemaVersion": 2, "mediaType":
                "application/vnd.docker.distribution.manifest.v2+json",
                "config": {}, "layers": []}
    ecr.put_image(repositoryName="byoc", imageManifest=json.dumps(manifest), imageTag="latest")
    out = tmp_path / "job-output"
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    metrics = write_report(out, class_names=["stop", "yield"],
                           splits={"test": SplitResult(np.array([0, 1, 1, 1]), probs)},
                           history={}, class_counts={}, top_k=3)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(out.iterdir()):
            tar.add(path, arcname=path.name)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"byoc/output/{JOB}/output/output.tar.gz",
                  Body=buf.getvalue())
    return metrics


def test_the_python_api_page_runs_as_written(moto_endpoint, moto_recorder, runtime_stand_in,
                                                 tmp_path):
    metrics = put_image_and_output(tmp_path)
    work = tmp_path / "reader"
    work.mkdir()
    script = work / "page.py"
    script.write_text(page_code())
    run = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True,
                         text=True, timeout=300, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout

    # The folder went to S3, and the job trained on it with the page's hyperparameters.
    [created] = moto_recorder.calls("SageMaker.CreateTrainingJob")
    assert created["TrainingJobName"] == JOB
    assert created["HyperParameters"]["epochs"] == "10"
    assert created["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerRole"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in created["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "test"}
    prefix = out.splitlines()[0]
    assert prefix.startswith(f"s3://{BUCKET}/byoc/input/")
    assert all(uri.startswith(prefix) for uri in channels.values())
    local_pngs = sorted((work / "signs" / "train").glob("*/*.png"))
    bucket, _, key = channels["train"][len("s3://"):].partition("/")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)
    uploaded = {o["Key"][len(key):] for o in listing["Contents"]}
    assert {p.relative_to(work / "signs" / "train").as_posix() for p in local_pngs} <= uploaded

    # Metrics and report, from the job's output, unpacked where the page said.
    assert f"s3://{BUCKET}/byoc/output/{JOB}/output/model.tar.gz" in out
    assert "Evaluation" in out and f"{metrics['test_accuracy']:.4f}" in out
    assert (work / JOB / "report.md").is_file()

    # Re-joined: the ended job read again, and listed among byoc's jobs.
    assert f"Training job {JOB}: Completed" in out
    assert f"Output: s3://{BUCKET}/byoc/output/{JOB}/output/output.tar.gz" in out
    assert f"training job {JOB} Completed" in out

    # The endpoint hosted the job's model; the PNGs were sent as they are, one request each.
    assert f"signs {JOB}" in out
    pngs = sorted((work / "signs" / "test").glob("*/*.png"))[:3]
    assert [r["body"] for r in runtime_stand_in] == [p.read_bytes() for p in pngs]
    assert {r["path"] for r in runtime_stand_in} == {"/endpoints/signs/invocations"}
    assert {r["headers"]["Content-Type"] for r in runtime_stand_in} == {"image/png"}
    for png in pngs:
        assert f"{png.name}: stop (class 14, p=0.91)" in out

    # The job became version 1 of the group, with its metrics, and was approved.
    [registered] = moto_recorder.calls("SageMaker.CreateModelPackage")
    assert registered["ModelPackageGroupName"] == "signs"
    assert registered["MetadataProperties"]["GeneratedBy"].endswith(f":training-job/{JOB}")
    statistics = registered["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"] == f"s3://{BUCKET}/byoc/output/{JOB}/registry/metrics.json"
    assert f"{metrics['test_accuracy']:.4f}" in out.split("test_accuracy")[-1]
    [approval] = moto_recorder.calls("SageMaker.UpdateModelPackage")
    assert approval["ModelApprovalStatus"] == "Approved"

    # And nothing is left running.
    sagemaker = boto3.client("sagemaker")
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    assert "endpoint signs" in out.splitlines()[-1]
