"""How well the real `train` learns synthetic signs: LeNet on an easy set, VGG on a harder one.

These train for real and take a minute or two each on 2 cores; the README's benchmark table has
the timings (tests never assert on time).
"""

from __future__ import annotations

import json

import pytest

from byoc import contract
from byoc.data.synth import generate
from byoc.driver.local import layout
from tests.support.executables import run_train

LENET_HPS = {"epochs": 40, "batch_size": 32, "learning_rate": 0.002,
             "early_stopping_patience": 8, "seed": 42}


def _test_accuracy(root) -> float:
    return json.loads((contract.Paths(root).output_data_dir / "metrics.json").read_text())[
        "test_accuracy"]


@pytest.mark.slow
def test_lenet_reaches_95_percent_on_easy_signs(tmp_path):
    # 100 images per class on average (GTSRB-like imbalance), every class at least 17 to train on.
    data = tmp_path / "signs"
    generate(data, per_class=100, seed=1, difficulty="easy")
    root = tmp_path / "ml"
    result = run_train(root, layout.split_channel_dirs(data), LENET_HPS)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _test_accuracy(root) >= 0.95


@pytest.mark.slow
def test_stronger_model_beats_lenet_on_harder_signs(tmp_path):
    # `normal` signs vary pose, light, blur and occlusion far more than `easy` ones.
    data = tmp_path / "signs"
    generate(data, per_class=60, seed=2, difficulty="normal")
    channels = layout.split_channel_dirs(data)
    scores = {}
    for model in ("lenet", "vgg"):
        root = tmp_path / model
        hps = {"epochs": 20, "batch_size": 32, "model": model, "seed": 3,
               "early_stopping_patience": 5}
        result = run_train(root, channels, hps)
        assert result.returncode == 0, result.stdout[-3000:]
        scores[model] = _test_accuracy(root)
    assert scores["vgg"] > scores["lenet"] + 0.1, scores
