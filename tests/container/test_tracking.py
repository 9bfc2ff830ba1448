"""`byoc local train --image IMAGE --track URI`: the image's own MLflow client (mlflow-skinny)
logging to a real server on this machine's loopback (reached through the host network), and
to a local store mounted into the container."""

from __future__ import annotations

import pytest

from byoc import tracking_config
from byoc.cli import main
from byoc.driver import runs
from byoc.driver.local import docker, layout
from tests.support.data import tiny_signs

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_the_image_logs_a_run_to_a_server_on_the_loopback(image, mlflow_server, tmp_path,  # noqa: F811
                                                         monkeypatch):
    data = tiny_signs(tmp_path / "data")
    assert main(["local", "train", "--image", image, "--data", str(data),
                 "--output", str(tmp_path / "out"), "--track", mlflow_server.uri,
                 "--experiment", "docker-test", "--hp", "epochs=2", "--hp", "batch_size=8",
                 "--hp", "image_size=20"]) == 0
    client = runs.client(mlflow_server.uri)
    experiment = client.get_experiment_by_name("docker-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
    assert run.data.tags[tracking_config.TAG_IMAGE] == image
    assert run.data.tags[tracking_config.TAG_TRAINING_JOB] == "byoc-local"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "metrics.json"} <= names
    # The model, with its tensor signature, written by the image's client.
    import mlflow.models

    monkeypatch.setenv(tracking_config.TRACKING_URI_ENV, mlflow_server.uri)
    info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/{tracking_config.MODEL_ARTIFACT}")
    (spec,) = info.signature.inputs.inputs
    assert spec.shape == (-1, 20, 20, 3)


def test_the_image_logs_to_a_local_store_mounted_at_its_own_path(image, tmp_path):
    data = tiny_signs(tmp_path / "data")
    store = tmp_path / "mlruns"
    options = docker.tracking_options(tracking_config.job_environment(str(store), None), 1)
    options["env"][tracking_config.LOG_MODEL_ENV] = "false"  # the switch: no model upload
    assert docker.train(image, layout.split_channel_dirs(data), tmp_path / "out",
                        {"epochs": 1, "batch_size": 8, "image_size": 20}, **options) == 0
    client = runs.client(tracking_config.check_uri(str(store)))
    experiment = client.get_experiment_by_name(tracking_config.DEFAULT_EXPERIMENT)
    (run,) = client.search_runs([experiment.experiment_id])
    assert "test_accuracy" in run.data.metrics
    assert "report.md" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert client.search_logged_models(experiment_ids=[experiment.experiment_id]) == []
