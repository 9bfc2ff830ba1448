"""The user's own training script under the real `train`, as SageMaker's training toolkit runs it:
the SM_* environment and arguments, every kind of entry point and source location, pip, the exit
code, the failure file, SIGTERM, and the rule that leaves MODULE:FUNCTION to byoc's trainer.

The scripts are written by each test and train nothing, so a run takes about a second.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from byoc import contract
from byoc.driver.local import layout
from tests.support import venv
from tests.support.executables import TRAIN_EXE, exe_env, run_train

# What the SDK writes for entry_point="train.py": every value a JSON-encoded string.
PROGRAM = {"sagemaker_program": json.dumps("train.py")}

# Writes what the script was given to SM_MODEL_DIR/seen.json.
REPORTING_SCRIPT = """\
import json, os, sys
seen = {"argv": sys.argv[1:], "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("SM_") or k in ("PYTHONUNBUFFERED", "TF_CONFIG", "CURRENT_HOST",
                                                "SAGEMAKER_JOB_NAME")}}
print("script: training on", os.environ["SM_CHANNEL_TRAIN"])
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
"""


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return directory


def _channels(tmp_path: Path, *names: str) -> dict[str, Path]:
    channels = {}
    for name in names or ("train",):
        channels[name] = _write(tmp_path / "data" / name, {"0/a.txt": "x"})
    return channels


def _job(tmp_path: Path, files: dict[str, str], hps: dict[str, str], *,
         where: str = "path", **prepare) -> Path:
    """Lay out /opt/ml under tmp_path/ml with the code in `files`, named as `where` says."""
    code = _write(tmp_path / "src", files)
    root = tmp_path / "ml"
    hps = dict(hps)
    if where == "path":
        hps["sagemaker_submit_directory"] = json.dumps(str(code))
    elif where == "file-url":
        hps["sagemaker_submit_directory"] = json.dumps(f"file://{code}")
    elif where == "tar":
        archive = tmp_path / "sourcedir.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(code.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(code)), recursive=False)
        hps["sagemaker_submit_directory"] = json.dumps(f"file://{archive}")
    channels = prepare.pop("channels", None) or _channels(tmp_path)
    paths = layout.prepare(root, channels, hps, **prepare)
    if where == "code-dir":  # SDK local mode: the source_dir mounted at /opt/ml/code
        code.rename(paths.code_dir)
    return root


def _train(root: Path, bin_dir: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
    env = exe_env(SAGEMAKER_BASE_DIR=str(root), **extra)
    if bin_dir is not None:
        env = venv.env(bin_dir, env)
    return subprocess.run([str(TRAIN_EXE)], env=env, capture_output=True, text=True, timeout=300)


def _failure(root: Path) -> str:
    return contract.Paths(root).failure_file.read_text()


def _succeeded(root: Path, result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    paths = contract.Paths(root)
    assert paths.success_file.exists() and not paths.failure_file.exists()


@pytest.mark.parametrize("where", ["path", "file-url", "tar", "code-dir"])
def test_a_script_gets_the_toolkits_environment_and_arguments(tmp_path, where):
    hps = {**PROGRAM, "epochs": "3", "learning-rate": "0.01", "augment": "true",
           "optimizer": json.dumps("adam"), "sagemaker_job_name": json.dumps("job-7"),
           "sagemaker_container_log_level": "20"}
    root = _job(tmp_path, {"train.py": REPORTING_SCRIPT}, hps, where=where,
                channels=_channels(tmp_path, "train", "validation"))
    result = run_train(root)
    _succeeded(root, result)
    paths = contract.Paths(root)
    seen = json.loads((paths.model_dir / "seen.json").read_text())
    # Hyperparameters decoded from the SDK's JSON, sorted, `--key value`; sagemaker_* left out.
    assert seen["argv"] == ["--augment", "True", "--epochs", "3", "--learning-rate", "0.01",
                            "--optimizer", "adam"]
    env = seen["env"]
    assert json.loads(env["SM_USER_ARGS"]) == seen["argv"]
    assert json.loads(env["SM_HPS"]) == {"augment": True, "epochs": 3, "learning-rate": 0.01,
                                         "optimizer": "adam"}
    assert env["SM_HP_EPOCHS"] == "3" and env["SM_HP_OPTIMIZER"] == "adam"
    assert env["SM_MODEL_DIR"] == str(paths.model_dir)
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_CHANNEL_TRAIN"] == str(paths.data_dir / "train")
    assert env["SM_CHANNEL_VALIDATION"] == str(paths.data_dir / "validation")
    assert env["SM_OUTPUT_DATA_DIR"] == str(paths.output_data_dir)
    assert env["SM_INPUT_CONFIG_DIR"] == str(paths.config_dir)
    assert env["SM_CURRENT_HOST"] == env["CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_NUM_GPUS"] == "0" and int(env["SM_NUM_CPUS"]) >= 1
    assert env["SAGEMAKER_JOB_NAME"] == "job-7" and env["SM_LOG_LEVEL"] == "20"
    assert json.loads(env["SM_TRAINING_ENV"])["hyperparameters"] == json.loads(env["SM_HPS"])
    assert env["PYTHONUNBUFFERED"] == "1" and "TF_CONFIG" not in env  # one host
    # The script's output is the job's; byoc logs the command it ran.
    assert "script: training on" in result.stdout
    assert "train.py --augment True --epochs 3 --learning-rate 0.01 --optimizer adam" \
        in result.stdout
    assert "saved nothing" not in result.stdout


def test_a_shell_script_is_run_as_a_command(tmp_path):
    script = """\
        #!/bin/sh
        printf '%s\\n' "$@" > "$SM_MODEL_DIR/args.txt"
        echo "$SM_CHANNEL_TRAIN" > "$SM_MODEL_DIR/channel.txt"
        """
    root = _job(tmp_path, {"train.sh": script},
                {"sagemaker_program": json.dumps("train.sh"), "batch-size": "8",
                 "note": json.dumps("two words")})
    result = run_train(root)
    _succeeded(root, result)
    model = contract.Paths(root).model_dir
    assert (model / "args.txt").read_text().splitlines() == ["--batch-size", "8", "--note",
                                                             "two words"]
    assert (model / "channel.txt").read_text().strip() == str(contract.Paths(root).data_dir
                                                              / "train")


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    """A throwaway venv for `train`, so that pip installs nothing into the tests' interpreter."""
    return venv.make(tmp_path / "venv")


USES_TINY = """\
import os, tiny_req_mod
open(os.path.join(os.environ["SM_MODEL_DIR"], "value.txt"), "w").write(str(tiny_req_mod.VALUE))
"""


def test_requirements_are_installed_before_the_script(tmp_path, bin_dir):
    root = _job(tmp_path, {"train.py": USES_TINY, "requirements.txt": "./vendor/tiny\n"}, PROGRAM)
    venv.package(tmp_path / "src" / "vendor" / "tiny", "tiny_req_mod")
    result = _train(root, bin_dir)
    _succeeded(root, result)
    assert (contract.Paths(root).model_dir / "value.txt").read_text() == "42"
    assert "pip: Successfully installed tiny-req-mod" in result.stdout


PACKAGE_SCRIPT = """\
import os
from importlib import metadata
import tiny_req_mod
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.txt"), "w") as f:
    f.write(f"{__name__} {metadata.version('trainer-pkg')} {tiny_req_mod.VALUE}")
"""


@pytest.mark.parametrize("pyproject", [False, True], ids=["setup.py", "pyproject.toml"])
def test_a_package_is_installed_and_its_entry_point_run_as_a_module(tmp_path, bin_dir,
                                                                    pyproject):
    root = _job(tmp_path, {"train.py": PACKAGE_SCRIPT, "requirements.txt": "./vendor/tiny\n"},
                PROGRAM)
    code = tmp_path / "src"
    venv.package(code, "trainer_pkg", pyproject=pyproject)
    venv.package(code / "vendor" / "tiny", "tiny_req_mod")
    result = _train(root, bin_dir)
    _succeeded(root, result)
    # Run as `python -m train` (so __main__), after `pip install .` and its requirements.
    assert (contract.Paths(root).model_dir / "seen.txt").read_text() == "__main__ 0.1 42"
    assert "-m train" in result.stdout


def test_a_failing_pip_fails_the_job_with_pips_last_lines(tmp_path, bin_dir):
    marker = tmp_path / "ran"
    root = _job(tmp_path, {"train.py": f"open({str(marker)!r}, 'w')\n",
                           "requirements.txt": "./vendor/not-there\n"}, PROGRAM)
    result = _train(root, bin_dir)
    assert result.returncode == 1, result.stdout[-3000:]
    reason = _failure(root)
    assert reason.startswith("Installing ") and "failed (pip exit" in reason
    assert "vendor/not-there" in reason  # pip's own line about it
    assert not marker.exists()


FAILING_SCRIPT = """\
import sys
print("epoch 1 done")
for i in range(200):
    print(f"noise line {i} " + "x" * 40, file=sys.stderr)
raise ValueError("learning rate must be positive, got -1")
"""


def test_a_failing_script_gives_its_exit_code_and_the_end_of_its_stderr(tmp_path):
    root = _job(tmp_path, {"train.py": FAILING_SCRIPT}, PROGRAM)
    result = run_train(root)
    assert result.returncode == 1  # an uncaught exception: Python's exit code
    reason = _failure(root)
    assert reason.startswith("The training script train.py exited with code 1.")
    # The end of stderr, where the exception is, within SageMaker's 1024 characters.
    assert reason.rstrip().endswith("ValueError: learning rate must be positive, got -1")
    assert len(reason) <= contract.FAILURE_REASON_LIMIT + 1
    assert "noise line 199" in reason and "noise line 0 " not in reason
    # Both streams reached the log as they were.
    assert "epoch 1 done" in result.stdout and "noise line 0 " in result.stderr
    assert not contract.Paths(root).success_file.exists()


def test_the_scripts_exit_code_is_the_jobs(tmp_path):
    script = "import sys\nprint('giving up', file=sys.stderr)\nsys.exit(3)\n"
    root = _job(tmp_path, {"train.py": script}, PROGRAM)
    result = run_train(root)
    assert result.returncode == 3
    assert _failure(root).strip() == ("The training script train.py exited with code 3. The "
                                      "end of its stderr:\ngiving up")


def test_a_script_killed_by_sigkill_says_out_of_memory(tmp_path):
    script = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    root = _job(tmp_path, {"train.py": script}, PROGRAM)
    result = run_train(root)
    assert result.returncode == 128 + signal.SIGKILL
    reason = _failure(root)
    assert "killed by SIGKILL" in reason and "out-of-memory" in reason


TRAPPING_SCRIPT = """\
import os, signal, sys, time
ready, marker = sys.argv[sys.argv.index("--ready") + 1], sys.argv[sys.argv.index("--marker") + 1]
def stop(signum, frame):
    open(marker, "w").write(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(ready, "w").close()
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("entry", ["train.py", "train.sh"])
def test_sigterm_is_forwarded_to_the_script(tmp_path, entry):
    """StopTrainingJob: `train` passes SIGTERM on (to a shell script's python too) and ends as
    stopped, neither succeeded nor failed."""
    ready, marker = tmp_path / "ready", tmp_path / "marker"
    files = {"train.py": TRAPPING_SCRIPT, "trap.py": TRAPPING_SCRIPT,
             "train.sh": '#!/bin/sh\npython3 trap.py "$@"\necho "shell done"\n'}
    root = _job(tmp_path, files, {"sagemaker_program": json.dumps(entry),
                                  "ready": str(ready), "marker": str(marker)})
    process = subprocess.Popen([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):  # up to a minute for the script to start, on a busy machine
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), process.communicate(timeout=30)[0][-3000:]
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert marker.read_text() == "SIGTERM"
    assert process.returncode == contract.EXIT_TERMINATED, out[-3000:]
    assert "SIGTERM received: passed on to the training script" in out
    paths = contract.Paths(root)
    assert not paths.success_file.exists() and not paths.failure_file.exists()


def test_an_empty_model_dir_is_warned_about(tmp_path):
    root = _job(tmp_path, {"train.py": "print('trained, saved nothing')\n"}, PROGRAM)
    result = run_train(root)
    _succeeded(root, result)
    assert "WARNING" in result.stdout and "saved nothing in" in result.stdout
    assert "SM_MODEL_DIR" in result.stdout


def test_a_missing_entry_point_fails_before_anything_runs(tmp_path, bin_dir):
    """The entry point is checked before pip: the requirements here would fail otherwise."""
    root = _job(tmp_path, {"trian.py": "print('typo')\n", "requirements.txt": "./not-there\n"},
                PROGRAM)
    result = _train(root, bin_dir)
    assert result.returncode == 1
    reason = _failure(root)
    assert reason.startswith("The entry point train.py (sagemaker_program) is not in the source "
                             "directory")
    assert "trian.py" in reason and "requirements.txt" in reason  # what is there instead
    assert "pip:" not in result.stdout


def test_no_source_directory_at_all_is_a_clear_error(tmp_path):
    root = tmp_path / "ml"
    layout.prepare(root, _channels(tmp_path), PROGRAM)
    result = run_train(root)
    assert result.returncode == 1
    assert "there is no source directory: set sagemaker_submit_directory" in _failure(root)


TF_CONFIG_SCRIPT = """\
import json, os
seen = {"TF_CONFIG": json.loads(os.environ["TF_CONFIG"]), "SM_HOSTS": os.environ["SM_HOSTS"]}
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
"""


def test_two_hosts_get_tf_config(tmp_path):
    """Every multi-host job gets TF_CONFIG from byoc's cluster code. The hosts are names that
    resolve here, since the runner waits for its peers as the toolkit does."""
    hosts = ["127.0.0.1", "localhost"]
    root = _job(tmp_path, {"train.py": TF_CONFIG_SCRIPT}, PROGRAM, current_host="localhost",
                hosts=hosts)
    result = _train(root, BYOC_PEER_TIMEOUT="10")
    _succeeded(root, result)
    paths = contract.Paths(root)
    seen = json.loads((paths.output_data_dir / "seen.json").read_text())
    assert seen == {"TF_CONFIG": {"cluster": {"worker": ["127.0.0.1:2222", "localhost:2222"]},
                                  "task": {"type": "worker", "index": 1}},
                    "SM_HOSTS": '["127.0.0.1","localhost"]'}
    # This host is not the chief: saving nothing is what it should do, not worth a warning.
    assert not any(paths.model_dir.iterdir()) and "saved nothing" not in result.stdout


def test_module_function_in_model_leaves_the_script_to_byocs_trainer(tmp_path):
    """`model=MODULE:FUNCTION` with sagemaker_program: byoc's trainer runs and the source
    directory only supplies modules. No training data here, so the trainer stops early with its
    own error; what matters is that the script never ran."""
    marker = tmp_path / "ran"
    root = tmp_path / "ml"
    code = _write(tmp_path / "src", {"train.py": f"open({str(marker)!r}, 'w')\n",
                                     "mymodel.py": "def build(shape, classes, hp):\n    pass\n"})
    layout.prepare(root, {}, {**PROGRAM, "sagemaker_submit_directory": json.dumps(str(code)),
                              "model": json.dumps("mymodel:build"), "epochs": "1"})
    result = run_train(root)
    assert "model=mymodel:build names user code as MODULE:FUNCTION, so byoc's trainer runs" \
        in result.stdout
    assert not marker.exists()
    assert "Running the python script" not in result.stdout
    assert result.returncode != 0 and contract.Paths(root).failure_file.exists()


def test_the_parent_does_not_load_tensorflow(tmp_path):
    """The script brings its own framework: `train` itself (the script's parent, whose memory
    map the script reads) has loaded no TensorFlow library."""
    script = """\
        import os
        maps = open(f"/proc/{os.getppid()}/maps").read()
        open(os.path.join(os.environ["SM_MODEL_DIR"], "tf.txt"), "w").write(
            str("/tensorflow/" in maps))
        """
    root = _job(tmp_path, {"train.py": script}, PROGRAM)
    result = run_train(root)
    _succeeded(root, result)
    assert (contract.Paths(root).model_dir / "tf.txt").read_text() == "False"


def test_the_hyperparameters_are_the_scripts_not_byocs(tmp_path):
    """byoc refuses hyperparameters it does not know; a script's are its own business."""
    root = _job(tmp_path, {"train.py": REPORTING_SCRIPT}, {**PROGRAM, "n_estimators": "5",
                                                            "epochz": "2"})
    result = run_train(root)
    _succeeded(root, result)
    seen = json.loads((contract.Paths(root).model_dir / "seen.json").read_text())
    assert seen["argv"] == ["--epochz", "2", "--n_estimators", "5"]

