"""The two Dockerfiles stay one recipe, and local Docker mode explains a missing engine.

No Docker engine needed: these run everywhere.
"""

from __future__ import annotations

import re

import pytest

from byoc.errors import UserError
from tests.support.executables import REPO

# The only lines allowed to differ between Dockerfile and Dockerfile.gpu.
DEFAULTS = re.compile(r"^ARG (BASE_IMAGE|EXTRAS|NVIDIA_VISIBLE_DEVICES|NVIDIA_DRIVER_CAPABILITIES)"
                      r"=(.*)$", re.MULTILINE)


def _recipe(name: str) -> tuple[str, dict[str, str]]:
    text = (REPO / name).read_text()
    return DEFAULTS.sub(r"ARG \1=", text), dict(DEFAULTS.findall(text))


def test_gpu_dockerfile_is_the_cpu_recipe_with_other_defaults():
    cpu, cpu_defaults = _recipe("Dockerfile")
    gpu, gpu_defaults = _recipe("Dockerfile.gpu")
    assert cpu == gpu, "Dockerfile.gpu must differ from Dockerfile only in its ARG defaults"
    assert cpu_defaults["EXTRAS"] == "train,serve"
    assert gpu_defaults["EXTRAS"] == "gpu"
    # CUDA comes from tensorflow[and-cuda]'s wheels, so both images start from the same base.
    assert cpu_defaults["BASE_IMAGE"] == gpu_defaults["BASE_IMAGE"] == "debian:bookworm-slim"
    # The NVIDIA container runtime gives the GPU image every GPU, libcuda and NVML; the CPU
    # image asks for nothing.
    assert gpu_defaults["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert gpu_defaults["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert not cpu_defaults["NVIDIA_VISIBLE_DEVICES"]
    assert not cpu_defaults["NVIDIA_DRIVER_CAPABILITIES"]


def test_the_gpu_extra_is_tensorflow_with_cuda_wheels():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(req.startswith("tensorflow[and-cuda]>=") for req in extras["gpu"])
    # Everything else the full image has, the GPU image has too.
    cpu = {r.split(";")[0] for r in extras["train"] + extras["serve"]
           if not r.startswith("tensorflow")}
    assert cpu <= set(extras["gpu"])


def test_image_carries_the_sagemaker_contract_markers():
    text = (REPO / "Dockerfile").read_text()
    assert "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in text
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        # SageMaker refuses a MultiModel model on an image without it.
        assert "LABEL com.amazonaws.sagemaker.capabilities.multi-models=true" in \
            (REPO / dockerfile).read_text()
    assert "ENTRYPOINT" not in text  # `docker run IMAGE train` must reach `train` as the command


def test_no_engine_is_a_user_error_that_points_to_process_mode(monkeypatch):
    pytest.importorskip("docker")
    from byoc.driver.local import docker

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(UserError, match="No Docker engine answers.*process mode"):
        docker.client()
