"""The container side of SageMaker's contract: the /opt/ml paths, read once into a `TrainingEnv`,
the success and failure files, and the hosting environment's names.

Nothing else in the container builds these paths. The root is `SAGEMAKER_BASE_DIR` (default
/opt/ml), so the same code runs in a container and in a temporary directory. What SageMaker itself
does around a job (laying out /opt/ml, packing the archives) lives in `byoc.driver.local.layout`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from byoc.errors import UserError

log = logging.getLogger(__name__)

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"

TRAIN, VALIDATION, TEST = "train", "validation", "test"
# Not data: the weights a pretrained backbone starts from (one file), byoc.model.backbones.
PRETRAINED = "pretrained"
CHANNELS = (TRAIN, VALIDATION, TEST, PRETRAINED)
# SageMaker examples name the training channel either way; both mean `train`.
CHANNEL_ALIASES = {"training": TRAIN}
# A channel's S3DataDistributionType: every host gets every file, or each host its own share.
FULLY_REPLICATED, SHARDED_BY_S3_KEY = "FullyReplicated", "ShardedByS3Key"

FAILURE_REASON_LIMIT = 1024  # SageMaker shows this many characters as FailureReason.
# Seconds between SIGTERM and SIGKILL: StopTrainingJob or a spot interruption, and scale-in.
TRAINING_STOP_GRACE = 120
HOSTING_STOP_GRACE = 30
EXIT_TERMINATED = 143  # 128 + SIGTERM: how `train` exits when stopped

# The hosting contract's environment: what SageMaker sets for `serve`.
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"  # honoured because the image has accept-bind-to-port=true
DEFAULT_PORT = 8080
WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
TIMEOUT_ENV = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
BATCH_ENV = "SAGEMAKER_BATCH"
MAX_PAYLOAD_ENV = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
MAX_CONCURRENT_TRANSFORMS_ENV = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
DEFAULT_MAX_PAYLOAD_MB = 6  # SageMaker's limit on request and response bodies
MB = 1024 * 1024  # the MB of SageMaker's payload limits, and of byoc's own
# Not SageMaker's: the most instances (images) one request may hold. Each is decoded to the
# model's input size, so the cap, not the body size, bounds what a request costs in memory.
MAX_INSTANCES_ENV = "BYOC_MAX_INSTANCES_PER_REQUEST"
DEFAULT_MAX_INSTANCES = 1000
# Not SageMaker's: the memory `train` may count on, in bytes or with a unit (512m, 2g), when it
# is less than the machine's or the container's limit (process mode on a shared host). Only
# `input_mode=auto` reads it, to choose between memory and streaming.
MEMORY_LIMIT_ENV = "BYOC_MEMORY_LIMIT"
# "true" on a multi-model endpoint (allowed by the image's multi-models capability label).
MULTI_MODEL_ENV = "SAGEMAKER_MULTI_MODEL"
# InvokeEndpoint's TargetModel, passed to POST /models/<name>/invoke for the log.
TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"
# Not SageMaker's: the address `serve` binds. Unset in the container (0.0.0.0, as SageMaker
# requires); `byoc local serve` sets 127.0.0.1 unless --host says otherwise.
BIND_HOST_ENV = "BYOC_BIND_HOST"
DEFAULT_HOST = "0.0.0.0"
LOCAL_HOST = "127.0.0.1"
# The request header that carries InvokeEndpoint's CustomAttributes, e.g. "top_k=3".
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


def available_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Docker's memory sizes (`docker run --memory`): a number of bytes, or with a binary unit.
_MEMORY_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}
MIN_MEMORY = 6 * 2**20  # Docker refuses a smaller limit


def memory_bytes(text: str, what: str) -> int:
    """`512m` -> 536870912, as `docker run --memory` reads sizes; `what` names the setting in the
    error a bad value gets."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmg]?)\s*", str(text).lower())
    size = int(float(match[1]) * _MEMORY_UNITS[match[2]]) if match else 0
    if size < MIN_MEMORY:
        raise UserError(f"{what} must be a memory size of at least 6m, like 512m or 2g (bytes, "
                        f"or a number with b, k, m or g), not '{text}'.")
    return size


# cgroup v2, then v1: a container's limit, which /proc/meminfo does not show.
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),
                 Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def available_memory() -> int:
    """Bytes of memory this container may use: the machine's, or its cgroup's limit if lower,
    or `BYOC_MEMORY_LIMIT` if lower still."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    budget = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if budget:
        total = min(total, memory_bytes(budget, MEMORY_LIMIT_ENV))
    for path in CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))  # v1 writes a huge number for "no limit"
    return total


def base_dir(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR)


@dataclass(frozen=True)
class Paths:
    """Every path of the contract below one root."""

    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def models_dir(self) -> Path:
        """Multi-model endpoints: SageMaker extracts each model below here, one dir per model."""
        return self.root / "models"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def code_dir(self) -> Path:
        """The user's source directory: SDK local mode mounts it here; an S3 one unpacks here."""
        return self.root / "code"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def success_file(self) -> Path:
        return self.output_dir / "success"


def _read_json(path: Path, default):
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text() or "null") or default
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path.name} is not valid JSON ({exc}); SageMaker writes it as JSON."
        ) from exc


@dataclass
class TrainingEnv:
    """The training contract as plain values: read once at start-up, passed inward."""

    paths: Paths
    hyperparameters: dict[str, str]
    input_data_config: dict
    resource_config: dict
    channels: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def read(cls, root: str | os.PathLike | None = None) -> TrainingEnv:
        paths = Paths(base_dir(root))
        raw = _read_json(paths.hyperparameters_file, {})
        if not isinstance(raw, dict):
            raise UserError("hyperparameters.json must hold a JSON object of name to string value.")
        channels: dict[str, Path] = {}
        if paths.data_dir.is_dir():
            for entry in sorted(paths.data_dir.iterdir()):
                if not entry.is_dir():
                    continue
                name = CHANNEL_ALIASES.get(entry.name, entry.name)
                if name in channels:
                    raise UserError(
                        f"Both '{entry.name}' and another alias of the '{name}' channel were "
                        "given; pass the training data in one channel, 'train' or 'training'."
                    )
                channels[name] = entry
        return cls(
            paths=paths,
            hyperparameters={str(k): str(v) for k, v in raw.items()},
            input_data_config=_read_json(paths.input_data_config_file, {}),
            resource_config=_read_json(paths.resource_config_file, {}),
            channels=channels,
        )

    @property
    def current_host(self) -> str:
        return self.resource_config.get("current_host", "algo-1")

    @property
    def hosts(self) -> list[str]:
        return list(self.resource_config.get("hosts", [self.current_host]))

    def distribution(self, channel: str) -> str:
        """The channel's S3DistributionType in inputdataconfig.json (FullyReplicated if unsaid)."""
        for name, config in self.input_data_config.items():
            if CHANNEL_ALIASES.get(name, name) == channel and isinstance(config, dict):
                return config.get("S3DistributionType", FULLY_REPLICATED)
        return FULLY_REPLICATED

    def log_summary(self) -> None:
        log.info("SageMaker base dir: %s", self.paths.root)
        log.info("Hosts: %s (this is %s)", self.hosts, self.current_host)
        log.info("Input data config: %s", json.dumps(self.input_data_config, sort_keys=True))
        log.info("Resource config: %s", json.dumps(self.resource_config, sort_keys=True))
        for name, path in self.channels.items():
            log.info("Channel %s: %s", name, path)


def write_failure(paths: Paths, reason: str) -> None:
    """Record why training failed. The first failure wins, as in sagemaker-training-toolkit."""
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        if paths.failure_file.exists():
            return
        paths.failure_file.write_text(reason.strip()[:FAILURE_REASON_LIMIT] + "\n")
    except OSError as exc:  # the disk that failed the job may hold output/ too
        logging.getLogger(__name__).error("Cannot write %s (%s); the reason was: %s",
                                          paths.failure_file, exc, reason)


def write_success(paths: Paths) -> None:
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.success_file.write_text("")
