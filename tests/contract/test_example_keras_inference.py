"""examples/keras_script/inference.py, served by the real `serve` over a tiny Keras model this test
builds and saves as train.py would: model.keras and classes.json in the model directory.

The model is built here, not trained: three classes, its answers checked against Keras in this
process on the same images.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from byoc.serving import runtime as runtimes
from byoc.user_code.source import PROGRAM_ENV, SUBMIT_DIR_ENV
from tests.support.executables import REPO
from tests.support.serving import ServeProcess

# gunicorn's workers load TensorFlow to serve the model: seconds each, so the slow tier.
pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "keras_script"
CLASSES = ["stop", "yield", "speed limit 30"]


@pytest.fixture(scope="module")
def keras_model_dir(tmp_path_factory) -> Path:
    """model.keras (raw 0..255 pixels in, probabilities out) and classes.json."""
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(len(CLASSES), activation="softmax"),
    ])
    model_dir = tmp_path_factory.mktemp("keras_script") / "model"
    model_dir.mkdir()
    model.save(model_dir / "model.keras")
    (model_dir / "classes.json").write_text(json.dumps(CLASSES))
    return model_dir


@pytest.fixture(scope="module")
def server(keras_model_dir, tmp_path_factory):
    env = {PROGRAM_ENV: "inference.py", SUBMIT_DIR_ENV: f"file://{EXAMPLE}"}
    with ServeProcess(keras_model_dir, tmp_path_factory.mktemp("serve"), env) as proc:
        yield proc


def _expected(keras_model_dir: Path, batch: np.ndarray) -> list[dict[str, object]]:
    import keras

    model = keras.saving.load_model(keras_model_dir / "model.keras", safe_mode=True)
    probabilities = np.asarray(model.predict(batch.astype(np.float32), verbose=0))
    return [{"class": CLASSES[i], "probability": float(row[i])}
            for row, i in zip(probabilities, probabilities.argmax(axis=1), strict=True)]


def _check(answer: requests.Response, expected: list[dict[str, object]]) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers[runtimes.RUNTIME_HEADER] == runtimes.CUSTOM
    got = answer.json()["predictions"]
    assert [p["class"] for p in got] == [p["class"] for p in expected]
    assert [p["probability"] for p in got] == pytest.approx(
        [p["probability"] for p in expected], abs=1e-5)


def _post(server, body, content_type: str) -> requests.Response:
    return requests.post(f"{server.url}/invocations", data=body, timeout=60,
                         headers={"Content-Type": content_type, "Accept": "application/json",
                                  # a closed connection keeps the server's stop short
                                  "Connection": "close"})


def test_a_batch_of_npy_pixels(server, keras_model_dir):
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    out = io.BytesIO()
    np.save(out, batch)
    _check(_post(server, out.getvalue(), "application/x-npy"),
           _expected(keras_model_dir, batch))


def test_json_instances(server, keras_model_dir):
    batch = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    _check(_post(server, json.dumps({"instances": batch.tolist()}), "application/json"),
           _expected(keras_model_dir, batch))


def test_a_png_of_another_size_is_resized(server, keras_model_dir):
    image = np.random.default_rng(2).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(image).save(png, "PNG")
    resized = Image.fromarray(image).resize((32, 32), Image.BILINEAR)
    _check(_post(server, png.getvalue(), "image/png"),
           _expected(keras_model_dir, np.asarray(resized)[None]))


def test_what_the_handlers_cannot_read_is_the_clients_error(server):
    unsupported = _post(server, b"1,2,3", "text/csv")
    assert unsupported.status_code == 415 and "application/x-npy" in unsupported.json()["error"]
    wrong_shape = _post(server, json.dumps({"instances": [[1, 2, 3]]}), "application/json")
    assert wrong_shape.status_code == 400 and "(32, 32, 3)" in wrong_shape.json()["error"]
    not_instances = _post(server, json.dumps({"images": []}), "application/json")
    assert not_instances.status_code == 400 and "instances" in not_instances.json()["error"]
