"""Bad input gets a clear `error: ...` that says what to do next, before any work is done."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from byoc.cli import main


def _local(csv_path: Path, target: str, out: Path, *extra: str) -> int:
    return main(["autopilot", "local", "--csv", str(csv_path), "--target", target,
                 "--out", str(out), "--max-candidates", "3", "--folds", "2", *extra])


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small(tmp_path) -> Path:
    return _write(tmp_path / "small.csv", pd.DataFrame({
        "x": [i % 6 for i in range(20)], "color": ["red", "blue"] * 10, "y": [0, 1] * 10}))


def test_missing_target_lists_columns(small, tmp_path, capsys):
    assert _local(small, "label", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Target column 'label' is not in")
    assert "x, color, y" in err and "--target" in err
    assert not (tmp_path / "out").exists()


def test_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _local(empty, "y", tmp_path / "out") == 2
    assert "is empty" in capsys.readouterr().err


def test_header_only(tmp_path, capsys):
    header = tmp_path / "header.csv"
    header.write_text("x,y\n")
    assert _local(header, "y", tmp_path / "out") == 2
    assert "no data rows" in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    assert _local(tmp_path / "nope.csv", "y", tmp_path / "out") == 2
    assert "does not exist" in capsys.readouterr().err


def test_target_with_one_class(tmp_path, capsys):
    path = _write(tmp_path / "one.csv", pd.DataFrame({"x": range(30), "y": ["a"] * 30}))
    assert _local(path, "y", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "single value ('a')" in err and "nothing to learn" in err


def test_class_with_a_single_row(tmp_path, capsys):
    path = _write(tmp_path / "rare.csv", pd.DataFrame({
        "x": [i % 6 for i in range(21)], "y": ["a", "b"] * 10 + ["c"]}))
    assert _local(path, "y", tmp_path / "out") == 2
    assert "a single row" in capsys.readouterr().err


def test_too_few_rows(tmp_path, capsys):
    path = _write(tmp_path / "tiny.csv", pd.DataFrame({"x": range(5), "y": [0, 1] * 2 + [0]}))
    assert _local(path, "y", tmp_path / "out") == 2
    assert "at least 10" in capsys.readouterr().err


def test_regression_needs_numbers(small, tmp_path, capsys):
    assert _local(small, "color", tmp_path / "out", "--problem-type", "Regression") == 2
    assert "needs numbers" in capsys.readouterr().err


def test_binary_needs_two_classes(tmp_path, capsys):
    path = _write(tmp_path / "three.csv", pd.DataFrame({"x": range(30), "y": ["a", "b", "c"] * 10}))
    assert _local(path, "y", tmp_path / "out", "--problem-type", "BinaryClassification") == 2
    assert "exactly 2 classes" in capsys.readouterr().err


def test_objective_must_fit_problem(small, tmp_path, capsys):
    assert _local(small, "y", tmp_path / "out", "--objective", "RMSE") == 2
    err = capsys.readouterr().err
    assert "does not fit BinaryClassification" in err and "F1" in err


def test_predict_without_model(tmp_path, small, capsys):
    assert main(["autopilot", "predict", "--model", str(tmp_path), "--csv", str(small)]) == 2
    assert "autopilot local" in capsys.readouterr().err


def test_predict_with_missing_feature_column(small, tmp_path, capsys):
    assert _local(small, "y", tmp_path / "out") == 0
    rows = _write(tmp_path / "rows.csv", pd.DataFrame({"x": [1, 2]}))
    capsys.readouterr()
    assert main(["autopilot", "predict", "--model", str(tmp_path / "out"),
                 "--csv", str(rows)]) == 2
    assert "lacks columns the model was trained on: color" in capsys.readouterr().err


def test_predict_with_text_in_numeric_column(small, tmp_path, capsys):
    assert _local(small, "y", tmp_path / "out") == 0
    rows = _write(tmp_path / "rows.csv", pd.DataFrame({"x": ["many"], "color": ["red"]}))
    capsys.readouterr()
    assert main(["autopilot", "predict", "--model", str(tmp_path / "out"),
                 "--csv", str(rows)]) == 2
    assert "Column 'x'" in capsys.readouterr().err


def test_missing_values_and_unseen_categories_are_handled(tmp_path, capsys):
    frame = pd.DataFrame({"x": [float(i) if i % 7 else None for i in range(40)],
                          "color": (["red", "blue", None, "green"] * 10),
                          "y": [i * 2.5 + (i % 3) for i in range(40)]})
    path = _write(tmp_path / "gaps.csv", frame)
    assert _local(path, "y", tmp_path / "out") == 0
    unseen = pd.DataFrame({"x": [None, 3.0], "color": ["purple", None]})
    rows = _write(tmp_path / "rows.csv", unseen)
    capsys.readouterr()
    assert main(["autopilot", "predict", "--model", str(tmp_path / "out"),
                 "--csv", str(rows)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 3
    assert all(float(v) == float(v) for v in lines[1:])  # numbers, not NaN
