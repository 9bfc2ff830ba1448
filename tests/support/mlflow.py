"""A real MLflow tracking server (`mlflow server`, SQLite backend, artifacts served over HTTP) on
a free loopback port, started and stopped by the tests, and one `train` run tracked on it
(fixtures)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from byoc.driver.local import layout
from tests.support.data import tiny_signs
from tests.support.executables import TRAIN_EXE, exe_env
from tests.support.net import free_port


@dataclass
class MlflowServer:
    uri: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """Stop the server and its workers (uvicorn runs in a child process): the whole
        process group the server leads."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


    def kill(self) -> None:
        """Stop the server at once, as a crash would: SIGKILL to the whole group, so that no
        request after this one is answered (SIGTERM lets uvicorn finish what it has)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_server(root: Path, timeout: float = 240) -> MlflowServer:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "server.log"
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    proc = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        # No job runner: it starts a pool of workers the tests do not need.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    server = MlflowServer(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"mlflow server did not answer within {timeout} s: "
                       f"{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow.server", reason="the tracking tests need `mlflow` (the dev extra)")
    server = start_server(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


TRACKED_HPS = {"epochs": 3, "batch_size": 8, "image_size": "20", "top_k": 2, "seed": 3}


@pytest.fixture(scope="session")
def tracked_run(tmp_path_factory, mlflow_server):
    """One `train` run tracked on the server, as a SageMaker job would be (job name set)."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("tracked")
    data = tiny_signs(root / "data")
    layout.prepare(root / "opt_ml", layout.split_channel_dirs(data),
                   {k: str(v) for k, v in TRACKED_HPS.items()})
    env = exe_env(SAGEMAKER_BASE_DIR=str(root / "opt_ml"), MLFLOW_TRACKING_URI=mlflow_server.uri,
                  MLFLOW_EXPERIMENT_NAME="signs-test", TRAINING_JOB_NAME="byoc-train-test-1",
                  TRAINING_JOB_ARN="arn:aws:sagemaker:eu-west-1:123456789012:training-job/"
                                   "byoc-train-test-1",
                  BYOC_TUNING_JOB="byoc-tune-test", BYOC_IMAGE="byoc:cpu")
    result = subprocess.run([str(TRAIN_EXE)], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("signs-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return runs[0], root, result


@pytest.fixture(scope="session")
def tracked_run_on_server(tracked_run, mlflow_server):
    return tracked_run[0], mlflow_server.uri
