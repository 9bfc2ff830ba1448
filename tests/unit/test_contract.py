"""The /opt/ml layout: reading it, writing it for local runs, and archiving a finished run."""

import json
import tarfile

import pytest

from byoc import contract, metrics
from byoc.errors import UserError


def _channel(tmp_path, name):
    d = tmp_path / "src" / name
    d.mkdir(parents=True)
    (d / "x.txt").write_text(name)
    return d


def test_prepare_then_read_round_trip(tmp_path):
    channels = {"train": _channel(tmp_path, "train"), "test": _channel(tmp_path, "test")}
    paths = contract.prepare(tmp_path / "ml", channels, {"epochs": 3, "augment": True})
    assert json.loads(paths.hyperparameters_file.read_text()) == {"augment": "True", "epochs": "3"}
    env = contract.TrainingEnv.read(paths.root)
    assert env.hyperparameters == {"augment": "True", "epochs": "3"}
    assert sorted(env.channels) == ["test", "train"]
    assert (env.channels["train"] / "x.txt").read_text() == "train"
    assert env.current_host == "algo-1" and env.hosts == ["algo-1"]
    assert set(env.input_data_config) == {"train", "test"}
    assert env.resource_config["network_interface_name"] == "eth0"


def test_prepare_copies_when_not_linking(tmp_path):
    paths = contract.prepare(tmp_path / "ml", {"train": _channel(tmp_path, "train")}, link=False)
    target = paths.data_dir / "train"
    assert target.is_dir() and not target.is_symlink()


def test_training_alias_and_base_dir_env(tmp_path, monkeypatch):
    (tmp_path / "input" / "data" / "training").mkdir(parents=True)
    monkeypatch.setenv(contract.BASE_DIR_ENV, str(tmp_path))
    env = contract.TrainingEnv.read()
    assert list(env.channels) == ["train"]
    assert env.paths.model_dir == tmp_path / "model"


def test_both_aliases_is_an_error(tmp_path):
    for name in ("train", "training"):
        (tmp_path / "input" / "data" / name).mkdir(parents=True)
    with pytest.raises(UserError, match="one channel"):
        contract.TrainingEnv.read(tmp_path)


def test_malformed_config_json_is_a_user_error(tmp_path):
    paths = contract.Paths(tmp_path)
    paths.config_dir.mkdir(parents=True)
    paths.hyperparameters_file.write_text("{epochs: 3")
    with pytest.raises(UserError, match="hyperparameters.json is not valid JSON"):
        contract.TrainingEnv.read(tmp_path)


def test_failure_is_truncated_and_first_one_wins(tmp_path):
    paths = contract.Paths(tmp_path)
    contract.write_failure(paths, "x" * 5000)
    contract.write_failure(paths, "second")
    text = paths.failure_file.read_text()
    assert text.startswith("x") and len(text.strip()) == contract.FAILURE_REASON_LIMIT


def test_split_channel_dirs(tmp_path):
    for name in ("training", "validation", "test", "other"):
        (tmp_path / name).mkdir()
    assert sorted(contract.split_channel_dirs(tmp_path)) == ["test", "train", "validation"]
    flat = tmp_path / "other"
    assert contract.split_channel_dirs(flat) == {"train": flat}
    with pytest.raises(UserError):
        contract.split_channel_dirs(tmp_path / "missing")


def test_package_and_extract_model(tmp_path):
    paths = contract.Paths(tmp_path / "ml")
    paths.model_dir.mkdir(parents=True)
    (paths.model_dir / "model.keras").write_bytes(b"weights")
    paths.output_data_dir.mkdir(parents=True)
    (paths.output_data_dir / "metrics.json").write_text("{}")
    contract.write_success(paths)
    model_tar, output_tar = contract.package(paths, tmp_path / "out")
    with tarfile.open(model_tar) as tar:
        assert tar.getnames() == ["model.keras"]
    with tarfile.open(output_tar) as tar:
        assert set(tar.getnames()) >= {"data", "data/metrics.json", "success"}
    served = contract.extract_model(model_tar, tmp_path / "serve")
    assert (served.model_dir / "model.keras").read_bytes() == b"weights"
    with pytest.raises(UserError, match="neither a model directory nor a model.tar.gz"):
        contract.extract_model(tmp_path / "nothing", tmp_path / "serve2")


def test_metric_regexes_read_the_lines_we_print():
    import re

    line = metrics.epoch_line(3, {"train_loss": 0.5, "train_accuracy": 0.875,
                                  "val_loss": 0.25, "val_accuracy": 0.9, "val_top_k_accuracy": 1})
    found = {}
    for d in metrics.METRIC_DEFINITIONS:
        m = re.search(d["Regex"], line)
        if m:
            found[d["Name"]] = float(m.group(1))
    assert found == {"train:loss": 0.5, "train:accuracy": 0.875, "validation:loss": 0.25,
                     "validation:accuracy": 0.9, "validation:top_k_accuracy": 1.0}
    final = metrics.final_line({"test_accuracy": 1e-5, "test_loss": float("nan")})
    acc = next(d for d in metrics.METRIC_DEFINITIONS if d["Name"] == "test:accuracy")
    assert float(re.search(acc["Regex"], final).group(1)) == 1e-5


def test_prepare_renews_a_previous_run_but_keeps_checkpoints(tmp_path):
    root = tmp_path / "ml"
    first = {"train": _channel(tmp_path, "train"), "test": _channel(tmp_path, "test")}
    paths = contract.prepare(root, first)
    (paths.model_dir / "model.keras").write_text("old")
    (paths.output_data_dir / "confusion_matrix_test.png").write_text("old")
    contract.write_failure(paths, "old reason")
    (paths.checkpoint_dir / "state.json").write_text("{}")
    contract.prepare(root, {"train": first["train"]})
    assert list(paths.model_dir.iterdir()) == [] and list(paths.output_data_dir.iterdir()) == []
    assert not paths.failure_file.exists()
    assert sorted(p.name for p in paths.data_dir.iterdir()) == ["train"]
    assert (paths.checkpoint_dir / "state.json").exists()
    assert (first["test"] / "x.txt").exists()  # the user's data is untouched


def test_prepare_refuses_to_take_over_a_foreign_directory(tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and was not laid out by byoc"):
        contract.prepare(tmp_path / "project", {"train": _channel(tmp_path, "train")})
    assert (tmp_path / "project" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("link", [True, False])
def test_prepare_refuses_data_inside_the_run(tmp_path, link):
    root = tmp_path / "ml"
    paths = contract.prepare(root, {"train": _channel(tmp_path, "train")}, link=False)
    with pytest.raises(UserError, match="Point --data at the original data set"):
        contract.prepare(root, {"train": paths.data_dir / "train"}, link=link)
    assert (paths.data_dir / "train" / "x.txt").read_text() == "train"
