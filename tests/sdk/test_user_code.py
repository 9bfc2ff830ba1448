"""The user's own code in the CPU image, driven by the SageMaker Python SDK as a user drives it.

SDK 2.x local mode (Docker Compose, one container per host, the source directory mounted at
/opt/ml/code, `sagemaker_program` and `sagemaker_submit_directory` as JSON strings):
- examples/keras_script: `Estimator(entry_point="train.py", source_dir=...)`, then
  `Model(entry_point="inference.py")` deployed and asked for predictions, and a batch transform;
- a script on two hosts that joins them with MultiWorkerMirroredStrategy from `TF_CONFIG`;
- examples/cost_sensitive: byoc's trainer on the user's model and loss, on two hosts.
SDK 3.x: `ModelTrainer(source_code=SourceCode(...))` against moto, whose request (the SDK's own
driver scripts as a `sm_drivers` channel and a bash entry point) is then replayed in Docker.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

from byoc.bundle import CODE_DIR, ModelSpec
from tests.support.executables import REPO
from tests.support.net import free_port
from tests.support.sdk import SCRIPTS, run_sdk_script

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLES = REPO / "examples"


def _model_files(result: dict, into: Path) -> Path:
    uri = result["model_data"]
    assert uri.startswith("file://"), uri
    with tarfile.open(urlparse(uri).path) as tar:
        tar.extractall(into, filter="data")
    return into


def _train_logs(run) -> list[str]:
    """The logs of the training containers (the serving ones run gunicorn)."""
    return [c["log"] for c in run.containers if "gunicorn" not in c["log"]]


@pytest.fixture(scope="module")
def script_run(engine, image, compose, sdk2_python, sdk_data, tmp_path_factory):
    """examples/keras_script under SDK 2.x local mode: fit, deploy, predict three PNGs,
    transform the same three, delete the endpoint."""
    cwd = tmp_path_factory.mktemp("sdk2_user_script")
    source = shutil.copytree(EXAMPLES / "keras_script", cwd / "source")
    run = run_sdk_script(engine, sdk2_python, SCRIPTS / "local_user_code.py", image,
                         str(sdk_data), str(source), "1", str(cwd / "out"), "epochs=1",
                         "batch-size=32", cwd=cwd, timeout=600,
                         env={"DEPLOY": "1", "SERVING_PORT": str(free_port())})
    return run, cwd


def test_the_users_script_trains_and_saves_its_model(script_run):
    run, cwd = script_run
    result = run.check()
    assert "error" not in result, result["error"] + run.output[-4000:]
    assert len(_train_logs(run)) == 1, run.containers
    for container in run.containers:
        assert (container["status"], container["exit_code"]) == ("exited", 0), container["log"]
    # The script ran, not byoc's trainer.
    assert "train: " in run.output and "saved model.keras and classes.json" in run.output
    assert "Ignoring SageMaker hyperparameter sagemaker_program" not in run.output
    model = _model_files(result, cwd / "model")
    assert {"model.keras", "classes.json"} <= {p.name for p in model.iterdir()}


# Joins the hosts as a course-style script does (TF_CONFIG, set by byoc), sums the host indexes
# across them, and writes what it saw; then waits for the other host, so that each has written
# before either exits (SDK local mode stops every container once one has exited).
TWO_HOSTS = """\
import json
import os
from pathlib import Path

import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(float(index))), axis=None)
host = os.environ["SM_CURRENT_HOST"]
Path(os.environ["SM_MODEL_DIR"], f"{host}.json").write_text(json.dumps({
    "index": index, "sum": float(total), "workers": strategy.num_replicas_in_sync,
    "hosts": json.loads(os.environ["SM_HOSTS"]), "epochs": os.environ["SM_HP_EPOCHS"]}))
strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)  # all have written
print(f"{host} done", flush=True)
"""


def test_a_users_script_on_two_hosts_joins_them_through_tf_config(engine, image, compose,
                                                                  sdk2_python, sdk_data,
                                                                  tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "train.py").write_text(TWO_HOSTS)
    run = run_sdk_script(engine, sdk2_python, SCRIPTS / "local_user_code.py", image,
                         str(sdk_data), str(source), "2", str(tmp_path / "out"), "epochs=3",
                         cwd=tmp_path, timeout=600)
    result = run.check()
    assert "error" not in result, result["error"] + run.output[-4000:]
    assert len(_train_logs(run)) == 2, run.containers
    model = _model_files(result, tmp_path / "model")
    seen = {p.stem: json.loads(p.read_text()) for p in model.glob("*.json")}
    assert len(seen) == 2, seen
    hosts = sorted(seen)
    for host, what in seen.items():
        assert what["hosts"] == hosts and what["index"] == hosts.index(host)
        assert (what["sum"], what["workers"], what["epochs"]) == (1.0, 2, "3")
    for container in run.containers:
        # Both finished; one may be stopped while it exits, by Compose, once the other has.
        assert container["status"] == "exited", container
        assert container["exit_code"] == 0 or "done" in container["log"], container["log"]


def test_the_users_handlers_answer_the_endpoint_and_the_transform(script_run):
    run, cwd = script_run
    result = run.check()
    assert "error" not in result, result["error"]
    classes = json.loads((_model_files(result, cwd / "model-h") / "classes.json").read_text())
    answers = {}
    for item in result["predictions"]:
        [prediction] = item["answer"]["predictions"]  # inference.py's output_fn
        assert prediction["class"] in classes
        assert 0.0 <= prediction["probability"] <= 1.0
        answers[Path(item["file"]).name] = prediction
    assert len(answers) == 3
    # The same images through a batch transform: the same handlers, the same answers.
    transformed = {name.removesuffix(".out"): body["predictions"][0]
                   for name, body in result["transform"].items()}
    assert transformed.keys() == answers.keys()
    for name, prediction in transformed.items():
        assert prediction["class"] == answers[name]["class"]
        assert prediction["probability"] == pytest.approx(answers[name]["probability"],
                                                          rel=1e-4)


def test_byocs_trainer_builds_the_users_model_on_two_hosts(engine, image, compose, sdk2_python,
                                                           sdk_data, tmp_path):
    source = shutil.copytree(EXAMPLES / "cost_sensitive", tmp_path / "source")
    run = run_sdk_script(engine, sdk2_python, SCRIPTS / "local_user_code.py", image,
                         str(sdk_data), str(source), "2", str(tmp_path / "out"), "epochs=1",
                         "batch_size=32", "model=model:build_model",
                         "loss=loss:cost_sensitive_loss", "dropout=0.2", cwd=tmp_path,
                         timeout=600, env={"ENTRY_POINT": "model.py"})
    result = run.check()
    assert "error" not in result, result["error"] + run.output[-4000:]
    assert len(_train_logs(run)) == 2, run.containers
    for container in run.containers:
        assert (container["status"], container["exit_code"]) == ("exited", 0), container["log"]
    assert "Using your model model:build_model and loss loss:cost_sensitive_loss" in run.output
    # The two hosts trained one model together (MultiWorkerMirroredStrategy over SM_HOSTS).
    assert "MultiWorkerMirroredStrategy" in run.output, run.output[-4000:]
    model = _model_files(result, tmp_path / "model")
    spec = ModelSpec.read(model)
    assert (spec.architecture, spec.loss) == ("model:build_model", "loss:cost_sensitive_loss")
    assert sorted(p.name for p in (model / CODE_DIR).iterdir()) == [
        "cost_matrix.csv", "loss.py", "model.py"]


def test_sdk3_model_trainer_runs_the_users_script_through_its_own_drivers(
        engine, image, compose, sdk3_python, sdk_data, tmp_path):
    """SDK 3.x brings its own driver scripts (channel `sm_drivers`) and runs the image with
    `/bin/bash -c ... sm_train.sh` instead of `train`: the image must offer bash, and a python3
    with TensorFlow and pip first on PATH, as the framework images do."""
    source = shutil.copytree(EXAMPLES / "keras_script", tmp_path / "source")
    run = run_sdk_script(engine, sdk3_python, SCRIPTS / "local_model_trainer.py", image,
                         str(sdk_data), str(source), "1", str(tmp_path / "tmp" / "root"),
                         "epochs=1", "batch-size=32", cwd=tmp_path, timeout=600)
    result = run.check()
    assert "error" not in result, result["error"] + run.output[-4000:]
    [container] = run.containers
    assert (container["status"], container["exit_code"]) == ("exited", 0), container["log"]
    assert "train: " in run.output and "saved model.keras and classes.json" in run.output
    model = _model_files({"model_data": Path(result["model_data"]).as_uri()},
                         tmp_path / "model")
    assert {"model.keras", "classes.json"} <= {p.name for p in model.iterdir()}
