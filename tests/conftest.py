"""Shared fixtures: the real `train` and `serve` executables, synthetic signs, a trained model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from byoc import contract
from byoc.driver.local import layout

REPO = Path(__file__).resolve().parents[1]
TRAIN_EXE = REPO / "train"
SERVE_EXE = REPO / "serve"

# Small enough for 2 cores, large enough that every class appears in every split.
SYNTH_PER_CLASS = 10
SYNTH_SEED = 1234


def exe_env(**extra: str) -> dict[str, str]:
    """The environment for the executables: this interpreter's bin dir first on PATH, so their
    `#!/usr/bin/env python3` finds the same installation the tests import."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def run_train(root: Path, channels: dict[str, Path] | None = None,
              hyperparameters: dict[str, object] | None = None,
              timeout: float = 900) -> subprocess.CompletedProcess:
    """Lay out `root` like /opt/ml (when channels are given) and run the real `train` there."""
    if channels is not None:
        layout.prepare(root, channels, hyperparameters or {})
    return subprocess.run([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def synth_data_dir(tmp_path_factory) -> Path:
    """Synthetic GTSRB-like signs: train/ validation/ test/ of class folders (format (a))."""
    from byoc.data.synth import generate

    out = tmp_path_factory.mktemp("signs")
    generate(out, per_class=SYNTH_PER_CLASS, seed=SYNTH_SEED)
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synth_data_dir) -> tuple[contract.Paths, str]:
    """One real `train` run over the synthetic signs: its /opt/ml paths and its stdout."""
    root = tmp_path_factory.mktemp("opt_ml")
    result = run_train(root, layout.split_channel_dirs(synth_data_dir),
                       {"epochs": 3, "batch_size": 32, "top_k": 3, "seed": 7})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return contract.Paths(root), result.stdout


@pytest.fixture(scope="session")
def trained_model_dir(trained_run) -> Path:
    """/opt/ml/model as `train` left it: what `serve` loads."""
    return trained_run[0].model_dir


@pytest.fixture(scope="session")
def three_class_model_dir(tmp_path_factory) -> Path:
    """A second model, on another class set: 3 colour classes, trained briefly by the real
    `train` (for the multi-model tests, beside `trained_model_dir`)."""
    from tests.contract.test_train import _tiny_folders

    tmp = tmp_path_factory.mktemp("three_classes")
    data = _tiny_folders(tmp / "data", classes=3, per_class=12, seed=1)
    result = run_train(tmp / "ml", {"train": data},
                       {"epochs": 2, "batch_size": 8, "seed": 1, "top_k": 2})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return contract.Paths(tmp / "ml").model_dir
