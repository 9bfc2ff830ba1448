"""docs/production.md, run as written against moto's server: the walkthrough's bash block, then
its Python block, in one directory; and the pipeline section's block.

The page continues from the On AWS and Hosting pages, so their training jobs signs-1 and signs-2
are made first, each with the output.tar.gz SageMaker would have left (moto completes a job at
once without running its image). moto's runtime fails on a binary request body, so `byoc invoke`
sends the page's PNG as JSON (`{"instances": [{"b64": ...}]}`), as in test_docs_aws.py.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from PIL import Image

from byoc.cli import main, pipeline_verbs
from byoc.driver import endpoints
from tests.support.aws_jobs import make_dataset
from tests.support.docs import code_block, code_blocks, commands, run_command
from tests.support.executables import exe_env
from tests.support.moto import PREDICTIONS, queue_endpoint_results
from tests.support.pipelines import MotoWithStubs
from tests.support.stubs import offline_sagemaker
from tests.support.trained_jobs import METRICS, completed_job

pytestmark = pytest.mark.aws

PAGE = "production.md"
OUTPUT = "s3://sagemaker-us-east-1-123456789012/byoc/output"  # where byoc train puts jobs
BETTER = {**METRICS, "test_accuracy": 0.9431, "test_macro_f1": 0.9377, "test_loss": 0.2012}


def _shown(first_line: str) -> list[str]:
    """The page's text block that starts with `first_line`, as lines with single spaces."""
    return [" ".join(line.split()) for line in code_block(PAGE, "text", first_line).splitlines()]


def test_the_production_page_runs_as_written(moto_endpoint, moto_recorder, ecr_image, role_arn,
                                             tmp_path):
    completed_job("signs-1", ecr_image, role_arn, output=OUTPUT)
    completed_job("signs-2", ecr_image, role_arn, output=OUTPUT, metrics=BETTER)
    png = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 0, 0)).save(png, "PNG")
    b64 = base64.b64encode(png.getvalue()).decode()
    (tmp_path / "stop.png.json").write_text(json.dumps({"instances": [{"b64": b64}]}))
    queue_endpoint_results(moto_endpoint, [{"Body": json.dumps(PREDICTIONS),
                                            "ContentType": "application/json"}])
    [block] = [b for b in code_blocks(PAGE, "bash") if "byoc registry list" in b]
    assert block.count(" stop.png\n") == 1, "the page's invoke line changed"
    env = exe_env()

    out = run_command(block.replace(" stop.png\n", " stop.png.json\n"), tmp_path, env)

    sagemaker = boto3.client("sagemaker")
    versions = sagemaker.list_model_packages(ModelPackageGroupName="signs", SortBy="Name")[
        "ModelPackageSummaryList"]
    v1, v2 = sorted((v["ModelPackageArn"] for v in versions), key=lambda a: a[-1])
    described = {arn: sagemaker.describe_model_package(ModelPackageName=arn) for arn in (v1, v2)}
    assert described[v2]["ModelApprovalStatus"] == "Approved"
    assert described[v2]["ApprovalDescription"] == "best test accuracy and macro F1"
    assert described[v1]["ModelApprovalStatus"] == "Rejected"
    [group] = moto_recorder.calls("SageMaker.CreateModelPackageGroup")
    assert endpoints.CREATED_BY_BYOC in group["Tags"]
    [model] = moto_recorder.calls("SageMaker.CreateModel")
    assert model["PrimaryContainer"] == {"ModelPackageName": v2}
    assert sagemaker.list_endpoints()["Endpoints"] == []  # step 5
    assert "stop.png.json: stop (class 14, p=0.9100)" in out

    # What the page shows is what the commands print (the dates and the cut ARNs aside).
    listed = [" ".join(line.split()) for line in out.splitlines()]
    header = _shown("version  status")[0]
    assert header in listed
    for row in _shown("version  status")[2:]:
        version, status, _, _, *rest = row.split()
        assert any(line.startswith(f"{version} {status} ") and
                   line.split()[4:8] == rest[:4] for line in listed), row
    approve = _shown("Model package arn")
    assert approve[0] in listed and approve[1] in listed

    # The refusal the page quotes, for the rejected version.
    refused = run_command(f'byoc deploy --package {v1} --endpoint-name signs-prod 2>&1 || true',
                          tmp_path, env)
    assert " ".join(refused.split()) == _shown("error: Model package")[0]

    # And its Python block, in the same directory.
    [python] = code_blocks(PAGE, "python")
    (tmp_path / "page.py").write_text(python)
    run_command(f"{sys.executable} page.py", tmp_path, env)
    assert sagemaker.describe_endpoint(EndpointName="signs-prod")["EndpointStatus"] == \
        "InService"
    assert len(sagemaker.list_model_packages(ModelPackageGroupName="signs")[
        "ModelPackageSummaryList"]) == 3


def _page_steps() -> tuple[str, list[dict]]:
    """The page's `byoc pipeline status` output: its text, and the ListPipelineExecutionSteps
    answer that makes it."""
    text = code_block(PAGE, "text", "Pipeline signs-pipeline, execution")
    steps = []
    for row in text.splitlines()[3:]:
        name, status, day1, time1, day2, time2, outcome = row.split(maxsplit=6)
        step = {"StepName": name, "StepStatus": status,
                "StartTime": datetime.fromisoformat(f"{day1}T{time1}+00:00"),
                "EndTime": datetime.fromisoformat(f"{day2}T{time2}+00:00")}
        if outcome.startswith("condition "):
            step["Metadata"] = {"Condition": {"Outcome": outcome.split()[1]}}
        else:
            kind = "TrainingJob" if ":training-job/" in outcome else "RegisterModel"
            step["Metadata"] = {kind: {"Arn": outcome}}
        steps.append(step)
    assert [s["StepName"] for s in steps] == ["Train", "CheckMetric", "Register-RegisterModel"]
    assert datetime.now(timezone.utc) > steps[-1]["EndTime"]
    return text, steps


def test_the_pipeline_section_runs_as_written(moto_recorder, ecr_image, role_arn, tmp_path,
                                              monkeypatch, capsys):
    """The section's block, command by command. moto 5.2.6 lacks ListPipelineExecutionSteps, so
    `byoc pipeline status` runs in this process, with that one call answered by botocore's
    Stubber with the steps the page shows; every other call of the block goes to moto."""
    make_dataset(tmp_path / "signs")
    env = exe_env(IMAGE=ecr_image, SAGEMAKER_ROLE_ARN=role_arn)
    [block] = [b for b in code_blocks(PAGE, "bash") if "byoc pipeline upsert" in b]
    upsert, start, status, delete = commands(block)
    assert status == "byoc pipeline status signs-pipeline"

    arn = run_command(upsert, tmp_path, env).strip()
    assert arn.endswith(":pipeline/signs-pipeline")
    execution = run_command(start, tmp_path, env).strip()
    [sent] = moto_recorder.calls("SageMaker.StartPipelineExecution")
    assert sent["PipelineParameters"] == [{"Name": "MetricThreshold", "Value": "0.95"}]
    definition = json.loads(boto3.client("sagemaker").describe_pipeline(
        PipelineName="signs-pipeline")["PipelineDefinition"])
    assert {p["Name"] for p in definition["Parameters"]} == {
        "InputData", "InstanceType", "MetricThreshold"}  # the page's table of parameters

    shown, steps = _page_steps()
    sm = offline_sagemaker()
    with Stubber(sm) as stub:
        stub.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": steps},
                          {"PipelineExecutionArn": execution, "SortOrder": "Ascending"})
        monkeypatch.setattr(pipeline_verbs, "connect_from",
                            lambda args: MotoWithStubs(sm, "list_pipeline_execution_steps"))
        assert main(status.split()[1:]) == 0
    printed = capsys.readouterr().out.splitlines()
    # The page's output, but for the execution's id and start time, which moto makes.
    assert printed[0].startswith(f"Pipeline signs-pipeline, execution {execution}: Succeeded")
    assert printed[1:] == shown.splitlines()[1:]

    out = run_command(delete, tmp_path, env)
    assert "Deleted pipeline signs-pipeline." in out
    assert boto3.client("sagemaker").list_pipelines()["PipelineSummaries"] == []
