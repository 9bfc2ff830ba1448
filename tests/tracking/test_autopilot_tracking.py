"""`byoc autopilot local --track`: a parent run per search, a child per candidate, the best
pipeline as an MLflow sklearn model; and the candidate script that rebuilds the winner."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from byoc import tracking_config
from byoc.cli import main
from byoc.tabular.search_record import CANDIDATE_SCRIPT
from tests.support.executables import exe_env
from tests.support.net import free_port
from tests.support.tabular import bounded


@pytest.fixture(scope="module")
def search(tmp_path_factory, mlflow_server):
    root = tmp_path_factory.mktemp("autopilot_track")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=240) for i in range(4)})
    frame["color"] = rng.choice(["red", "green", "blue"], size=240)
    frame["y"] = np.where(frame["x0"] + 0.5 * (frame["color"] == "red") > 0, "up", "down")
    frame.to_csv(root / "t.csv", index=False)
    out = root / "out"
    assert main(["autopilot", "local", "--csv", str(root / "t.csv"), "--target", "y",
                 "--out", str(out), "--mode", "hpo", *bounded(3), "--folds", "3",
                 "--track", mlflow_server.uri, "--experiment", "tabular-test"]) == 0
    return root, out, json.loads((out / "summary.json").read_text())


def test_one_parent_run_and_one_child_per_candidate(search, mlflow_server, monkeypatch):
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient

    root, out, summary = search
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("tabular-test")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == summary["candidates_evaluated"] == 3
    with (out / "leaderboard.csv").open() as fh:
        board = {row["candidate"]: row for row in csv.DictReader(fh)}
    key = summary["objective_key"]
    for child in children:
        row = board[child.info.run_name]
        assert child.data.params["algorithm"] == row["algorithm"]
        assert f"{child.data.metrics[key]:.6g}" == row["score"]
        assert "fit_time_s" in child.data.metrics and f"{key}_std" in child.data.metrics
    assert parent.data.params["best_candidate"] == summary["best_candidate"]
    assert parent.data.metrics[f"best_{key}"] == pytest.approx(summary["metrics"][key])
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"leaderboard.csv", "summary.json", "report.md", CANDIDATE_SCRIPT} <= names

    # The best pipeline, as MLflow's sklearn flavour loads it, predicts the rows it learned.
    monkeypatch.setenv(tracking_config.TRACKING_URI_ENV, mlflow_server.uri)
    model = mlflow.sklearn.load_model(
        f"runs:/{parent.info.run_id}/{tracking_config.MODEL_ARTIFACT}")
    frame = pd.read_csv(root / "t.csv")
    predicted = model.predict(frame.drop(columns="y"))
    labels = sorted(frame["y"].unique())
    accuracy = np.mean(np.array(labels)[predicted.astype(int)] == frame["y"])
    assert accuracy > 0.8


def test_the_candidate_script_reproduces_the_cv_score(search, tmp_path):
    import joblib

    root, out, summary = search
    script = out / CANDIDATE_SCRIPT
    result = subprocess.run([sys.executable, str(script), str(root / "t.csv"),
                             str(tmp_path / "refit.joblib")], env=exe_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    key = summary["objective_key"]
    printed = result.stdout.splitlines()[0]
    assert printed.startswith(f"{key} = ")
    assert printed.split()[2] == f"{summary['metrics'][key]:.6g}"
    refit = joblib.load(tmp_path / "refit.joblib")
    assert refit["classes"] == summary["classes"]
    assert hasattr(refit["pipeline"], "predict")


def test_an_unreachable_server_costs_a_warning_without_the_credentials(search, tmp_path,
                                                                       monkeypatch, caplog):
    """Nothing listens on the port: MLflow's error quotes the URL, credentials and all."""
    root, _, _ = search
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    port = free_port()
    out = tmp_path / "out"
    # Neither notebooks nor explanations: the warning is what this run is for.
    assert main(["autopilot", "local", "--csv", str(root / "t.csv"), "--target", "y",
                 "--out", str(out), "--mode", "hpo", *bounded(1), "--no-explanations",
                 "--folds", "2",
                 "--track", f"http://byoc:s3cret-T0ken@127.0.0.1:{port}?token=s3cret-T0ken"]) \
        == 0
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert f"MLflow tracking at http://***@127.0.0.1:{port}?token=*** failed" in warned
    assert "s3cret-T0ken" not in warned and (out / "summary.json").is_file()
