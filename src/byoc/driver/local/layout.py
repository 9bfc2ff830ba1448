"""What SageMaker does around a job, done locally: lay out /opt/ml before `train`, pack
model.tar.gz and output.tar.gz after it, and unpack a model for `serve`.

The container never imports this; it only reads the layout, through `byoc.contract`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

from byoc import archives
from byoc.contract import TRAIN, Paths
from byoc.driver.channels import DISTRIBUTIONS as DISTRIBUTIONS
from byoc.driver.channels import FULLY_REPLICATED as FULLY_REPLICATED
from byoc.driver.channels import SHARDED as SHARDED
from byoc.driver.channels import split_channel_dirs as split_channel_dirs
from byoc.errors import UserError

log = logging.getLogger(__name__)

# The training job's name in local runs (TRAINING_JOB_NAME, and sagemaker_job_name for a script).
LOCAL_JOB_NAME = "byoc-local"


def host_names(count: int) -> list[str]:
    """The names SageMaker gives the hosts of a job."""
    return [f"algo-{i}" for i in range(1, count + 1)]


def prepare(
    root: str | os.PathLike,
    channels: dict[str, str | os.PathLike],
    hyperparameters: dict[str, object] | None = None,
    *,
    link: bool = True,
    instance_type: str = "local",
    current_host: str = "algo-1",
    hosts: list[str] | None = None,
    train_distribution: str = FULLY_REPLICATED,
) -> Paths:
    """Lay out a SageMaker-shaped training directory, as SageMaker does before `train` starts.

    Channels are symlinked (process mode) or copied (`link=False`, for bind mounts into Docker,
    which cannot follow links that point outside the mount). Hyperparameter values are written
    as strings, exactly as SageMaker writes them. With several `hosts`, this is the directory of
    `current_host`; a `ShardedByS3Key` train channel then holds only this host's share of the
    files, as S3 would hand them out (see `shard_files`).
    """
    hosts = hosts or [current_host]
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
        distribution = train_distribution if name == TRAIN else FULLY_REPLICATED
        if distribution == SHARDED:
            share = shard_files(src, len(hosts))[hosts.index(current_host)]
            for rel in share:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / rel, dest / rel)
            dest.mkdir(parents=True, exist_ok=True)
        elif link:
            dest.symlink_to(src, target_is_directory=True)
        else:
            shutil.copytree(src, dest)
        data_config[name] = {
            "TrainingInputMode": "File",
            "S3DistributionType": distribution,
            "RecordWrapperType": "None",
        }
    hps = {str(k): str(v) for k, v in (hyperparameters or {}).items()}
    paths.hyperparameters_file.write_text(json.dumps(hps, indent=2, sort_keys=True))
    paths.input_data_config_file.write_text(json.dumps(data_config, indent=2, sort_keys=True))
    paths.resource_config_file.write_text(json.dumps({
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [{"instance_group_name": "homogeneousCluster",
                             "instance_type": instance_type, "hosts": hosts}],
        "network_interface_name": "eth0",
    }, indent=2))
    return paths


def shard_files(src: Path, count: int) -> list[list[Path]]:
    """Split a channel's files over `count` hosts as ShardedByS3Key does: the objects, in key
    order, dealt out one per host in turn. Relative paths; a host may get no file of a class, or
    none of the labels file, exactly as on SageMaker."""
    files = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
    return [files[i::count] for i in range(count)]


MODEL_ARCHIVE = "model.tar.gz"
OUTPUT_ARCHIVE = "output.tar.gz"
PREVIOUS_RUNS = "previous"


def keep_finished_run(output: str | os.PathLike) -> Path | None:
    """Move a finished run's model.tar.gz and output.tar.gz in `output` to
    `output/previous/<when it finished, UTC>/` before a new run there; return where they went.

    A new run in the same directory lays out model/ and output/ anew (see `prepare`), and a
    run that succeeded must not be lost to it: a typo in a hyperparameter, or one the checkpoint
    refuses, would otherwise cost the model. A run that was stopped or failed is not kept: the
    new run resumes its checkpoint, and its archives are rewritten. The two archives are the
    whole run, as SageMaker keeps it (`byoc local serve --model` takes the model.tar.gz).
    """
    output = Path(output)
    archives_now = [output / MODEL_ARCHIVE, output / OUTPUT_ARCHIVE]
    if not archives_now[1].is_file() or not _succeeded(archives_now[1]):
        return None
    finished = time.gmtime(archives_now[1].stat().st_mtime)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", finished)
    dest = output / PREVIOUS_RUNS / stamp
    for n in itertools.count(2):
        if not dest.exists():
            break
        dest = output / PREVIOUS_RUNS / f"{stamp}-{n}"
    dest.mkdir(parents=True)
    for archive in archives_now:
        if archive.is_file():
            archive.rename(dest / archive.name)
    log.info("The previous run's %s and %s are kept in %s.", MODEL_ARCHIVE, OUTPUT_ARCHIVE, dest)
    return dest


def _succeeded(output_tar: Path) -> bool:
    """Whether this run's own output.tar.gz (packed by `package`) holds the success file."""
    success = Paths(output_tar.parent).success_file.name  # packed at the archive's root
    try:
        with tarfile.open(output_tar) as tar:
            return success in tar.getnames()
    except (tarfile.TarError, OSError):
        return False


def package(paths: Paths | Sequence[Paths], dest: str | os.PathLike) -> tuple[Path, Path]:
    """Archive a finished run as SageMaker uploads it: model.tar.gz and output.tar.gz.

    model.tar.gz holds the contents of model/ at its root (what SageMaker extracts into
    /opt/ml/model for hosting); output.tar.gz holds output/data's files and the success or
    failure file. With several hosts, SageMaker merges every host's model/ and output/data into
    one archive each, so two hosts writing the same file name is an error here; the verdict is
    the first failing host's failure file, or success when every host succeeded.
    """
    hosts = [paths] if isinstance(paths, Paths) else list(paths)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    model_tar, output_tar = dest / MODEL_ARCHIVE, dest / OUTPUT_ARCHIVE
    with tarfile.open(model_tar, "w:gz") as tar:
        for name, path in _merged(hosts, lambda p: p.model_dir).items():
            tar.add(path, arcname=name)
    with tarfile.open(output_tar, "w:gz") as tar:
        data_dirs = [p.output_data_dir for p in hosts if p.output_data_dir.is_dir()]
        if data_dirs:
            tar.add(data_dirs[0], arcname="data", recursive=False)
        for name, path in _merged(hosts, lambda p: p.output_data_dir).items():
            tar.add(path, arcname=f"data/{name}")
        failed = [p.failure_file for p in hosts if p.failure_file.exists()]
        if failed:
            tar.add(failed[0], arcname=failed[0].name)
        elif all(p.success_file.exists() for p in hosts):
            tar.add(hosts[0].success_file, arcname=hosts[0].success_file.name)
    return model_tar, output_tar


def _merged(hosts: list[Paths], folder) -> dict[str, Path]:
    """The top-level entries of `folder` on every host, refusing a name that two hosts wrote."""
    found: dict[str, Path] = {}
    for paths in hosts:
        directory = folder(paths)
        for item in sorted(directory.iterdir()) if directory.is_dir() else []:
            if item.name in found:
                raise UserError(
                    f"Two hosts wrote {directory.name}/{item.name} ({found[item.name]} and "
                    f"{item}); SageMaker merges every host's {directory.name}/ into one archive, "
                    "so only one host may write each file.")
            found[item.name] = item
    return found


def extract_model(model: str | os.PathLike, root: str | os.PathLike) -> Paths:
    """Make `root` a hosting layout whose model/ is `model` (a model dir or a model.tar.gz)."""
    model, paths = Path(model), Paths(Path(root))
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.model_dir.is_symlink():
        paths.model_dir.unlink()
    if model.is_dir():
        paths.model_dir.symlink_to(model.resolve(), target_is_directory=True)
    elif model.is_file() and tarfile.is_tarfile(model):
        archives.extract(model, paths.model_dir)
    else:
        raise UserError(
            f"--model {model} is neither a model directory nor a model.tar.gz. Point at the "
            "model/ directory or the model.tar.gz of a training run."
        )
    return paths


def models_dir(models: str | os.PathLike) -> Path:
    """The directory a local multi-model server loads from: one extracted bundle per subdirectory,
    as SageMaker fills /opt/ml/models."""
    path = Path(models).resolve()
    if not path.is_dir():
        raise UserError(
            f"--model-dir {models} is not a directory. Make one with a subdirectory per model, "
            "each holding a model/ dir of a training run (or the contents of its model.tar.gz)."
        )
    return path


def bundles_in(models: Path) -> list[str]:
    """The subdirectories of `models` that hold a byoc bundle, by name."""
    from byoc.bundle import SPEC_FILE

    return sorted(p.name for p in models.iterdir() if (p / SPEC_FILE).is_file())


def link_models(models: str | os.PathLike, root: str | os.PathLike) -> Paths:
    """Make `root` a hosting layout whose models/ is `models` (for SAGEMAKER_MULTI_MODEL=true)."""
    source, paths = models_dir(models), Paths(Path(root))
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.models_dir.is_symlink():
        paths.models_dir.unlink()
    paths.models_dir.symlink_to(source, target_is_directory=True)
    return paths


def multi_model_hint(url: str, models: str | os.PathLike) -> str:
    """What to type next against a local multi-model server: the bundles it can load, and how."""
    names = bundles_in(models_dir(models))
    name = names[0] if names else "NAME"
    found = (f"Bundles in {models}: {', '.join(names)}." if names else
             f"No bundle in {models} yet: add a subdirectory holding a model/ of a training run.")
    return (
        f"Serving multi-model at {url}, no model loaded; Ctrl-C stops it. {found}\n"
        f"Load:    curl -s -X POST {url}/models -d '{{\"model_name\": \"{name}\", "
        f"\"url\": \"{name}\"}}' -H 'Content-Type: application/json'\n"
        f"Invoke:  curl -s -X POST {url}/models/{name}/invoke -H 'Content-Type: image/png' "
        "--data-binary @sign.png\n"
        f"List:    curl -s {url}/models    Unload: curl -s -X DELETE {url}/models/{name}"
    )
