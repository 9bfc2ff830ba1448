"""`IMAGE train` over a SageMaker-shaped /opt/ml, through byoc's local Docker mode."""

from __future__ import annotations

import json
import math
import tarfile

import pytest

from byoc import bundle, contract
from byoc.driver.local import docker, layout

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _members(archive) -> set[str]:
    with tarfile.open(archive) as tar:
        return set(tar.getnames())


def test_training_packs_model_and_output_like_sagemaker(container_run):
    out, code, lines = container_run
    assert code == 0, "\n".join(lines[-40:])
    assert _members(out / layout.MODEL_ARCHIVE) >= {bundle.MODEL_FILE, bundle.SPEC_FILE}
    assert _members(out / layout.OUTPUT_ARCHIVE) >= {"data/metrics.json", "success"}
    assert "failure" not in _members(out / layout.OUTPUT_ARCHIVE)
    # The container's log reached the caller, metric lines included.
    assert any(line.startswith("#metrics final ") for line in lines)


def test_container_and_process_mode_give_the_same_metrics(container_run, trained_run):
    out, code, _ = container_run
    assert code == 0
    in_container = json.loads((contract.Paths(out).output_data_dir / "metrics.json").read_text())
    in_process = json.loads((trained_run[0].output_data_dir / "metrics.json").read_text())
    assert in_container.keys() == in_process.keys()
    for key, value in in_process.items():
        assert math.isclose(in_container[key], value, rel_tol=1e-4, abs_tol=1e-6), key


def test_bad_hyperparameter_fails_with_the_reason_in_output(image, synth_data_dir, tmp_path):
    lines: list[str] = []
    code = docker.train(image, layout.split_channel_dirs(synth_data_dir), tmp_path,
                        {"learning_rate": "fast"}, stream=lines.append)
    assert code != 0
    reason = contract.Paths(tmp_path).failure_file.read_text()
    assert "learning_rate" in reason and "fast" in reason
    members = _members(tmp_path / layout.OUTPUT_ARCHIVE)
    assert "failure" in members and "success" not in members
    assert any("learning_rate" in line for line in lines)
