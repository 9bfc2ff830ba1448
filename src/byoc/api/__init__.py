"""byoc as Python: every verb of the `byoc` command as one call, for notebooks and programs.

Each call takes plain arguments or a spec dataclass and returns a typed result; the command line
is a thin layer over these calls. AWS calls take `region` and `profile` (default: the
environment, then byoc's config file, then us-east-1), and raise `byoc.errors.UserError` with a
sentence that says what to do; a wait that runs out raises `WaitTimeout` (the work goes on).

    from byoc import api

    job = api.train(image=IMAGE, data="signs/", hyperparameters={"epochs": 5}, download="run1")
    version = api.register(job.job_name, group="signs", approve=True)
    api.deploy(api.DeployRequest("signs", api.ModelSource(package=version.arn)))
    api.update_endpoint(api.DeployRequest("signs", api.ModelSource(training_job="signs-2"),
                                          api.hosting(default_instance_type="ml.m5.large",
                                                      instance_count=2)),
                        api.Guardrails("canary", 50, wait=600, alarms=("signs-5xx",)))
    for answer in api.invoke(["stop.png"], endpoint="signs"):
        print(answer.predictions[0]["label"])
    api.delete("signs")
"""

from __future__ import annotations

from byoc.api.hosting_calls import (
    Deletion,
    ModelList,
    ScaleResult,
    StopResult,
    TransformResult,
    add_model,
    delete,
    deploy,
    invoke,
    list_models,
    scale,
    stop,
    transform,
    update_endpoint,
)
from byoc.api.job_calls import (
    RunTable,
    Upload,
    attach,
    compare_runs,
    list_jobs,
    logs,
    push,
    runs,
    start_training,
    train,
    tune,
    tuning_leaderboard,
    upload,
)
from byoc.api.lifecycle_calls import (
    ApprovalChange,
    PackageListing,
    PipelineRequest,
    PipelineStatus,
    RegisteredVersion,
    RegisterRequest,
    StartedExecution,
    UpsertedPipeline,
    approve,
    list_packages,
    pipeline_delete,
    pipeline_start,
    pipeline_status,
    pipeline_upsert,
    register,
    reject,
)
from byoc.driver.autopilot import AutopilotSpec
from byoc.driver.autopilot.calls import (
    AutopilotArtifacts,
    AutopilotEndpoint,
    AutopilotJob,
    AutopilotStatus,
    Leaderboard,
    autopilot_deploy,
    autopilot_leaderboard,
    autopilot_notebooks,
    autopilot_start,
    autopilot_status,
)
from byoc.driver.autoscaling import Scaling
from byoc.driver.aws_options import AwsOptions
from byoc.driver.aws_options import resolve as aws_options
from byoc.driver.deployment import Deployment, DeployRequest, ModelSource, TransformJobs
from byoc.driver.guardrails import Guardrails
from byoc.driver.hosting import Hosting
from byoc.driver.hosting import resolve as hosting
from byoc.driver.invoke import Response
from byoc.driver.job_listing import JobListing, JobRow
from byoc.driver.jobs import Trial, TuningLeaderboard, TuningSpec
from byoc.driver.live_endpoint import EndpointUpdate
from byoc.driver.local.modes import LocalServing, LocalTraining, local_serve, local_train
from byoc.driver.model_packages import PackageGroup, PackageVersion
from byoc.driver.multi_model_endpoints import StoredModel
from byoc.driver.rejoin import Attached, JobLogs
from byoc.driver.train_and_tune import StartedJob, TrainingRequest, TrainingResult, TuningResult
from byoc.driver.transform import TransformSpec
from byoc.driver.update_progress import UpdateRolledBack
from byoc.driver.waiting import WaitTimeout
from byoc.errors import UserError  # noqa: F401  (api.UserError: what every call raises)

__all__ = [
    "ApprovalChange", "Attached", "AutopilotArtifacts", "AutopilotEndpoint", "AutopilotJob",
    "AutopilotSpec",
    "AutopilotStatus", "AwsOptions", "Deletion", "DeployRequest", "Deployment", "EndpointUpdate",
    "Guardrails", "Hosting", "JobListing", "JobLogs", "JobRow", "Leaderboard", "LocalServing",
    "LocalTraining", "ModelList", "ModelSource", "PackageGroup", "PackageListing", "PackageVersion",
    "RegisterRequest", "RegisteredVersion", "Response", "RunTable", "ScaleResult", "Scaling",
    "StartedJob", "StopResult", "StoredModel", "TrainingRequest", "TrainingResult", "TransformJobs",
    "TransformResult", "TransformSpec", "Trial", "TuningLeaderboard", "TuningResult", "TuningSpec",
    "UpdateRolledBack", "Upload",
    "PipelineRequest", "PipelineStatus", "StartedExecution", "UpsertedPipeline",
    "pipeline_delete", "pipeline_start", "pipeline_status", "pipeline_upsert",
    "WaitTimeout", "add_model", "approve", "attach", "autopilot_deploy", "autopilot_leaderboard",
    "autopilot_notebooks",
    "autopilot_start", "autopilot_status", "aws_options", "compare_runs", "delete", "deploy",
    "hosting", "invoke", "list_jobs", "list_models", "list_packages", "local_serve", "local_train",
    "logs", "push", "register", "reject", "runs", "scale", "start_training", "stop", "train",
    "transform", "tune", "tuning_leaderboard", "update_endpoint", "upload",
]
