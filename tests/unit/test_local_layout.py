"""The /opt/ml layout SageMaker builds around a job, built locally: prepare, package, extract."""

import json
import os
import tarfile

import pytest

from byoc import contract
from byoc.driver.local import layout
from byoc.errors import UserError


def _channel(tmp_path, name):
    d = tmp_path / "src" / name
    d.mkdir(parents=True)
    (d / "x.txt").write_text(name)
    return d


def test_prepare_then_read_round_trip(tmp_path):
    channels = {"train": _channel(tmp_path, "train"), "test": _channel(tmp_path, "test")}
    paths = layout.prepare(tmp_path / "ml", channels, {"epochs": 3, "augment": True})
    assert json.loads(paths.hyperparameters_file.read_text()) == {"augment": "True", "epochs": "3"}
    env = contract.TrainingEnv.read(paths.root)
    assert env.hyperparameters == {"augment": "True", "epochs": "3"}
    assert sorted(env.channels) == ["test", "train"]
    assert (env.channels["train"] / "x.txt").read_text() == "train"
    assert env.current_host == "algo-1" and env.hosts == ["algo-1"]
    assert set(env.input_data_config) == {"train", "test"}
    assert env.resource_config["network_interface_name"] == "eth0"


def test_prepare_copies_when_not_linking(tmp_path):
    paths = layout.prepare(tmp_path / "ml", {"train": _channel(tmp_path, "train")}, link=False)
    target = paths.data_dir / "train"
    assert target.is_dir() and not target.is_symlink()


def test_split_channel_dirs(tmp_path):
    for name in ("training", "validation", "test", "other"):
        (tmp_path / name).mkdir()
    assert sorted(layout.split_channel_dirs(tmp_path)) == ["test", "train", "validation"]
    flat = tmp_path / "other"
    assert layout.split_channel_dirs(flat) == {"train": flat}
    with pytest.raises(UserError):
        layout.split_channel_dirs(tmp_path / "missing")


def test_package_and_extract_model(tmp_path):
    paths = contract.Paths(tmp_path / "ml")
    paths.model_dir.mkdir(parents=True)
    (paths.model_dir / "model.keras").write_bytes(b"weights")
    paths.output_data_dir.mkdir(parents=True)
    (paths.output_data_dir / "metrics.json").write_text("{}")
    contract.write_success(paths)
    model_tar, output_tar = layout.package(paths, tmp_path / "out")
    with tarfile.open(model_tar) as tar:
        assert tar.getnames() == ["model.keras"]
    with tarfile.open(output_tar) as tar:
        assert set(tar.getnames()) >= {"data", "data/metrics.json", "success"}
    served = layout.extract_model(model_tar, tmp_path / "serve")
    assert (served.model_dir / "model.keras").read_bytes() == b"weights"
    with pytest.raises(UserError, match="neither a model directory nor a model.tar.gz"):
        layout.extract_model(tmp_path / "nothing", tmp_path / "serve2")


def test_prepare_renews_a_previous_run_but_keeps_checkpoints(tmp_path):
    root = tmp_path / "ml"
    first = {"train": _channel(tmp_path, "train"), "test": _channel(tmp_path, "test")}
    paths = layout.prepare(root, first)
    (paths.model_dir / "model.keras").write_text("old")
    (paths.output_data_dir / "confusion_matrix_test.png").write_text("old")
    contract.write_failure(paths, "old reason")
    (paths.checkpoint_dir / "state.json").write_text("{}")
    layout.prepare(root, {"train": first["train"]})
    assert list(paths.model_dir.iterdir()) == [] and list(paths.output_data_dir.iterdir()) == []
    assert not paths.failure_file.exists()
    assert sorted(p.name for p in paths.data_dir.iterdir()) == ["train"]
    assert (paths.checkpoint_dir / "state.json").exists()
    assert (first["test"] / "x.txt").exists()  # the user's data is untouched


def test_prepare_refuses_to_take_over_a_foreign_directory(tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and was not laid out by byoc"):
        layout.prepare(tmp_path / "project", {"train": _channel(tmp_path, "train")})
    assert (tmp_path / "project" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("link", [True, False])
def test_prepare_refuses_data_inside_the_run(tmp_path, link):
    root = tmp_path / "ml"
    paths = layout.prepare(root, {"train": _channel(tmp_path, "train")}, link=False)
    with pytest.raises(UserError, match="Point --data at the original data set"):
        layout.prepare(root, {"train": paths.data_dir / "train"}, link=link)
    assert (paths.data_dir / "train" / "x.txt").read_text() == "train"



def _packed_run(tmp_path, verdict):
    """A run directory after `package`: its model, and the success or failure file, or neither
    (a run stopped by Ctrl-C)."""
    paths = layout.prepare(tmp_path / "run", {"train": _channel(tmp_path, "train")})
    (paths.model_dir / "model.keras").write_text("first model")
    if verdict == "success":
        contract.write_success(paths)
    elif verdict == "failure":
        contract.write_failure(paths, "bad data")
    layout.package(paths, paths.root)
    return paths


def test_a_finished_run_is_kept_aside_before_the_next_one(tmp_path):
    paths = _packed_run(tmp_path, "success")
    first = (paths.root / layout.MODEL_ARCHIVE).read_bytes()
    kept = layout.keep_finished_run(paths.root)
    assert kept is not None and kept.parent == paths.root / layout.PREVIOUS_RUNS
    assert (kept / layout.MODEL_ARCHIVE).read_bytes() == first
    assert (kept / layout.OUTPUT_ARCHIVE).is_file()
    assert not (paths.root / layout.MODEL_ARCHIVE).exists()
    # The next run lays out model/ anew beside it, and its checkpoint stays to resume from.
    (paths.checkpoint_dir / "state.json").write_text("{}")
    layout.prepare(paths.root, {"train": tmp_path / "src" / "train"})
    assert (paths.checkpoint_dir / "state.json").exists()
    assert (kept / layout.MODEL_ARCHIVE).read_bytes() == first
    served = layout.extract_model(kept / layout.MODEL_ARCHIVE, tmp_path / "serve")
    assert (served.model_dir / "model.keras").read_text() == "first model"


def test_two_finished_runs_in_the_same_second_are_both_kept(tmp_path):
    paths = _packed_run(tmp_path, "success")
    first = layout.keep_finished_run(paths.root)
    layout.package(paths, paths.root)
    finished = (first / layout.OUTPUT_ARCHIVE).stat().st_mtime
    os.utime(paths.root / layout.OUTPUT_ARCHIVE, (finished, finished))
    second = layout.keep_finished_run(paths.root)
    assert second != first and second.name.startswith(first.name)
    assert len(list((paths.root / layout.PREVIOUS_RUNS).iterdir())) == 2


@pytest.mark.parametrize("verdict", ["failure", "stopped"])
def test_a_run_that_did_not_finish_is_not_kept(tmp_path, verdict):
    """A stopped run is resumed by the next one, and a failed one has no model worth keeping."""
    paths = _packed_run(tmp_path, verdict)
    assert layout.keep_finished_run(paths.root) is None
    assert not (paths.root / layout.PREVIOUS_RUNS).exists()
    assert (paths.root / layout.MODEL_ARCHIVE).exists()


def test_process_mode_names_the_source_dir_where_the_container_finds_it(tmp_path):
    from byoc.driver import sourcedir
    from byoc.user_code import source

    code_dir = tmp_path / "my code"
    code_dir.mkdir()
    (code_dir / "train.py").write_text("print('hi')\n")
    code = sourcedir.from_flags(str(code_dir), "train.py")
    hps = {"epochs": "2", **sourcedir.training_hyperparameters(
        code, str(code.directory), job_name=layout.LOCAL_JOB_NAME)}
    paths = layout.prepare(tmp_path / "ml", {"train": _channel(tmp_path, "train")}, hps)

    # What the container reads from hyperparameters.json, with its own resolver.
    env = contract.TrainingEnv.read(paths.root)
    assert source.decoded_str(env.hyperparameters[source.PROGRAM_HP]) == "train.py"
    where = source.decoded_str(env.hyperparameters[source.SUBMIT_DIR_HP])
    assert source.fetch(where, paths.code_dir) == code_dir
    assert source.decode(env.hyperparameters[sourcedir.JOB_NAME_HP]) == layout.LOCAL_JOB_NAME
    assert not paths.code_dir.exists()  # used where it is, not copied
