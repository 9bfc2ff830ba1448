"""byoc's pipeline definition judged by the SageMaker Python SDK 2.x: the same pipeline built with
`sagemaker.workflow` (TrainingStep or TuningStep, ConditionStep, RegisterModel, ParameterString
and ParameterFloat) and `Pipeline.definition()`, offline, in the SDK's own virtualenv
(scripts/pipeline_definition.py), then compared with byoc's as JSON.

The two are compared whole, after `Std:Join`s are rendered as the strings they make and the few
fields where the two differ on purpose or by default are set aside (`set_aside_byoc` and
`set_aside_sdk` say which). No Docker: the SDK only writes JSON here, every case's in one run of
the script (`sdk_definitions`). The last test upserts and starts the pipeline on moto's server
first, and judges the definition the execution runs.
"""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest

from byoc import content_types
from byoc.cli import main
from byoc.driver import jobs, model_packages
from byoc.driver import pipeline_definition as pd
from byoc.driver.aws_options import AwsOptions
from tests.support.sdk import SCRIPTS, run_sdk_script

BUCKET = "sagemaker-us-east-1-123456789012"
DATA = f"s3://{BUCKET}/byoc/input/0123456789abcdef"
OUTPUT = f"s3://{BUCKET}/byoc/output"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc:v1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CHANNELS = ("train", "validation", "test")


def _spec() -> jobs.TrainingSpec:
    """A training job as byoc train makes it: byoc's metrics, three channels, a tag."""
    return jobs.TrainingSpec(
        image=IMAGE, role=ROLE, channels={c: f"{DATA}/{c}/" for c in CHANNELS}, output=OUTPUT,
        hyperparameters={"epochs": "15", "model": "lenet"}, max_run=7200,
        options=AwsOptions(tags={"team": "vision"}))


TUNING = jobs.TuningSpec(max_jobs=6, max_parallel_jobs=2, objective_metric="validation:loss",
                         objective_type="Minimize",
                         ranges=jobs.parse_ranges(["learning_rate=0.0001:0.1:log",
                                                   "batch_size=32,64", "augment=true,false"]))


def _inputs(spec: jobs.TrainingSpec, gate: pd.Gate, tuning: jobs.TuningSpec | None,
            data: str) -> dict:
    """What the SDK script needs to build the same pipeline, its data under the prefix `data`."""
    return {
        "name": "signs-pipeline", "bucket": BUCKET, "group": "signs",
        "parameters": {"data": pd.DATA, "instance_type": pd.INSTANCE_TYPE,
                       "threshold": pd.THRESHOLD},
        "data": data, "instance_type": spec.instance_type, "threshold": gate.threshold,
        "image": spec.image, "role": spec.role, "instance_count": spec.instance_count,
        "volume_gb": spec.volume_gb, "max_run": spec.max_run, "output": spec.output,
        "output_bucket": BUCKET, "output_prefix": "byoc/output",
        "hyperparameters": spec.hyperparameters, "metric_definitions": spec.metric_definitions,
        "tags": spec.options.marked()["Tags"],
        "channels": {c: uri[len(data) + 1:] for c, uri in spec.channels.items()},
        "gate_metric": gate.metric,
        "comparison": gate.comparison,
        "steps": {"job": pd.TUNE_STEP if tuning else pd.TRAIN_STEP, "gate": pd.GATE_STEP,
                  "register": pd.REGISTER_STEP.removesuffix("-RegisterModel")},
        "tune": tuning and {
            "metric": tuning.objective_metric, "type": tuning.objective_type,
            "ranges": tuning.ranges, "max_jobs": tuning.max_jobs,
            "max_parallel_jobs": tuning.max_parallel_jobs, "strategy": tuning.strategy,
            "early_stopping": tuning.early_stopping},
        "content_types": list(content_types.REQUEST_TYPES),
        "response_types": list(content_types.RESPONSE_TYPES),
        "instance_types": list(model_packages.INSTANCE_TYPES),
    }


def rendered(value: object) -> object:
    """`value` with each Std:Join as the string it makes, a Get as `{Get:PATH}` in it."""
    if isinstance(value, dict):
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(rendered(v)) for v in join["Values"])
        if set(value) == {"Get"}:
            return f"{{Get:{value['Get']}}}"
        return {k: rendered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rendered(v) for v in value]
    return value


def _job(definition: dict) -> dict:
    args = definition["Steps"][0]["Arguments"]
    return args.get("TrainingJobDefinition", args)


def _register(definition: dict) -> dict:
    return definition["Steps"][1]["Arguments"]["IfSteps"][0]["Arguments"]


def set_aside_byoc(definition: dict) -> None:
    """What byoc sends and the SDK leaves to SageMaker's defaults: spot off, and each channel's
    input mode (the SDK leaves it to the algorithm's TrainingInputMode, the same File)."""
    job = _job(definition)
    assert job.pop("EnableManagedSpotTraining") is False
    for channel in job["InputDataConfig"]:
        assert channel.pop("InputMode") == job["AlgorithmSpecification"]["TrainingInputMode"]


def set_aside_sdk(definition: dict, tuned: bool) -> None:
    """What the SDK adds of its own: an Experiments trial per execution, the profiler switched
    off, a model validation switch left unset (the string "None"); and for tuning the newer
    HyperParameterTuningResourceConfig where byoc sends ResourceConfig, with the same fields."""
    assert definition.pop("PipelineExperimentConfig")["TrialName"] == {
        "Get": "Execution.PipelineExecutionId"}
    assert _register(definition).pop("SkipModelValidation") == "None"
    job = _job(definition)
    if tuned:
        job["ResourceConfig"] = job.pop("HyperParameterTuningResourceConfig")
    else:
        assert job.pop("ProfilerConfig") == {"DisableProfiler": True}



# What each test compares, as the SDK is asked to build it: (spec, gate, tuning, data prefix).
# "upserted" is what `byoc pipeline upsert` is asked for below: moto's ECR image, the data under
# signs/, and the channels in the order S3 lists their prefixes, as byoc finds them.
UPSERTED_DATA = f"s3://{BUCKET}/signs"
CASES = {
    "training": (_spec(), pd.parse_gate("test:accuracy>=0.9"), None, DATA),
    "tuning": (_spec(), pd.parse_gate("validation:loss<=0.35"), TUNING, DATA),
    "upserted": (dataclasses.replace(_spec(), channels={
        c: f"{UPSERTED_DATA}/{c}/" for c in sorted(CHANNELS)}),
        pd.parse_gate("test:accuracy>=0.9"), None, UPSERTED_DATA),
}


@pytest.fixture(scope="module")
def sdk_definitions(sdk2_python, tmp_path_factory) -> dict[str, dict]:
    """The SDK 2.x's `Pipeline.definition()` for each of CASES, by name, from one interpreter."""
    tmp = tmp_path_factory.mktemp("sdk_pipelines")
    paths = []
    for name, (spec, gate, tuning, data) in CASES.items():
        paths.append(tmp / f"{name}.json")
        paths[-1].write_text(json.dumps(_inputs(spec, gate, tuning, data)))
    run = run_sdk_script(None, sdk2_python, SCRIPTS / "pipeline_definition.py",
                         *map(str, paths), cwd=tmp, timeout=300)
    definitions = run.check()
    assert sorted(definitions) == sorted(CASES), run.output[-3000:]
    return definitions


def assert_same(byoc: dict, sdk: dict, tuned: bool) -> None:
    # The fields that matter, named first so that a difference reads as what it is.
    assert byoc["Version"] == sdk["Version"] == "2020-12-01"
    assert byoc["Parameters"] == sdk["Parameters"]
    assert [(s["Name"], s["Type"], s.get("DependsOn")) for s in byoc["Steps"]] == \
        [(s["Name"], s["Type"], s.get("DependsOn")) for s in sdk["Steps"]]
    assert byoc["Steps"][1]["Arguments"]["Conditions"] == \
        sdk["Steps"][1]["Arguments"]["Conditions"]
    assert rendered(_register(byoc)["InferenceSpecification"]) == \
        rendered(_register(sdk)["InferenceSpecification"])
    # Then everything, with what each side adds of its own set aside.
    set_aside_byoc(byoc)
    set_aside_sdk(sdk, tuned)
    assert sorted(_job(byoc)) == sorted(_job(sdk))
    assert rendered(byoc) == rendered(sdk)


@pytest.mark.parametrize("case", ["training", "tuning"])
def test_byocs_pipeline_definition_matches_the_sdks(sdk_definitions, case):
    spec, gate, tuning, data = CASES[case]
    byoc = pd.definition(spec, data=data, gate=gate, group="signs", tuning=tuning)
    assert_same(byoc, sdk_definitions[case], tuned=tuning is not None)


def test_a_pipeline_upserted_and_started_on_moto_runs_the_sdks_definition(
        sdk_definitions, moto_endpoint, ecr_image, capsys):
    """`byoc pipeline upsert` and `start` against moto's server: the definition the execution
    runs (DescribePipelineDefinitionForExecution) is the SDK's for the same flags."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for channel in CHANNELS:
        s3.put_object(Bucket=BUCKET, Key=f"signs/{channel}/00/sign.png", Body=b"png")
    # The SDK's pipeline (CASES["upserted"]) was built for the same image and data.
    spec, _, _, data = CASES["upserted"]
    assert (ecr_image, data) == (spec.image, f"s3://{BUCKET}/signs")
    assert main(["pipeline", "upsert", "signs-pipeline", "--image", ecr_image, "--data", data,
                 "--role", ROLE, "--hp", "epochs=15", "--hp", "model=lenet", "--max-run",
                 "7200", "--tags", "team=vision", "--gate", "test:accuracy>=0.9", "--group",
                 "signs"]) == 0
    capsys.readouterr()
    assert main(["pipeline", "start", "signs-pipeline", "--no-wait"]) == 0
    execution = capsys.readouterr().out.strip()
    ran = json.loads(boto3.client("sagemaker").describe_pipeline_definition_for_execution(
        PipelineExecutionArn=execution)["PipelineDefinition"])
    assert_same(ran, sdk_definitions["upserted"], tuned=False)
