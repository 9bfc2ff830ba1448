"""Two real `train` processes on this machine training together over loopback, without Docker.

Each has its own /opt/ml naming both hosts in resourceconfig.json; a TF_CONFIG set in the
environment (two ports on 127.0.0.1, as two hosts on one machine need) wins over the derived one.
One two-host job (the user's model and loss, streamed) serves the tests of a job that succeeds;
the faults each need a job of their own.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from byoc import bundle, contract
from byoc.driver.local import layout
from tests.support.data import tiny_folders
from tests.support.executables import REPO, TRAIN_EXE, exe_env

HOSTS = ["algo-1", "algo-2"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


def _start_hosts(tmp_path, channels, hps) -> list[subprocess.Popen]:
    """One real `train` per host of HOSTS, each with its own /opt/ml under tmp_path, and a
    TF_CONFIG of two ports on loopback."""
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index, host in enumerate(HOSTS):
        layout.prepare(tmp_path / host, channels, hps, current_host=host, hosts=HOSTS)
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            [str(TRAIN_EXE)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=exe_env(SAGEMAKER_BASE_DIR=str(tmp_path / host), TF_CONFIG=json.dumps(tf_config))))
    return procs


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    """byoc's trainer with examples/cost_sensitive on two hosts, streamed: each host builds the
    user's model and loss from the source directory, and the hosts split the file list between
    them (FullyReplicated). Its /opt/ml paths (chief, worker) and their logs."""
    tmp = tmp_path_factory.mktemp("two_hosts")
    # 43 classes, as the example's cost matrix has, and few images: the evaluation report and
    # the LiteRT check cost per image.
    data = tiny_folders(tmp / "data", classes=43, per_class=4)
    source = shutil.copytree(REPO / "examples" / "cost_sensitive", tmp / "source")
    hps = {"epochs": 2, "batch_size": 8, "input_mode": "stream", "model": "model:build_model",
           "loss": "loss:cost_sensitive_loss", "sagemaker_submit_directory": str(source)}
    procs = _start_hosts(tmp, {"train": data}, hps)
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    return [contract.Paths(tmp / h) for h in HOSTS], logs


@pytest.mark.slow
def test_two_processes_train_one_model(two_hosts):
    (chief, worker), logs = two_hosts
    for log in logs:
        assert "TF_CONFIG is set in the environment; using it" in log
        assert "8 per replica, 16 global (2 replica(s))" in log
        assert "Streaming the channels: input_mode=stream" in log
    assert (chief.model_dir / bundle.MODEL_FILE).exists()
    assert not any(worker.model_dir.iterdir()) and not any(worker.output_data_dir.iterdir())
    assert chief.success_file.exists() and worker.success_file.exists()
    assert (chief.checkpoint_dir / "state.json").exists()
    assert not any(worker.checkpoint_dir.iterdir())
    # Both hosts saw the same all-reduced metrics; only the chief printed them.
    assert logs[0].count("#metrics epoch=") == 2 and "#metrics" not in logs[1]
    assert "The chief (algo-1) wrote the model and the report" in logs[1]


@pytest.mark.slow
def test_two_processes_train_the_users_model_with_its_loss(two_hosts):
    """Each host builds the user's model from the source directory, and the chief's bundle
    carries the code."""
    (chief, worker), logs = two_hosts
    for log in logs:
        assert "Using your model model:build_model and loss loss:cost_sensitive_loss" in log
    spec = bundle.ModelSpec.read(chief.model_dir)
    assert spec.code_modules == ["model"] and spec.litert_model == bundle.LITERT_FILE
    assert (chief.model_dir / bundle.CODE_DIR / "model.py").is_file()
    assert not any(worker.model_dir.iterdir())


@pytest.mark.slow
def test_sigterm_on_one_host_stops_both_after_the_same_step(tmp_path):
    """Several steps per call: the worker alone gets SIGTERM, its vote reaches the chief with
    the next call, and both stop after that call's first step, in time, the chief with a
    checkpoint of its whole epochs."""
    data = tiny_folders(tmp_path / "data", classes=3, per_class=40)
    procs = _start_hosts(tmp_path, {"train": data},
                         {"epochs": 500, "batch_size": 2, "early_stopping_patience": 0,
                          "steps_per_execution": 4})
    chief_log = []
    for line in procs[0].stdout:  # wait until training is under way
        chief_log.append(line)
        if line.startswith("#metrics epoch=1 "):
            break
    procs[1].send_signal(signal.SIGTERM)
    sent = time.monotonic()
    rest = [p.communicate(timeout=120)[0] for p in procs]  # SIGKILL comes 120 s after SIGTERM
    logs = ["".join(chief_log) + rest[0], rest[1]]
    assert [p.returncode for p in procs] == [contract.EXIT_TERMINATED] * 2, \
        logs[0][-3000:] + logs[1][-3000:]
    assert time.monotonic() - sent < 120
    assert "SIGTERM received" in logs[1] and "SIGTERM received" not in logs[0]
    where = [re.findall(r"Stopped after step (\d+) of (\d+) of epoch (\d+)", log) for log in logs]
    assert len(where[0]) == 1 and where[0] == where[1], where
    chief = contract.Paths(tmp_path / "algo-1")
    state = json.loads((chief.checkpoint_dir / "state.json").read_text())
    assert 1 <= state["epoch"] < 500
    assert len(re.findall(r"#metrics epoch=(\d+)", logs[0])) == state["epoch"]
    for host in HOSTS:
        assert not contract.Paths(tmp_path / host).failure_file.exists(), host


def test_process_mode_runs_one_host_and_says_how_to_run_more(tmp_path, capsys):
    from byoc.cli import main

    data = tiny_folders(tmp_path / "data", classes=2, per_class=2)
    code = main(["local", "train", "--data", str(data), "--output", str(tmp_path / "run"),
                 "--instance-count", "2"])
    assert code == 2
    assert ("--instance-count, --cpus-per-instance, --memory-per-instance and --distribution "
            "need --image") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was laid out
    code = main(["local", "train", "--data", str(data), "--output", str(tmp_path / "run"),
                 "--memory-per-instance", "1g"])
    assert code == 2 and "--memory-per-instance" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: "must be at least 1"
        main(["local", "train", "--data", str(data), "--output", str(tmp_path / "run"),
              "--instance-count", "0"])


@pytest.mark.slow
def test_a_host_that_never_starts_fails_the_job_with_a_reason(tmp_path):
    data = tiny_folders(tmp_path / "data", classes=2, per_class=4)
    ports = _free_ports(2)
    layout.prepare(tmp_path / "algo-1", {"train": data}, {"epochs": 1},
                   current_host="algo-1", hosts=HOSTS)
    # Worker 1's address resolves (loopback), but nothing ever listens there.
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                 "task": {"type": "worker", "index": 0}}
    result = subprocess.run(
        [str(TRAIN_EXE)], capture_output=True, text=True, timeout=300,
        env=exe_env(SAGEMAKER_BASE_DIR=str(tmp_path / "algo-1"), TF_CONFIG=json.dumps(tf_config),
                    BYOC_PEER_TIMEOUT="5"))
    assert result.returncode == 1, result.stdout[-3000:]
    reason = contract.Paths(tmp_path / "algo-1").failure_file.read_text()
    assert "Not every host of this job joined within 5 s" in reason
    assert "BYOC_PEER_TIMEOUT" in reason
