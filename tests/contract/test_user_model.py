"""The user's model and loss inside byoc's trainer, through the real `train` and `serve`.

examples/cost_sensitive (a network with a registered layer, a cost-matrix loss, hyperparameters of
its own) trains for one epoch on the synthetic signs (`byoc local train --source-dir` in process
mode), resumes from its checkpoint (the SDK's `sagemaker_submit_directory`), and is served from its
bundle alone. Bad user code fails the job with the reason in the failure file: the cheap mistakes
before TensorFlow loads, the rest before training starts.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import requests

from byoc import contract
from byoc.bundle import CODE_DIR, LITERT_FILE, ModelSpec, litert
from byoc.driver.local import layout
from byoc.evaluation import METRICS_FILE, REPORT_FILE
from byoc.serving import runtime as runtimes
from byoc.training.checkpoints import STATE_FILE
from tests.support.data import tiny_folders
from tests.support.executables import REPO, exe_env, run_train
from tests.support.serving import ServeProcess

EXAMPLE = REPO / "examples" / "cost_sensitive"
HPS = {"epochs": 1, "batch_size": 32, "top_k": 3, "model": "model:build_model",
       "loss": "loss:cost_sensitive_loss", "dropout": 0.2}


def _failed(result, root) -> str:
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    return contract.Paths(root).failure_file.read_text()


@pytest.fixture(scope="module")
def example_run(tmp_path_factory, synth_data_dir):
    """The example trained as a user runs it on their machine, `byoc local train --source-dir`
    in process mode, which runs the real `train` in the output dir: its /opt/ml paths, its
    source copy, its log."""
    tmp = tmp_path_factory.mktemp("cost_sensitive")
    source = shutil.copytree(EXAMPLE, tmp / "source")
    root = tmp / "run"
    hps = [arg for key, value in HPS.items() for arg in ("--hp", f"{key}={value}")]
    result = subprocess.run(
        [sys.executable, "-m", "byoc.cli", "local", "train", "--data", str(synth_data_dir),
         "--output", str(root), "--source-dir", str(source), *hps],
        env=exe_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return contract.Paths(root), source, result.stdout + result.stderr


@pytest.mark.slow
def test_the_example_trains_with_its_own_model_and_loss(example_run):
    paths, source, stdout = example_run
    assert f"Using your model model:build_model and loss loss:cost_sensitive_loss from " \
           f"{source}" in stdout
    assert "#metrics epoch=1 " in stdout and "Ignoring SageMaker hyperparameter" not in stdout
    # The bundle: the model of the user's layers, its code, and LiteRT.
    spec = ModelSpec.read(paths.model_dir)
    assert (spec.architecture, spec.loss) == ("model:build_model", "loss:cost_sensitive_loss")
    assert spec.code_modules == ["model"] and spec.format_version == 2
    code = paths.model_dir / CODE_DIR
    assert sorted(p.name for p in code.iterdir()) == ["cost_matrix.csv", "loss.py", "model.py"]
    assert spec.litert_model == LITERT_FILE and (paths.model_dir / LITERT_FILE).is_file()
    # The report says what trained the model and how it will be served.
    report = (paths.output_data_dir / REPORT_FILE).read_text()
    assert "## Model and serving" in report
    assert "trained to minimise loss:cost_sensitive_loss" in report
    assert "`serve` uses LiteRT (model.tflite: top-1 agreement" in report
    metrics = json.loads((paths.output_data_dir / METRICS_FILE).read_text())
    assert metrics["test_samples"] > 0 and 0 <= metrics["test_accuracy"] <= 1
    # The checkpoint records the modules' hyperparameters: given, and defaulted.
    state = json.loads((paths.checkpoint_dir / STATE_FILE).read_text())
    assert state["epoch"] == 1
    assert {k: state["hyperparameters"][k] for k in ("dropout", "filters", "cost_weight")} == \
        {"dropout": "0.2", "filters": "32", "cost_weight": "1.0"}


@pytest.mark.slow
def test_local_train_puts_the_users_code_in_the_model_archive(example_run):
    paths, _, _ = example_run
    assert paths.success_file.exists()
    with tarfile.open(paths.root / layout.MODEL_ARCHIVE) as tar:
        names = tar.getnames()
    assert "code/model.py" in names  # the user's code travels inside the bundle


@pytest.mark.slow
def test_serve_loads_the_bundle_through_the_code_it_carries(example_run, tmp_path):
    paths, source, _ = example_run
    spec = ModelSpec.read(paths.model_dir)
    pixels = np.random.default_rng(3).integers(0, 256, (2, *spec.input_shape), dtype=np.uint8)
    body = io.BytesIO()
    np.save(body, pixels)
    away = source.rename(source.with_name("moved-away"))  # only the bundle's code/ is left
    try:
        # TensorFlow loads model.keras, which needs the user's registered layer.
        with ServeProcess(paths.model_dir, tmp_path,
                          {runtimes.RUNTIME_ENV: runtimes.TENSORFLOW}) as server:
            r = requests.post(f"{server.url}/invocations", data=body.getvalue(), timeout=60,
                              headers={"Content-Type": "application/x-npy",
                                       "Accept": "application/x-npy"})
    finally:
        away.rename(source)
    assert r.status_code == 200, r.text
    assert r.headers[runtimes.RUNTIME_HEADER] == runtimes.TENSORFLOW
    probs = np.load(io.BytesIO(r.content), allow_pickle=False)
    # The same answers as the bundle's LiteRT model, which needs no code at all.
    expected = litert.LiteRTModel(paths.model_dir / LITERT_FILE).predict(pixels)
    np.testing.assert_allclose(probs, expected, atol=1e-4)


@pytest.mark.slow
def test_a_resumed_job_continues_the_custom_model_from_its_checkpoint(example_run, tmp_path,
                                                                      synth_data_dir):
    paths, source, _ = example_run
    root = shutil.copytree(paths.root, tmp_path / "ml", symlinks=True)
    result = run_train(root, layout.split_channel_dirs(synth_data_dir),
                       {**HPS, "epochs": 2, "sagemaker_submit_directory": str(source)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Resuming from the checkpoint of epoch 1" in result.stdout
    assert "#metrics epoch=2 " in result.stdout and "#metrics epoch=1 " not in result.stdout
    assert json.loads((contract.Paths(root).checkpoint_dir / STATE_FILE).read_text())[
        "epoch"] == 2


# --- bad user code -------------------------------------------------------------------------------

MODEL_PY = """
import keras

HYPERPARAMETERS = {HYPERPARAMETERS}


def build_model(input_shape, num_classes, hp):
    return {RETURNS}
"""
GOOD_MODEL = ("keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(), "
              "keras.layers.Dense(num_classes, activation='softmax')])")


def _train_with(tmp_path, hps, model_py=None, hyperparameters='{"dropout": 0.3}',
                returns=GOOD_MODEL):
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.py").write_text(model_py or MODEL_PY.format(
        HYPERPARAMETERS=hyperparameters, RETURNS=returns))
    data = tiny_folders(tmp_path / "data", classes=2, per_class=4, size=12)
    root = tmp_path / "ml"
    result = run_train(root, {"train": data}, {"epochs": 1, "image_size": 12,
                                               "sagemaker_submit_directory": str(source), **hps})
    return result, _failed(result, root)


@pytest.mark.parametrize("hps,hyperparameters,fragment", [
    ({"model": "model:bild_model"}, '{"dropout": 0.3}',
     "model.py in {source} has no function 'bild_model' (the model function "
     "(model=model:bild_model)). Did you mean 'build_model'?"),
    ({"model": "model:build_model"}, '["dropout", 0.3]',
     "HYPERPARAMETERS in model.py (line 4) is a list; it must be a dict"),
    ({"model": "model:build_model", "dropuot": "0.5"}, '{"dropout": 0.3}',
     "Unknown hyperparameter 'dropuot'. Did you mean 'dropout'?"),
])
def test_mistakes_in_the_reference_fail_the_job_before_tensorflow_loads(tmp_path, hps,
                                                                        hyperparameters,
                                                                        fragment):
    result, reason = _train_with(tmp_path, hps, hyperparameters=hyperparameters)
    assert fragment.format(source=tmp_path / "source") in reason
    assert "Training on" not in result.stdout  # the strategy (TensorFlow) was never made


@pytest.mark.slow
@pytest.mark.parametrize("model_py,returns,fragment", [
    ("import keras\nimport byoc_no_such_package\n\n"
     "def build_model(input_shape, num_classes, hp):\n    pass\n", None,
     "Importing the model function (model=model:build_model) 'model' failed: "
     "ModuleNotFoundError: No module named 'byoc_no_such_package'. Fix the module (the log "
     "has the traceback) or add what it needs to requirements.txt."),
    (None, "[keras.layers.Dense(num_classes)]",
     "model:build_model returned list, not a keras.Model. Return the uncompiled model"),
])
def test_user_code_that_cannot_give_a_model_fails_before_training(tmp_path, model_py, returns,
                                                                 fragment):
    result, reason = _train_with(tmp_path, {"model": "model:build_model"}, model_py=model_py,
                                 returns=returns or GOOD_MODEL)
    assert fragment in reason
    assert "#metrics epoch=" not in result.stdout
