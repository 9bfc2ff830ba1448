"""The two Dockerfiles stay one recipe, and local Docker mode explains a missing engine.

No Docker engine needed: these run everywhere.
"""

from __future__ import annotations

import re

import pytest

from byoc.errors import UserError
from tests.conftest import REPO

# The only lines allowed to differ between Dockerfile and Dockerfile.gpu.
DEFAULTS = re.compile(r"^ARG (BASE_IMAGE|EXTRAS)=(.*)$", re.MULTILINE)


def _recipe(name: str) -> tuple[str, dict[str, str]]:
    text = (REPO / name).read_text()
    return DEFAULTS.sub(r"ARG \1=", text), dict(DEFAULTS.findall(text))


def test_gpu_dockerfile_is_the_cpu_recipe_with_other_defaults():
    cpu, cpu_defaults = _recipe("Dockerfile")
    gpu, gpu_defaults = _recipe("Dockerfile.gpu")
    assert cpu == gpu, "Dockerfile.gpu must differ from Dockerfile only in its ARG defaults"
    assert cpu_defaults["EXTRAS"] == "train,serve"
    assert gpu_defaults["EXTRAS"] == "gpu"
    # tensorflow[and-cuda] 2.21 pins CUDA 12.5+ and cuDNN 9 wheels; the base must match that.
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu22\.04",
                        gpu_defaults["BASE_IMAGE"])


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
