"""The real `train` executable logging to a real MLflow server (SQLite backend, HTTP artifacts).

Nothing is mocked: TensorFlow trains a tiny model for a few epochs, and the tests read the run
back through MLflow's own client, as a user's notebook would.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from byoc import hyperparams, tracking_config
from byoc.driver.local import layout
from tests.support.data import tiny_signs
from tests.support.executables import TRAIN_EXE, exe_env
from tests.support.mlflow import TRACKED_HPS, start_server

pytestmark = pytest.mark.slow

def test_the_run_holds_params_metric_history_and_tags(tracked_run, mlflow_server):
    from mlflow.tracking import MlflowClient

    run, _, _ = tracked_run
    client = MlflowClient(mlflow_server.uri)
    expected = hyperparams.parse({k: str(v) for k, v in TRACKED_HPS.items()}).as_strings()
    assert run.data.params == expected
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] \
        == [1, 2, 3]
    for name in ("test_accuracy", "test_loss", "final_val_accuracy", "final_val_top_k_accuracy",
                 "val_top_k_accuracy", "train_top_k_accuracy"):
        assert name in run.data.metrics, name
    assert 0 <= run.data.metrics["test_accuracy"] <= 1
    tags = run.data.tags
    assert tags[tracking_config.TAG_TRAINING_JOB] == "byoc-train-test-1"
    assert tags["mlflow.runName"] == "byoc-train-test-1"
    assert tags[tracking_config.TAG_TUNING_JOB] == "byoc-tune-test"
    assert tags[tracking_config.TAG_IMAGE] == "byoc:cpu"
    assert tags[tracking_config.TAG_HOST].startswith("algo-1")
    assert run.info.status == "FINISHED"


def test_a_tracked_run_prints_no_tensorflow_error_lines(tracked_run):
    """Logging the model must not cost an E0000 line (tf.data's rewrite of Keras's array
    pipeline under op determinism logged one about `use_unbounded_threadpool`)."""
    _, _, result = tracked_run
    errors = [line for line in result.stderr.splitlines() if line.startswith("E0000 ")]
    assert errors == []
    assert "use_unbounded_threadpool" not in result.stderr + result.stdout


def test_the_run_holds_the_report_files(tracked_run, mlflow_server):
    from mlflow.tracking import MlflowClient

    run, root, _ = tracked_run
    names = {a.path for a in MlflowClient(mlflow_server.uri).list_artifacts(run.info.run_id)}
    assert {"report.md", "metrics.json"} <= names
    made = {p.name for p in (root / "opt_ml/output/data").glob("*.png")}
    assert made and made <= names


def test_the_logged_model_loads_with_mlflow_and_predicts_as_the_bundle(
        tracked_run, mlflow_server, monkeypatch):
    import mlflow.pyfunc

    from byoc.bundle import keras_io

    run, root, _ = tracked_run
    served, _ = keras_io.load(root / "opt_ml/model")
    x = np.stack([np.asarray(Image.open(p), dtype=np.float32)
                  for p in sorted((root / "data/test").rglob("*.png"))])
    monkeypatch.setenv(tracking_config.TRACKING_URI_ENV, mlflow_server.uri)
    logged = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/{tracking_config.MODEL_ARTIFACT}")
    (spec,) = logged.metadata.signature.inputs.inputs
    assert spec.name == "image" and spec.shape == (-1, 20, 20, 3)
    np.testing.assert_allclose(np.asarray(logged.predict(x)), served.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_server_that_stops_mid_training_costs_a_warning_not_the_job(tmp_path):
    """And no line of the log shows the credentials in the tracking URI (the server does not
    check them), not even the errors MLflow raises, which quote the request's URL."""
    server = start_server(tmp_path / "server")
    secret = "s3cret-T0ken"
    data = tiny_signs(tmp_path / "data")
    layout.prepare(tmp_path / "opt_ml", layout.split_channel_dirs(data),
                   {k: str(v) for k, v in {**TRACKED_HPS, "epochs": 4}.items()})
    uri = server.uri.replace("http://", f"http://byoc:{secret}@")
    env = exe_env(SAGEMAKER_BASE_DIR=str(tmp_path / "opt_ml"), MLFLOW_TRACKING_URI=uri,
                  MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    proc = subprocess.Popen([str(TRAIN_EXE)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("#metrics epoch=1 "):
                server.kill()  # the first epoch reached the server; the rest cannot
        code = proc.wait(timeout=600)
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    assert code == 0, out[-4000:]
    assert "MLflow tracking at" in out and "failed" in out
    assert secret not in out and server.uri.replace("http://", "http://***@") in out
    # The last warning names what was lost, epochs and files included.
    lost = next(line for line in lines if "not logged, after retries" in line)
    assert "the metrics of steps 2-4" in lost and "report.md" in lost
    assert (tmp_path / "opt_ml/output/data/metrics.json").is_file()
    assert (tmp_path / "opt_ml/model").is_dir()


def test_without_a_tracking_uri_nothing_is_imported(tmp_path, monkeypatch):
    """The trainer itself: no MLFLOW_TRACKING_URI, no MLflow module loaded, no warning."""
    monkeypatch.delenv(tracking_config.TRACKING_URI_ENV, raising=False)
    code = ("import sys, logging; from byoc.training.mlflow_run import Tracker; "
            "print(Tracker.start(None, None), 'mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=exe_env(), capture_output=True,
                         text=True, check=True).stdout
    assert out.split()[-2:] == ["None", "False"]

