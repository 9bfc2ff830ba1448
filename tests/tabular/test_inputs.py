"""Bad input gets a clear `error: ...` that says what to do next, before any work is done;
input that can be read is read, and nothing in it is lost silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from byoc.cli import main
from byoc.tabular import baseline, dataset, prediction
from tests.support.tabular import UNREACHED_BUDGET, bounded


def _local(csv_path: Path, target: str, out: Path, *extra: str) -> int:
    return main(["autopilot", "local", "--csv", str(csv_path), "--target", target,
                 "--out", str(out), "--mode", "hpo", *bounded(2), "--folds", "2",
                 *extra])


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _predict(model: Path, rows: Path) -> int:
    return main(["autopilot", "predict", "--model", str(model), "--csv", str(rows)])


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


def test_target_entirely_missing(tmp_path, capsys):
    path = tmp_path / "blank.csv"
    path.write_text("x,y\n" + "".join(f"{i}, \n" for i in range(30)))
    assert _local(path, "y", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "Target 'y' has no value in any of the 30 rows" in err and "--target" in err


@pytest.mark.parametrize("ids", [[f"user-{i:04d}" for i in range(40)], list(range(100, 140))])
def test_id_like_target(tmp_path, capsys, ids):
    path = _write(tmp_path / "ids.csv", pd.DataFrame({"x": np.arange(40) % 7, "id": ids}))
    assert _local(path, "id", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "Target 'id'" in err and "looks like an identifier" in err and "--target" in err


def test_three_rows(tmp_path, capsys):
    path = _write(tmp_path / "tiny.csv", pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]}))
    assert _local(path, "y", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "has 3 rows" in err and "at least 10" in err and "Add rows" in err


def test_class_with_a_single_row(tmp_path, capsys):
    path = _write(tmp_path / "rare.csv", pd.DataFrame({
        "x": [i % 6 for i in range(21)], "y": ["a", "b"] * 10 + ["c"]}))
    assert _local(path, "y", tmp_path / "out") == 2
    assert "a single row" in capsys.readouterr().err


def test_column_of_only_nan_is_set_aside_and_reported(tmp_path):
    frame = pd.DataFrame({"x": np.arange(40) % 9, "empty": [np.nan] * 40,
                          "y": ["a", "b"] * 20})
    path = _write(tmp_path / "nan.csv", frame)
    summary = baseline.run(path, "y", tmp_path / "out", mode="hpo", max_candidates=2,
                           time_budget=UNREACHED_BUDGET, folds=2,
                           progress=lambda line: None, write_notebooks=False)
    assert summary.dropped_columns == {"empty": "empty (no value in any row)"}
    assert any("'empty' is empty" in w for w in summary.warnings)
    assert "| empty | dropped: empty" in (tmp_path / "out" / baseline.REPORT_FILE).read_text()


def test_bom_and_semicolons_are_read(tmp_path):
    frame = pd.DataFrame({"x": np.arange(30) % 5, "color": ["red", "blue", "green"] * 10,
                          "y": ["a", "b"] * 15})
    plain = dataset.read_csv(_write(tmp_path / "plain.csv", frame))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.csv").read_bytes())
    semicolons = tmp_path / "semi.csv"
    frame.to_csv(semicolons, sep=";", index=False)
    for path in (bom, semicolons):
        read = dataset.read_csv(path)
        assert list(read.columns) == ["x", "color", "y"]
        pd.testing.assert_frame_equal(read, plain)
    assert _local(bom, "x", tmp_path / "out") == 0  # the first column, behind the BOM


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
    assert _predict(tmp_path, small) == 2
    assert "autopilot local" in capsys.readouterr().err


def test_predict_with_missing_feature_column(small_model, tmp_path, capsys):
    rows = _write(tmp_path / "rows.csv", pd.DataFrame({"x": [1, 2]}))
    capsys.readouterr()
    assert _predict(small_model, rows) == 2
    err = capsys.readouterr().err
    assert "lacks columns the model was trained on: color" in err and "It needs x, color" in err


def test_predict_with_a_headerless_file_says_the_header_is_missing(small_model, small,
                                                                     tmp_path, capsys):
    """The rows of the training file without its header line: pandas reads the first row as
    column names, which match none of the model's."""
    frame = pd.read_csv(small)
    rows = tmp_path / "rows.csv"
    frame.drop(columns="y").to_csv(rows, index=False, header=False)
    capsys.readouterr()
    assert _predict(small_model, rows) == 2
    err = capsys.readouterr().err
    first = ", ".join(str(v) for v in rows.read_text().splitlines()[0].split(","))
    assert f"{rows} seems to have no header row: its first row ({first})" in err
    assert f"in the training file's order: {','.join(frame.columns)}" in err
    assert "leave out 'y'" in err and "lacks columns" not in err

    # With the header line it asks for, the same rows predict.
    rows.write_text("x,color\n" + rows.read_text())
    assert _predict(small_model, rows) == 0


def test_predict_with_extra_and_reordered_columns(small_model, small, tmp_path, capsys):
    expected = prediction.predict(small_model, small)
    frame = pd.read_csv(small)
    frame["comment"] = "hello"
    rows = _write(tmp_path / "rows.csv", frame[["comment", "color", "y", "x"]])
    capsys.readouterr()
    assert _predict(small_model, rows) == 0
    out, err = capsys.readouterr()
    assert "not trained on; ignored: comment" in err
    assert "another order; they are matched by name" in err
    assert out.splitlines()[1:] == [str(v) for v in expected["prediction"]]


def test_predict_with_other_dtypes(small_model, tmp_path, capsys):
    rows = _write(tmp_path / "rows.csv", pd.DataFrame({"x": ["many"], "color": ["red"]}))
    capsys.readouterr()
    assert _predict(small_model, rows) == 2
    err = capsys.readouterr().err
    assert "Column 'x'" in err and "must hold numbers" in err
    numbers = _write(tmp_path / "numbers.csv", pd.DataFrame({"x": [1], "color": [3]}))
    assert _predict(small_model, numbers) == 0
    assert "held text in training hold only numbers" in capsys.readouterr().err


def test_missing_values_and_unseen_categories_are_handled(tmp_path, capsys):
    frame = pd.DataFrame({"x": [float(i) if i % 7 else None for i in range(40)],
                          "color": (["red", "blue", None, "green"] * 10),
                          "y": [i * 2.5 + (i % 3) for i in range(40)]})
    path = _write(tmp_path / "gaps.csv", frame)
    assert _local(path, "y", tmp_path / "out") == 0
    rows = _write(tmp_path / "rows.csv", pd.DataFrame({"x": [None, 3.0],
                                                       "color": ["purple", None]}))
    capsys.readouterr()
    assert _predict(tmp_path / "out", rows) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 3
    assert all(float(v) == float(v) for v in lines[1:])  # numbers, not NaN
