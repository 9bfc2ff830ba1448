"""The evaluation report: metrics checked against hand-computed values, files checked by parsing."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byoc.evaluation import (
    CURVES_FILE,
    DISTRIBUTION_CSV,
    DISTRIBUTION_PNG,
    METRICS_FILE,
    REPORT_FILE,
    SplitResult,
    evaluate_split,
    split_files,
    write_report,
)

# Four samples, three classes. Predicted: 0, 1, 1, 2; right on samples 0 and 1.
PROBS = np.array([
    [0.7, 0.2, 0.1],
    [0.1, 0.6, 0.3],
    [0.2, 0.5, 0.3],
    [0.3, 0.3, 0.4],
])
Y = np.array([0, 1, 2, 0])
NAMES3 = ["stop", "yield", "no entry"]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def read_png(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.verify()  # raises on a truncated or corrupt file
    return Image.open(path)


def small_report(out: Path, **overrides) -> dict[str, float]:
    args = dict(
        class_names=NAMES3,
        splits={"test": SplitResult(Y, PROBS)},
        history={},
        class_counts={},
        top_k=2,
    )
    args.update(overrides)
    return write_report(out, **args)


# ---------------------------------------------------------------- metrics by hand


def test_accuracy_loss_top_k_and_macro_f1_match_hand_computation():
    m = evaluate_split(SplitResult(Y, PROBS), top_k=2)
    assert m["accuracy"] == 0.5
    # Sample 2: true class 2 (0.3) is beaten only by 0.5; sample 3: true 0 (0.3) only by 0.4.
    assert m["top_2_accuracy"] == 1.0
    assert m["loss"] == pytest.approx(-(math.log(0.7) + math.log(0.6) + 2 * math.log(0.3)) / 4)
    # Confusion [[1,0,1],[0,1,0],[0,1,0]]: F1 = 2TP/(2TP+FP+FN) = 2/3, 2/3, 0.
    assert m["macro_f1"] == pytest.approx(4 / 9)
    assert m["samples"] == 4


def test_top_k_counts_ties_at_the_boundary_as_hits_like_keras():
    result = SplitResult(np.array([2]), np.array([[0.4, 0.3, 0.3]]))
    assert evaluate_split(result, top_k=1)["top_1_accuracy"] == 0.0
    assert evaluate_split(result, top_k=2)["top_2_accuracy"] == 1.0


def test_top_k_beyond_the_class_count_is_clipped_and_keeps_its_name():
    m = evaluate_split(SplitResult(Y, PROBS), top_k=10)
    assert m["top_10_accuracy"] == 1.0


def test_loss_clips_a_zero_probability_instead_of_returning_infinity():
    m = evaluate_split(SplitResult(np.array([1]), np.array([[1.0, 0.0]])), top_k=1)
    assert m["loss"] == pytest.approx(-math.log(1e-7))


def test_bad_inputs_are_refused_with_the_shape_in_the_message():
    with pytest.raises(ValueError, match="one-hot"):
        SplitResult(np.eye(3)[Y], PROBS)
    with pytest.raises(ValueError, match=r"N = 4 labels, got shape \(3, 3\)"):
        SplitResult(Y, PROBS[:3])
    with pytest.raises(ValueError, match="outside the 3 classes"):
        SplitResult(np.array([0, 1, 2, 3]), PROBS)
    with pytest.raises(ValueError, match="top_k"):
        evaluate_split(SplitResult(Y, PROBS), top_k=0)


# ---------------------------------------------------------------- per-split files


def test_confusion_matrix_csv_has_class_names_on_both_axes(tmp_path):
    small_report(tmp_path)
    rows = read_csv(tmp_path / split_files("test")["confusion_csv"])
    assert rows[0] == ["true\\predicted", *NAMES3]
    assert [r[0] for r in rows[1:]] == NAMES3
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == [[1, 0, 1], [0, 1, 0], [0, 1, 0]]


def test_absent_and_never_predicted_classes_give_empty_cells_not_division_errors(tmp_path):
    # Class 2 is present but never predicted; class 3 is absent but predicted once; class 4 is
    # neither present nor predicted.
    names = ["a", "b", "c", "d", "e"]
    y = np.array([0, 0, 1, 2])
    probs = np.eye(5)[[0, 3, 1, 1]] * 0.9 + 0.02
    metrics = small_report(tmp_path, class_names=names, splits={"test": SplitResult(y, probs)})

    rows = read_csv(tmp_path / split_files("test")["per_class"])
    assert rows[0] == ["class_id", "class_name", "precision", "recall", "f1", "support",
                       "predicted"]
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["a"][2:] == ["1", "0.5", "0.666667", "2", "1"]
    assert by_name["b"][2:] == ["0.5", "1", "0.666667", "1", "2"]
    assert by_name["c"][2:] == ["", "0", "0", "1", "0"]  # never predicted: precision undefined
    assert by_name["d"][2:] == ["0", "", "0", "0", "1"]  # absent: recall undefined
    assert by_name["e"][2:] == ["", "", "", "0", "0"]
    # Macro F1 over the three classes present: (2/3 + 2/3 + 0) / 3.
    assert metrics["test_macro_f1"] == pytest.approx(4 / 9)

    summary = json.loads((tmp_path / split_files("test")["summary"]).read_text())
    assert summary["absent_classes"] == ["d", "e"]
    assert summary["worst_classes"][0]["class_name"] == "c"
    assert summary["worst_classes"][0]["precision"] is None
    assert summary["most_confused"][0] == {
        "true": 0, "true_name": "a", "predicted": 3, "predicted_name": "d", "count": 1,
        "share_of_true": 0.5,
    }


def test_confident_wrong_lists_the_mistakes_most_probable_first(tmp_path):
    small_report(tmp_path)
    rows = read_csv(tmp_path / split_files("test")["confident_wrong_csv"])
    assert rows[0] == ["index", "true", "predicted", "probability", "true_probability",
                       "true_name", "predicted_name"]
    assert rows[1:] == [
        ["2", "2", "1", "0.5", "0.3", "no entry", "yield"],
        ["3", "0", "2", "0.4", "0.3", "stop", "no entry"],
    ]


def test_a_single_sample_split_is_evaluated(tmp_path):
    metrics = small_report(tmp_path, splits={"test": SplitResult(Y[:1], PROBS[:1])})
    assert metrics["test_samples"] == 1
    assert metrics["test_accuracy"] == 1.0
    assert metrics["test_macro_f1"] == 1.0
    assert read_png(tmp_path / split_files("test")["confusion_png"]).width > 300


def test_a_diverged_model_writes_null_not_nan_into_strict_json(tmp_path):
    probs = PROBS.copy()
    probs[0] = np.nan
    metrics = small_report(tmp_path, splits={"test": SplitResult(Y, probs)})
    assert math.isnan(metrics["test_loss"])
    text = (tmp_path / METRICS_FILE).read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))
    assert data["test_loss"] is None


def test_a_split_without_samples_is_reported_but_not_evaluated(tmp_path):
    empty = SplitResult(np.zeros(0, dtype=int), np.zeros((0, 3)))
    metrics = small_report(tmp_path, splits={"validation": empty, "test": SplitResult(Y, PROBS)})
    assert set(metrics) == {"test_accuracy", "test_loss", "test_top_2_accuracy",
                            "test_macro_f1", "test_samples"}
    assert "Not evaluated (no samples): validation." in (tmp_path / REPORT_FILE).read_text()


def test_class_names_must_match_the_probabilities(tmp_path):
    with pytest.raises(ValueError, match="3 classes, but 2 class names"):
        small_report(tmp_path, class_names=NAMES3[:2])
    with pytest.raises(ValueError, match="class_counts\\['train'\\] has 2 entries"):
        small_report(tmp_path, class_counts={"train": np.array([1, 2])})


# ---------------------------------------------------------------- the whole report, 43 classes

GTSRB_CLASSES = 43


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """A report as `train` writes it: three splits, images, history and class counts."""
    rng = np.random.default_rng(7)
    names = [f"Sign {i} with a rather long name" for i in range(GTSRB_CLASSES)]

    def split(n: int, channels: int) -> SplitResult:
        y = rng.integers(0, GTSRB_CLASSES - 1, n)  # the last class never appears
        logits = rng.normal(size=(n, GTSRB_CLASSES))
        logits[np.arange(n), y] += 3
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        images = rng.integers(0, 256, (n, 32, 32, channels), dtype=np.uint8)
        return SplitResult(y, probs.astype(np.float32), images)

    splits = {"train": split(300, 3), "validation": split(80, 3), "test": split(100, 1)}
    history = {"loss": [2.0, 1.2, 0.9], "accuracy": [0.3, 0.6, 0.7],
               "val_loss": [2.1, 1.4, 1.1], "val_accuracy": [0.25, 0.5, 0.6]}
    counts = {s: np.bincount(r.y_true, minlength=GTSRB_CLASSES) for s, r in splits.items()}
    out = tmp_path_factory.mktemp("report")
    metrics = write_report(out, class_names=names, splits=splits, history=history,
                           class_counts=counts, top_k=5)
    return out, metrics, splits


def test_metrics_json_has_exactly_the_flat_keys_and_matches_the_return_value(full_report):
    out, metrics, splits = full_report
    expected = {f"{s}_{k}" for s in ("train", "validation", "test")
                for k in ("accuracy", "loss", "top_5_accuracy", "macro_f1", "samples")}
    data = json.loads((out / METRICS_FILE).read_text())
    assert set(data) == expected
    assert data == pytest.approx(metrics)
    assert data["validation_samples"] == 80
    assert data["test_top_5_accuracy"] >= data["test_accuracy"]
    assert data["test_accuracy"] == evaluate_split(splits["test"], 5)["accuracy"]


def test_every_file_is_written_and_parses(full_report):
    out, metrics, _ = full_report
    for split in ("train", "validation", "test"):
        files = split_files(split)
        wrong = round(metrics[f"{split}_samples"] * (1 - metrics[f"{split}_accuracy"]))
        assert len(read_csv(out / files["per_class"])) == GTSRB_CLASSES + 1
        confusion = read_csv(out / files["confusion_csv"])
        assert len(confusion) == GTSRB_CLASSES + 1
        assert all(len(row) == GTSRB_CLASSES + 1 for row in confusion)
        assert len(read_csv(out / files["confident_wrong_csv"])) == min(wrong, 25) + 1
        summary = json.loads((out / files["summary"]).read_text())
        assert summary["top_k"]["k"] == 5
        assert summary["files"] == files
        # Big enough to read 43 tick labels.
        assert min(read_png(out / files["confusion_png"]).size) >= 1000
        grid = read_png(out / files["confident_wrong_png"])
        assert grid.width >= 500 and grid.height >= 500
    distribution = read_csv(out / DISTRIBUTION_CSV)
    assert distribution[0] == ["class_id", "class_name", "train", "validation", "test"]
    assert distribution[-1][2:] == ["0", "0", "0"]
    for name in (CURVES_FILE, DISTRIBUTION_PNG):
        assert min(read_png(out / name).size) >= 300


def test_report_md_shows_the_headline_numbers_and_links_only_existing_files(full_report):
    out, metrics, _ = full_report
    text = (out / REPORT_FILE).read_text()
    assert f"| test | 100 | {metrics['test_accuracy']:.4f} |" in text
    assert "Worst classes" in text and "Most confused" in text
    assert "Classes absent from this split: Sign 42 with a rather long name." in text
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert CURVES_FILE in links and split_files("test")["confident_wrong_png"] in links
    assert all((out / link).is_file() for link in links)


def test_without_images_or_history_the_optional_plots_go_and_the_report_says_so(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    history = {"loss": [1.0], "val_loss": [1.2]}
    small_report(tmp_path, splits={"test": SplitResult(Y, PROBS, images)}, history=history)
    grid = tmp_path / split_files("test")["confident_wrong_png"]
    assert grid.is_file() and (tmp_path / CURVES_FILE).is_file()

    # Written again into the same directory: plots of the earlier run must not linger.
    small_report(tmp_path, history={"loss": [], "val_loss": []})
    assert not grid.exists()
    assert not (tmp_path / CURVES_FILE).exists()
    text = (tmp_path / REPORT_FILE).read_text()
    assert "No training history was recorded." in text
    assert "confident_wrong_test.png" not in text
    assert (tmp_path / split_files("test")["confident_wrong_csv"]).is_file()


def test_notes_on_the_model_and_its_runtime_are_listed_under_their_heading(tmp_path):
    small_report(tmp_path, notes=["`serve` uses TensorFlow: no model.tflite | because"])
    text = (tmp_path / REPORT_FILE).read_text()
    assert "## Model and serving\n\n- `serve` uses TensorFlow: no model.tflite \\| because" in text
    assert text.index("## Model and serving") < text.index("## test")
    small_report(tmp_path)
    assert "## Model and serving" not in (tmp_path / REPORT_FILE).read_text()
