"""`byoc push` and build_and_push.sh: a real Docker build, pushed to a real local registry.

moto answers ECR (repository, login token); the image goes to Debian's `docker-registry` on a
loopback port, standing in for ECR's registry, which cannot be reached from here. The image is a
one-line Dockerfile over the local base image, so the build takes a second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from byoc.cli import main
from byoc.driver import ecr
from byoc.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
BASE = "local/debian:bookworm"
pytestmark = [pytest.mark.docker, pytest.mark.aws]


def _need(condition: bool, reason: str) -> None:
    """Skip with a visible reason on a workstation; in CI a missing prerequisite is a failure."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_client():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        _need(False, f"no Docker engine answers ({exc}); start one with ../shared/tools/docker-up")
    try:
        client.images.get(BASE)
    except docker.errors.ImageNotFound:
        _need(False, f"base image {BASE} is missing; ../shared/tools/docker-up builds it")
    return client


@pytest.fixture(scope="module")
def registry(tmp_path_factory, find_free_port):
    """Debian's docker-registry on a free loopback port, storing in a temporary directory."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    _need(Path(binary).exists(), "docker-registry is not installed (../shared/tools/docker-up "
                                 "installs it)")
    port = find_free_port()
    workdir = tmp_path_factory.mktemp("registry")
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(workdir / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                                stderr=subprocess.STDOUT)
    host = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not start: "
                                       f"{(workdir / 'registry.log').read_text()}") from None
                time.sleep(0.1)
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def tags(registry: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=5) as r:
        return json.loads(r.read())["tags"]


def pushed_platform(registry: str, repository: str, tag: str) -> str:
    """`os/architecture` from the image config the registry holds."""
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}",
                                     headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=5) as r:
        digest = json.loads(r.read())["config"]["digest"]
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/blobs/{digest}",
                                timeout=5) as r:
        config = json.loads(r.read())
    return f"{config['os']}/{config['architecture']}"


@pytest.fixture
def context(tmp_path) -> Path:
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\n")
    return tmp_path


@pytest.fixture
def docker_config(tmp_path, monkeypatch) -> Path:
    """Keep `docker login` credentials out of the user's ~/.docker."""
    path = tmp_path / "docker-config"
    path.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    return path


def test_byoc_push_creates_the_repository_and_pushes_the_image(
        moto_endpoint, docker_client, registry, context, docker_config, capsys):
    code = main(["push", "--repository", "byoc-push-test", "--tag", "t1", "--registry", registry,
                 "--context", str(context)])
    assert code == 0
    uri = capsys.readouterr().out.strip().splitlines()[-1]
    assert uri == f"{registry}/byoc-push-test:t1"
    assert tags(registry, "byoc-push-test") == ["t1"]
    assert pushed_platform(registry, "byoc-push-test", "t1") == "linux/amd64"
    repos = boto3.client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["byoc-push-test"]
    docker_client.images.remove(uri)


def test_byoc_push_gpu_variant_needs_its_dockerfile(moto_endpoint, context, capsys):
    assert main(["push", "--variant", "gpu", "--context", str(context)]) == 2
    assert "Dockerfile.gpu not found" in capsys.readouterr().err


def test_build_and_push_script_pushes_through_the_aws_cli(
        moto_endpoint, docker_client, registry, context, docker_config):
    # The aws CLI is not a byoc dependency: the script uses whichever one is on PATH.
    _need(shutil.which("aws") is not None, "no aws CLI on PATH for build_and_push.sh")
    (context / "Dockerfile.gpu").write_text(f"FROM {BASE}\n")
    env = {**os.environ, "BYOC_REGISTRY": registry}
    result = subprocess.run(
        ["bash", str(ROOT / "build_and_push.sh"), "--variant", "gpu", "--context", str(context),
         "byoc-script-test"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"{registry}/byoc-script-test:latest-gpu"
    assert tags(registry, "byoc-script-test") == ["latest-gpu"]
    assert pushed_platform(registry, "byoc-script-test", "latest-gpu") == "linux/amd64"
    repos = boto3.client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["byoc-script-test"]
    docker_client.images.remove(f"{registry}/byoc-script-test:latest-gpu")
    docker_client.images.remove("byoc-script-test:latest-gpu")


def test_a_build_for_another_platform_than_asked_is_not_pushed(
        moto_endpoint, docker_client, registry, context, docker_config, capsys):
    """Here the base image exists for linux/amd64 only and the engine has no emulation: Docker
    20.10's builder then makes an amd64 image although arm64 was asked for. byoc reads what was
    built and stops before the push."""
    assert main(["push", "--repository", "byoc-arm-test", "--tag", "t1", "--registry", registry,
                 "--context", str(context), "--platform", "linux/arm64"]) == 2
    err = capsys.readouterr().err
    assert "Docker built a linux/amd64 image, not linux/arm64" in err
    assert "tonistiigi/binfmt" in err
    with pytest.raises(urllib.error.HTTPError):
        tags(registry, "byoc-arm-test")
    docker_client.images.remove(f"{registry}/byoc-arm-test:t1")


def test_the_platform_check_compares_what_docker_built():
    ecr.check_platform(ecr.image_platform({"Os": "linux", "Architecture": "amd64"}),
                       "linux/amd64")
    with pytest.raises(UserError, match="Docker built a linux/arm64 image, not linux/amd64"):
        ecr.check_platform(ecr.image_platform({"Os": "linux", "Architecture": "arm64"}),
                           "linux/amd64")


def test_byoc_push_gpu_variant_has_its_own_default_tag(
        moto_endpoint, docker_client, registry, context, docker_config, capsys):
    (context / "Dockerfile.gpu").write_text(f"FROM {BASE}\n")
    assert main(["push", "--variant", "gpu", "--repository", "byoc-gpu-test", "--registry",
                 registry, "--context", str(context)]) == 0
    uri = capsys.readouterr().out.strip().splitlines()[-1]
    assert uri == f"{registry}/byoc-gpu-test:{ecr.DEFAULT_TAGS['gpu']}"
    assert tags(registry, "byoc-gpu-test") == ["latest-gpu"]  # not the CPU image's `latest`
    docker_client.images.remove(uri)


def test_build_and_push_script_uses_the_same_dockerfiles_and_default_tags():
    script = (ROOT / "build_and_push.sh").read_text()
    table = {m["variant"]: (m["dockerfile"], m["tag"]) for m in re.finditer(
        r"^\s*(?P<variant>\w+)\) dockerfile=(?P<dockerfile>\S+); default_tag=(?P<tag>\S+) ;;$",
        script, re.MULTILINE)}
    assert table == {v: (ecr.DOCKERFILES[v], ecr.DEFAULT_TAGS[v]) for v in ecr.DOCKERFILES}
