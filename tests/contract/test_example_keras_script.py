"""examples/keras_script/train.py, a course-style Keras script that knows nothing about byoc,
trained by the real `train` on a small synthetic traffic-sign set for one epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from byoc import contract
from byoc.data.gtsrb import CLASS_NAMES, NUM_CLASSES
from byoc.data.synth import generate
from byoc.driver.local import layout
from tests.support.executables import REPO, run_train

EXAMPLE = REPO / "examples" / "keras_script"
pytestmark = pytest.mark.slow  # TensorFlow loads in the script


def test_the_course_style_script_trains_and_saves_a_model_and_its_classes(tmp_path):
    data = tmp_path / "signs"
    generate(data, per_class=4, seed=3)
    root = tmp_path / "ml"
    layout.prepare(root, {"train": data / "train", "validation": data / "validation"}, {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(str(EXAMPLE)),
        "epochs": "1", "batch-size": "32", "learning-rate": "0.002",
    })
    result = run_train(root)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "train: " in result.stdout and f"of {NUM_CLASSES} classes" in result.stdout
    assert "validation_accuracy=" in result.stdout

    model_dir = contract.Paths(root).model_dir
    classes = json.loads((model_dir / "classes.json").read_text())
    assert classes == list(CLASS_NAMES)  # from the channel's signnames.csv, index = label

    import keras

    model = keras.saving.load_model(model_dir / "model.keras")
    image = next((data / "test" / "14").iterdir())
    pixels = np.asarray(Image.open(image).convert("RGB").resize((32, 32)), dtype=np.float32)
    probabilities = model.predict(pixels[None], verbose=0)[0]
    assert probabilities.shape == (NUM_CLASSES,)
    assert abs(float(probabilities.sum()) - 1.0) < 1e-4
