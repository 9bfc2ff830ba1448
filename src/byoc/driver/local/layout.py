"""What SageMaker does around a job, done locally: lay out /opt/ml before `train`, pack
model.tar.gz and output.tar.gz after it, and unpack a model for `serve`.

The container never imports this; it only reads the layout, through `byoc.contract`.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

from byoc.contract import CHANNEL_ALIASES, CHANNELS, TRAIN, Paths
from byoc.errors import UserError


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
