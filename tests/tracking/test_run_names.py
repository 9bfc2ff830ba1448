"""The names of tracked runs: byoc names each run itself. MLflow would draw a generated name from
Python's global random generator, which the trainer seeds before the run is created, so every
run with the same seed got the same name.

The real Tracker and a real MLflow file store; no training is needed for a name.
"""

from __future__ import annotations

import pytest

from byoc import contract, hyperparams, tracking_config
from byoc.driver.local import layout
from tests.support.data import tiny_signs


@pytest.fixture
def env(tmp_path) -> contract.TrainingEnv:
    data = tiny_signs(tmp_path / "data")
    layout.prepare(tmp_path / "opt_ml", layout.split_channel_dirs(data), {"seed": "3"})
    return contract.TrainingEnv.read(tmp_path / "opt_ml")


def _seeded_run_name(env: contract.TrainingEnv) -> str:
    import keras
    from mlflow.tracking import MlflowClient

    from byoc.training.mlflow_run import Tracker

    hp = hyperparams.parse(env.hyperparameters)
    keras.utils.set_random_seed(hp.seed)  # as the trainer does before the run is created
    tracker = Tracker.start(env, hp)
    assert tracker is not None and tracker.run_id
    return MlflowClient(tracker.uri).get_run(tracker.run_id).info.run_name


def test_two_local_runs_with_the_same_seed_get_different_names(env, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    for name in (tracking_config.TRAINING_JOB_ENV, tracking_config.TRAINING_JOB_ARN_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(tracking_config.TRACKING_URI_ENV,
                       tracking_config.check_uri(str(tmp_path / "mlruns")))
    monkeypatch.setenv(tracking_config.ALLOW_FILE_STORE_ENV, "true")
    first, second = _seeded_run_name(env), _seeded_run_name(env)
    assert first != second
    assert first.startswith("train-") and second.startswith("train-")


def test_a_sagemaker_job_names_its_run(env, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv(tracking_config.TRAINING_JOB_ENV, "signs-7")
    monkeypatch.setenv(tracking_config.TRAINING_JOB_ARN_ENV,
                       "arn:aws:sagemaker:eu-west-1:123456789012:training-job/signs-7")
    monkeypatch.setenv(tracking_config.TRACKING_URI_ENV,
                       tracking_config.check_uri(str(tmp_path / "mlruns")))
    monkeypatch.setenv(tracking_config.ALLOW_FILE_STORE_ENV, "true")
    assert _seeded_run_name(env) == "signs-7"
