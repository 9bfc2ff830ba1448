"""The pipeline `byoc pipeline upsert` makes, built with the SageMaker Python SDK 2.x offline.

Run with the SDK 2.x interpreter: `python pipeline_definition.py INPUTS.json...`. Each INPUTS
holds what one of byoc's definitions was made from (tests/sdk/test_pipeline_definition.py writes
them). Prints the SDK's `Pipeline.definition()` of each as `RESULT {"<INPUTS stem>": {json}}`;
one interpreter builds them all, since importing the SDK is most of the cost. Nothing here calls
AWS.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
)
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import (
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
)
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.parameters import ParameterFloat, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.step_collections import RegisterModel
from sagemaker.workflow.steps import TrainingStep, TuningStep

SCALING = {"Auto": "Auto", "Linear": "Linear", "Logarithmic": "Logarithmic"}
CONDITIONS = {">=": ConditionGreaterThanOrEqualTo, "<=": ConditionLessThanOrEqualTo,
              ">": ConditionGreaterThan, "<": ConditionLessThan}


def ranges(config: dict) -> dict:
    found = {}
    for r in config["ContinuousParameterRanges"]:
        found[r["Name"]] = ContinuousParameter(float(r["MinValue"]), float(r["MaxValue"]),
                                               scaling_type=SCALING[r["ScalingType"]])
    for r in config["IntegerParameterRanges"]:
        found[r["Name"]] = IntegerParameter(int(r["MinValue"]), int(r["MaxValue"]),
                                            scaling_type=SCALING[r["ScalingType"]])
    for r in config["CategoricalParameterRanges"]:
        found[r["Name"]] = CategoricalParameter(r["Values"])
    return found


def definition(path: Path) -> dict:
    given = json.loads(path.read_text())
    session = PipelineSession(boto_session=boto3.Session(region_name="us-east-1"),
                              default_bucket=given["bucket"])
    names = given["parameters"]
    data = ParameterString(names["data"], default_value=given["data"])
    instance_type = ParameterString(names["instance_type"],
                                    default_value=given["instance_type"])
    threshold = ParameterFloat(names["threshold"], default_value=given["threshold"])

    estimator = Estimator(
        image_uri=given["image"], role=given["role"], instance_count=given["instance_count"],
        instance_type=instance_type, volume_size=given["volume_gb"],
        max_run=given["max_run"], output_path=given["output"],
        hyperparameters=given["hyperparameters"],
        metric_definitions=given["metric_definitions"], sagemaker_session=session,
        checkpoint_s3_uri=None if given["tune"] else Join(
            on="/", values=[given["output"], ExecutionVariables.PIPELINE_EXECUTION_ID,
                            "checkpoints"]),
        checkpoint_local_path=None if given["tune"] else "/opt/ml/checkpoints",
        tags=given["tags"], disable_profiler=True, debugger_hook_config=False)
    inputs = {channel: TrainingInput(Join(on="/", values=[data, suffix]),
                                     distribution="FullyReplicated", s3_data_type="S3Prefix")
              for channel, suffix in given["channels"].items()}
    steps = given["steps"]
    if given["tune"]:
        tuning = given["tune"]
        tuner = HyperparameterTuner(
            estimator, tuning["metric"], ranges(tuning["ranges"]),
            metric_definitions=given["metric_definitions"],
            objective_type=tuning["type"], max_jobs=tuning["max_jobs"],
            max_parallel_jobs=tuning["max_parallel_jobs"], strategy=tuning["strategy"],
            early_stopping_type=tuning["early_stopping"])
        job = TuningStep(name=steps["job"], step_args=tuner.fit(inputs))
        metric = job.properties.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value
        model_data = job.get_top_model_s3_uri(top_k=0, s3_bucket=given["output_bucket"],
                                              prefix=given["output_prefix"])
    else:
        job = TrainingStep(name=steps["job"], step_args=estimator.fit(inputs))
        metric = job.properties.FinalMetricDataList[given["gate_metric"]].Value
        model_data = job.properties.ModelArtifacts.S3ModelArtifacts
    register = RegisterModel(
        name=steps["register"], estimator=estimator, model_data=model_data,
        image_uri=given["image"], content_types=given["content_types"],
        response_types=given["response_types"],
        inference_instances=given["instance_types"], transform_instances=given["instance_types"],
        model_package_group_name=given["group"], approval_status="PendingManualApproval")
    gate = ConditionStep(
        name=steps["gate"],
        conditions=[CONDITIONS[given["comparison"]](left=metric, right=threshold)],
        if_steps=[register], else_steps=[])
    pipeline = Pipeline(name=given["name"], parameters=[data, instance_type, threshold],
                        steps=[job, gate], sagemaker_session=session)
    return json.loads(pipeline.definition())


if __name__ == "__main__":
    paths = [Path(arg) for arg in sys.argv[1:]]
    print("RESULT " + json.dumps({path.stem: definition(path) for path in paths}))
