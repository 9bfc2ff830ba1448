"""SageMaker's /opt/ml training layout, read once into a `TrainingEnv`, and written for local runs.

Nothing else in byoc builds these paths. The root is `SAGEMAKER_BASE_DIR` (default /opt/ml), so
the same code runs in a container and in a temporary directory.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from byoc.errors import UserError

log = logging.getLogger(__name__)

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"

TRAIN, VALIDATION, TEST = "train", "validation", "test"
CHANNELS = (TRAIN, VALIDATION, TEST)
# SageMaker examples name the training channel either way; both mean `train`.
CHANNEL_ALIASES = {"training": TRAIN}

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
# The request header that carries InvokeEndpoint's CustomAttributes, e.g. "top_k=3".
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


def available_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

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

    def log_summary(self) -> None:
        log.info("SageMaker base dir: %s", self.paths.root)
        log.info("Hosts: %s (this is %s)", self.hosts, self.current_host)
        log.info("Input data config: %s", json.dumps(self.input_data_config, sort_keys=True))
        log.info("Resource config: %s", json.dumps(self.resource_config, sort_keys=True))
        for name, path in self.channels.items():
            log.info("Channel %s: %s", name, path)


def write_failure(paths: Paths, reason: str) -> None:
    """Record why training failed. The first failure wins, as in sagemaker-training-toolkit."""
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    if paths.failure_file.exists():
        return
    paths.failure_file.write_text(reason.strip()[:FAILURE_REASON_LIMIT] + "\n")


def write_success(paths: Paths) -> None:
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.success_file.write_text("")


def prepare(
    root: str | os.PathLike,
    channels: dict[str, str | os.PathLike],
    hyperparameters: dict[str, object] | None = None,
    *,
    link: bool = True,
    instance_type: str = "local",
) -> Paths:
    """Lay out a SageMaker-shaped training directory, as SageMaker does before `train` starts.

    Channels are symlinked (process mode) or copied (`link=False`, for bind mounts into Docker,
    which cannot follow links that point outside the mount). Hyperparameter values are written
    as strings, exactly as SageMaker writes them.
    """
    paths = Paths(Path(root).resolve())
    if paths.root.is_dir() and any(paths.root.iterdir()) and not paths.config_dir.is_dir():
        raise UserError(
            f"{paths.root} is not empty and was not laid out by byoc; it would be mixed with "
            "/opt/ml's folders. Choose a new or empty directory for the run."
        )
    # A rerun in the same directory is a new job, as on SageMaker: the last run's channels,
    # model, report and verdict must not mix with this one's. Checkpoints stay, to resume from.
    renewed = (paths.data_dir, paths.model_dir, paths.output_dir)
    sources = {name: Path(src).resolve() for name, src in channels.items()}
    for name, src in sources.items():
        if not src.is_dir():
            raise UserError(f"Channel '{name}': {src} is not a directory.")
        if any(src == d or d in src.parents for d in renewed):
            raise UserError(
                f"Channel '{name}': {src} lies inside {paths.root}, whose input/, model/ and "
                "output/ are laid out anew for this run. Point --data at the original data set."
            )
    for d in renewed:
        if d.is_dir():
            shutil.rmtree(d)
    for d in (paths.config_dir, paths.data_dir, paths.model_dir, paths.output_data_dir,
              paths.checkpoint_dir):
        d.mkdir(parents=True, exist_ok=True)
    data_config = {}
    for name, src in sources.items():
        dest = paths.data_dir / name
        if link:
            dest.symlink_to(src, target_is_directory=True)
        else:
            shutil.copytree(src, dest)
        data_config[name] = {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    hps = {str(k): str(v) for k, v in (hyperparameters or {}).items()}
    paths.hyperparameters_file.write_text(json.dumps(hps, indent=2, sort_keys=True))
    paths.input_data_config_file.write_text(json.dumps(data_config, indent=2, sort_keys=True))
    paths.resource_config_file.write_text(json.dumps({
        "current_host": "algo-1",
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"],
        "instance_groups": [{"instance_group_name": "homogeneousCluster",
                             "instance_type": instance_type, "hosts": ["algo-1"]}],
        "network_interface_name": "eth0",
    }, indent=2))
    return paths


def split_channel_dirs(data: str | os.PathLike) -> dict[str, Path]:
    """Map a local dataset directory to channels.

    A directory with train/ (or training/), validation/ and test/ subfolders gives those channels;
    any other directory is the `train` channel alone.
    """
    data = Path(data)
    if not data.is_dir():
        raise UserError(f"--data {data} is not a directory.")
    found = {}
    for entry in sorted(data.iterdir()):
        name = CHANNEL_ALIASES.get(entry.name, entry.name)
        if entry.is_dir() and name in CHANNELS:
            found[name] = entry
    if TRAIN in found:
        return found
    return {TRAIN: data}


MODEL_ARCHIVE = "model.tar.gz"
OUTPUT_ARCHIVE = "output.tar.gz"


def package(paths: Paths, dest: str | os.PathLike) -> tuple[Path, Path]:
    """Archive a finished run as SageMaker uploads it: model.tar.gz and output.tar.gz.

    model.tar.gz holds the contents of model/ at its root (what SageMaker extracts into
    /opt/ml/model for hosting); output.tar.gz holds output/data's files and the success or
    failure file.
    """
    import tarfile

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    model_tar, output_tar = dest / MODEL_ARCHIVE, dest / OUTPUT_ARCHIVE
    with tarfile.open(model_tar, "w:gz") as tar:
        for item in sorted(paths.model_dir.iterdir()) if paths.model_dir.is_dir() else []:
            tar.add(item, arcname=item.name)
    with tarfile.open(output_tar, "w:gz") as tar:
        if paths.output_data_dir.is_dir():
            tar.add(paths.output_data_dir, arcname="data")
        for marker in (paths.success_file, paths.failure_file):
            if marker.exists():
                tar.add(marker, arcname=marker.name)
    return model_tar, output_tar


def extract_model(model: str | os.PathLike, root: str | os.PathLike) -> Paths:
    """Make `root` a hosting layout whose model/ is `model` (a model dir or a model.tar.gz)."""
    import tarfile

    model, paths = Path(model), Paths(Path(root))
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.model_dir.is_symlink():
        paths.model_dir.unlink()
    if model.is_dir():
        paths.model_dir.symlink_to(model.resolve(), target_is_directory=True)
    elif model.is_file() and tarfile.is_tarfile(model):
        paths.model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(model) as tar:
            tar.extractall(paths.model_dir, filter="data")
    else:
        raise UserError(
            f"--model {model} is neither a model directory nor a model.tar.gz. Point at the "
            "model/ directory or the model.tar.gz of a training run."
        )
    return paths
