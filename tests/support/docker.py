"""Docker fixtures: the engine, and the CPU and serving images built once per session from this
checkout.

With no Docker engine the container tests are skipped with the reason, except in CI (the `CI`
variable set), where a missing engine is a failure: CI starts one itself.
"""

from __future__ import annotations

import os

import pytest

from tests.support.executables import REPO

# Another checkout on the same engine can build under its own tag.
IMAGE = os.environ.get("BYOC_TEST_IMAGE", "byoc:test")
SERVING_IMAGE = f"{IMAGE}-serving"  # Dockerfile with EXTRAS=serve (`make image-serving`)


def engine_or_skip():
    """A Docker client that answers, or skip (fail in CI) with the reason."""
    try:
        import docker

        engine = docker.from_env()
        engine.ping()
    except Exception as exc:  # no SDK, no socket, engine down: all mean "no engine here"
        reason = f"no Docker engine answers ({type(exc).__name__}: {exc})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must start one (../shared/tools/docker-up).")
        pytest.skip(f"{reason}; start one (e.g. ../shared/tools/docker-up) to run these tests")
    return engine


@pytest.fixture(scope="session")
def engine():
    return engine_or_skip()


def build(engine, tag: str, **buildargs: str) -> str:
    """Build Dockerfile as `tag`, on $BASE_IMAGE when set (nothing can be pulled here)."""
    import docker

    if os.environ.get("BASE_IMAGE"):
        buildargs["BASE_IMAGE"] = os.environ["BASE_IMAGE"]
    try:
        engine.images.build(path=str(REPO), dockerfile="Dockerfile", tag=tag,
                            buildargs=buildargs, network_mode="host", rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        log = "".join(chunk.get("stream", chunk.get("error", "")) for chunk in exc.build_log)
        hint = "" if "BASE_IMAGE" in buildargs else (
            "\nWhere nothing can be pulled, set BASE_IMAGE to a local base image, e.g. "
            "BASE_IMAGE=$(../shared/tools/docker-up | tail -n 1)."
        )
        pytest.fail(f"building {tag} failed: {exc}{hint}\n{log[-4000:]}")
    return tag


@pytest.fixture(scope="session")
def image(engine) -> str:
    """The full image (train and serve) as `byoc:test`."""
    return build(engine, IMAGE)


@pytest.fixture(scope="session")
def serving_image(engine) -> str:
    """The serving-only image: LiteRT, no TensorFlow."""
    return build(engine, SERVING_IMAGE, EXTRAS="serve")
