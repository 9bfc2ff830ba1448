"""The synthetic sign generator: names, imbalance, determinism, output layout and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from byoc import cli
from byoc.data import synth
from byoc.data.formats import SIGNNAMES_FILE, read_channel, read_class_names
from byoc.data.gtsrb import CLASS_NAMES, NUM_CLASSES, TRAIN_COUNTS
from byoc.errors import UserError

RARE, COMMON = (0, 19, 37), (1, 2, 13, 38)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_43_gtsrb_names():
    assert NUM_CLASSES == 43 == len(CLASS_NAMES) == len(TRAIN_COUNTS) == len(synth.SIGNS)
    assert CLASS_NAMES[0] == "Speed limit (20km/h)"
    assert CLASS_NAMES[14] == "Stop"
    assert CLASS_NAMES[42] == "End of no passing by vehicles over 3.5 metric tons"
    assert len(set(CLASS_NAMES)) == 43
    assert sum(TRAIN_COUNTS) == 39209  # GTSRB's official training set


def test_class_counts_follow_gtsrb_imbalance():
    counts = synth.class_counts(100)
    assert abs(np.mean(counts) - 100) < 1
    assert max(counts[c] for c in RARE) * 5 < min(counts[c] for c in COMMON)
    assert np.corrcoef(counts, TRAIN_COUNTS)[0, 1] > 0.99
    assert min(synth.class_counts(3)) == synth.MIN_PER_CLASS
    assert synth.class_counts(7, balanced=True) == [7] * 43


def test_split_counts_give_every_split_an_image():
    fractions = {"train": 0.7, "validation": 0.15, "test": 0.15}
    assert synth.split_counts(3, fractions) == {"train": 1, "validation": 1, "test": 1}
    assert synth.split_counts(100, fractions) == {"train": 70, "validation": 15, "test": 15}
    no_test = {"train": 0.8, "validation": 0.2, "test": 0.0}
    assert synth.split_counts(10, no_test) == {"train": 8, "validation": 2, "test": 0}


@pytest.mark.parametrize("difficulty", sorted(synth.DIFFICULTIES))
def test_render_shape_and_variety(difficulty):
    rng = np.random.default_rng(0)
    images = [synth.render(14, rng, 24, difficulty) for _ in range(4)]
    assert all(i.shape == (24, 24, 3) and i.dtype == np.uint8 for i in images)
    assert not np.array_equal(images[0], images[1])


def test_signs_differ_between_classes():
    """No two classes share a drawing (speed limits differ only in their digits)."""
    templates = [np.asarray(synth.sign_template(c, 32), dtype=np.int16) for c in range(43)]
    for a in range(43):
        for b in range(a + 1, 43):
            assert np.abs(templates[a] - templates[b]).mean() > 0.5, (a, b)


def test_generate_writes_readable_class_folders(tmp_path):
    summary = synth.generate(tmp_path, per_class=4, seed=3, image_size=20)
    assert summary.images == {s: sum(v) for s, v in summary.per_class_images.items()}
    assert summary.total == sum(synth.class_counts(4))
    for split in synth.SPLITS:
        assert sorted(p.name for p in (tmp_path / split).iterdir() if p.is_dir()) == [
            f"{c:02d}" for c in range(43)
        ]
        names = read_class_names(tmp_path / split / SIGNNAMES_FILE)
        assert [names[i] for i in range(43)] == list(CLASS_NAMES)
    assert list((tmp_path / "train").rglob("*.ppm")) and list((tmp_path / "train").rglob("*.png"))
    train = read_channel(tmp_path / "train", (20, 20))
    assert train.class_names == list(CLASS_NAMES)
    assert len(train.y) == summary.images["train"] and train.skipped == 0
    assert np.bincount(train.y, minlength=43).tolist() == summary.per_class_images["train"]
    test = read_channel(tmp_path / "test", (20, 20), class_names=train.class_names, name="test")
    assert sorted(set(test.y.tolist())) == list(range(43))
    record = json.loads((tmp_path / synth.SUMMARY_FILE).read_text())
    assert record["seed"] == 3 and record["images"] == summary.images


def test_generate_is_deterministic(tmp_path):
    kw = {"per_class": 3, "balanced": True, "image_size": 16}
    synth.generate(tmp_path / "a", seed=5, **kw)
    synth.generate(tmp_path / "b", seed=5, **kw)
    synth.generate(tmp_path / "c", seed=6, **kw)
    a, b, c = (_files(tmp_path / d) for d in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_generate_refuses_to_overwrite(tmp_path):
    synth.generate(tmp_path, per_class=3, balanced=True, image_size=16)
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        synth.generate(tmp_path, per_class=3, balanced=True, image_size=16)
    synth.generate(tmp_path, per_class=3, balanced=True, image_size=16, seed=1, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_class": 2}, "--per-class 2"),
        ({"difficulty": "extreme"}, "--difficulty extreme"),
        ({"image_size": 8}, "--image-size 8"),
        ({"test_fraction": 1.5}, "--test-fraction"),
        ({"validation_fraction": 0.5, "test_fraction": 0.45}, "less than 10%"),
    ],
)
def test_generate_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        synth.generate(tmp_path, **{"per_class": 3, **kwargs})


def test_cli_data_synth(tmp_path, capsys):
    out = tmp_path / "signs"
    code = cli.main(["data", "synth", "--out", str(out), "--per-class", "3", "--seed", "2",
                     "--image-size", "16", "--balanced", "--difficulty", "hard",
                     "--validation-fraction", "0.2", "--test-fraction", "0.2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"Wrote 129 images of 43 classes to {out}" in printed
    assert "(balanced)" in printed
    record = json.loads((out / synth.SUMMARY_FILE).read_text())
    assert record["difficulty"] == "hard" and record["images"]["train"] == 43


def test_cli_reports_user_errors(tmp_path, capsys):
    (tmp_path / "train").mkdir()
    assert cli.main(["data", "synth", "--out", str(tmp_path), "--per-class", "3"]) == 2
    assert "error:" in capsys.readouterr().err
