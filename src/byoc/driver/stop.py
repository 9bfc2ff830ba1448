"""`byoc stop`: stop a training, tuning, transform or Autopilot job, and say what it leaves behind.

Each kind of job keeps something different when stopped (checkpoints, the best trial, completed
candidates, or nothing at all), so the answer is built from the job's own description.
"""

from __future__ import annotations

from byoc.driver.aws import Aws, describe_or_none
from byoc.driver.jobs import ENDED, JOB_APIS, output_archive_uri
from byoc.errors import UserError

STOPPING = "Stopping"
# The flag of `byoc stop` for each kind of job, in the order its help lists them.
FLAGS = {
    "training job": "--training-job",
    "tuning job": "--tuning-job",
    "transform job": "--transform-job",
    "Autopilot job": "--autopilot-job",
}


def _training(desc: dict) -> list[str]:
    name = desc["TrainingJobName"]
    lines = ["SageMaker sends the container SIGTERM, then SIGKILL 120 s later; byoc's trainer "
             "stops after the current batch and saves a checkpoint."]
    checkpoints = (desc.get("CheckpointConfig") or {}).get("S3Uri")
    if checkpoints:
        lines.append(f"Checkpoints stay in {checkpoints}: a new job with --checkpoint-s3 "
                     f"{checkpoints} resumes from the last one.")
    else:
        lines.append("The job has no checkpoint configuration, so a new job starts from "
                     "scratch.")
    model = ((desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
             or output_archive_uri(desc, "model.tar.gz"))
    lines.append(f"Model artifacts: {model}, with what /opt/ml/model holds at the stop. byoc's "
                 "trainer writes the model when training ends, so a job stopped while training "
                 "has no model to deploy: resume it from its checkpoints to get one.")
    lines.append(f"Follow it: aws sagemaker describe-training-job --training-job-name {name}")
    return lines


def _tuning(desc: dict) -> list[str]:
    lines = ["SageMaker stops its running training jobs (each keeps its checkpoints, as a "
             "stopped training job does) and starts no more."]
    best = desc.get("BestTrainingJob")
    if best:
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        score = f" ({metric['MetricName']} = {metric['Value']})" if metric else ""
        lines.append(f"Best training job so far: {best['TrainingJobName']}{score}; host it "
                     f"with byoc deploy --training-job {best['TrainingJobName']} "
                     "--endpoint-name NAME")
    else:
        lines.append("No training job of it has completed yet, so there is no best model.")
    return lines


def _transform(desc: dict) -> list[str]:
    output = desc["TransformOutput"]["S3OutputPath"]
    return [f"SageMaker keeps no output of a transform job stopped before it completes: "
            f"nothing new is written to {output}. Start a new job to transform the input again."]


def _autopilot(desc: dict) -> list[str]:
    name = desc["AutoMLJobName"]
    return [f"Candidates that completed stay. Once the job is Stopped, see them with byoc "
            f"autopilot leaderboard --job-name {name}, and host the best with byoc autopilot "
            f"deploy --job-name {name} --endpoint-name NAME"]


WHAT_STAYS = {"training job": _training, "tuning job": _tuning, "transform job": _transform,
              "Autopilot job": _autopilot}


def stop(aws: Aws, kind: str, name: str) -> list[str]:
    """Ask SageMaker to stop the job, unless it has ended or is stopping already; return what
    happened and what the job leaves behind."""
    api = JOB_APIS[kind]
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: getattr(sagemaker, api.describe)(**{api.name_parameter: name}))
    if desc is None:
        raise UserError(f"No {kind} named '{name}' in {aws.region}. Check the name and "
                        "--region.")
    status = desc[api.status]
    if status in ENDED:
        return [f"The {kind} {name} has already ended ({status}); there is nothing to stop."]
    if status == STOPPING:
        head = f"The {kind} {name} is already stopping."
    else:
        getattr(sagemaker, api.stop)(**{api.name_parameter: name})
        head = f"Stop requested for the {kind} {name}: it goes to Stopping, then Stopped."
    return [head, *WHAT_STAYS[kind](desc)]
