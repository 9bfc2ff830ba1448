"""224×224 end to end: the real `train` at that size, its LiteRT export, and the real `serve`
as batch transform runs it (SAGEMAKER_BATCH), with the resize and the instance cap holding.

Kept tiny (two colour classes, a few dozen images, one epoch): what is checked is that every
stage takes the size, not accuracy.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests

from byoc import contract
from byoc.bundle import LITERT_FILE, ModelSpec
from byoc.serving import runtime as runtimes
from tests.support.data import tiny_folders
from tests.support.executables import run_train
from tests.support.payloads import npy_bytes, png_bytes
from tests.support.serving import ServeProcess

pytestmark = pytest.mark.slow

SIZE = 224
CAP = 8  # instances per request, a small cap to see it hold


def test_224_trains_exports_to_litert_and_serves_batch_transform(tmp_path):
    data = tiny_folders(tmp_path / "data", classes=2, per_class=16, size=48)
    root = tmp_path / "ml"
    result = run_train(root, {"train": data},
                       {"image_size": SIZE, "epochs": 1, "batch_size": 8, "seed": 1, "top_k": 2})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    paths = contract.Paths(root)
    spec = ModelSpec.read(paths.model_dir)
    assert spec.input_shape == (SIZE, SIZE, 3)
    assert spec.litert_model == LITERT_FILE and spec.litert_check["top1_agreement"] == 1.0

    env = {contract.BATCH_ENV: "true", contract.MAX_PAYLOAD_ENV: "6",
           contract.MAX_INSTANCES_ENV: str(CAP)}
    with ServeProcess(paths.model_dir, tmp_path / "serve", env) as server:
        url = f"{server.url}/invocations"
        params = requests.get(f"{server.url}/execution-parameters", timeout=10).json()
        assert params["MaxPayloadInMB"] == 6 and params["BatchStrategy"] == "MULTI_RECORD"

        # A photo of another size is resized to 224×224, on the LiteRT runtime.
        photo = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
        r = requests.post(url, data=png_bytes(photo), headers={"Content-Type": "image/png"},
                          timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers[runtimes.RUNTIME_HEADER] == runtimes.LITERT
        assert len(r.json()["predictions"][0]["top_k"]) == 2

        # A full batch of records at the model's size, as a MULTI_RECORD batch holds them.
        batch = np.random.default_rng(1).integers(0, 256, (CAP, SIZE, SIZE, 3), dtype=np.uint8)
        r = requests.post(url, data=npy_bytes(batch), timeout=60,
                          headers={"Content-Type": "application/x-npy",
                                   "Accept": "application/x-npy"})
        assert r.status_code == 200, r.text
        probs = np.load(io.BytesIO(r.content))
        assert probs.shape == (CAP, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)

        # One more is refused before any is decoded, with what to do.
        over = np.concatenate([batch, batch[:1]])
        r = requests.post(url, data=npy_bytes(over), timeout=60,
                          headers={"Content-Type": "application/x-npy"})
        assert r.status_code == 413
        assert f"at most {CAP}" in r.text and contract.MAX_INSTANCES_ENV in r.text
        # The server is still there for the next request.
        assert requests.get(f"{server.url}/ping", timeout=10).status_code == 200
