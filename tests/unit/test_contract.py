"""The container side of the /opt/ml contract: reading the layout, the failure and success files."""


import pytest

from byoc import contract, metric_lines
from byoc.errors import UserError


def _channel(tmp_path, name):
    d = tmp_path / "src" / name
    d.mkdir(parents=True)
    (d / "x.txt").write_text(name)
    return d


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


def test_metric_regexes_read_the_lines_we_print():
    import re

    line = metric_lines.epoch_line(3, {"train_loss": 0.5, "train_accuracy": 0.875,
                                  "val_loss": 0.25, "val_accuracy": 0.9, "val_top_k_accuracy": 1})
    found = {}
    for d in metric_lines.METRIC_DEFINITIONS:
        m = re.search(d["Regex"], line)
        if m:
            found[d["Name"]] = float(m.group(1))
    assert found == {"train:loss": 0.5, "train:accuracy": 0.875, "validation:loss": 0.25,
                     "validation:accuracy": 0.9, "validation:top_k_accuracy": 1.0}
    final = metric_lines.final_line({"test_accuracy": 1e-5, "test_loss": float("nan")})
    acc = next(d for d in metric_lines.METRIC_DEFINITIONS if d["Name"] == "test:accuracy")
    assert float(re.search(acc["Regex"], final).group(1)) == 1e-5

