"""The user script runner's rules without a process: when `train` runs the script, what kind of
entry point a file is, and the failure reason that fits SageMaker's limit."""

from __future__ import annotations

import json

import pytest

from byoc import contract
from byoc.user_code import script


@pytest.mark.parametrize("hps,runs", [
    ({"sagemaker_program": json.dumps("train.py")}, True),     # as the SDK sends it
    ({"sagemaker_program": "train.py"}, True),                 # written by hand
    ({"sagemaker_program": json.dumps("train.py"), "model": json.dumps("lenet")}, True),
    ({"sagemaker_program": json.dumps("train.py"), "model": "mymodel:build"}, False),
    ({"sagemaker_program": json.dumps("train.py"), "model": json.dumps("mymodel:build")}, False),
    ({"sagemaker_program": json.dumps("train.py"), "loss": "costs:weighted_loss"}, False),
    ({"sagemaker_program": json.dumps("")}, False),
    ({"model": "mymodel:build"}, False),
    ({}, False),
])
def test_when_train_runs_the_users_script(hps, runs):
    assert script.wanted(hps) is runs


@pytest.mark.parametrize("files,program,kind", [
    ({"train.sh"}, "train.sh", script.COMMAND),
    ({"train.sh", "setup.py"}, "train.sh", script.COMMAND),
    ({"train.py", "setup.py"}, "train.py", script.PACKAGE),
    ({"train.py", "pyproject.toml"}, "train.py", script.PACKAGE),
    ({"train.py"}, "train.py", script.SCRIPT),
    ({"train"}, "train", script.COMMAND),
])
def test_entry_point_kinds_as_the_toolkit_tells_them(tmp_path, files, program, kind):
    for name in files:
        (tmp_path / name).write_text("")
    assert script.kind_of(tmp_path, program) == kind


def test_the_failure_reason_keeps_the_end_within_the_limit():
    tail = "\n".join(f"line {i}" for i in range(1000)) + "\nKeyError: 'label'\n"
    reason = script.failure_reason("train.py", 1, tail)
    assert len(reason) <= contract.FAILURE_REASON_LIMIT
    assert reason.startswith("The training script train.py exited with code 1. The end of its "
                             "stderr:\n")
    assert reason.endswith("line 999\nKeyError: 'label'")


def test_one_huge_last_line_is_cut_from_the_front():
    reason = script.failure_reason("train.py", 2, "x" * 5000 + " the end")
    assert len(reason) <= contract.FAILURE_REASON_LIMIT and reason.endswith("x the end")
    assert "…x" in reason


def test_progress_bars_and_silence():
    # A carriage-return progress bar is many lines, not one unreadable one.
    reason = script.failure_reason("train.py", 1, "10%\r50%\r90%\rRuntimeError: boom\n")
    assert reason.endswith("90%\nRuntimeError: boom")
    assert script.failure_reason("train.sh", 4, "") == (
        "The training script train.sh exited with code 4. It wrote nothing to stderr; see the "
        "job's log.")
