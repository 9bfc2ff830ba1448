"""Faults around the real `train`: a full disk while saving, SIGTERM in each phase, a corrupt
checkpoint. Each run is small (3 classes of 12 images, 1–2 epochs).

Every run starts TensorFlow, so by default one case of each kind runs (the ones that found a
defect); BYOC_FAULT_TESTS=all runs every case (about 7 minutes on 2 shared cores)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from byoc import contract
from byoc.atomic import staging_path
from byoc.bundle import MODEL_FILE, ModelSpec
from byoc.driver.local import layout
from byoc.training.checkpoints import (
    BEST_WEIGHTS_FILE,
    BEST_WEIGHTS_KEY,
    CHECKPOINT_FILE,
    CHECKPOINT_KEY,
    STATE_FILE,
)
from tests.support.data import tiny_folders
from tests.support.executables import TRAIN_EXE, exe_env, run_train
from tests.support.runs import CHECKPOINTED_HP, copy_run, write_hyperparameters

HP = CHECKPOINTED_HP
pytestmark = pytest.mark.slow
ALL_ONLY = pytest.mark.skipif(os.environ.get("BYOC_FAULT_TESTS") != "all",
                              reason="one case of each kind by default; BYOC_FAULT_TESTS=all")


def _failure(root) -> str:
    return contract.Paths(root).failure_file.read_text()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_folders(tmp_path_factory.mktemp("data"))


# --- a full disk ------------------------------------------------------------------------------


def _mount_tmpfs(path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("where", [pytest.param("model", marks=ALL_ONLY), "checkpoints",
                                   pytest.param("output/data", marks=ALL_ONLY)])
def test_a_full_disk_while_saving_names_the_path_and_leaves_no_half_file(tmp_path, data, where):
    """A 16 KB tmpfs where train writes the model, its checkpoint or its report."""
    root = tmp_path / "ml"
    layout.prepare(root, {"train": data}, HP)
    full = root / where
    if not _mount_tmpfs(full, "16k"):
        pytest.skip("needs root and `mount -t tmpfs` to make a small disk")
    try:
        result = run_train(root)
        left = sorted(p.name for p in full.iterdir())
    finally:
        subprocess.run(["umount", str(full)], check=True)
    log = result.stdout + result.stderr
    assert result.returncode == 1, log[-3000:]
    reason = _failure(root)
    assert "No space left" in reason and str(full) in reason, reason
    assert not contract.Paths(root).success_file.exists()
    # Nothing half-written looks valid: no model, no checkpoint, no temporary file.
    assert MODEL_FILE not in left and not [n for n in left if n.endswith(".keras")], left
    assert not [name for name in left if ".tmp" in name], left


# --- SIGTERM in each phase --------------------------------------------------------------------


@pytest.mark.parametrize("phase, line", [
    pytest.param("data-loading", "Hyperparameters:", marks=ALL_ONLY),
    ("evaluation", "Saved the model to"),
    pytest.param("report", "model.tflite", marks=ALL_ONLY),
])
def test_sigterm_in_each_phase_exits_143_and_the_run_resumes(tmp_path, data, phase, line):
    root = tmp_path / "ml"
    layout.prepare(root, {"train": data}, HP)
    proc = subprocess.Popen([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for text in proc.stdout:
        log.append(text)
        if line in text:
            break
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    rest, _ = proc.communicate(timeout=120)  # SageMaker's grace before SIGKILL
    out = "".join(log) + rest
    assert proc.returncode == contract.EXIT_TERMINATED, out[-3000:]
    assert time.monotonic() - sent < 120
    paths = contract.Paths(root)
    assert not paths.failure_file.exists() and not paths.success_file.exists()
    if phase != "data-loading":  # fit is over: the checkpoint holds its one epoch
        state = json.loads((paths.checkpoint_dir / STATE_FILE).read_text())
        assert state["epoch"] == HP["epochs"]

    resumed = run_train(root)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert paths.success_file.exists()
    assert ModelSpec.read(paths.model_dir).num_classes == 3
    assert (paths.output_data_dir / "metrics.json").exists()
    if phase != "data-loading":
        assert "not fitting again" in resumed.stdout + resumed.stderr


# --- a corrupt checkpoint ---------------------------------------------------------------------


def _break(checkpoint_dir, case: str) -> str:
    """Break the checkpoint; the name of the file broken."""
    if case == "state-not-json":
        (checkpoint_dir / STATE_FILE).write_text('{"epoch": 1, "hyperpa')
    elif case == "state-without-epoch":
        (checkpoint_dir / STATE_FILE).write_text("[]")
    elif case == "checkpoint-truncated":
        ckpt = checkpoint_dir / json.loads((checkpoint_dir / STATE_FILE).read_text())[
            CHECKPOINT_KEY]
        os.truncate(ckpt, ckpt.stat().st_size // 3)
        return ckpt.name
    return STATE_FILE


@pytest.mark.parametrize("case", ["state-not-json",
                                  pytest.param("state-without-epoch", marks=ALL_ONLY),
                                  "checkpoint-truncated"])
def test_a_corrupt_checkpoint_fails_clearly_and_is_kept(tmp_path, checkpointed_run, case):
    paths = copy_run(checkpointed_run, tmp_path / "ml")
    root, ckpt_dir = paths.root, paths.checkpoint_dir
    file = _break(ckpt_dir, case)
    before = {p.name: p.read_bytes() for p in ckpt_dir.iterdir()}
    # One more epoch: the run must resume from the checkpoint (epochs may change on resume).
    write_hyperparameters(paths, {**HP, "epochs": 2})
    result = run_train(root)
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    reason = _failure(root)
    assert file in reason and "corrupt" in reason and "start fresh" in reason, reason
    assert "Traceback" not in result.stdout + result.stderr
    assert {p.name: p.read_bytes() for p in ckpt_dir.iterdir()} == before
    assert ModelSpec.read(contract.Paths(root).model_dir).num_classes == 3


# --- a kill between the checkpoint's model and its state -------------------------------------


def _resumable(checkpoint_dir):
    """What a resumed run would start from: the checkpoint's epoch and its model's weights, read
    by the trainer's own loader."""
    from byoc.hyperparams import parse
    from byoc.training.checkpoints import load_checkpoint

    state = json.loads((checkpoint_dir / STATE_FILE).read_text())
    model, state = load_checkpoint(checkpoint_dir, parse(state["hyperparameters"]),
                                   state["class_names"])
    return state["epoch"], [w.numpy() for w in model.weights]


def test_a_stop_between_the_model_and_its_state_resumes_a_matching_pair(tmp_path,
                                                                       checkpointed_run):
    """The second epoch's save stops after its model is written and before its state.json is:
    the state file's staging path is a link into a missing directory, so that write fails
    there and leaves the files exactly as a kill at that point would. The checkpoint must
    still be epoch 1's pair, not epoch 1's state with epoch 2's weights."""
    paths = copy_run(checkpointed_run, tmp_path / "ml")
    root, ckpt_dir = paths.root, paths.checkpoint_dir
    epoch, weights = _resumable(ckpt_dir)
    assert epoch == 1
    write_hyperparameters(paths, {**HP, "epochs": 2})
    blocker = staging_path(ckpt_dir / STATE_FILE)
    blocker.symlink_to(tmp_path / "missing" / STATE_FILE)
    stopped = run_train(root)
    assert stopped.returncode != 0, (stopped.stdout + stopped.stderr)[-3000:]
    assert str(ckpt_dir / STATE_FILE) in _failure(root)

    epoch_after, weights_after = _resumable(ckpt_dir)
    assert epoch_after == 1
    assert all((a == b).all() for a, b in zip(weights, weights_after, strict=True))

    blocker.unlink(missing_ok=True)
    resumed = run_train(root)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert "Resuming from the checkpoint of epoch 1" in resumed.stdout + resumed.stderr
    state = json.loads((ckpt_dir / STATE_FILE).read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2


def test_a_checkpoint_of_the_fixed_names_still_resumes(tmp_path, checkpointed_run):
    """Checkpoints written before state.json named its files used fixed names."""
    paths = copy_run(checkpointed_run, tmp_path / "ml")
    root, ckpt_dir = paths.root, paths.checkpoint_dir
    state = json.loads((ckpt_dir / STATE_FILE).read_text())
    (ckpt_dir / state.pop(CHECKPOINT_KEY)).rename(ckpt_dir / CHECKPOINT_FILE)
    (ckpt_dir / state.pop(BEST_WEIGHTS_KEY)).rename(ckpt_dir / BEST_WEIGHTS_FILE)
    (ckpt_dir / STATE_FILE).write_text(json.dumps(state))
    write_hyperparameters(paths, {**HP, "epochs": 2})
    resumed = run_train(root)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert "Resuming from the checkpoint of epoch 1" in resumed.stdout + resumed.stderr
    state = json.loads((ckpt_dir / STATE_FILE).read_text())
    assert state["epoch"] == 2
    # The new save names its own files, and the fixed-name ones are gone.
    names = {p.name for p in ckpt_dir.iterdir()}
    assert CHECKPOINT_FILE not in names and state[CHECKPOINT_KEY] in names
    assert BEST_WEIGHTS_FILE not in names or state.get(BEST_WEIGHTS_KEY) is None
