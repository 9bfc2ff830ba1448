"""`IMAGE serve` with the model.tar.gz a container training run produced, over real HTTP."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import requests
from PIL import Image

from byoc import bundle
from byoc.driver.local import docker, layout
from byoc.errors import UserError

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def model_tar(container_run):
    out, code, lines = container_run
    assert code == 0, "\n".join(lines[-40:])
    return out / layout.MODEL_ARCHIVE


@pytest.fixture(scope="module")
def server(image, model_tar):
    with docker.running(image, model_tar) as running:
        yield running


@pytest.fixture(scope="module")
def sign_png(synth_data_dir) -> bytes:
    return next(p for p in sorted((synth_data_dir / "test").rglob("*")) if p.is_file()).read_bytes()


def _invoke(url: str, body: bytes, content_type: str) -> dict:
    response = requests.post(f"{url}/invocations", data=body, timeout=60,
                             headers={"Content-Type": content_type, "Accept": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


def test_ping(server):
    assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200


def test_png_and_json_of_the_same_pixels_give_the_same_prediction(server, model_tar, sign_png):
    pixels = np.asarray(Image.open(io.BytesIO(sign_png)).convert("RGB")).tolist()
    from_png = _invoke(server.url, sign_png, "image/png")["predictions"][0]
    from_json = _invoke(server.url, json.dumps({"instances": [pixels]}).encode(),
                        "application/json")["predictions"][0]
    with tarfile.open(model_tar) as tar:
        class_names = json.load(tar.extractfile(bundle.SPEC_FILE))["class_names"]
    assert from_png["label"] in class_names
    assert from_png["class_id"] == from_json["class_id"]
    assert from_png["probability"] == pytest.approx(from_json["probability"], rel=1e-5)


def test_docker_stop_is_a_graceful_shutdown(server):
    # `docker stop` sends SIGTERM and SIGKILLs after 30 s, as SageMaker does on scale-in. Exit 0
    # means gunicorn drained and exited on SIGTERM; a SIGKILL would have given 137.
    assert server.stop() == 0
    logs = server.logs()
    assert "Handling signal: term" in logs
    # Every worker stopped cleanly too: the image's gunicorn (27 and later) ends a stop with
    # murder_keepalived(force=True), which byoc's worker must accept.
    assert "Exception in worker process" not in logs and "exited with code" not in logs, logs


def test_sagemaker_bind_to_port_is_honoured(image, model_tar):
    with docker.running(image, model_tar, env={"SAGEMAKER_BIND_TO_PORT": "9123"}) as bound:
        # Only the container's 9123 is published; /ping through it proves the server bound there.
        assert requests.get(f"{bound.url}/ping", timeout=5).status_code == 200
        assert bound.container.attrs["NetworkSettings"]["Ports"].keys() == {"9123/tcp"}


def test_a_directory_that_is_no_model_is_refused_before_starting(image, tmp_path):
    with pytest.raises(UserError, match=bundle.SPEC_FILE):
        docker.start(image, tmp_path)
