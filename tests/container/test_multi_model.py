"""The multi-model API in the serving-only image (LiteRT, no TensorFlow), as SageMaker runs it:
the capability label, SAGEMAKER_MULTI_MODEL=true, and the bundles below /opt/ml/models.

Short on purpose: tests/contract/test_multi_model.py covers the API in depth with the same `serve`.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests

from byoc.driver.local import docker
from byoc.serving import runtime as runtimes
from byoc.serving.predictor import Predictor
from tests.support.serving import fill_models_root

pytestmark = [pytest.mark.docker]

MODELS = ("signs", "three", "three-copy")


@pytest.fixture(scope="module")
def models_root(tmp_path_factory, trained_model_dir, three_class_model_dir):
    return fill_models_root(tmp_path_factory.mktemp("mme") / "models", trained_model_dir,
                            three_class_model_dir)


def _npy(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()


def test_the_image_serves_several_models_on_one_endpoint(engine, serving_image, models_root):
    assert engine.images.get(serving_image).labels[
        "com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    with docker.running(serving_image, models_root, multi_model=True,
                        env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}) as server:
        url = server.url
        assert requests.get(f"{url}/models", timeout=10).json() == {"models": []}
        for name in MODELS:  # the url as SageMaker sends it: where it extracted model.tar.gz
            loaded = requests.post(f"{url}/models", timeout=120, json={
                "model_name": name, "url": f"/opt/ml/models/{name}"})
            assert loaded.status_code == 200, loaded.text + server.logs()[-3000:]
        again = requests.post(f"{url}/models", json={"model_name": "three", "url": "three"},
                              timeout=30)
        assert again.status_code == 409

        for name in MODELS:
            want = Predictor.load(models_root / name, runtime=runtimes.LITERT).predict(batch)
            for _ in range(4):  # both workers
                got = requests.post(f"{url}/models/{name}/invoke", data=_npy(batch), timeout=60,
                                    headers={"Content-Type": "application/x-npy",
                                             "Accept": "application/x-npy",
                                             "X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz"})
                assert got.status_code == 200, got.text
                np.testing.assert_allclose(np.load(io.BytesIO(got.content)), want, atol=1e-6)

        page = requests.get(f"{url}/models", params={"limit": 2}, timeout=10).json()
        assert [m["modelName"] for m in page["models"]] == ["signs", "three"]
        rest = requests.get(f"{url}/models", timeout=10, params={
            "limit": 2, "next_page_token": page["nextPageToken"]}).json()
        assert rest == {"models": [{"modelName": "three-copy",
                                    "modelUrl": "/opt/ml/models/three-copy"}]}

        assert requests.delete(f"{url}/models/three-copy", timeout=30).status_code == 200
        assert requests.post(f"{url}/models/three-copy/invoke", data=_npy(batch), timeout=10,
                             headers={"Content-Type": "application/x-npy"}).status_code == 404
        assert requests.get(f"{url}/models/three-copy", timeout=10).status_code == 404
        outside = requests.post(f"{url}/models", json={"model_name": "x", "url": "/etc"},
                                timeout=10)
        assert outside.status_code == 400 and "outside the models root" in outside.text
        assert "X-Amzn-SageMaker-Target-Model: signs.tar.gz" in server.logs()
