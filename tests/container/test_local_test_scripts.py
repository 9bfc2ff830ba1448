"""container/local_test: train_local.sh, serve_local.sh and predict.sh with plain docker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

from tests.support.executables import REPO
from tests.support.serving import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCRIPTS = REPO / "container" / "local_test"


def _wait_for_ping(url: str, proc: subprocess.Popen, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve_local.sh exited with {proc.returncode}"
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url}/ping never answered 200")


def test_train_serve_predict_round_trip(image, synth_data_dir, tmp_path):
    test_dir = tmp_path / "test_dir"
    env = dict(os.environ, TEST_DIR=str(test_dir), PORT=str(free_port()))
    train = subprocess.run(
        [str(SCRIPTS / "train_local.sh"), image, str(synth_data_dir), "epochs=1", "seed=5"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    config = test_dir / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {"epochs": "1", "seed": "5"}
    assert set(json.loads((config / "inputdataconfig.json").read_text())) == {
        "train", "validation", "test"}
    assert (test_dir / "model" / "model.keras").is_file()
    assert (test_dir / "output" / "success").exists()

    serve = subprocess.Popen([str(SCRIPTS / "serve_local.sh"), image], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_ping(f"http://127.0.0.1:{env['PORT']}", serve)
        png = next(p for p in sorted((synth_data_dir / "test").rglob("*.png")))
        predict = subprocess.run([str(SCRIPTS / "predict.sh"), str(png)], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert predict.returncode == 0, predict.stderr
        assert "label" in json.loads(predict.stdout)["predictions"][0]
    finally:
        # The docker CLI passes SIGTERM on to the server, as `docker stop` would.
        serve.send_signal(signal.SIGTERM)
        log, _ = serve.communicate(timeout=60)
    assert serve.returncode == 0, log[-3000:]


def test_train_local_refuses_to_delete_a_directory_it_did_not_make(image, synth_data_dir,
                                                                  tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("user data")
    result = subprocess.run(
        [str(SCRIPTS / "train_local.sh"), image, str(synth_data_dir)],
        env=dict(os.environ, TEST_DIR=str(tmp_path)), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "not a test_dir" in result.stderr
    assert keep.read_text() == "user data"
