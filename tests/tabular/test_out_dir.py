"""`autopilot local --out DIR` writes a whole run or nothing: a run that fails leaves no DIR, and
an existing run is replaced only with --overwrite, and then only by a run that finished."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from byoc.cli import main
from byoc.tabular import baseline
from tests.support.tabular import bounded

pytestmark = pytest.mark.slow


def _local(csv_path: Path, out: Path, *extra: str) -> int:
    return main(["autopilot", "local", "--csv", str(csv_path), "--target", "y", "--out", str(out),
                 "--mode", "hpo", *bounded(1), "--folds", "2", *extra])


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def single_row_class(tmp_path) -> Path:
    """A table the search refuses after the data report is written: a class with one row."""
    path = tmp_path / "bad.csv"
    pd.DataFrame({"x": [i % 6 for i in range(21)],
                  "y": ["a", "b"] * 10 + ["c"]}).to_csv(path, index=False)
    return path


def test_an_existing_run_is_refused_and_left_untouched(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert _local(small, out) == 0
    before = _files(out)
    capsys.readouterr()
    assert _local(small, out, "--seed", "1") == 2
    err = capsys.readouterr().err
    assert f"{out} already holds a run" in err and "--overwrite" in err
    assert _files(out) == before


def test_overwrite_replaces_the_whole_run(small, tmp_path):
    out = tmp_path / "out"
    assert _local(small, out) == 0
    (out / "notes.txt").write_text("a file of the old run")
    assert _local(small, out, "--overwrite", "--max-candidates", "2") == 0
    assert "notes.txt" not in _files(out)
    assert len(pd.read_csv(out / baseline.LEADERBOARD_FILE)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left beside it


def test_an_empty_directory_is_not_a_run(small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert _local(small, out) == 0
    assert baseline.MODEL_FILE in _files(out)


def test_a_failed_run_leaves_no_out_directory(single_row_class, tmp_path, capsys):
    out = tmp_path / "out"
    assert _local(single_row_class, out) == 2
    assert "a single row" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_a_failed_overwrite_keeps_the_old_run(small, single_row_class, tmp_path):
    out = tmp_path / "out"
    assert _local(small, out) == 0
    before = _files(out)
    assert _local(single_row_class, out, "--overwrite") == 2
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "out"]
