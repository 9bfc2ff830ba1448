"""Synthetic signs and the models the real `train` makes of them, once per session (fixtures).

Every test that uses one of these models pays for a training run the first time, so the marker
hook in tests/conftest.py marks it `slow`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from byoc import contract
from byoc.driver.local import layout
from tests.support.data import tiny_folders
from tests.support.executables import run_train

# Small enough for 2 cores, large enough that every class appears in every split.
SYNTH_PER_CLASS = 10
SYNTH_SEED = 1234


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
    tmp = tmp_path_factory.mktemp("three_classes")
    data = tiny_folders(tmp / "data", classes=3, per_class=12, seed=1)
    result = run_train(tmp / "ml", {"train": data},
                       {"epochs": 2, "batch_size": 8, "seed": 1, "top_k": 2})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return contract.Paths(tmp / "ml").model_dir
