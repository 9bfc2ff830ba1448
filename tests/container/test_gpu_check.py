"""The NVIDIA driver check at start-up, in real containers.

This machine has no GPU. `--device /dev/null:/dev/nvidia0` gives a container what a GPU host
gives it that byoc can see without a driver: a /dev/nvidia0 node (a stand-in for a GPU that
cannot exist here). TensorFlow then finds no GPU, as it would on a host whose driver is too old.
The GPU image (`make image-gpu`, 6 GB) is not built by the suite: set BYOC_TEST_GPU_IMAGE to its
tag to run its tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from byoc import contract, gpu
from byoc.serving import runtime as runtimes

pytestmark = pytest.mark.docker

FAKE_GPU = ["--device", "/dev/null:/dev/nvidia0"]
GPU_IMAGE = os.environ.get("BYOC_TEST_GPU_IMAGE")
needs_gpu_image = pytest.mark.skipif(
    not GPU_IMAGE, reason="set BYOC_TEST_GPU_IMAGE to a GPU image (make image-gpu)")


def _run(image: str, command: str, ml, *extra: str, timeout: int = 600):
    return subprocess.run(["docker", "run", "--rm", *extra, "-v", f"{ml}:/opt/ml", image, command],
                          capture_output=True, text=True, timeout=timeout)


def test_cpu_image_on_a_gpu_host_warns_and_names_the_gpu_image(image, tmp_path):
    # No data: training stops right after the check, for that reason and not for the GPU.
    result = _run(image, "train", tmp_path, *FAKE_GPU)
    assert result.returncode == 1
    assert "is a CPU build and leaves the GPUs idle" in result.stdout
    assert "Dockerfile.gpu" in result.stdout
    assert "InferenceAmiVersion" not in contract.Paths(tmp_path).failure_file.read_text()


def test_no_gpu_is_logged_as_such(image, tmp_path):
    result = _run(image, "train", tmp_path)
    assert "no GPU found" in result.stdout and "runs on the CPU" in result.stdout


@needs_gpu_image
def test_gpu_image_fails_training_with_the_driver_and_the_way_out(tmp_path):
    result = _run(GPU_IMAGE, "train", tmp_path, *FAKE_GPU)
    assert result.returncode == 1, result.stdout[-3000:]
    reason = contract.Paths(tmp_path).failure_file.read_text()
    assert "1 NVIDIA GPU(s)" in reason and "finds none" in reason
    assert f">= {gpu.MIN_DRIVER}" in reason and gpu.INFERENCE_AMI in reason
    assert f"{gpu.ALLOW_CPU_ENV}=1" in reason


@needs_gpu_image
def test_gpu_image_runs_on_the_cpu_when_asked(tmp_path):
    result = _run(GPU_IMAGE, "train", tmp_path, *FAKE_GPU, "-e", f"{gpu.ALLOW_CPU_ENV}=1")
    assert f"{gpu.ALLOW_CPU_ENV} is set: running on the CPU" in result.stdout
    assert "finds none" not in contract.Paths(tmp_path).failure_file.read_text()


@needs_gpu_image
def test_gpu_image_refuses_to_serve_on_tensorflow_with_one_line(trained_model_dir, tmp_path):
    shutil.copytree(trained_model_dir, tmp_path / "model")
    result = _run(GPU_IMAGE, "serve", tmp_path, *FAKE_GPU,
                  "-e", f"{runtimes.RUNTIME_ENV}=tensorflow", "-e",
                  "SAGEMAKER_MODEL_SERVER_WORKERS=1", timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [line for line in log.splitlines() if "Cannot start the model server" in line]
    assert len(lines) == 1 and gpu.INFERENCE_AMI in lines[0], log[-3000:]
    assert "Traceback" not in log
