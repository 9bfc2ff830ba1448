"""AWS plumbing shared by every driver verb: session, region, account, bucket, uploads, errors.

boto3 honours `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`) itself, which is
how the tests point every client at moto's server. Retries use botocore's adaptive mode, which
backs off on throttling.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from byoc.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
ROLE_ENV = "SAGEMAKER_ROLE_ARN"
CONFIG_ENV = "BYOC_CONFIG"
CONFIG_FILE = Path("~/.config/byoc/config.json").expanduser()
RETRY_CONFIG = {"max_attempts": 10, "mode": "adaptive"}


def _known_regions() -> set[str]:
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("sagemaker", partition_name=partition))
    return regions


def load_config() -> dict:
    """The optional config file (JSON): defaults for region, role, bucket, instance types."""
    import json

    path = Path(os.environ.get(CONFIG_ENV) or CONFIG_FILE)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"Config file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"Config file {path} must hold a JSON object.")
    return data


@dataclass
class Aws:
    """One boto3 session and the clients made from it."""

    session: object  # boto3.session.Session
    region: str

    def client(self, service: str, **config):
        """A client with byoc's retries; `config` overrides botocore Config fields."""
        from botocore.config import Config

        return self.session.client(service, region_name=self.region,
                                   config=Config(**{"retries": RETRY_CONFIG, **config}))

    @functools.cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    @property
    def default_bucket(self) -> str:
        return f"sagemaker-{self.region}-{self.account_id}"


def connect(region: str | None = None, profile: str | None = None) -> Aws:
    """A session from flags, then the environment (AWS_PROFILE, AWS_REGION), then config."""
    import boto3
    import botocore.exceptions

    config = load_config()
    profile = profile or os.environ.get("AWS_PROFILE") or config.get("profile")
    try:
        session = boto3.session.Session(profile_name=profile)
    except botocore.exceptions.ProfileNotFound:
        raise UserError(
            f"AWS profile '{profile}' is not configured. Run `aws configure --profile {profile}` "
            "or pick another with --profile / AWS_PROFILE."
        ) from None
    region = (region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or config.get("region") or session.region_name or DEFAULT_REGION)
    if region not in _known_regions():
        raise UserError(
            f"Unknown AWS region '{region}'. Pass --region (or set AWS_REGION) to a region where "
            "SageMaker runs, e.g. us-east-1 or eu-west-1."
        )
    if session.get_credentials() is None:
        raise UserError(NO_CREDENTIALS)
    return Aws(session=session, region=region)


def resolve_role(role: str | None) -> str:
    role = role or os.environ.get(ROLE_ENV) or load_config().get("role")
    if not role:
        raise UserError(
            f"No SageMaker execution role. Pass --role arn:aws:iam::<account>:role/<name> or set "
            f"{ROLE_ENV}; the role needs SageMaker, S3 and ECR access."
        )
    if not role.startswith("arn:"):
        raise UserError(f"--role must be an IAM role ARN (arn:aws:iam::...), not '{role}'.")
    return role


NO_CREDENTIALS = ("No AWS credentials found. Run `aws configure` (or `aws sso login`), or set "
                  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE.")
CREDENTIAL_CODES = ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                    "UnrecognizedClientException", "SignatureDoesNotMatch")
PICK_ANOTHER_NAME = ("names are unique per account and region, even after a job ends: pick "
                     "another --job-name, or leave it out for a fresh one")
ENDPOINT_EXISTS = ("pick another --endpoint-name, or delete the old endpoint with `byoc delete "
                   "--endpoint-name {endpoint_name}` (an endpoint config left alone: `aws "
                   "sagemaker delete-endpoint-config --endpoint-config-name {endpoint_name}`)")
# What to do next, by (operation or None for any, error code, text in the message or "").
# Hints are formatted with the command's flags. Real SageMaker says "already exists" with
# ResourceInUse for jobs but with ValidationException for endpoints and their configs.
HINTS = (
    ("CreateTrainingJob", "ResourceInUse", "", PICK_ANOTHER_NAME),
    ("CreateHyperParameterTuningJob", "ResourceInUse", "", PICK_ANOTHER_NAME),
    ("CreateTransformJob", "ResourceInUse", "", PICK_ANOTHER_NAME),
    ("CreateAutoMLJobV2", "ResourceInUse", "", PICK_ANOTHER_NAME),
    ("CreateEndpointConfig", "ValidationException", "already exist", ENDPOINT_EXISTS),
    ("CreateEndpoint", "ValidationException", "already exist", ENDPOINT_EXISTS),
    (None, "ResourceLimitExceeded", "",
     "an account quota is used up: stop or delete what is running (aws sagemaker "
     "list-training-jobs --status-equals InProgress, list-endpoints), or ask for more in the "
     "Service Quotas console (Amazon SageMaker), then retry"),
    (None, "ThrottlingException", "", "AWS kept throttling after retries: wait a minute, retry"),
    (None, "NoSuchBucket", "", "check the bucket in the s3:// URI, and --region"),
    (None, "AccessDenied", "", "the IAM policy of your credentials or --role does not allow "
                               "this: ask your AWS administrator for it"),
    (None, "AccessDeniedException", "", "the IAM policy of your credentials or --role does not "
                                        "allow this: ask your AWS administrator for it"),
)


class _Flags(dict):
    """Flags for hint templates; one the user did not give reads as an upper-case placeholder."""

    def __missing__(self, key: str) -> str:
        return key.upper()


def explain(exc: BaseException, flags: dict | None = None) -> str | None:
    """One sentence for an AWS error (code, AWS's message, what to do), or None for others."""
    if "botocore" not in sys.modules:
        return None  # no AWS call has been made, so `exc` cannot come from one
    import boto3.exceptions
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message") or str(exc)
        if code in CREDENTIAL_CODES:
            return f"AWS rejected the credentials ({code}: {message}): refresh them and retry."
        text = f"{code}: {message.rstrip('.')} ({exc.operation_name})"
        for operation, hint_code, needle, hint in HINTS:
            if (operation in (None, exc.operation_name) and code == hint_code
                    and needle in message):
                values = _Flags({k: v for k, v in (flags or {}).items() if v is not None})
                return f"{text}; {hint.format_map(values)}."
        return f"{text}."
    if isinstance(exc, (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error)):
        return f"{type(exc).__name__}: {exc}"
    return None


@contextmanager
def translate_errors(flags: dict | None = None) -> Iterator[None]:
    """Turn every botocore (and boto3) error into a UserError; `flags` fill in the hints."""
    try:
        yield
    except Exception as exc:
        sentence = explain(exc, flags)
        if sentence is None:
            raise
        raise UserError(sentence) from None


def describe_or_none(describe: Callable[[], dict]) -> dict | None:
    """What a SageMaker describe call returns, or None when its resource does not exist.

    SageMaker reports a missing job or endpoint as ValidationException, newer APIs as
    ResourceNotFound.
    """
    import botocore.exceptions

    try:
        return describe()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ValidationException",
                                                          "ResourceNotFound"):
            return None
        raise


def exists(describe: Callable[[], dict]) -> bool:
    """Whether a SageMaker describe call finds its resource."""
    return describe_or_none(describe) is not None


def data_bucket(aws: Aws) -> str:
    """Where byoc puts uploads and outputs: the config file's `bucket`, else the default one."""
    return load_config().get("bucket") or aws.default_bucket


def owner_check(aws: Aws, bucket: str) -> dict:
    """`ExpectedBucketOwner` for the default bucket: its name is predictable, so another account
    could create it first and receive the data. Buckets the user names are theirs to trust."""
    return {"ExpectedBucketOwner": aws.account_id} if bucket == aws.default_bucket else {}


def ensure_bucket(aws: Aws, bucket: str) -> None:
    import botocore.exceptions

    s3 = aws.client("s3")
    owner = owner_check(aws, bucket)
    try:
        s3.head_bucket(Bucket=bucket, **owner)
        return
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if owner and code in ("403", "AccessDenied"):
            raise UserError(
                f"Bucket s3://{bucket} exists but is not owned by your account {aws.account_id}. "
                "Do not send data there: name your own bucket in the config file (\"bucket\") "
                "or with --output."
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    log.info("Creating bucket s3://%s", bucket)
    kwargs = {"Bucket": bucket}
    if aws.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": aws.region}
    s3.create_bucket(**kwargs)


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise UserError(f"Expected an s3:// URI, got '{uri}'.")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise UserError(f"'{uri}' names no bucket.")
    return bucket, key


def upload_file(aws: Aws, local: Path, s3_uri: str) -> str:
    bucket, key = split_s3_uri(s3_uri)
    aws.client("s3").upload_file(str(local), bucket, key, ExtraArgs=owner_check(aws, bucket))
    return f"s3://{bucket}/{key}"
