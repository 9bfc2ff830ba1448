"""A checkpoint resumes the configuration that wrote it, including what byoc added later."""

from __future__ import annotations

import json

import pytest

from byoc import hyperparams
from byoc.errors import UserError

keras = pytest.importorskip("keras")

from byoc.training import checkpoints  # noqa: E402  (needs keras, skipped above)

CLASSES = ["a", "b"]


def _saved(directory, hp, **changes):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    state = {**checkpoints.new_state(hp, CLASSES), "epoch": 1}
    state["hyperparameters"] = {**state["hyperparameters"], **changes}
    state["hyperparameters"] = {k: v for k, v in state["hyperparameters"].items()
                                if v is not None}
    checkpoints.save_checkpoint(model, directory, state)


def test_a_checkpoint_from_before_the_loss_hyperparameter_resumes(tmp_path):
    hp = hyperparams.parse({"epochs": "3"})
    _saved(tmp_path, hp, loss=None)  # written by a byoc without `loss`
    assert "loss" not in json.loads((tmp_path / checkpoints.STATE_FILE).read_text())[
        "hyperparameters"]
    model, state = checkpoints.load_checkpoint(tmp_path, hp, CLASSES)
    assert state["epoch"] == 1 and state["hyperparameters"]["loss"] == hp.loss


def test_a_checkpoint_of_other_user_hyperparameters_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text("HYPERPARAMETERS = {'dropout': 0.3}\n"
                                               "def build_model(s, n, hp):\n    pass\n")
    raw = {"model": "model:build_model"}
    _saved(tmp_path / "ckpt", hyperparams.parse({**raw, "dropout": "0.5"},
                                                source=tmp_path / "src"))
    with pytest.raises(UserError, match="different configuration .*dropout=0.5 there, 0.3 now"):
        checkpoints.load_checkpoint(tmp_path / "ckpt",
                                    hyperparams.parse(raw, source=tmp_path / "src"), CLASSES)
