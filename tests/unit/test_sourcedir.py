"""The user's source directory on the driver's side: which files are packed, the deterministic
sourcedir.tar.gz, the limits, where the entry point may be, and the hyperparameters that name it."""

from __future__ import annotations

import os
import tarfile
import time

import pytest

from byoc import archives
from byoc.driver import jobs, metric_definitions, sourcedir
from byoc.errors import UserError
from byoc.metric_lines import METRIC_DEFINITIONS
from byoc.user_code.source import PROGRAM_HP, SUBMIT_DIR_HP, decoded_str


def make_source(root):
    """A small project as a user keeps it: code, a package, and what must not travel."""
    files = {
        "train.py": "print('training')\n",
        "requirements.txt": "numpy\n",
        "pkg/__init__.py": "",
        "pkg/layers.py": "def dense():\n    return 1\n",
        "run.sh": "#!/bin/sh\necho hi\n",
        "__pycache__/train.cpython-311.pyc": "bytecode",
        "pkg/__pycache__/layers.cpython-311.pyc": "bytecode",
        ".git/config": "[core]\n",
        ".ipynb_checkpoints/train-checkpoint.py": "old\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "run.sh").chmod(0o755)
    return root


# --- which files, and the archive ------------------------------------------------------------

def test_caches_and_version_control_are_left_out(tmp_path):
    code = sourcedir.from_flags(str(make_source(tmp_path / "src")), "train.py")
    assert [name for name, _ in code.files] == [
        "pkg/__init__.py", "pkg/layers.py", "requirements.txt", "run.sh", "train.py"]
    assert code.entry_point == "train.py"


def test_the_archive_is_the_same_bytes_for_the_same_files(tmp_path):
    src = make_source(tmp_path / "src")
    first = sourcedir.pack(sourcedir.from_flags(str(src), "train.py"), tmp_path / "a.tar.gz")
    # Touch every file: new times, same content.
    later = time.time() + 3600
    for path in src.rglob("*"):
        os.utime(path, (later, later))
    second = sourcedir.pack(sourcedir.from_flags(str(src), "train.py"), tmp_path / "b.tar.gz")
    assert first.read_bytes() == second.read_bytes()
    assert sourcedir.digest(first) == sourcedir.digest(second)

    (src / "train.py").write_text("print('changed')\n")
    third = sourcedir.pack(sourcedir.from_flags(str(src), "train.py"), tmp_path / "c.tar.gz")
    assert sourcedir.digest(third) != sourcedir.digest(first)


def test_members_are_sorted_owned_by_nobody_and_unpack_with_byocs_checks(tmp_path):
    src = make_source(tmp_path / "src")
    archive = sourcedir.pack(sourcedir.from_flags(str(src), "train.py"), tmp_path / "s.tar.gz")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {
        (sourcedir.MEMBER_MTIME, 0, 0, "", "")}
    modes = {m.name: m.mode for m in members}
    assert modes["run.sh"] == 0o755 and modes["train.py"] == 0o644

    out = tmp_path / "unpacked"
    archives.extract(archive, out)
    assert (out / "pkg" / "layers.py").read_text() == (src / "pkg" / "layers.py").read_text()
    assert not (out / "__pycache__").exists() and not (out / ".git").exists()


def test_a_link_to_a_file_is_packed_as_its_content(tmp_path):
    src = make_source(tmp_path / "src")
    (tmp_path / "shared.py").write_text("X = 1\n")
    (src / "shared.py").symlink_to(tmp_path / "shared.py")
    archive = sourcedir.pack(sourcedir.from_flags(str(src), "train.py"), tmp_path / "s.tar.gz")
    with tarfile.open(archive) as tar:
        member = tar.getmember("shared.py")
        assert member.isreg() and tar.extractfile(member).read() == b"X = 1\n"


@pytest.mark.parametrize("kind", ["directory link", "dangling link"])
def test_links_that_cannot_be_packed_are_refused(tmp_path, kind):
    src = make_source(tmp_path / "src")
    if kind == "directory link":
        (tmp_path / "lib").mkdir()
        (src / "lib").symlink_to(tmp_path / "lib", target_is_directory=True)
    else:
        (src / "gone.py").symlink_to(tmp_path / "nowhere.py")
    with pytest.raises(UserError, match="link to"):
        sourcedir.from_flags(str(src), "train.py")


def test_a_directory_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    src = make_source(tmp_path / "src")
    with open(src / "weights.bin", "wb") as fh:  # sparse: the size costs no disk
        fh.truncate(sourcedir.MAX_BYTES + 1)
    with pytest.raises(UserError, match=r"more than 256 MiB .*weights\.bin.*--data"):
        sourcedir.from_flags(str(src), "train.py")


def test_a_directory_with_more_files_than_the_container_unpacks_is_refused(tmp_path,
                                                                            monkeypatch):
    src = make_source(tmp_path / "src")
    monkeypatch.setattr(sourcedir, "MAX_FILES", 3)  # instead of writing 100 000 files
    with pytest.raises(UserError, match="more than 3 files"):
        sourcedir.from_flags(str(src), "train.py")


# --- where the code is ------------------------------------------------------------------------

def test_a_source_dir_that_is_missing_or_a_file_is_refused(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        sourcedir.from_flags(str(tmp_path / "nope"), "train.py")
    (tmp_path / "train.py").write_text("")
    with pytest.raises(UserError, match="is not a directory.*--entry-point train.py"):
        sourcedir.from_flags(str(tmp_path / "train.py"), None)


def test_a_missing_entry_point_names_the_scripts_that_are_there(tmp_path):
    src = make_source(tmp_path / "src")
    with pytest.raises(UserError, match=r"tran\.py: no such file .*It holds pkg/__init__\.py, "
                                        r"pkg/layers\.py, run\.sh, train\.py"):
        sourcedir.from_flags(str(src), "tran.py")


@pytest.mark.parametrize("entry", ["../outside.py", "{tmp}/outside.py"])
def test_an_entry_point_outside_the_source_dir_is_refused(tmp_path, entry):
    src = make_source(tmp_path / "src")
    (tmp_path / "outside.py").write_text("")
    with pytest.raises(UserError, match="outside the source directory"):
        sourcedir.from_flags(str(src), entry.format(tmp=tmp_path))


def test_an_entry_point_in_a_skipped_directory_is_refused(tmp_path):
    src = make_source(tmp_path / "src")
    with pytest.raises(UserError, match="does not pack"):
        sourcedir.from_flags(str(src), ".ipynb_checkpoints/train-checkpoint.py")


def test_the_entry_point_is_a_path_inside_the_source_dir(tmp_path, monkeypatch):
    src = make_source(tmp_path / "src")
    (src / "jobs").mkdir()
    (src / "jobs" / "fit.py").write_text("")
    assert sourcedir.from_flags(str(src), "jobs/fit.py").entry_point == "jobs/fit.py"
    assert sourcedir.from_flags(str(src), str(src / "train.py")).entry_point == "train.py"
    monkeypatch.chdir(tmp_path)  # given from here, as a shell completes it
    assert sourcedir.from_flags("src", "src/jobs/fit.py").entry_point == "jobs/fit.py"


def test_an_entry_point_alone_brings_its_own_directory(tmp_path, monkeypatch):
    src = make_source(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    code = sourcedir.from_flags(None, "src/train.py")
    assert code.directory == src and code.entry_point == "train.py"
    assert "pkg/layers.py" in dict(code.files)
    with pytest.raises(UserError, match="no such file"):
        sourcedir.from_flags(None, "src/missing.py")


def test_serving_needs_the_handlers_module(tmp_path):
    code = sourcedir.from_flags(str(make_source(tmp_path / "src")), None)
    with pytest.raises(UserError, match="needs --entry-point"):
        sourcedir.require_entry_point(code, "byoc deploy")


# --- how the code is named --------------------------------------------------------------------

def test_training_hyperparameters_are_json_strings_as_the_sdk_sends_them(tmp_path):
    code = sourcedir.from_flags(str(make_source(tmp_path / "src")), "train.py")
    uri = "s3://bucket/byoc/source/0123/sourcedir.tar.gz"
    hps = sourcedir.training_hyperparameters(code, uri, job_name="job-1", region="eu-west-1")
    assert hps == {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": f'"{uri}"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"job-1"',
        "sagemaker_region": '"eu-west-1"',
    }
    # What the container reads back.
    assert decoded_str(hps[PROGRAM_HP]) == "train.py" and decoded_str(hps[SUBMIT_DIR_HP]) == uri


def test_without_an_entry_point_only_the_directory_is_named(tmp_path):
    code = sourcedir.from_flags(str(make_source(tmp_path / "src")), None)
    assert sourcedir.training_hyperparameters(code, "/opt/ml/code", job_name="j") == {
        "sagemaker_submit_directory": '"/opt/ml/code"'}


def test_serving_environment_is_plain_strings(tmp_path):
    code = sourcedir.from_flags(str(make_source(tmp_path / "src")), "pkg/layers.py")
    assert sourcedir.serving_environment(code, sourcedir.MODEL_CODE_DIR, "us-east-1") == {
        "SAGEMAKER_PROGRAM": "pkg/layers.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
    }
    with pytest.raises(UserError, match="--env SAGEMAKER_PROGRAM is set by --source-dir"):
        sourcedir.check_environment(code, {"SAGEMAKER_PROGRAM": "other.py"})


# --- hyperparameters for a script, and for user modules in byoc's trainer --------------------

def test_a_script_takes_any_hyperparameter_as_typed(tmp_path):
    code = sourcedir.from_flags(str(make_source(tmp_path / "src")), "train.py")
    assert sourcedir.parse_hp_flags(["lr=0.1", "layers=[64, 32]", "name=signs"], code) == {
        "lr": "0.1", "layers": "[64, 32]", "name": "signs"}
    with pytest.raises(UserError, match="sagemaker_program is set by --source-dir"):
        sourcedir.parse_hp_flags(["sagemaker_program=x.py"], code)


def test_without_code_the_trainers_hyperparameters_are_checked_as_before():
    with pytest.raises(UserError, match="Did you mean 'epochs'"):
        sourcedir.parse_hp_flags(["epoch=3"], None)


def user_model(root, text: str):
    root.mkdir(parents=True, exist_ok=True)
    (root / "nets.py").write_text(text)
    return sourcedir.from_flags(str(root), None)


NETS = """\
import keras

HYPERPARAMETERS = {"dropout": 0.3, "width": 64}


def build(input_shape, num_classes, hp):
    return keras.Sequential()
"""


def test_a_user_model_and_the_hyperparameters_its_module_declares_are_accepted(tmp_path):
    code = user_model(tmp_path / "src", NETS)
    hps = ["model=nets:build", "dropout=0.5", "epochs=3"]
    assert sourcedir.parse_hp_flags(hps, code) == {"model": "nets:build", "dropout": "0.5",
                                                   "epochs": "3"}


@pytest.mark.parametrize("hp, message", [
    ("model=layers:build", r"The module 'layers' .* is not in the source directory"),
    ("model=nets:biuld", r"nets\.py .* has no function 'biuld'.* Did you mean 'build'\?"),
    ("dropuot=0.5", r"Unknown hyperparameter 'dropuot'\. Did you mean 'dropout'\?"),
    ("epochs=zero", r"Hyperparameter 'epochs' has the value 'zero'"),
])
def test_a_user_model_that_would_fail_in_the_container_is_refused_here(tmp_path, hp, message):
    code = user_model(tmp_path / "src", NETS)
    with pytest.raises(UserError, match=message):
        sourcedir.parse_hp_flags(["model=nets:build", hp], code)


def test_a_module_that_does_not_parse_is_refused(tmp_path):
    code = user_model(tmp_path / "src", "def build(:\n")
    with pytest.raises(UserError, match=r"nets\.py .* is not valid Python: .*line 1"):
        sourcedir.parse_hp_flags(["model=nets:build"], code)


def test_names_a_module_computes_are_refused_here_as_the_container_refuses_them(tmp_path):
    # byoc reads HYPERPARAMETERS without running the module, on both sides, so it must be a
    # literal; the driver says so before anything is uploaded.
    code = user_model(tmp_path / "src", "HYPERPARAMETERS = dict(depth=3)\n"
                                        "def build(input_shape, num_classes, hp): ...\n")
    with pytest.raises(UserError, match=r"HYPERPARAMETERS in nets\.py \(line 1\) must be "
                                        r"written out as a dict"):
        sourcedir.parse_hp_flags(["model=nets:build", "depth=4"], code)


# --- metric definitions and search spaces -----------------------------------------------------

def test_metric_flags_become_definitions_with_a_capture_group():
    user = metric_definitions.parse_metric_flags([r"val_acc=val_acc: ([0-9.]+)"])
    assert user == [{"Name": "val_acc", "Regex": r"val_acc: ([0-9.]+)"}]
    assert metric_definitions.definitions(user, user_script=True) == user
    assert metric_definitions.definitions(user, user_script=False) == [*METRIC_DEFINITIONS, *user]


@pytest.mark.parametrize("flag, message", [
    ("loss=loss: [0-9.]+", "no capture group"),
    ("loss=loss: ([0-9.]+", "not a valid regex"),
    ("loss", "expects KEY=VALUE"),
])
def test_bad_metric_flags_are_refused(flag, message):
    with pytest.raises(UserError, match=message):
        metric_definitions.parse_metric_flags([flag])


def test_a_metric_may_not_take_the_name_of_byocs_own():
    user = metric_definitions.parse_metric_flags([r"validation:accuracy=acc ([0-9.]+)"])
    with pytest.raises(UserError, match="defines it already"):
        metric_definitions.definitions(user, user_script=False)
    assert metric_definitions.definitions(user, user_script=True) == user


def test_range_flags_become_parameter_ranges():
    ranges = jobs.parse_ranges(["lr=0.0001:0.1:log", "epochs=5:30", "dropout=0.1:0.5",
                                "optimizer=adam,sgd"])
    assert ranges == {
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
            {"Name": "dropout", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"}],
        "IntegerParameterRanges": [
            {"Name": "epochs", "MinValue": "5", "MaxValue": "30", "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["adam", "sgd"]}],
    }
    assert jobs.parse_ranges(None) is None


@pytest.mark.parametrize("flag, message", [
    ("lr=0.1:0.01", "LOW must be below HIGH"),
    ("lr=0:1:log", "log scale needs LOW above 0"),
    ("lr=a:b", "is not a number"),
    ("lr=1:2:sqrt", "expected LOW:HIGH or LOW:HIGH:log"),
])
def test_bad_range_flags_are_refused(flag, message):
    with pytest.raises(UserError, match=message):
        jobs.parse_ranges([flag])


def test_the_archive_names_what_sdk_local_mode_names():
    # SDK local mode mounts the code at /opt/ml/code; the SDK's repack puts it under the model.
    assert sourcedir.CONTAINER_CODE_DIR == "/opt/ml/code"
    assert sourcedir.MODEL_CODE_DIR == "/opt/ml/model/code"
    assert sourcedir.CODE_CHANNEL_ARCHIVE == "/opt/ml/input/data/code/sourcedir.tar.gz"
