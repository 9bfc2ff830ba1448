"""The real `train` executable under SageMaker's training contract, on a temporary /opt/ml.

Nothing is mocked: TensorFlow trains for real (small data, few epochs), and the tests read what
`train` leaves behind exactly as SageMaker and `serve` would.
"""

from __future__ import annotations

import csv
import json
import logging
import pickle
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byoc import cli, contract, metric_lines
from byoc.bundle import MODEL_FILE, ModelSpec
from byoc.driver.local import layout
from byoc.training.checkpoints import BEST_WEIGHTS_KEY, CHECKPOINT_KEY, STATE_FILE
from tests.support.data import tiny_folders
from tests.support.executables import TRAIN_EXE, exe_env, run_train
from tests.support.runs import CHECKPOINTED_HP, bare_opt_ml, copy_run, write_hyperparameters


def _metric_values(stdout: str) -> dict[str, list[float]]:
    """What SageMaker's metric_definitions would extract from the log."""
    found: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        for d in metric_lines.METRIC_DEFINITIONS:
            m = re.search(d["Regex"], line)
            if m:
                found.setdefault(d["Name"], []).append(float(m.group(1)))
    return found


# ------------------------------------------------------------------------- the whole happy path

def test_train_leaves_a_servable_model(trained_run, synth_data_dir):
    paths, _ = trained_run
    assert (paths.model_dir / MODEL_FILE).is_file()
    spec = ModelSpec.read(paths.model_dir)
    assert spec.num_classes == 43 and spec.input_shape == (32, 32, 3)
    assert spec.class_names[14] == "Stop" and spec.top_k == 3 and spec.architecture == "lenet"
    assert paths.success_file.exists() and not paths.failure_file.exists()
    # Checkpoints each epoch, resumable state.
    state = json.loads((paths.checkpoint_dir / "state.json").read_text())
    assert state["epoch"] == 3 and len(state["history"]["loss"]) == 3


def test_train_writes_the_evaluation_report(trained_run):
    out = trained_run[0].output_data_dir
    values = json.loads((out / "metrics.json").read_text())
    for split in ("train", "validation", "test"):
        for key in (f"{split}_accuracy", f"{split}_loss", f"{split}_top_3_accuracy"):
            assert 0 <= values[key] <= (1 if "accuracy" in key else 100), key
        assert values[f"{split}_top_3_accuracy"] >= values[f"{split}_accuracy"]
        assert (out / f"confusion_matrix_{split}.png").stat().st_size > 10_000
        with open(out / f"confusion_matrix_{split}.csv") as f:
            rows = list(csv.reader(f))
        assert len(rows) == 44 and "Stop" in rows[0]
    for name in ("training_curves.png", "class_distribution.png", "class_distribution.csv",
                 "report.md"):
        assert (out / name).stat().st_size > 0, name
    assert any(out.glob("per_class_test.*")) and any(out.glob("confident_wrong_test.*"))


def test_metric_lines_match_the_published_regexes(trained_run):
    found = _metric_values(trained_run[1])
    assert len(found["train:loss"]) == 3
    # Three epochs, then the final line: the validation metrics of the weights that were kept,
    # which is the last value a tuning job reads for its objective.
    assert len(found["validation:accuracy"]) == len(found["validation:top_k_accuracy"]) == 4
    values = json.loads((trained_run[0].output_data_dir / "metrics.json").read_text())
    assert found["validation:accuracy"][-1] == pytest.approx(values["validation_accuracy"],
                                                            abs=1e-5)
    assert found["test:accuracy"] == [pytest.approx(values["test_accuracy"], abs=1e-5)]


def test_config_files_are_logged(trained_run):
    stdout = trained_run[1]
    assert "Resource config:" in stdout and '"current_host": "algo-1"' in stdout
    assert "Input data config:" in stdout and "Channel train:" in stdout


# ------------------------------------------------------------------- a bare /opt/ml (no prepare)

def test_train_creates_every_path_it_writes(checkpointed_run):
    """`checkpointed_run` started with input/ alone."""
    paths = checkpointed_run
    state = json.loads((paths.checkpoint_dir / STATE_FILE).read_text())
    assert (paths.checkpoint_dir / state[CHECKPOINT_KEY]).is_file()
    assert (paths.checkpoint_dir / state[BEST_WEIGHTS_KEY]).is_file()
    assert (paths.model_dir / MODEL_FILE).is_file()
    assert (paths.output_data_dir / "metrics.json").is_file()
    assert paths.success_file.is_file()


@pytest.mark.slow
def test_train_learns_an_easy_task_from_tfrecords(tmp_path):
    """Cheap and deterministic: three colour classes, a held-out test channel, converted by
    `byoc data to-tfrecord` and streamed. The accuracy targets on synthetic signs need long runs
    and live in `python -m benchmarks.accuracy`."""
    src = tmp_path / "signs"
    tiny_folders(src / "train", per_class=16, seed=1)
    tiny_folders(src / "test", per_class=6, seed=2)
    dst = tmp_path / "records"
    assert cli.main(["data", "to-tfrecord", str(src), str(dst), "--shards", "3", "--gzip"]) == 0
    channels = {name: dst / name for name in ("train", "test")}
    result = run_train(tmp_path / "ml", channels, {"epochs": 6, "batch_size": 8, "seed": 4,
                                                   "input_mode": "stream"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "tfrecord format, 48 records in 3 file(s) (gzip)" in result.stdout
    metrics = json.loads((contract.Paths(tmp_path / "ml").output_data_dir /
                          "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9, metrics
    assert metrics["test_samples"] == 18  # the report covers every test image once


def test_train_on_a_bare_opt_ml_writes_its_failure(tmp_path):
    paths = bare_opt_ml(tmp_path / "ml", tiny_folders(tmp_path / "data"), {"epochs": "x"})
    assert run_train(paths.root).returncode != 0
    assert "'epochs'" in paths.failure_file.read_text()


# ---------------------------------------------------------------------------------- bad input

def _failure(root) -> str:
    return contract.Paths(root).failure_file.read_text()


def test_bad_hyperparameter_fails_with_a_reason(tmp_path):
    data = tiny_folders(tmp_path / "data")
    result = run_train(tmp_path / "ml", {"train": data}, {"epochs": "three"})
    assert result.returncode != 0
    reason = _failure(tmp_path / "ml")
    assert "'epochs'" in reason and "'three'" in reason and "whole number" in reason
    assert not contract.Paths(tmp_path / "ml").success_file.exists()


def test_unknown_hyperparameter_fails(tmp_path):
    data = tiny_folders(tmp_path / "data")
    result = run_train(tmp_path / "ml", {"train": data}, {"epoch": "3"})
    assert result.returncode != 0
    assert "Did you mean 'epochs'" in _failure(tmp_path / "ml")


def test_missing_train_channel_fails(tmp_path):
    data = tiny_folders(tmp_path / "data")
    result = run_train(tmp_path / "ml", {"test": data})
    assert result.returncode != 0
    assert "'train' (or 'training') channel is missing" in _failure(tmp_path / "ml")


def test_empty_channel_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_train(tmp_path / "ml", {"train": tmp_path / "empty"})
    assert result.returncode != 0
    assert "Channel 'train' (" in _failure(tmp_path / "ml")
    assert "/input/data/train) is empty" in _failure(tmp_path / "ml")
    # No GPU here, so the GPU check passed without TensorFlow and still said so, first.
    assert "no GPU found; TensorFlow 2." in result.stdout


def _files(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_mismatched_checkpoint_fails_and_keeps_it(checkpointed_run, tmp_path):
    paths = copy_run(checkpointed_run, tmp_path / "ml")
    before = _files(paths.checkpoint_dir)
    write_hyperparameters(paths, {**CHECKPOINTED_HP, "image_size": 24})
    result = run_train(paths.root)
    assert result.returncode != 0
    assert "checkpoint of a different configuration" in _failure(paths.root)
    assert _files(paths.checkpoint_dir) == before


# -------------------------------------------------------------------- formats through `train`

@pytest.mark.slow
def test_pickles_with_signnames_and_unreadable_files(tmp_path):
    rng = np.random.default_rng(3)
    channel = tmp_path / "data"
    channel.mkdir()
    labels = np.repeat(np.arange(3), 15)
    features = rng.integers(0, 50, (45, 32, 32, 3)).astype(np.uint8)
    features[np.arange(45), :, :, labels] += 180
    with open(channel / "train.p", "wb") as f:
        pickle.dump({"features": features, "labels": labels}, f)
    (channel / "signnames.csv").write_text("ClassId,SignName\n0,Red\n1,Green\n2,Blue\n")
    test_dir = tmp_path / "test"
    for c in range(3):
        (test_dir / str(c)).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(features[c * 15 + i]).save(test_dir / str(c) / f"{i}.ppm")
    (test_dir / "1" / "broken.png").write_bytes(b"not an image")
    (test_dir / "signnames.csv").write_text((channel / "signnames.csv").read_text())
    root = tmp_path / "ml"
    result = run_train(root, {"train": channel, "test": test_dir}, {"epochs": 2})
    assert result.returncode == 0, result.stdout[-2000:]
    assert ModelSpec.read(contract.Paths(root).model_dir).class_names == ["Red", "Green", "Blue"]
    assert "skipped 1 unreadable image file(s)" in result.stdout
    assert json.loads((contract.Paths(root).output_data_dir / "metrics.json").read_text())[
        "test_samples"] == 9


@pytest.mark.slow
def test_npz_grayscale_vgg_with_augmentation_and_class_weights(tmp_path):
    rng = np.random.default_rng(4)
    channel = tmp_path / "data"
    channel.mkdir()
    y = np.array([0] * 30 + [1] * 8)
    x = rng.integers(0, 80, (38, 28, 28, 3)).astype(np.uint8)
    x[y == 1, 8:20, 8:20] = 255
    np.savez(channel / "signs.npz", x=x, y=y)
    root = tmp_path / "ml"
    result = run_train(root, {"train": channel}, {
        "epochs": 1, "model": "vgg", "channels": 1, "image_size": 24, "augment": "true",
        "class_weights": "balanced", "validation_split": 0.25, "batch_size": 8})
    assert result.returncode == 0, result.stdout[-2000:]
    assert "holding out 10 of 38 training images" in result.stdout
    spec = ModelSpec.read(contract.Paths(root).model_dir)
    assert spec.input_shape == (24, 24, 1) and spec.architecture == "vgg"


# --------------------------------------------------------------- checkpoints, resume, SIGTERM

def test_resume_continues_from_the_checkpoint(checkpointed_run, tmp_path):
    paths = copy_run(checkpointed_run, tmp_path / "ml")
    write_hyperparameters(paths, {**CHECKPOINTED_HP, "epochs": 3})
    result = run_train(paths.root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Resuming from the checkpoint of epoch 1" in result.stdout
    epochs = re.findall(r"#metrics epoch=(\d+)", result.stdout)
    assert epochs == ["2", "3"]


@pytest.mark.slow
def test_local_train_rerun_keeps_the_finished_run_and_resumes(tmp_path, capfd, caplog):
    """`byoc local train` again in the same --output: the finished run's archives move to
    previous/, and the new run resumes from the checkpoint (here with more epochs)."""
    from byoc.cli import main

    caplog.set_level(logging.INFO, logger=layout.__name__)
    data = tiny_folders(tmp_path / "data", classes=2, per_class=8)
    run = tmp_path / "run"
    args = ["local", "train", "--data", str(data), "--output", str(run), "--hp", "batch_size=8"]
    assert main([*args, "--hp", "epochs=1"]) == 0
    first = (run / layout.MODEL_ARCHIVE).read_bytes()
    capfd.readouterr()

    assert main([*args, "--hp", "epochs=2"]) == 0

    out, err = capfd.readouterr()
    assert "Resuming from the checkpoint of epoch 1" in out + err
    assert re.findall(r"#metrics epoch=(\d+)", out + err) == ["2"]
    (kept,) = (run / layout.PREVIOUS_RUNS).iterdir()
    assert f"kept in {kept}" in caplog.text
    assert (kept / layout.MODEL_ARCHIVE).read_bytes() == first
    assert (run / layout.MODEL_ARCHIVE).read_bytes() != first
    assert contract.Paths(run).success_file.exists()


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_execution", [1, 8])
def test_sigterm_saves_a_checkpoint_and_exits(tmp_path, steps_per_execution):
    data = tiny_folders(tmp_path / "data", classes=4, per_class=60, size=32)
    root = tmp_path / "ml"
    layout.prepare(root, {"train": data}, {"epochs": 500, "batch_size": 4,
                                           "early_stopping_patience": 0,
                                           "steps_per_execution": steps_per_execution})
    proc = subprocess.Popen([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for line in proc.stdout:  # wait until training is under way
        log.append(line)
        if line.startswith("#metrics epoch=1 "):
            break
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    rest, _ = proc.communicate(timeout=120)  # SageMaker sends SIGKILL 120 s after SIGTERM
    assert proc.returncode == 143, "".join(log) + rest
    assert time.monotonic() - sent < 120
    assert "SIGTERM received" in rest
    assert re.search(r"Stopped after step \d+ of \d+ of epoch \d+", rest), rest[-3000:]
    state = json.loads((contract.Paths(root).checkpoint_dir / "state.json").read_text())
    assert 1 <= state["epoch"] < 500
    # The interrupted epoch is neither logged nor counted as done: a resumed job repeats it.
    logged = re.findall(r"#metrics epoch=(\d+)", "".join(log) + rest)
    assert len(logged) == state["epoch"] == len(state["history"]["loss"])
    assert not contract.Paths(root).failure_file.exists()


# 42 images, 9 held out: 33 to train on, in batches of 4 (9 steps per epoch), augmented.
PER_CALL_HP = {"epochs": 2, "batch_size": 4, "seed": 11, "augment": "true"}


@pytest.fixture(scope="module")
def per_call_runs(tmp_path_factory) -> tuple[Path, dict[int, tuple[contract.Paths, str]]]:
    """Two real `train` runs of PER_CALL_HP over the same data, one with 1 step per call, one
    with 4: (their train channel, steps per call → (/opt/ml paths, log))."""
    tmp = tmp_path_factory.mktemp("per_call")
    data = tiny_folders(tmp / "data", classes=3, per_class=14)
    runs = {}
    for per_call in (1, 4):
        root = tmp / str(per_call)
        result = run_train(root, {"train": data},
                           {**PER_CALL_HP, "steps_per_execution": per_call})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[per_call] = contract.Paths(root), result.stdout + result.stderr
    return data, runs


@pytest.mark.slow
def test_same_seed_gives_the_same_metrics(per_call_runs, tmp_path):
    """The run of 4 steps per call again: the same seed gives the same split, augmentation,
    shuffles and weights, so the same report."""
    data, runs = per_call_runs
    root = tmp_path / "ml"
    result = run_train(root, {"train": data}, {**PER_CALL_HP, "steps_per_execution": 4})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    first = json.loads((runs[4][0].output_data_dir / "metrics.json").read_text())
    again = json.loads((contract.Paths(root).output_data_dir / "metrics.json").read_text())
    assert again == first


@pytest.mark.slow
def test_steps_per_execution_takes_the_same_steps_to_the_same_metrics(per_call_runs):
    """4 steps per call over epochs of 9 steps (4 + 4 + 1): the same steps, progress and
    metrics as one step per call."""
    _, per_call = per_call_runs
    runs = {}
    for steps_per_call, (paths, out) in per_call.items():
        assert f"9 steps per epoch, up to {steps_per_call} per call" in out
        # The progress bar (verbose=2 without a terminal) ends each epoch at step 9 of 9.
        assert len(re.findall(r"^9/9 ", out, re.M)) == 2, out[-3000:]
        lines = re.findall(r"^#metrics epoch=.*$", out, re.M)
        runs[steps_per_call] = (_metric_values(out), lines,
                                json.loads((paths.output_data_dir / "metrics.json").read_text()))
    (values_1, lines_1, report_1), (values_4, lines_4, report_4) = runs[1], runs[4]
    assert len(lines_1) == len(lines_4) == 2
    assert [re.findall(r"(\w+)=", line) for line in lines_1] == \
        [re.findall(r"(\w+)=", line) for line in lines_4]
    assert values_1.keys() == values_4.keys()
    for name in values_1:
        assert values_4[name] == pytest.approx(values_1[name], abs=2e-3), name
    assert report_4.keys() == report_1.keys()
    assert report_4["validation_accuracy"] == pytest.approx(report_1["validation_accuracy"],
                                                            abs=2e-3)


def test_sigterm_during_start_up_exits_at_once(tmp_path):
    data = tiny_folders(tmp_path / "data")
    root = tmp_path / "ml"
    layout.prepare(root, {"train": data}, {"epochs": 50})
    proc = subprocess.Popen([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)  # Python is up; TensorFlow is still importing
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == contract.EXIT_TERMINATED, out
    assert not contract.Paths(root).failure_file.exists()
    assert not contract.Paths(root).success_file.exists()
