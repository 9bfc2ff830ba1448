"""ECR: build the image with Docker, log in with an ECR token, push; check that an image exists.
A registry other than ECR (--registry, BYOC_REGISTRY) gets Docker's own login, never ECR's token.

`build_and_push.sh` is the same flow in shell, for users who know it from the AWS samples.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from byoc.driver.aws import Aws
from byoc.driver.local.docker import client as docker_client
from byoc.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_REPOSITORY = "byoc"
DOCKERFILES = {"cpu": "Dockerfile", "gpu": "Dockerfile.gpu", "serving": "Dockerfile"}
# The serving image is Dockerfile with the serve extra alone: LiteRT, no TensorFlow.
EXTRAS = {"serving": "serve"}
# One default tag per variant, so a GPU push never overwrites the CPU image. build_and_push.sh
# spells both tables out itself, so that it runs where byoc is not installed;
# tests/aws/test_push.py reads the script and checks that it agrees with these.
DEFAULT_TAGS = {"cpu": "latest", "gpu": "latest-gpu", "serving": "latest-serving"}
IMPLICIT_TAG = "latest"  # what Docker and ECR read an image URI without a tag as
REGISTRY_ENV = "BYOC_REGISTRY"  # push to this host:port instead of ECR's (a local registry)
BASE_IMAGE_ENV = "BASE_IMAGE"  # build-arg for the Dockerfiles, e.g. a locally built base
# SageMaker's training and most hosting instances are x86_64. Only Graviton hosting instances
# (ml.c7g, ml.m7g, ml.r7g, ...) run linux/arm64 images. Building for the target, not for the
# machine, keeps an ARM laptop from pushing an image SageMaker cannot start.
DEFAULT_PLATFORM = "linux/amd64"
PLATFORMS = ("linux/amd64", "linux/arm64")

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$"
)


@dataclass(frozen=True)
class EcrImage:
    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None


def parse_ecr_uri(uri: str) -> EcrImage | None:
    """The parts of an ECR image URI, or None for any other registry."""
    match = _ECR_URI.match(uri)
    if not match:
        return None
    return EcrImage(match["account"], match["region"], match["repository"],
                    match["tag"] or (None if match["digest"] else IMPLICIT_TAG), match["digest"])


def check_image(aws: Aws, uri: str) -> None:
    """Fail fast, before a job is provisioned, when an ECR image is missing or in another region."""
    image = parse_ecr_uri(uri)
    if image is None:
        log.info("%s is not an ECR URI; SageMaker must be able to pull it itself.", uri)
        return
    if image.region != aws.region:
        raise UserError(
            f"Image {uri} is in {image.region} but the job runs in {aws.region}. SageMaker pulls "
            f"images from its own region: push there (byoc push --region {aws.region}) or pass "
            f"--region {image.region}."
        )
    image_id = {"imageDigest": image.digest} if image.digest else {"imageTag": image.tag}
    ecr = aws.client("ecr")
    try:
        ecr.describe_images(registryId=image.account, repositoryName=image.repository,
                            imageIds=[image_id])
    except (ecr.exceptions.RepositoryNotFoundException,
            ecr.exceptions.ImageNotFoundException) as exc:
        raise UserError(
            f"Image {uri} is not in ECR ({exc.response['Error']['Code']}). Build and push it "
            f"first: byoc push --repository {image.repository} --tag {image.tag or IMPLICIT_TAG}"
        ) from None


def ensure_repository(aws: Aws, name: str) -> str:
    """Create the ECR repository if missing; return its URI."""
    ecr = aws.client("ecr")
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        log.info("Creating ECR repository %s", name)
        repo = ecr.create_repository(repositoryName=name)["repository"]
    return repo["repositoryUri"]


def registry_auth(aws: Aws, host: str) -> dict[str, str] | None:
    """ECR's username and password when `host` is the ECR registry the token is issued for
    (its proxyEndpoint); None for any other registry, which then gets the login the user gave
    Docker (`docker login HOST`), never ECR's password."""
    data = aws.client("ecr").get_authorization_token()["authorizationData"][0]
    if host != re.sub(r"^https?://", "", data["proxyEndpoint"]).rstrip("/"):
        return None
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"username": username, "password": password}


# What registries answer to a push without a (good) login.
_DENIED = ("denied", "unauthorized", "authentication required", "no basic auth credentials")


def push_error(host: str, error: str, *, ecr_host: str) -> str:
    """Docker's push error, with how to log in when `host` (not ECR) refused a push."""
    message = f"Docker: {error.strip()}"
    if host != ecr_host and any(word in error.lower() for word in _DENIED):
        message += (f" Log in to {host} first (docker login {host}): byoc pushes to a registry "
                    "other than ECR with Docker's own login for it, since ECR credentials go to "
                    "ECR only.")
    return message


def _stream_errors(lines, explain: Callable[[str], str] = lambda error: f"Docker: {error}"
                   ) -> None:
    """Echo Docker's JSON progress stream and raise on the first error it reports, as
    `explain` words it."""
    for chunk in lines:
        if "error" in chunk:
            raise UserError(explain(chunk["error"].strip()))
        text = (chunk.get("stream") or "").rstrip()
        if text:
            log.info("%s", text)
        elif chunk.get("status") and chunk.get("id") is None:
            log.info("%s", chunk["status"])


def image_platform(attrs: dict) -> str:
    """`os/architecture` of a built image, from `docker inspect`'s fields."""
    return f"{attrs.get('Os', '?')}/{attrs.get('Architecture', '?')}"


def check_platform(built: str, wanted: str) -> None:
    """Refuse to push an image built for another platform than the one asked for."""
    if built != wanted:
        raise UserError(
            f"Docker built a {built} image, not {wanted}: SageMaker could not start it. Build on "
            f"a machine of that platform, or let Docker emulate it (docker buildx, or "
            f"binfmt/QEMU: docker run --privileged --rm tonistiigi/binfmt --install all)."
        )


def push(aws: Aws, *, variant: str = "cpu", repository: str = DEFAULT_REPOSITORY,
         tag: str | None = None, registry: str | None = None,
         context: str | os.PathLike = ".", platform: str = DEFAULT_PLATFORM) -> str:
    """Build `variant`'s Dockerfile in `context` for `platform`, push it to ECR (or `registry`);
    return its URI.

    The tag defaults to the variant's own (DEFAULT_TAGS).
    """
    if platform not in PLATFORMS:
        raise UserError(f"--platform must be one of {', '.join(PLATFORMS)}, not '{platform}'.")
    if platform != DEFAULT_PLATFORM:
        log.warning("Building for %s: only Graviton hosting instances (ml.c7g, ml.m7g, ...) run "
                    "it; SageMaker training instances are x86_64 (linux/amd64).", platform)
    context = Path(context).resolve()
    dockerfile = context / DOCKERFILES[variant]
    if not dockerfile.is_file():
        raise UserError(f"{dockerfile} not found: run byoc push from the project root or pass "
                        "--context DIR.")
    repo_uri = ensure_repository(aws, repository)
    ecr_host, path = repo_uri.split("/", 1)
    host = registry or os.environ.get(REGISTRY_ENV) or ecr_host
    uri = f"{host}/{path}:{tag or DEFAULT_TAGS[variant]}"
    auth = registry_auth(aws, host)

    client = docker_client()
    import docker.errors

    build_args = {BASE_IMAGE_ENV: os.environ[BASE_IMAGE_ENV]} if os.environ.get(
        BASE_IMAGE_ENV) else {}
    if variant in EXTRAS:
        build_args["EXTRAS"] = EXTRAS[variant]
    log.info("Building %s from %s for %s", uri, dockerfile.name, platform)
    try:
        _stream_errors(client.api.build(path=str(context), dockerfile=dockerfile.name, tag=uri,
                                        buildargs=build_args, network_mode="host", rm=True,
                                        decode=True, platform=platform))
        check_platform(image_platform(client.api.inspect_image(uri)), platform)
        if auth:
            client.login(**auth, registry=host, reauth=True)
        log.info("Pushing %s", uri)
        _stream_errors(client.api.push(uri, stream=True, decode=True, auth_config=auth),
                       lambda error: push_error(host, error, ecr_host=ecr_host))
    except docker.errors.APIError as exc:
        raise UserError(f"Docker could not build or push {uri}: {exc.explanation or exc}") from None
    return uri
