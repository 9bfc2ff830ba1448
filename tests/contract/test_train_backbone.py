"""A pretrained backbone under the real `train`: MobileNetV3-Small from a weights file the test
writes, fine-tuned in two phases across a resume, exported to LiteRT and served.

Kept tiny (32×32, a handful of images, one epoch per run, the first run stopped before its
export): what is checked is where the weights come from and which of them each phase moves, not
accuracy.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess

import keras
import numpy as np
import pytest
from PIL import Image

from byoc import contract
from byoc.bundle import LITERT_FILE, ModelSpec, keras_io
from byoc.driver.local import layout
from byoc.model import backbones
from byoc.serving import codecs
from byoc.serving.predictor import Predictor
from byoc.training.checkpoints import CHECKPOINT_KEY, STATE_FILE
from tests.support.backbones import calibrate
from tests.support.data import tiny_folders
from tests.support.executables import TRAIN_EXE, exe_env, run_train


def _checkpointed_backbone(paths: contract.Paths) -> keras.Model:
    state = json.loads((paths.checkpoint_dir / STATE_FILE).read_text())
    model = keras_io.load_model(paths.checkpoint_dir / state[CHECKPOINT_KEY], compile=False)
    return backbones.backbone_of(model)


def _pretrained_like(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return calibrate(keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg"), seed)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> list[bool]:
    return [np.array_equal(x, y) for x, y in zip(a, b, strict=True)]


@pytest.mark.slow
def test_a_backbone_fine_tunes_from_a_weights_file_in_two_phases_across_a_resume(tmp_path):
    data = tiny_folders(tmp_path / "data", classes=3, per_class=5, size=32)
    source = _pretrained_like(3)
    (tmp_path / "pretrained").mkdir()
    source.save_weights(tmp_path / "pretrained" / "mobilenet_v3_small.weights.h5")
    channels = {"train": data, "pretrained": tmp_path / "pretrained"}
    hp = {"model": "mobilenet_v3_small", "image_size": 32, "freeze_epochs": 1,
          "learning_rate": 0.01, "batch_size": 4, "validation_split": 0, "top_k": 2,
          "early_stopping_patience": 0}
    root = tmp_path / "ml"
    paths = contract.Paths(root)

    # Phase one alone, stopped (as a spot interruption would) once its checkpoint is written:
    # the backbone is the file's, to the last BatchNormalization statistic.
    layout.prepare(root, channels, {**hp, "epochs": 1})
    proc = subprocess.Popen([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for line in proc.stdout:
        log.append(line)
        if line.startswith("#metrics epoch=1 "):
            proc.send_signal(signal.SIGTERM)
            break
    log = "".join(log) + proc.communicate(timeout=120)[0]
    assert proc.returncode == contract.EXIT_TERMINATED, log[-3000:]
    assert "The backbone starts from the weights in" in log
    assert "Epoch 1: frozen backbone phase, 2 of 72 trainable variables" in log
    assert all(_same(_checkpointed_backbone(paths).get_weights(), source.get_weights()))

    # Resumed with a second epoch: it crosses the switch and fine-tunes the backbone, whose
    # BatchNormalization statistics stay as the file had them.
    second = run_train(root, channels, {**hp, "epochs": 2})
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    log = second.stdout
    assert "Resuming from the checkpoint of epoch 1" in log
    assert "starts from the weights in" not in log
    assert "Epoch 2: fine-tuning phase" in log and "at learning rate 0.001" in log
    tuned = _checkpointed_backbone(paths)
    moved = _same(tuned.get_weights(), source.get_weights())
    assert not all(moved)
    statistics = [i for i, w in enumerate(tuned.weights) if "moving" in w.path]
    assert statistics and all(moved[i] for i in statistics)

    # Exported to LiteRT within its check, and served from it: a larger PNG, resized.
    spec = ModelSpec.read(paths.model_dir)
    assert spec.architecture == "mobilenet_v3_small" and spec.litert_model == LITERT_FILE
    assert spec.litert_check["top1_agreement"] == 1.0
    predictor = Predictor.load(paths.model_dir)
    assert predictor.runtime == "litert"
    png = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), (220, 20, 20), np.uint8)).save(png, "PNG")
    probs = predictor.predict(codecs.decode(png.getvalue(), "image/png", spec))
    assert probs.shape == (1, 3) and np.isclose(probs.sum(), 1, atol=1e-5)
