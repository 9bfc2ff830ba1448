"""The Autopilot verbs as calls with typed results: start, status, leaderboard, deploy and
notebooks (what `byoc.api` exposes as autopilot_start, autopilot_status, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from byoc.driver import jobs
from byoc.driver.autopilot.artifacts import Downloaded, download, job_artifacts
from byoc.driver.autopilot.candidate_endpoint import deploy, parse_response_keys
from byoc.driver.autopilot.job import AutopilotSpec, describe, follow, start
from byoc.driver.autopilot.leaderboard import leaderboard_lines, list_candidates, status_lines
from byoc.driver.autopilot.limits import DEFAULT_MAX_RUNTIME, POLL_SECONDS, WAIT_MARGIN
from byoc.driver.aws import Aws, connect, translate_errors
from byoc.driver.aws_options import AwsOptions


def _aws(region: str | None, profile: str | None) -> Aws:
    return connect(region=region, profile=profile)



@dataclass(frozen=True)
class AutopilotJob:
    """A started Autopilot job: its name and the CreateAutoMLJobV2 request sent."""

    name: str
    request: dict


def autopilot_start(spec: AutopilotSpec, *, job_name: str | None = None,
                    region: str | None = None, profile: str | None = None) -> AutopilotJob:
    """Check the CSV and the settings, upload a local CSV, and start an Autopilot job; return
    at once (follow it with `autopilot_status(name, wait=True)`)."""
    name = job_name or jobs.job_name("autopilot")
    with translate_errors():
        return AutopilotJob(name, start(_aws(region, profile), spec, name))


@dataclass(frozen=True)
class AutopilotStatus:
    """DescribeAutoMLJobV2's answer, and the lines `byoc autopilot status` prints for it."""

    description: dict

    @property
    def status(self) -> str:
        return self.description["AutoMLJobStatus"]

    def lines(self) -> list[str]:
        return status_lines(self.description)


def autopilot_status(job_name: str, *, wait: bool = False, timeout: float | None = None,
                     poll: float = POLL_SECONDS, stop_on_timeout: bool = False,
                     region: str | None = None, profile: str | None = None) -> AutopilotStatus:
    """A job's status; with `wait`, follow it until it ends (default timeout: 4 h + 30 min)."""
    with translate_errors():
        sagemaker = _aws(region, profile).client("sagemaker")
        if not wait:
            return AutopilotStatus(describe(sagemaker, job_name))
        timeout = timeout or DEFAULT_MAX_RUNTIME + WAIT_MARGIN
        return AutopilotStatus(follow(sagemaker, job_name, timeout=timeout,
                                                 interval=poll,
                                                 stop_on_timeout=stop_on_timeout))


@dataclass(frozen=True)
class Leaderboard:
    """A job's candidates, best first, as ListCandidatesForAutoMLJob describes them."""

    candidates: list[dict]
    top: int | None = None

    def lines(self) -> list[str]:
        return leaderboard_lines(self.candidates, self.top)


def autopilot_leaderboard(job_name: str, *, top: int | None = None, region: str | None = None,
                          profile: str | None = None) -> Leaderboard:
    """A job's candidates, best first."""
    with translate_errors():
        sagemaker = _aws(region, profile).client("sagemaker")
        describe(sagemaker, job_name)
        return Leaderboard(list_candidates(sagemaker, job_name), top)


@dataclass(frozen=True)
class AutopilotEndpoint:
    """An endpoint hosting an Autopilot candidate, and its model."""

    endpoint_name: str
    model_name: str


def autopilot_deploy(job_name: str, endpoint_name: str, *, candidate: str | None = None,
                     instance_type: str | None = None, role: str | None = None,
                     response_keys: Sequence[str] = (), options: AwsOptions | None = None,
                     wait: bool = True, region: str | None = None,
                     profile: str | None = None) -> AutopilotEndpoint:
    """Host a candidate (default: the best) on a real-time endpoint; `response_keys` says what
    each answer row holds (e.g. predicted_label, probability)."""
    keys = parse_response_keys(",".join(response_keys) or None)
    with translate_errors():
        model = deploy(_aws(region, profile), job_name=job_name,
                                  endpoint_name=endpoint_name, candidate=candidate,
                                  instance_type=instance_type, role=role, response_keys=keys,
                                  options=options or AwsOptions(), wait_in_service=wait)
    return AutopilotEndpoint(endpoint_name, model)


@dataclass(frozen=True)
class AutopilotArtifacts:
    """A job's notebooks and reports, as downloaded by `autopilot_notebooks`: each with the files
    it became, or why there are none."""

    downloaded: list[Downloaded]

    @property
    def files(self) -> dict[str, list[Path]]:
        """Label -> the local files, for the artifacts that were downloaded."""
        return {d.artifact.label: d.files for d in self.downloaded if d.files}

    def lines(self) -> list[str]:
        return [d.line() for d in self.downloaded]


def autopilot_notebooks(job_name: str, out: str | Path, *, region: str | None = None,
                        profile: str | None = None) -> AutopilotArtifacts:
    """Download a job's data exploration and candidate definition notebooks, and its best
    candidate's explainability and model insights reports, as far as the job produced them,
    into `out` (notebooks/, explainability/, model_insights/)."""
    with translate_errors():
        aws = _aws(region, profile)
        desc = describe(aws.client("sagemaker"), job_name)
        return AutopilotArtifacts(download(aws.client("s3"), job_artifacts(desc), Path(out)))
