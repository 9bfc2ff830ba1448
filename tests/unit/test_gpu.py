"""The NVIDIA driver check (`byoc.gpu`).

This machine has no NVIDIA driver and no GPU, so the hosts here are fake: /proc/driver/nvidia and
/dev trees written under tmp_path (the `root` parameter), and a tiny libnvidia-ml built with the C
compiler that answers the NVML calls `probe` makes. Everything else is the real code.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest

from byoc import gpu
from byoc.errors import UserError

PROPRIETARY = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.256.02  Thu May  2 14:37:44 "
               "UTC 2024\nGCC version:  gcc version 7.3.1 20180712 (Red Hat 7.3.1-17) (GCC)\n")
OPEN = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.90.07  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Fri May 31 09:30:47 UTC 2024\nGCC version:  gcc 10\n")


def fake_host(root, version: str | None = PROPRIETARY, gpus=("Tesla T4",), devices=("nvidia0",)):
    """A /proc/driver/nvidia and /dev tree as the NVIDIA driver and container runtime lay out."""
    proc = root / "proc/driver/nvidia"
    if version is not None:
        proc.mkdir(parents=True)
        (proc / "version").write_text(version)
    for i, model in enumerate(gpus):
        info = proc / "gpus" / f"0000:00:{0x1e + i:02x}.0" / "information"
        info.parent.mkdir(parents=True)
        info.write_text(f"Model: \t\t {model}\nIRQ:   \t\t 42\nGPU UUID: \t GPU-{i}\n"
                        f"Bus Type: \t PCIe\nDevice Minor: \t {i}\n")
    (root / "dev").mkdir(parents=True, exist_ok=True)
    for name in (*devices, "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"):
        (root / "dev" / name).touch()
    return root


def test_no_driver_no_devices(tmp_path):
    host = gpu.probe(tmp_path, nvml=None)
    assert host == gpu.Host()
    level, line = gpu.assess(host, 0, cuda_build=True, tensorflow_version="2.21.0")
    assert level == logging.INFO
    assert "no GPU found" in line and "TensorFlow 2.21.0 runs on the CPU" in line


@pytest.mark.parametrize(("version", "driver"), [(PROPRIETARY, "470.256.02"),
                                                 (OPEN, "550.90.07")])
def test_probe_reads_driver_gpus_and_devices(tmp_path, version, driver):
    fake_host(tmp_path, version, gpus=("Tesla T4", "NVIDIA A10G"),
              devices=("nvidia1", "nvidia0", "nvidia10"))
    host = gpu.probe(tmp_path, nvml="libnvidia-ml-absent.so.1")  # no NVML: /proc alone
    assert host.driver == driver
    assert host.gpus == ("Tesla T4", "NVIDIA A10G")
    assert host.devices == ("nvidia0", "nvidia1", "nvidia10")  # not nvidiactl or nvidia-uvm
    assert host.cuda is None
    assert f"NVIDIA driver {driver}, 2 GPU(s): Tesla T4, NVIDIA A10G" in host.describe()


def test_gpus_the_container_was_not_given_are_named_but_not_required(tmp_path):
    # Docker without --gpus: the host's /proc shows the driver, but no /dev/nvidiaN inside.
    host = gpu.probe(fake_host(tmp_path, devices=()), nvml=None)
    level, line = gpu.assess(host, 0, cuda_build=True)
    assert level == logging.INFO
    assert "none is given to this container" in line and "--gpus all" in line


def test_tensorflow_that_sees_the_gpus_passes(tmp_path):
    host = gpu.probe(fake_host(tmp_path, OPEN), nvml=None)
    level, line = gpu.assess(host, 1, cuda_build=True, tensorflow_version="2.21.0")
    assert level == logging.INFO and "TensorFlow 2.21.0 uses 1 GPU(s)" in line


def test_old_driver_fails_with_the_version_the_minimum_and_the_way_out(tmp_path):
    host = gpu.probe(fake_host(tmp_path, PROPRIETARY), nvml=None)
    with pytest.raises(UserError) as raised:
        gpu.assess(host, 0, cuda_build=True, tensorflow_version="2.21.0")
    reason = str(raised.value)
    assert "1 NVIDIA GPU(s) (Tesla T4) but TensorFlow 2.21.0 finds none" in reason
    assert "driver 470.256.02" in reason and f">= {gpu.MIN_DRIVER}" in reason
    assert "InferenceAmiVersion" in reason and gpu.INFERENCE_AMI in reason
    assert "another instance family" in reason
    assert f"{gpu.ALLOW_CPU_ENV}=1" in reason
    assert len(reason) <= 1024  # the FailureReason SageMaker shows


def test_cpu_fallback_on_purpose_is_a_warning(tmp_path):
    host = gpu.probe(fake_host(tmp_path, PROPRIETARY), nvml=None)
    assert gpu.allow_cpu_fallback({gpu.ALLOW_CPU_ENV: "1"})
    assert not gpu.allow_cpu_fallback({gpu.ALLOW_CPU_ENV: "0"})
    level, line = gpu.assess(host, 0, cuda_build=True, allow_cpu=True)
    assert level == logging.WARNING
    assert "470.256.02" in line and line.endswith("is set: running on the CPU.")


def test_new_driver_without_gpus_points_at_the_container_setup(tmp_path):
    host = gpu.probe(fake_host(tmp_path, OPEN), nvml=None)
    with pytest.raises(UserError, match="driver 550.90.07 is new enough for CUDA 12.*"
                                        "NVIDIA_DRIVER_CAPABILITIES=compute,utility"):
        gpu.assess(host, 0, cuda_build=True)


def test_a_cpu_build_on_a_gpu_host_warns_and_names_the_gpu_image(tmp_path):
    host = gpu.probe(fake_host(tmp_path, OPEN), nvml=None)
    level, line = gpu.assess(host, 0, cuda_build=False)
    assert level == logging.WARNING and "CPU build" in line and "Dockerfile.gpu" in line


FAKE_NVML = r"""
#include <string.h>
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlSystemGetDriverVersion(char *v, unsigned n) { strncpy(v, "470.82.01", n); return 0; }
int nvmlSystemGetCudaDriverVersion_v2(int *v) { *v = 11040; return 0; }
int nvmlDeviceGetCount_v2(unsigned *n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **h) { *h = (void *)(long)(i + 1); return 0; }
int nvmlDeviceGetName(void *h, char *v, unsigned n) {
    strncpy(v, (long)h == 1 ? "NVIDIA A10G" : "NVIDIA L4", n); return 0; }
"""


@pytest.fixture(scope="module")
def fake_nvml(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the fake libnvidia-ml")
    work = tmp_path_factory.mktemp("nvml")
    (work / "nvml.c").write_text(FAKE_NVML)
    subprocess.run([cc, "-shared", "-fPIC", "-o", work / "libnvidia-ml.so.1", work / "nvml.c"],
                   check=True)
    return str(work / "libnvidia-ml.so.1")


def test_nvml_wins_over_proc_and_gives_the_cuda_version(tmp_path, fake_nvml):
    host = gpu.probe(fake_host(tmp_path, OPEN, devices=("nvidia0", "nvidia1")), nvml=fake_nvml)
    assert host.driver == "470.82.01" and host.cuda == "11.4"
    assert host.gpus == ("NVIDIA A10G", "NVIDIA L4")
    assert host.driver_too_old()
    with pytest.raises(UserError, match="470.82.01, which supports CUDA 11.4 at most"):
        gpu.assess(host, 0, cuda_build=True)


def test_devices_without_a_visible_driver_say_so(tmp_path):
    # What `docker run --device /dev/null:/dev/nvidia0` gives: a device node, no driver files.
    host = gpu.probe(fake_host(tmp_path, version=None, gpus=()), nvml=None)
    assert host.devices == ("nvidia0",) and host.driver is None
    with pytest.raises(UserError, match="sees no driver .* its version is unknown"):
        gpu.assess(host, 0, cuda_build=True)


def test_a_host_without_gpus_is_checked_without_tensorflow(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="byoc.gpu")
    line = gpu.check_without_tensorflow(str(tmp_path), nvml=None)
    assert "no GPU found" in line and "runs on the CPU" in caplog.text
    assert "TensorFlow 2." in line  # the installed version, from its package's metadata
    # A GPU host: only TensorFlow can say whether it finds the GPUs, so this leaves it to it.
    assert gpu.check_without_tensorflow(str(fake_host(tmp_path / "gpu", OPEN)), nvml=None) is None


def test_check_tensorflow_uses_this_process_tensorflow(tmp_path, caplog):
    pytest.importorskip("tensorflow")
    caplog.set_level(logging.INFO, logger="byoc.gpu")
    gpu.check_tensorflow.cache_clear()
    line = gpu.check_tensorflow(str(tmp_path), nvml=None)
    assert "no GPU found" in line and "runs on the CPU" in caplog.text
    # The test environment's TensorFlow is the CPU build: a GPU host only gets a warning.
    import tensorflow as tf

    if not tf.test.is_built_with_cuda():
        gpu.check_tensorflow(str(fake_host(tmp_path / "gpu", OPEN)), nvml=None)
        assert "CPU build" in caplog.records[-1].getMessage()
        assert caplog.records[-1].levelno == logging.WARNING
