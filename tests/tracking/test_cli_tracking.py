"""`byoc local train --track`, `byoc runs`, `byoc runs compare` and `byoc deploy --run`, through
the real command: real training in process mode, a real MLflow local store and a real server.
The local store holds docs/tracking.md's two runs (the `tracking_walkthrough` fixture), which the
page's own test reads too: one pair of runs, not two."""

from __future__ import annotations

import pytest

from byoc import tracking_config
from byoc.cli import main
from byoc.driver import runs as runs_module

pytestmark = pytest.mark.slow


# The tracking page's two runs, in the order they ran: the default learning rate, then 0.01.
RATES = ["0.001", "0.01"]


@pytest.fixture(scope="module")
def local_store(tracking_walkthrough):
    """Two `byoc local train --track ./mlruns` runs (no server) that differ in learning rate:
    the ones docs/tracking.md makes, in experiment `signs`."""
    store = tracking_walkthrough.store
    client = runs_module.client(tracking_config.check_uri(str(store)))  # allows the file store
    experiment = client.get_experiment_by_name("signs")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])
    return store, runs


def test_local_train_logs_to_a_local_store_without_a_server(local_store):
    store, runs = local_store
    assert [r.data.params["learning_rate"] for r in runs] == RATES
    for run in runs:
        assert run.info.status == "FINISHED"
        assert "test_accuracy" in run.data.metrics
        # Process mode: no training job, and the model's folder on this machine.
        assert tracking_config.TAG_TRAINING_JOB not in run.data.tags
        assert run.data.tags[tracking_config.TAG_MODEL_DIR].endswith("model")
    assert store.is_dir()


def test_two_runs_with_the_same_seed_get_different_names(local_store):
    """Both runs seed Python's generator alike (the default seed), which MLflow would draw its
    generated names from: byoc names the runs itself."""
    _, runs = local_store
    names = [r.info.run_name for r in runs]
    assert len(set(names)) == 2, names
    assert all(name.startswith("train-") for name in names), names


def test_runs_lists_the_experiment_sorted_by_a_metric(local_store, capsys):
    store, runs = local_store
    assert main(["runs", "--track", str(store), "--experiment", "signs",
                 "--sort", "val_loss"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[:3] == ["run", "date", "learning_rate"] and "val_loss" in header
    assert "val" in header and "test" in header  # "val acc", "test acc"
    listed = [line.split()[0] for line in out[2:]]
    by_loss = sorted(runs, key=lambda r: r.data.metrics["val_loss"])
    assert listed == [r.info.run_id for r in by_loss]


def test_runs_compare_shows_what_differs(local_store, capsys):
    store, runs = local_store
    assert main(["runs", "compare", "--track", str(store),
                 *(r.info.run_id for r in runs)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:] if line.strip()}
    assert rows["learning_rate"] == RATES
    assert rows["test_accuracy"] == [f"{r.data.metrics['test_accuracy']:.4g}" for r in runs]
    assert "epochs" not in rows  # the same in both: summed up, not listed
    assert "other hyperparameter(s) are the same" in out


def test_runs_bad_input_gets_clear_errors(local_store, capsys, monkeypatch):
    store, runs = local_store
    monkeypatch.delenv(tracking_config.TRACKING_URI_ENV, raising=False)
    assert main(["runs"]) == 2
    assert "Pass --track URI" in capsys.readouterr().err
    assert main(["runs", "--track", str(store), "--experiment", "nope"]) == 2
    assert "No experiment named 'nope'" in capsys.readouterr().err
    assert main(["runs", "--track", str(store), "--experiment", "signs",
                 "--sort", "f1"]) == 2
    assert "no run has a metric 'f1'" in capsys.readouterr().err
    assert main(["runs", "compare", "--track", str(store), runs[0].info.run_id,
                 "0" * 32]) == 2
    assert f"No run '{'0' * 32}'" in capsys.readouterr().err


def test_runs_lists_a_server_experiment_with_links(tracked_run_on_server, capsys):
    run, uri = tracked_run_on_server
    assert main(["runs", "--track", uri, "--experiment", "signs-test"]) == 0
    out = capsys.readouterr().out
    assert run.info.run_id in out
    assert f"{uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}" in out


def test_runs_links_do_not_show_the_credentials_of_the_uri(tracked_run_on_server, capsys):
    run, uri = tracked_run_on_server
    with_token = uri.replace("http://", "http://byoc:s3cret-T0ken@")  # the server ignores it
    assert main(["runs", "--track", with_token, "--experiment", "signs-test"]) == 0
    out = capsys.readouterr().out
    assert run.info.run_id in out and "s3cret-T0ken" not in out
    assert uri.replace("http://", "http://***@") in out


@pytest.mark.aws
def test_deploy_run_of_a_local_run_says_where_its_model_is(local_store, moto_endpoint,
                                                          role_arn, capsys):
    store, runs = local_store
    code = main(["deploy", "--run", runs[0].info.run_id, "--track", str(store),
                 "--endpoint-name", "from-run", "--role", role_arn])
    assert code == 2
    err = capsys.readouterr().err
    assert "was trained locally" in err and "byoc local serve --model" in err


@pytest.mark.aws
def test_deploy_run_follows_the_training_job_tag(tracked_run_on_server, moto_endpoint,
                                                 role_arn, capsys):
    """The run's tag names its training job; moto has no such job, and says so."""
    run, uri = tracked_run_on_server
    code = main(["deploy", "--run", run.info.run_id, "--track", uri,
                 "--endpoint-name", "from-run", "--role", role_arn])
    assert code == 2
    assert "No training job named 'byoc-train-test-1'" in capsys.readouterr().err
