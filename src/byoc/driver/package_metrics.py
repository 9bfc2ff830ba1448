"""A registered version's evidence: the training job's metrics.json and report.md, taken from its
output.tar.gz and put beside its model for the Model Registry; and a version's metrics read back
from S3, for `byoc registry list`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from byoc.content_types import JSON
from byoc.driver import jobs
from byoc.driver.aws import Aws, owner_check, split_s3_uri, upload_file
from byoc.job_summary import METRICS_FILE, REPORT_FILE

log = logging.getLogger(__name__)

# Beside the job's output/ (model.tar.gz, output.tar.gz): s3://OUTPUT/JOB/registry/.
REGISTRY_FOLDER = "registry"
# A metrics.json is a few hundred bytes; a version pointing at anything larger is not read whole.
MAX_METRICS_BYTES = 1024 * 1024


def registry_prefix(desc: dict) -> str:
    """Where a training job's evidence for the registry goes, next to its model."""
    base = desc["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{base}/{desc['TrainingJobName']}/{REGISTRY_FOLDER}"


@dataclass(frozen=True)
class Evidence:
    """What a training job left for people, in S3 for the registry: its metrics (and where they
    are), its report; or, in `missing`, why it has no metrics."""

    metrics: dict[str, object] = field(default_factory=dict)
    metrics_uri: str | None = None
    metrics_digest: str | None = None
    report_uri: str | None = None
    missing: str | None = None

    def model_metrics(self) -> dict | None:
        """CreateModelPackage's ModelMetrics: metrics.json as the model quality statistics."""
        if not self.metrics_uri:
            return None
        return {"ModelQuality": {"Statistics": {"ContentType": JSON, "S3Uri": self.metrics_uri,
                                                "ContentDigest": self.metrics_digest}}}


def _json_object(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def gather(aws: Aws, desc: dict) -> Evidence:
    """Unpack the job's output.tar.gz (byoc.archives' checks) and upload its metrics.json and
    report.md under `registry_prefix`; Evidence.missing says why there are no metrics, if so."""
    prefix = registry_prefix(desc)
    with tempfile.TemporaryDirectory(prefix="byoc-registry-") as tmp:
        out = Path(tmp) / "output"
        if not jobs.download_output(aws, desc, out):
            return Evidence(missing=f"the job wrote no {jobs.output_archive_uri(desc)}")
        report = out / REPORT_FILE
        report_uri = (upload_file(aws, report, f"{prefix}/{REPORT_FILE}") if report.is_file()
                      else None)
        metrics_file = out / METRICS_FILE
        if not metrics_file.is_file():
            return Evidence(report_uri=report_uri,
                            missing=f"its output.tar.gz holds no {METRICS_FILE}")
        metrics = _json_object(metrics_file)
        if metrics is None:
            return Evidence(report_uri=report_uri,
                            missing=f"the {METRICS_FILE} in its output.tar.gz is not a JSON "
                                    "object")
        digest = "sha256:" + hashlib.sha256(metrics_file.read_bytes()).hexdigest()
        uri = upload_file(aws, metrics_file, f"{prefix}/{METRICS_FILE}")
    return Evidence(metrics, uri, digest, report_uri)


def statistics_uri(package: dict) -> str | None:
    """The metrics.json a described model package names as its model quality statistics."""
    statistics = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get(
        "Statistics") or {}
    return statistics.get("S3Uri")


def read_metrics(aws: Aws, uri: str | None) -> dict[str, object]:
    """A version's metrics.json from S3; empty when it has none or it cannot be read (the
    listing goes on, and says '-')."""
    import botocore.exceptions

    if not uri:
        return {}
    bucket, key = split_s3_uri(uri)
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key,
                                           **owner_check(aws, bucket))["Body"]
        value = json.loads(body.read(MAX_METRICS_BYTES))
    except (botocore.exceptions.ClientError, ValueError) as exc:
        log.warning("Cannot read the metrics at %s (%s).", uri, exc)
        return {}
    return value if isinstance(value, dict) else {}
