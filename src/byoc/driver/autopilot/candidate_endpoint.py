"""A candidate's container pipeline on a real-time endpoint, answering with the keys asked for."""

from __future__ import annotations

from byoc.driver import endpoints, jobs
from byoc.driver.autopilot.job import describe
from byoc.driver.autopilot.leaderboard import list_candidates
from byoc.driver.aws import (
    Aws,
    resolve_role,
)
from byoc.driver.aws_options import NO_OPTIONS, AwsOptions
from byoc.errors import UserError


def inference_containers(candidate: dict) -> list[dict]:
    """The candidate's pipeline (feature engineering, algorithm, label inversion), for CPUs.

    The containers read text/csv rows without a header, features in the training file's order
    without the target: the format `byoc invoke` sends for a .csv file.
    """
    containers = candidate.get("InferenceContainers") or (
        candidate.get("InferenceContainerDefinitions") or {}).get("CPU")
    if not containers:
        raise UserError(f"Candidate {candidate.get('CandidateName')} has no inference containers "
                        "(it may have failed). Pick another with --candidate.")
    keys = ("Image", "ModelDataUrl", "Environment")
    return [{k: c[k] for k in keys if c.get(k)} for c in containers]


# How an Autopilot pipeline is told what to answer with: each container lists the keys it can
# emit (predicted_label, probability, probabilities, labels) and emits the ones it is asked for.
INFERENCE_SUPPORTED = "SAGEMAKER_INFERENCE_SUPPORTED"
INFERENCE_INPUT = "SAGEMAKER_INFERENCE_INPUT"
INFERENCE_OUTPUT = "SAGEMAKER_INFERENCE_OUTPUT"


def _supported_keys(container: dict) -> list[str]:
    text = (container.get("Environment") or {}).get(INFERENCE_SUPPORTED, "")
    return [key.strip() for key in text.split(",") if key.strip()]


def with_response_keys(containers: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """The pipeline set to answer with `keys`, as the SageMaker SDK's AutoML deploy sets it.

    The last container must support every key. Each container that supports some of them
    emits those (SAGEMAKER_INFERENCE_OUTPUT), and the next container reads them
    (SAGEMAKER_INFERENCE_INPUT).
    """
    if not keys:
        return containers
    last = _supported_keys(containers[-1])
    if not last:
        raise UserError("This candidate answers with its prediction only (regression models "
                        "do): drop --inference-response-keys.")
    unsupported = [key for key in keys if key not in last]
    if unsupported:
        raise UserError(f"--inference-response-keys: this candidate cannot answer with "
                        f"{', '.join(unsupported)}. It supports: {', '.join(last)}.")
    configured, previous = [], None
    for container in containers:
        supported = _supported_keys(container)
        if not supported:
            configured.append(container)
            previous = None
            continue
        env = dict(container.get("Environment") or {})
        emitted = ",".join(key for key in keys if key in supported) or None
        if previous:
            env[INFERENCE_INPUT] = previous
        if emitted:
            env[INFERENCE_OUTPUT] = emitted
        configured.append({**container, "Environment": env})
        previous = emitted
    return configured


def parse_response_keys(text: str | None) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in (text or "").split(",") if k.strip()))
    if text is not None and not keys:
        raise UserError("--inference-response-keys is empty: pass e.g. "
                        "predicted_label,probability")
    return keys


def find_candidate(sagemaker, name: str, candidate: str | None, desc: dict) -> dict:
    if candidate is None:
        best = desc.get("BestCandidate")
        if not best:
            raise UserError(f"Autopilot job {name} has no best candidate yet (status "
                            f"{desc['AutoMLJobStatus']}). Wait for it to complete, or pick a "
                            "finished one from `byoc autopilot leaderboard` with --candidate.")
        return best
    found = list_candidates(sagemaker, name, candidate)
    if not found:
        raise UserError(f"Job {name} has no candidate named '{candidate}'. See the names with "
                        f"`byoc autopilot leaderboard --job-name {name}`.")
    return found[0]


def pipeline_model_name(endpoint_name: str) -> str:
    """`ENDPOINT-DATE-TIME`, cut to SageMaker's 63 characters in the endpoint part, so that the
    name never ends with a hyphen."""
    return jobs.stamped_name(endpoint_name)


def deploy(aws: Aws, *, job_name: str, endpoint_name: str, candidate: str | None = None,
           instance_type: str | None = None, role: str | None = None,
           response_keys: tuple[str, ...] = (), options: AwsOptions = NO_OPTIONS,
           wait_in_service: bool = True, interval: float | None = None) -> str:
    """Host a candidate's container pipeline on a real-time endpoint; return the model name."""
    sagemaker = aws.client("sagemaker")
    endpoints.require_new_endpoint(aws, endpoint_name)
    desc = describe(sagemaker, job_name)
    chosen = find_candidate(sagemaker, job_name, candidate, desc)
    containers = with_response_keys(inference_containers(chosen), response_keys)
    role = resolve_role(role or desc.get("RoleArn"))
    model_name = pipeline_model_name(endpoint_name)
    sagemaker.create_model(ModelName=model_name, Containers=containers,
                           ExecutionRoleArn=role, **options.model_fields(),
                           **options.marked())
    endpoints.deploy(aws, endpoint_name, model_name=model_name,
                     instance_type=instance_type or endpoints.DEFAULT_INSTANCE_TYPE,
                     options=options)
    if wait_in_service:
        endpoints.wait_for_endpoint(sagemaker, endpoint_name, interval=interval)
    return model_name
