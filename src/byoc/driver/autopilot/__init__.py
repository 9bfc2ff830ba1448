"""SageMaker Autopilot (AutoML V2) jobs for tabular baselines: the CSV checks, the job, its
leaderboard, and a candidate on an endpoint.

Every AWS call goes through boto3's SageMaker client rather than the SDK's AutoMLJobV2 resource:
the leaderboard and the deployment need the plain client anyway, so one client keeps every path
the same and testable with botocore's Stubber, and the command line does not pay the SDK's
import time.
"""

from byoc.driver.autopilot.artifacts import (
    Artifact,
    Downloaded,
    artifact_lines,
    download,
    job_artifacts,
)
from byoc.driver.autopilot.candidate_endpoint import (
    deploy,
    find_candidate,
    inference_containers,
    parse_response_keys,
    pipeline_model_name,
    with_response_keys,
)
from byoc.driver.autopilot.input_checks import (
    check_csv,
    check_limits,
    check_rows,
    read_sample,
    resolve_problem,
    upload_csv,
)
from byoc.driver.autopilot.job import (
    AutopilotSpec,
    describe,
    follow,
    job_request,
    start,
    stop,
    wait,
)
from byoc.driver.autopilot.leaderboard import (
    leaderboard_lines,
    list_candidates,
    rank,
    status_lines,
)
from byoc.driver.autopilot.limits import (
    CSV_CONTENT_TYPE,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_RUNTIME,
    JOB_ENDED,
    MIN_ROWS,
    MODES,
    POLL_SECONDS,
    S3_PREFIX,
    WAIT_MARGIN,
    WEIGHT_MODE,
)
from byoc.driver.waiting import WaitTimeout

__all__ = [
    "CSV_CONTENT_TYPE", "DEFAULT_MAX_CANDIDATES", "DEFAULT_MAX_RUNTIME", "JOB_ENDED",
    "MIN_ROWS", "MODES", "POLL_SECONDS", "S3_PREFIX", "WAIT_MARGIN", "WEIGHT_MODE",
    "Artifact", "AutopilotSpec", "Downloaded", "WaitTimeout", "artifact_lines", "check_csv",
    "check_limits", "check_rows", "deploy", "describe", "download", "find_candidate", "follow",
    "inference_containers", "job_artifacts", "job_request", "leaderboard_lines",
    "list_candidates", "parse_response_keys", "pipeline_model_name", "rank", "read_sample",
    "resolve_problem", "start", "status_lines", "stop", "upload_csv", "wait",
    "with_response_keys",
]
