"""The SageMaker Model Registry: a completed training job registered as a version of a model
package group (its image and model, the content types `serve` takes, where it may run, its
metrics and where it came from); the versions listed with their metrics; their approval; and
whether `byoc deploy --package` may host one.

Everything a request says is checked before anything is created.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

from byoc import content_types, tracking_config
from byoc.driver import ecr, endpoints, jobs, package_metrics, runs
from byoc.driver.aws import ROLE_ENV, Aws, describe_or_none
from byoc.driver.aws_options import parse_tags
from byoc.driver.sourcedir import CODE_CHANNEL
from byoc.errors import UserError
from byoc.pairs import Pairs, as_pairs

log = logging.getLogger(__name__)

APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"
# SageMaker's rule for a model package group's name.
MAX_GROUP_NAME = 63
MAX_TEXT = 1024  # ModelPackageDescription and ApprovalDescription
# Where a registered version may run, on endpoints and in transform jobs alike: byoc's default
# instance types for each, larger CPU types, and a T4 GPU for the GPU image.
INSTANCE_TYPES = (endpoints.DEFAULT_INSTANCE_TYPE, jobs.DEFAULT_INSTANCE_TYPE, "ml.c5.xlarge",
                  "ml.c5.2xlarge", "ml.g4dn.xlarge")
GROUP_DESCRIPTION = "Model versions registered by byoc"
# CustomerMetadataProperties: where a version came from, for people and for `byoc registry list`.
META_TRAINING_JOB = "byoc.training_job"
META_DATA = "byoc.data."  # + the channel's name: its S3 prefix
META_IMAGE_DIGEST = "byoc.image_digest"
META_REPORT = "byoc.report"
META_RUN = "byoc.mlflow_run"
# What SageMaker takes as a CustomerMetadataProperties value: up to 256 of these characters.
MAX_META_VALUE = 256
_META_PUNCTUATION = set("_.:/=+-@")
# The metrics `byoc registry list` puts side by side, when a version has them.
KEY_METRICS = ("test_accuracy", "test_macro_f1", "test_loss")
DEFAULT_MAX_VERSIONS = 20


def check_group_name(name: str) -> str:
    return jobs.check_resource_name("Model package group name", name, MAX_GROUP_NAME,
                                    "signs or traffic-signs")


def check_text(text: str | None, flag: str) -> str | None:
    """A description SageMaker takes: up to 1024 characters, none of them a control character
    (one line)."""
    if text is None:
        return None
    if len(text) > MAX_TEXT:
        raise UserError(f"{flag} is {len(text)} characters long; SageMaker keeps at most "
                        f"{MAX_TEXT}.")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise UserError(f"{flag} must be one line of printable text (no newlines, tabs or "
                        "control characters).")
    return text


def check_why(why: str | None) -> str:
    """The reason for an approval or a rejection: required, kept with the version."""
    if not why or not why.strip():
        raise UserError("Say why, in a sentence kept with the version: --why TEXT (for example "
                        "--why \"best macro F1 on the test split\").")
    return check_text(why.strip(), "--why")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _job_of(package: dict) -> str | None:
    """The training job a described version came from (MetadataProperties.GeneratedBy)."""
    arn = (package.get("MetadataProperties") or {}).get("GeneratedBy") or ""
    if ":training-job/" in arn:
        return arn.rpartition("/")[2]
    return (package.get("CustomerMetadataProperties") or {}).get(META_TRAINING_JOB)


def image_digest(image: str) -> str | None:
    """The digest an image URI pins (REPO@sha256:...), if it pins one."""
    _, at, digest = image.rpartition("@")
    return digest if at and digest.startswith("sha256:") else None


# ---------------------------------------------------------------------------------------------
# Register


@dataclass(frozen=True)
class RegisterRequest:
    """A training job to register as a new version of a model package group.

    Attributes:
        group: the model package group, created (tagged as byoc's) if missing.
        training_job: the completed training job whose model is registered;
        run: or the tracked MLflow run that names one (on the server `track`, default
            MLFLOW_TRACKING_URI). The run gets a tag with the version's ARN.
        approve: register it Approved, instead of PendingManualApproval.
        description: one line kept with the version.
        tags: tags for the group (SageMaker tags a version through its group).
    """

    group: str
    training_job: str | None = None
    run: str | None = None
    track: str | None = None
    approve: bool = False
    description: str | None = None
    tags: Pairs = None


def check_register(request: RegisterRequest) -> dict[str, str]:
    """Everything `register` checks before it connects to AWS; the tags."""
    check_group_name(request.group)
    if not (request.training_job or request.run):
        raise UserError("Say which model to register: --job TRAINING_JOB, or --run RUN_ID (a "
                        "tracked run of a training job).")
    if request.training_job and request.run:
        raise UserError("Pass --run RUN_ID or --job NAME, not both.")
    check_text(request.description, "--description")
    return parse_tags(as_pairs(request.tags))


@dataclass(frozen=True)
class RegisteredVersion:
    """A training job registered as a version of a model package group.

    Attributes:
        arn: the version's ARN, for `approve`, `reject` and `deploy --package`.
        metrics: its metrics.json; empty when the job left none (`missing_metrics` says why).
    """

    arn: str
    group: str
    version: int | None
    status: str
    training_job: str
    group_created: bool = False
    metrics: dict[str, object] = field(default_factory=dict)
    metrics_uri: str | None = None
    report_uri: str | None = None
    missing_metrics: str | None = None
    run: str | None = None

    def lines(self) -> list[str]:
        """What `byoc register` says about it (the ARN itself goes to standard output)."""
        lines = []
        if self.group_created:
            mark = endpoints.CREATED_BY_BYOC
            lines.append(f"Created model package group {self.group} (tagged "
                         f"{mark['Key']}={mark['Value']}).")
        lines.append(f"Registered training job {self.training_job} as version {self.version} "
                     f"of {self.group}: {self.status}.")
        if self.metrics_uri:
            shown = ", ".join(f"{k} {_number(self.metrics[k])}" for k in KEY_METRICS
                              if k in self.metrics)
            lines.append(f"  metrics: {self.metrics_uri}" + (f" ({shown})" if shown else ""))
        else:
            lines.append(f"  No metrics: {self.missing_metrics}, so the version has no "
                         "ModelMetrics.")
        if self.report_uri:
            lines.append(f"  report:  {self.report_uri}")
        if self.run:
            lines.append(f"  MLflow run {self.run} tagged {tracking_config.TAG_MODEL_PACKAGE}.")
        if self.status == APPROVED:
            lines.append(f"Deploy it: byoc deploy --package {self.arn} --endpoint-name NAME")
        else:
            lines.append(f"Approve it: byoc registry approve {self.arn} --why TEXT")
        return lines


def completed_job(aws: Aws, name: str) -> dict:
    """The description of a training job that completed: only such a job has a model."""
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_training_job(TrainingJobName=name))
    if desc is None:
        raise UserError(f"No training job named '{name}' in {aws.region}. List yours with aws "
                        "sagemaker list-training-jobs, or pass --region.")
    status = desc["TrainingJobStatus"]
    if status in ("InProgress", "Stopping"):
        raise UserError(f"Training job {name} is {status}; only a completed job has a model to "
                        "register. Wait until it ends (aws sagemaker wait "
                        f"training-job-completed-or-stopped --training-job-name {name}), then "
                        "register it.")
    if status != "Completed":
        raise UserError(f"Training job {name} is {status}; only a completed job has a model to "
                        f"register. See why with aws sagemaker describe-training-job "
                        f"--training-job-name {name}, and register a job that completed.")
    if not (desc.get("AlgorithmSpecification") or {}).get("TrainingImage"):
        raise UserError(f"Training job {name} ran a SageMaker algorithm, not an image; byoc "
                        "registers the models of jobs that ran an image.")
    return desc


def ensure_group(aws: Aws, name: str, tags: dict[str, str]) -> bool:
    """Create the group, tagged as byoc's, unless it exists (then the tags are added to it);
    True when it was created."""
    sagemaker = aws.client("sagemaker")
    group = describe_or_none(
        lambda: sagemaker.describe_model_package_group(ModelPackageGroupName=name))
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    if group is None:
        sagemaker.create_model_package_group(ModelPackageGroupName=name,
                                             ModelPackageGroupDescription=GROUP_DESCRIPTION,
                                             Tags=[*tag_list, endpoints.CREATED_BY_BYOC])
        log.debug("Created model package group %s", name)
        return True
    if tag_list:
        sagemaker.add_tags(ResourceArn=group["ModelPackageGroupArn"], Tags=tag_list)
    return False


def _metadata(desc: dict, evidence: package_metrics.Evidence, run: str | None) -> dict[str, str]:
    """Where the version came from, as CustomerMetadataProperties; a value SageMaker would
    refuse (too long, or other characters) is left out, with a warning."""
    facts = {META_TRAINING_JOB: desc["TrainingJobName"]}
    for channel in desc.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        if source.get("S3Uri") and channel["ChannelName"] != CODE_CHANNEL:
            facts[META_DATA + channel["ChannelName"]] = source["S3Uri"]
    facts[META_IMAGE_DIGEST] = image_digest(desc["AlgorithmSpecification"]["TrainingImage"])
    facts[META_REPORT] = evidence.report_uri
    facts[META_RUN] = run
    kept = {}
    for key, value in facts.items():
        if not value:
            continue
        if len(value) <= MAX_META_VALUE and all(
                unicodedata.category(c)[0] in "LNZ" or c in _META_PUNCTUATION for c in value):
            kept[key] = value
        else:
            log.warning("Not recorded with the version: %s=%s (SageMaker keeps up to %d "
                        "letters, digits, spaces and %s).", key, value, MAX_META_VALUE,
                        "".join(sorted(_META_PUNCTUATION)))
    return kept


def inference_specification(image: str, model_data: object) -> dict:
    """A version's InferenceSpecification: `image` serving `model_data` (an S3 URI, or a
    pipeline's reference to the model a step made), what `serve` takes and answers, and where
    the version may run."""
    container = {"Image": image, "ModelDataUrl": model_data}
    if image_digest(image):
        container["ImageDigest"] = image_digest(image)
    return {
        "Containers": [container],
        "SupportedContentTypes": list(content_types.REQUEST_TYPES),
        "SupportedResponseMIMETypes": list(content_types.RESPONSE_TYPES),
        "SupportedRealtimeInferenceInstanceTypes": list(INSTANCE_TYPES),
        "SupportedTransformInstanceTypes": list(INSTANCE_TYPES),
    }


def package_request(request: RegisterRequest, desc: dict, evidence: package_metrics.Evidence,
                    run: str | None = None) -> dict:
    """The CreateModelPackage request for a completed training job."""
    fields = {
        "ModelPackageGroupName": request.group,
        "InferenceSpecification": inference_specification(
            desc["AlgorithmSpecification"]["TrainingImage"],
            desc["ModelArtifacts"]["S3ModelArtifacts"]),
        "ModelApprovalStatus": APPROVED if request.approve else PENDING,
        "MetadataProperties": {"GeneratedBy": desc["TrainingJobArn"]},
        "CustomerMetadataProperties": _metadata(desc, evidence, run),
    }
    if request.description:
        fields["ModelPackageDescription"] = request.description
    if evidence.model_metrics():
        fields["ModelMetrics"] = evidence.model_metrics()
    return fields


def register(aws: Aws, request: RegisterRequest) -> RegisteredVersion:
    """Register a completed training job (or a tracked run's) as a new version of the group:
    the group is created if missing, the job's metrics.json and report.md go next to its model,
    and a run gets a tag with the version's ARN. MLflow is imported only for a run."""
    tags = check_register(request)
    uri = runs.tracking_uri(request.track) if request.run else None
    job = request.training_job or runs.training_job_of(uri, request.run)
    desc = completed_job(aws, job)
    ecr.check_image(aws, desc["AlgorithmSpecification"]["TrainingImage"])
    evidence = package_metrics.gather(aws, desc)
    created = ensure_group(aws, request.group, tags)
    sagemaker = aws.client("sagemaker")
    arn = sagemaker.create_model_package(
        **package_request(request, desc, evidence, request.run))["ModelPackageArn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    log.debug("Registered %s as %s", job, arn)
    if request.run:
        runs.tag_run(uri, request.run, tracking_config.TAG_MODEL_PACKAGE, arn)
    return RegisteredVersion(
        arn=arn, group=request.group, version=package.get("ModelPackageVersion"),
        status=package.get("ModelApprovalStatus", PENDING), training_job=job,
        group_created=created, metrics=evidence.metrics, metrics_uri=evidence.metrics_uri,
        report_uri=evidence.report_uri, missing_metrics=evidence.missing, run=request.run)


# ---------------------------------------------------------------------------------------------
# List


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class PackageVersion:
    """One version of a model package group: its approval, when it was made, from which
    training job, and its metrics.json."""

    arn: str
    version: int | None
    status: str
    created: datetime | None
    training_job: str | None = None
    description: str | None = None
    metrics: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PackageGroup:
    """A model package group byoc made, and its newest version."""

    name: str
    arn: str
    created: datetime | None
    description: str | None = None
    latest: PackageVersion | None = None


@dataclass(frozen=True)
class PackageListing:
    """The versions of one group, newest first; or, without a group, byoc's groups."""

    region: str
    group: str | None = None
    groups: tuple[PackageGroup, ...] = ()
    versions: tuple[PackageVersion, ...] = ()

    def lines(self) -> list[str]:
        """The table `byoc registry list` prints."""
        return self._version_lines() if self.group else self._group_lines()

    def _version_lines(self) -> list[str]:
        if not self.versions:
            return [f"No versions in model package group {self.group} yet. Register one: byoc "
                    f"register --job TRAINING_JOB --group {self.group}"]
        metrics = [k for k in KEY_METRICS if any(k in v.metrics for v in self.versions)]
        rows = [["version", "status", "created", *metrics, "training job", "arn"]]
        rows += [[str(v.version or "-"), v.status, _when(v.created),
                  *(_number(v.metrics.get(k)) for k in metrics), v.training_job or "-", v.arn]
                 for v in self.versions]
        return runs.table(rows)

    def _group_lines(self) -> list[str]:
        if not self.groups:
            return [f"No model package groups made by byoc in {self.region}. Register a "
                    "training job: byoc register --job TRAINING_JOB --group GROUP"]
        rows = [["group", "created", "latest", "status", "description"]]
        rows += [[g.name, _when(g.created),
                  str(g.latest.version or "-") if g.latest else "-",
                  g.latest.status if g.latest else "-", g.description or "-"]
                 for g in self.groups]
        return runs.table(rows) + ["Versions of one group: byoc registry list --group GROUP"]


def _version(package: dict, metrics: dict[str, object] | None = None) -> PackageVersion:
    return PackageVersion(
        arn=package["ModelPackageArn"], version=package.get("ModelPackageVersion"),
        status=package.get("ModelApprovalStatus", PENDING), created=package.get("CreationTime"),
        training_job=_job_of(package), description=package.get("ModelPackageDescription"),
        metrics=metrics or {})


def _newest(sagemaker, group: str, count: int) -> list[dict]:
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelPackageType="Versioned", SortBy="CreationTime",
        SortOrder="Descending", PaginationConfig={"MaxItems": count})
    return [summary for page in pages for summary in page["ModelPackageSummaryList"]]


def list_versions(aws: Aws, group: str,
                  max_versions: int = DEFAULT_MAX_VERSIONS) -> PackageListing:
    """The newest `max_versions` versions of a group, with the metrics each one's metrics.json
    holds."""
    check_group_name(group)
    sagemaker = aws.client("sagemaker")
    if describe_or_none(lambda: sagemaker.describe_model_package_group(
            ModelPackageGroupName=group)) is None:
        raise UserError(f"No model package group '{group}' in {aws.region}. The groups byoc "
                        "made: byoc registry list")
    versions = []
    for summary in _newest(sagemaker, group, max_versions):
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        metrics = package_metrics.read_metrics(aws, package_metrics.statistics_uri(package))
        versions.append(_version(package, metrics))
    return PackageListing(aws.region, group, versions=tuple(versions))


def list_groups(aws: Aws) -> PackageListing:
    """byoc's model package groups (tagged as its own), newest first, each with its newest
    version."""
    sagemaker = aws.client("sagemaker")
    groups = []
    pages = sagemaker.get_paginator("list_model_package_groups").paginate(
        SortBy="CreationTime", SortOrder="Descending")
    for summary in (s for page in pages for s in page["ModelPackageGroupSummaryList"]):
        if not endpoints.created_by_byoc(sagemaker, summary["ModelPackageGroupArn"]):
            continue
        name = summary["ModelPackageGroupName"]
        newest = _newest(sagemaker, name, 1)
        groups.append(PackageGroup(
            name=name, arn=summary["ModelPackageGroupArn"], created=summary.get("CreationTime"),
            description=summary.get("ModelPackageGroupDescription"),
            latest=_version(newest[0]) if newest else None))
    return PackageListing(aws.region, groups=tuple(groups))


# ---------------------------------------------------------------------------------------------
# Approve, reject, deploy


def describe_package(aws: Aws, arn: str) -> dict:
    sagemaker = aws.client("sagemaker")
    package = describe_or_none(lambda: sagemaker.describe_model_package(ModelPackageName=arn))
    if package is None:
        raise UserError(f"No model package '{arn}' in {aws.region}. The versions of a group and "
                        "their ARNs: byoc registry list --group GROUP")
    return package


@dataclass(frozen=True)
class ApprovalChange:
    """A version's approval status before and after `approve` or `reject`, and why."""

    arn: str
    before: str
    after: str
    why: str

    def lines(self) -> list[str]:
        change = (f"Model package {self.arn}: {self.before} -> {self.after}" if
                  self.before != self.after else
                  f"Model package {self.arn} stays {self.after}")
        lines = [f"{change} ({self.why})."]
        if self.after == APPROVED:
            lines.append(f"Deploy it: byoc deploy --package {self.arn} --endpoint-name NAME")
        else:
            lines.append("byoc deploy --package refuses it now (unless --force).")
        return lines


def set_approval(aws: Aws, arn: str, status: str, why: str) -> ApprovalChange:
    """Approve (`status` Approved) or reject (Rejected) a version, saying why."""
    why = check_why(why)
    package = describe_package(aws, arn)
    aws.client("sagemaker").update_model_package(
        ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=status,
        ApprovalDescription=why)
    return ApprovalChange(package["ModelPackageArn"],
                          package.get("ModelApprovalStatus", PENDING), status, why)


def deployable(aws: Aws, arn: str, force: bool = False) -> dict:
    """The description of a version `byoc deploy --package` may host: an Approved one, or any
    with `force`; its image checked in ECR."""
    package = describe_package(aws, arn)
    status = package.get("ModelApprovalStatus", PENDING)
    if status != APPROVED:
        if not force:
            raise UserError(
                f"Model package {arn} is {status}, not Approved, so byoc does not deploy it. "
                f"Approve it first: byoc registry approve {arn} --why TEXT (or deploy it "
                "anyway with --force).")
        log.warning("Deploying model package %s, which is %s (--force).", arn, status)
    for container in (package.get("InferenceSpecification") or {}).get("Containers") or []:
        if container.get("Image"):
            ecr.check_image(aws, container["Image"])
    return package


def execution_role(aws: Aws, package: dict, role: str | None) -> str | None:
    """The role a version's model runs with: `role`, SAGEMAKER_ROLE_ARN, else the role of the
    training job it came from (which reached its image and model data already)."""
    if role or os.environ.get(ROLE_ENV):
        return role or os.environ.get(ROLE_ENV)
    job = _job_of(package)
    if not job:
        return None
    sagemaker = aws.client("sagemaker")
    desc = describe_or_none(lambda: sagemaker.describe_training_job(TrainingJobName=job))
    return desc["RoleArn"] if desc else None
