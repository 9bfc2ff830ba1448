"""What an Autopilot job writes for people: its two notebooks, and its best candidate's
explainability and model insights reports; where DescribeAutoMLJobV2 says they are, and their
download.

The notebooks' locations are objects (`AutoMLJobArtifacts`); the reports' are S3 prefixes
(`BestCandidate.CandidateProperties.CandidateArtifactLocations`), each holding several files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from byoc.driver.aws import split_s3_uri
from byoc.errors import UserError

NOT_PRODUCED = "not produced"


@dataclass(frozen=True)
class Artifact:
    """One of a job's four artifacts: its label, where the job put it (None: not produced), the
    folder of --out it goes to, and whether the location is a prefix of several files."""

    label: str
    uri: str | None
    folder: str
    prefix: bool


def job_artifacts(desc: dict) -> list[Artifact]:
    """The four artifacts of a DescribeAutoMLJobV2 answer, produced or not."""
    notebooks = desc.get("AutoMLJobArtifacts") or {}
    locations = ((desc.get("BestCandidate") or {}).get("CandidateProperties") or {}).get(
        "CandidateArtifactLocations") or {}
    return [
        Artifact("Data exploration notebook",
                 notebooks.get("DataExplorationNotebookLocation"), "notebooks", False),
        Artifact("Candidate definition notebook",
                 notebooks.get("CandidateDefinitionNotebookLocation"), "notebooks", False),
        Artifact("Explainability report", locations.get("Explainability"), "explainability",
                 True),
        Artifact("Model insights report", locations.get("ModelInsights"), "model_insights",
                 True),
    ]


@dataclass(frozen=True)
class Downloaded:
    """An artifact and the files it became in --out (none: nothing was there to download), or
    why it was not downloaded."""

    artifact: Artifact
    files: list[Path]
    reason: str | None = None

    def line(self) -> str:
        label = self.artifact.label
        if self.files:
            where = self.files[0] if len(self.files) == 1 else \
                f"{len(self.files)} files in {self.files[0].parent}"
            return f"{label}: {where} (from {self.artifact.uri})"
        return f"{label}: {self.reason}"


def _inside(out: Path, relative: str) -> Path:
    """`out`/`relative`, refusing a key that would land outside `out` (`..`, absolute)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts:
        raise UserError(f"Refusing to write the S3 key '{relative}' outside {out}.")
    return out.joinpath(*parts)


def _object(s3, artifact: Artifact, out: Path) -> Downloaded:
    bucket, key = split_s3_uri(artifact.uri)
    target = _inside(out / artifact.folder, PurePosixPath(key).name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(target))
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return Downloaded(artifact, [], f"not found at {artifact.uri}")
        raise
    return Downloaded(artifact, [target])


def _prefix(s3, artifact: Artifact, out: Path) -> Downloaded:
    bucket, prefix = split_s3_uri(artifact.uri)
    prefix = prefix.rstrip("/") + "/"
    files = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue  # a folder marker
            target = _inside(out / artifact.folder, item["Key"][len(prefix):])
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
            files.append(target)
    if not files:
        return Downloaded(artifact, [], f"nothing under {artifact.uri}")
    return Downloaded(artifact, sorted(files))


def download(s3, artifacts: list[Artifact], out: Path) -> list[Downloaded]:
    """Each artifact the job produced, downloaded into `out`/its folder; the others with the
    reason they are missing."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory.")
    results = []
    for artifact in artifacts:
        if artifact.uri is None:
            results.append(Downloaded(artifact, [], NOT_PRODUCED))
        elif not artifact.uri.startswith("s3://"):
            results.append(Downloaded(artifact, [], f"not an S3 location: {artifact.uri}"))
        elif artifact.prefix:
            results.append(_prefix(s3, artifact, out))
        else:
            results.append(_object(s3, artifact, out))
    return results


def artifact_lines(desc: dict) -> list[str]:
    """Which of the four artifacts the job produced, and where."""
    return [f"{a.label}: {a.uri or NOT_PRODUCED}" for a in job_artifacts(desc)]
