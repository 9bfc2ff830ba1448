"""The serving-only image (`make image-serving`): no TensorFlow, LiteRT, `serve` only.

It serves the bundle that the real `train` wrote (process mode), over real HTTP, and refuses a
bundle it cannot serve with the reason in the container's log.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import requests

from byoc.bundle import LITERT_FILE
from byoc.driver.local import docker
from byoc.errors import FrameworkError
from byoc.serving import runtime as runtimes

pytestmark = [pytest.mark.docker]

SERVING_RUNTIME = ("byoc", "flask", "gunicorn", "ai_edge_litert", "numpy", "PIL")
NOT_SHIPPED = ("tensorflow", "keras", "matplotlib", "boto3", "sagemaker", "pytest")
MAX_SIZE_MB = 300


def _run(engine, image: str, *command: str) -> str:
    return engine.containers.run(image, list(command), remove=True).decode()


@pytest.fixture(scope="module")
def server(serving_image, trained_model_dir):
    with docker.running(serving_image, trained_model_dir, port=None) as running:
        yield running


@pytest.fixture(scope="module")
def sign_png(synth_data_dir) -> bytes:
    return next(p for p in sorted((synth_data_dir / "test").rglob("*")) if p.is_file()).read_bytes()


def test_serving_image_holds_litert_and_no_tensorflow(engine, serving_image):
    check = ("import importlib.util as u, sys; "
             "print(' '.join(n for n in sys.argv[1:] if u.find_spec(n)))")
    found = _run(engine, serving_image, "python", "-c", check, *SERVING_RUNTIME, *NOT_SHIPPED)
    assert found.split() == list(SERVING_RUNTIME)


def test_serving_image_is_small_and_keeps_the_contract_markers(engine, serving_image):
    image = engine.images.get(serving_image)
    assert image.attrs["Size"] <= MAX_SIZE_MB * 1e6, f"{image.attrs['Size'] / 1e6:.0f} MB"
    assert image.labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert not image.attrs["Config"].get("Entrypoint")


def test_serving_image_answers_as_the_litert_runtime_does_in_process(server, trained_model_dir,
                                                                     sign_png):
    from byoc.bundle import ModelSpec
    from byoc.data import images
    from byoc.serving.predictor import Predictor

    ping = requests.get(f"{server.url}/ping", timeout=5)
    assert ping.status_code == 200 and ping.headers[runtimes.RUNTIME_HEADER] == runtimes.LITERT
    r = requests.post(f"{server.url}/invocations", data=sign_png, timeout=60,
                      headers={"Content-Type": "image/png", "Accept": "application/x-npy"})
    assert r.status_code == 200, r.text
    served = np.load(io.BytesIO(r.content))
    spec = ModelSpec.read(trained_model_dir)
    pixels = images.load(sign_png, (spec.height, spec.width), spec.channels)
    local = Predictor.load(trained_model_dir, runtime=runtimes.LITERT).predict(pixels[None])
    np.testing.assert_allclose(served, local, atol=1e-6)
    assert "ready on LiteRT" in server.logs()


def test_serving_image_refuses_a_bundle_without_model_tflite(serving_image, trained_model_dir,
                                                             tmp_path):
    bundle = tmp_path / "model"
    shutil.copytree(trained_model_dir, bundle, ignore=shutil.ignore_patterns(LITERT_FILE))
    with pytest.raises(FrameworkError, match=f"No {LITERT_FILE} .* no TensorFlow"):
        docker.start(serving_image, bundle, port=None, ready_timeout=60)


def test_serving_image_refuses_a_forced_tensorflow_runtime(serving_image, trained_model_dir):
    with pytest.raises(FrameworkError, match="tensorflow, but this image has no TensorFlow"):
        docker.start(serving_image, trained_model_dir, port=None, ready_timeout=60,
                     env={runtimes.RUNTIME_ENV: "tensorflow"})


def test_serving_image_serves_batches_of_any_size(server, trained_model_dir):
    from byoc.bundle import ModelSpec

    spec = ModelSpec.read(trained_model_dir)
    rng = np.random.default_rng(5)
    for n in (1, 7, 130):
        batch = rng.integers(0, 256, (n, *spec.input_shape), dtype=np.uint8)
        body = io.BytesIO()
        np.save(body, batch)
        r = requests.post(f"{server.url}/invocations", data=body.getvalue(), timeout=60,
                          headers={"Content-Type": "application/x-npy",
                                   "Accept": "application/x-npy"})
        assert r.status_code == 200, r.text
        assert np.load(io.BytesIO(r.content)).shape == (n, spec.num_classes)
