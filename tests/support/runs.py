"""Synthetic signs and the models the real `train` makes of them, once per session (fixtures).

Every test that uses one of these models pays for a training run the first time, so the marker
hook in tests/conftest.py marks it `slow`. The slow tier runs two pytest sessions side by side
(scripts/slow-tier.sh) that both use the signs, `trained_run` and `three_class_model_dir`: with
BYOC_TEST_SHARED naming a directory they share, the first session to need one builds it there and
the other waits for it and reads it (`once`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from byoc import contract
from byoc.driver.local import layout
from tests.support.data import tiny_folders
from tests.support.executables import run_train

# Small enough for 2 cores, large enough that every class appears in every split.
SYNTH_PER_CLASS = 10
SYNTH_SEED = 1234
# `checkpointed_run`'s configuration: one epoch of `tiny_folders` at their own size.
CHECKPOINTED_HP = {"epochs": 1, "image_size": 20}
# A directory the pytest sessions of one `make test` share (set by scripts/slow-tier.sh).
SHARED_ENV = "BYOC_TEST_SHARED"


def once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory `build` filled: built once in BYOC_TEST_SHARED for every session that shares
    it (the others wait on a lock, then read it), else once in this session's temporary
    directory. What is built there is read, never changed, by the tests."""
    shared = os.environ.get(SHARED_ENV)
    if not shared:
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out
    out, done = Path(shared) / name, Path(shared) / f"{name}.done"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(shared) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():  # a session that failed to build it left no mark: build again
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            build(out)
            done.touch()
    return out


def bare_opt_ml(root: Path, data: Path, hyperparameters: dict[str, object]) -> contract.Paths:
    """Only input/, as SageMaker lays it out for a job without a CheckpointConfig (and as the
    SageMaker SDK's local mode does): no model/, output/ or checkpoints/ until `train` makes
    them. `data` is the train channel."""
    paths = contract.Paths(root)
    paths.config_dir.mkdir(parents=True)
    write_hyperparameters(paths, hyperparameters)
    paths.data_dir.mkdir(parents=True)
    (paths.data_dir / "train").symlink_to(data, target_is_directory=True)
    return paths


def write_hyperparameters(paths: contract.Paths, hyperparameters: dict[str, object]) -> None:
    """hyperparameters.json as SageMaker writes it: every value a string."""
    paths.hyperparameters_file.write_text(
        json.dumps({k: str(v) for k, v in hyperparameters.items()}))


def copy_run(paths: contract.Paths, root: Path) -> contract.Paths:
    """A copy of a finished run's /opt/ml at `root` (its channels still links to the same data),
    without its success or failure file: what a job resumed from its checkpoint starts with."""
    shutil.copytree(paths.root, root, symlinks=True)
    copy = contract.Paths(root)
    copy.success_file.unlink(missing_ok=True)
    copy.failure_file.unlink(missing_ok=True)
    return copy


@pytest.fixture(scope="session")
def synth_data_dir(tmp_path_factory) -> Path:
    """Synthetic GTSRB-like signs: train/ validation/ test/ of class folders (format (a))."""
    from byoc.data.synth import generate

    return once(tmp_path_factory, "signs",
                lambda out: generate(out, per_class=SYNTH_PER_CLASS, seed=SYNTH_SEED))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synth_data_dir) -> tuple[contract.Paths, str]:
    """One real `train` run over the synthetic signs: its /opt/ml paths and its stdout."""
    def build(out: Path) -> None:
        result = run_train(out / "opt_ml", layout.split_channel_dirs(synth_data_dir),
                           {"epochs": 3, "batch_size": 32, "top_k": 3, "seed": 7})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        (out / "stdout.txt").write_text(result.stdout)

    out = once(tmp_path_factory, "trained_run", build)
    return contract.Paths(out / "opt_ml"), (out / "stdout.txt").read_text()


@pytest.fixture(scope="session")
def checkpointed_run(tmp_path_factory) -> contract.Paths:
    """One real `train` run of CHECKPOINTED_HP over `tiny_folders`, started on a bare /opt/ml:
    every path but input/ is the run's own. Its checkpoints dir holds the state of epoch 1 and
    the files it names. Tests that run `train` again from it do so on a copy (`copy_run`)."""
    tmp = tmp_path_factory.mktemp("checkpointed")
    paths = bare_opt_ml(tmp / "ml", tiny_folders(tmp / "data"), CHECKPOINTED_HP)
    result = run_train(paths.root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return paths


@pytest.fixture(scope="session")
def trained_model_dir(trained_run) -> Path:
    """/opt/ml/model as `train` left it: what `serve` loads."""
    return trained_run[0].model_dir


@pytest.fixture(scope="session")
def three_class_model_dir(tmp_path_factory) -> Path:
    """A second model, on another class set: 3 colour classes, trained briefly by the real
    `train` (for the multi-model tests, beside `trained_model_dir`)."""
    def build(tmp: Path) -> None:
        data = tiny_folders(tmp / "data", classes=3, per_class=12, seed=1)
        result = run_train(tmp / "ml", {"train": data},
                           {"epochs": 2, "batch_size": 8, "seed": 1, "top_k": 2})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    return contract.Paths(once(tmp_path_factory, "three_classes", build) / "ml").model_dir
