"""The NVIDIA driver check at start-up: which driver and GPUs the host gives this container, and
whether TensorFlow can use them.

A CUDA 12 image on a host whose driver is too old (SageMaker's default inference AMI on g4dn, g5
and p4d still runs driver 470, CUDA 11.4) does not fail by itself: TensorFlow finds no GPU and
quietly runs on the CPU. `check_tensorflow` turns that into an error that says what to change.
Reads /proc, /dev and NVML (ctypes) only; TensorFlow is imported by the caller's process anyway.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from byoc.errors import UserError

log = logging.getLogger("byoc.gpu")

# Set to 1 to run a CUDA image on the CPU of a GPU host on purpose (the check then only warns).
ALLOW_CPU_ENV = "BYOC_ALLOW_CPU_FALLBACK"
# tensorflow[and-cuda] 2.18-2.21 brings CUDA 12 wheels; CUDA 12's minor-version compatibility
# needs at least this driver on Linux (older drivers know CUDA 11 at most).
MIN_DRIVER = "525.60.13"
CUDA_MAJOR = 12
# The SageMaker inference AMI with the newest driver (580, CUDA 13.0) in botocore's list as of
# this writing; `byoc deploy` picks it for GPU instance types (driver.hosting.INFERENCE_AMIS).
INFERENCE_AMI = "al2023-ami-sagemaker-inference-gpu-4-1"
TRANSFORM_AMI = "al2-ami-sagemaker-batch-gpu-535"
NVML_LIBRARY = "libnvidia-ml.so.1"

_DRIVER_RE = re.compile(r"Kernel Module\b.*?\s(\d+\.\d+(?:\.\d+)?)\s")
_DEVICE_RE = re.compile(r"nvidia\d+")


@dataclass(frozen=True)
class Host:
    """What this container sees of the NVIDIA driver and GPUs."""

    driver: str | None = None   # kernel module version, e.g. "550.90.07"; None: no driver
    cuda: str | None = None     # the newest CUDA the driver supports, e.g. "12.4" (NVML only)
    gpus: tuple[str, ...] = ()  # GPU models the driver lists
    devices: tuple[str, ...] = ()  # /dev/nvidiaN: the GPUs given to this container

    @property
    def has_gpus(self) -> bool:
        return bool(self.devices)

    def describe(self) -> str:
        if not self.driver and not self.devices:
            return "no NVIDIA driver (/proc/driver/nvidia) and no GPU device (/dev/nvidiaN)"
        driver = f"NVIDIA driver {self.driver or 'unknown'}"
        if self.cuda:
            driver += f" (CUDA {self.cuda} at most)"
        gpus = f"{len(self.gpus)} GPU(s): {', '.join(self.gpus)}" if self.gpus else "no GPU listed"
        devices = ", ".join(f"/dev/{d}" for d in self.devices) or "no /dev/nvidiaN"
        return f"{driver}, {gpus} ({devices})"

    def driver_too_old(self) -> bool:
        if self.cuda:
            return int(self.cuda.split(".")[0]) < CUDA_MAJOR
        return self.driver is not None and _version(self.driver) < _version(MIN_DRIVER)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _nvml(library: str) -> tuple[str | None, str | None, tuple[str, ...]] | None:
    """Driver version, newest CUDA version and GPU names from NVML, or None without NVML."""
    import ctypes

    try:
        nvml = ctypes.CDLL(library)
    except OSError:
        return None
    if nvml.nvmlInit_v2() != 0:
        return None
    try:
        text = ctypes.create_string_buffer(96)
        driver = text.value.decode() if nvml.nvmlSystemGetDriverVersion(text, 96) == 0 else None
        number = ctypes.c_int()
        cuda = (f"{number.value // 1000}.{number.value % 1000 // 10}"
                if nvml.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(number)) == 0 else None)
        names = []
        count = ctypes.c_uint()
        if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0:
            for i in range(count.value):
                handle = ctypes.c_void_p()
                if (nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(handle)) == 0
                        and nvml.nvmlDeviceGetName(handle, text, 96) == 0):
                    names.append(text.value.decode())
        return driver, cuda, tuple(names)
    finally:
        nvml.nvmlShutdown()


def probe(root: str | os.PathLike = "/", nvml: str | None = NVML_LIBRARY) -> Host:
    """Read the driver and GPUs from NVML when the container has it (NVIDIA_DRIVER_CAPABILITIES
    utility), else from /proc/driver/nvidia. `root` lets tests point at a fake tree."""
    root = Path(root)
    proc = root / "proc/driver/nvidia"
    match = _DRIVER_RE.search(_read(proc / "version"))
    driver = match.group(1) if match else None
    gpus = []
    for info in sorted((proc / "gpus").glob("*/information")):
        model = re.search(r"^Model:\s*(.+?)\s*$", _read(info), re.MULTILINE)
        gpus.append(model.group(1) if model else info.parent.name)
    devices = tuple(sorted((p.name for p in (root / "dev").glob("nvidia*")
                            if _DEVICE_RE.fullmatch(p.name)), key=lambda n: int(n[6:])))
    cuda = None
    # Without a driver or a device there is no NVML either: skip the library search.
    from_nvml = _nvml(nvml) if nvml and (driver or devices) else None
    if from_nvml:
        driver = from_nvml[0] or driver
        cuda = from_nvml[1]
        gpus = list(from_nvml[2]) or gpus
    return Host(driver=driver, cuda=cuda, gpus=tuple(gpus), devices=devices)


def allow_cpu_fallback(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(ALLOW_CPU_ENV, "").strip().lower() in ("1", "true", "yes")


def assess(host: Host, tensorflow_gpus: int, cuda_build: bool, allow_cpu: bool = False,
           tensorflow_version: str = "") -> tuple[int, str]:
    """The start-up line for the log and its level, or a UserError when the host has GPUs that a
    CUDA build of TensorFlow cannot use (unless `allow_cpu`: then the line is a warning)."""
    tf_name = f"TensorFlow {tensorflow_version}".strip()
    if not host.has_gpus:
        where = ("the host's driver lists GPUs, but none is given to this container (run it "
                 "with `--gpus all`)" if host.gpus else "no GPU found")
        return logging.INFO, f"{host.describe()}: {where}; {tf_name} runs on the CPU."
    if tensorflow_gpus:
        return logging.INFO, f"{host.describe()}: {tf_name} uses {tensorflow_gpus} GPU(s)."
    if not cuda_build:
        return logging.WARNING, (
            f"{host.describe()}: this image's {tf_name} is a CPU build and leaves the GPUs idle. "
            "Build the GPU image (Dockerfile.gpu, `byoc push --variant gpu`) to use them.")
    need = f"this image needs CUDA {CUDA_MAJOR}, so an NVIDIA driver >= {MIN_DRIVER}"
    if host.driver is None:
        cause = (f"{need}, and the container sees no driver (no /proc/driver/nvidia/version, no "
                 "NVML), so its version is unknown")
    elif host.driver_too_old():
        cuda = f", which supports CUDA {host.cuda} at most" if host.cuda else ""
        cause = f"{need}; the host has driver {host.driver}{cuda}"
    else:
        cause = (f"the host's driver {host.driver} is new enough for CUDA {CUDA_MAJOR} (>= "
                 f"{MIN_DRIVER}), so CUDA did not load: check the errors above, and that the "
                 "container gets the driver libraries (NVIDIA_DRIVER_CAPABILITIES=compute,utility)")
    message = (
        f"This host has {len(host.devices)} NVIDIA GPU(s) ({', '.join(host.gpus) or 'unknown'}) "
        f"but {tf_name} finds none: {cause}. For a newer driver, set the endpoint's "
        f"InferenceAmiVersion (e.g. {INFERENCE_AMI}: driver 580, CUDA 13.0) or the transform "
        f"job's TransformAmiVersion ({TRANSFORM_AMI}), or use another instance family (ml.g6 "
        f"and ml.p5 run CUDA 12 drivers by default). To run on the CPU on purpose, set "
        f"{ALLOW_CPU_ENV}=1."
    )
    if allow_cpu:
        return logging.WARNING, f"{message} {ALLOW_CPU_ENV} is set: running on the CPU."
    raise UserError(message)


def check_without_tensorflow(root: str = "/", nvml: str | None = NVML_LIBRARY) -> str | None:
    """On a host that gives this container no GPU, the check's line, logged without importing
    TensorFlow: there is nothing for TensorFlow to find, so the check cannot fail. None on a GPU
    host, where `check_tensorflow` decides after TensorFlow loads."""
    host = probe(root, nvml)
    if host.has_gpus:
        return None
    level, line = assess(host, 0, False, tensorflow_version=_installed_tensorflow())
    log.log(level, "GPU: %s", line)
    return line


def _installed_tensorflow() -> str:
    """The installed TensorFlow's version, from its package's metadata (no import)."""
    from importlib import metadata

    for name in ("tensorflow", "tensorflow-cpu"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ""


@functools.cache
def check_tensorflow(root: str = "/", nvml: str | None = NVML_LIBRARY) -> str:
    """Check this process's TensorFlow against the host's GPUs and log the result (once per
    process). Raises UserError when a CUDA build finds no GPU on a GPU host and no CPU fallback
    was allowed. Call after TensorFlow is imported; it does not initialize the GPUs."""
    import tensorflow as tf

    host = probe(root, nvml)
    level, line = assess(host, len(tf.config.list_physical_devices("GPU")),
                         tf.test.is_built_with_cuda(), allow_cpu_fallback(), tf.__version__)
    log.log(level, "GPU: %s", line)
    return line


def log_host(root: str | os.PathLike = "/", nvml: str | None = NVML_LIBRARY) -> Host:
    """Log what the host gives this container (the `serve` master, which never imports
    TensorFlow)."""
    host = probe(root, nvml)
    log.info("GPU: %s", host.describe() if host.driver or host.devices else "no GPU found "
             "(no NVIDIA driver, no /dev/nvidiaN)")
    return host
