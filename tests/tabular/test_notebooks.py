"""The notebooks' parts: the data exploration findings on a table that has every one of them,
and the candidate notebook when the ensemble or the stacked model wins, executed in a real
kernel on a tiny search. The insurance run's notebooks, whole, are in test_insurance.py."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from byoc.tabular import candidate_pipeline, exploration, notebook_kernel, notebooks
from byoc.tabular.baseline import LEADERBOARD_FILE, _write_leaderboard, build_ensembles
from byoc.tabular.candidate_pipeline import folds_of
from byoc.tabular.dataset import CONSTANT, ID_LIKE, SET_ASIDE, load, read_csv
from byoc.tabular.run_summary import Summary
from byoc.tabular.scoring import KEYS
from byoc.tabular.search import ENSEMBLING, order, search

RERUN = re.compile(r"^(\w+) = (\S+) re-run(?:, nested)?.*?(\S+) on the leaderboard$", re.M)


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    """60 rows with a missing-value column, a constant one, an ID, a 30-category column and
    three duplicated rows."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "id": [f"r{i:04d}" for i in range(60)],  # 60 labels in 63 rows: ID-like all the same
        "x": rng.normal(size=60),
        "gappy": np.where(rng.random(60) < 0.3, np.nan, rng.normal(size=60)),
        "same": 7,
        "city": [f"city{i % 30}" for i in range(60)],
        "color": rng.choice(["red", "blue"], 60),
    })
    frame["y"] = np.where(frame["x"] > 0, "up", "down")
    frame = pd.concat([frame, frame.iloc[:3]], ignore_index=True)  # exact copies, id and all
    path = tmp_path_factory.mktemp("findings") / "t.csv"
    frame.to_csv(path, index=False)
    return path


def test_each_finding_says_what_byoc_does_in_the_preprocessing_words(findings):
    ds = load(findings, "y")
    types = exploration.column_types(ds).set_index("column")
    assert types.loc["x", "byoc"] == "numeric"
    assert types.loc["x", "what byoc does"] == candidate_pipeline.NUMERIC_STEPS
    assert types.loc["color", "what byoc does"] == candidate_pipeline.CATEGORICAL_STEPS
    assert types.loc["same", "why"] == CONSTANT and types.loc["id", "why"] == ID_LIKE

    missing = exploration.missing_values(ds).set_index("column")
    assert missing.index[0] == "gappy" and missing.loc["gappy", "missing"] > 0
    assert missing.loc["gappy", "what byoc does"] == "median imputation"
    assert missing.loc["x", "what byoc does"] == "nothing to fill"

    aside = exploration.set_aside(ds).set_index("column")
    assert set(aside.index) == {"id", "same"}
    assert set(aside["what byoc does"]) == {SET_ASIDE}

    wide = exploration.high_cardinality(ds)
    assert list(wide["column"]) == ["city"] and list(wide["categories"]) == [30]
    assert wide["what byoc does"].iloc[0] == candidate_pipeline.HIGH_CARDINALITY

    assert len(exploration.duplicated_rows(read_csv(findings))) == 3
    balance = exploration.target_distribution(ds)
    assert balance["rows"].sum() == len(ds.frame)
    assert exploration.problem_type_reason(ds, given=False) == \
        "BinaryClassification: the target has two classes."


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory):
    """Two cheap families on 40 rows, 2 folds, and their ensemble and stacked model."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    frame["y"] = np.where(frame["x"] + 0.5 * rng.normal(size=40) > 0, "up", "down")
    frame.to_csv(root / "t.csv", index=False)
    ds = load(root / "t.csv", "y")
    folds = folds_of(ds, 2, 0)
    found = search(ds, "Accuracy", folds, 3600.0, 0, ENSEMBLING, max_candidates=2,
                   progress=lambda line: None).candidates
    combined = build_ensembles(ds, "Accuracy", found, folds, progress=lambda line: None)
    return root, ds, found, combined


def _summary(ds) -> Summary:
    return Summary(
        problem_type=ds.problem_type, objective="Accuracy", objective_key="accuracy",
        mode=ENSEMBLING, mode_reason="test", target="y", rows=len(ds.frame),
        numeric_features=ds.numeric, categorical_features=ds.categorical, dropped_columns={},
        classes=["down", "up"], positive_class="up", cv_folds=2, time_budget_s=3600.0,
        elapsed_s=1.0, search_budget_s=3600.0, search_elapsed_s=1.0,
        search_stop="the candidate limit (2) was reached", candidates_evaluated=2,
        best_candidate="", best_algorithm="",
        best_params={}, metrics={}, score_std=0.0, tied_with_best=[], ensemble=None,
        stacked=None, importance={}, importance_folds=0, warnings=[])


@pytest.mark.parametrize("winner", ["ensemble", "stacked"])
def test_a_winning_combined_entry_is_reproduced_from_its_members(tiny_search, tmp_path,
                                                                 winner):
    """The combined entry first, as when it wins: the notebook shows its members' code and
    re-runs it from their out-of-fold predictions, in a real kernel."""
    root, ds, found, combined = tiny_search
    (entry,) = [c for c in combined if c.name == winner]
    board = [entry, *sorted(found, key=order(KEYS["Accuracy"]))]
    _write_leaderboard(tmp_path / LEADERBOARD_FILE, board, "Accuracy")
    folder = tmp_path / notebooks.NOTEBOOK_DIR
    folder.mkdir()
    summary = _summary(ds)
    summary.best_candidate = winner
    notebook = notebooks.candidate_notebook(str(root / "t.csv"), ds, summary,
                                            notebooks.read_leaderboard(
                                                tmp_path / LEADERBOARD_FILE), 0)
    notebook_kernel.execute(notebook, folder)
    nbformat.write(notebook, folder / notebooks.CANDIDATE_DEFINITION)
    printed = "".join(out.text for cell in notebook.cells for out in cell.get("outputs", [])
                      if out.output_type == "stream")
    reruns = RERUN.findall(printed)
    assert len(reruns) == len(found) + 1  # each member, then the combined entry
    for _, rerun, shown in reruns[:-1]:
        assert float(rerun) == pytest.approx(float(shown), rel=1e-5)
    _, rerun, shown = reruns[-1]
    assert float(shown) == pytest.approx(entry.metrics["accuracy"], rel=1e-5)
    # The stacker is refit on the same members: the same nested score. The ensemble re-chooses
    # its weights among its members only: close to the search's.
    tolerance = 1e-5 if winner == "stacked" else entry.score_std + 1e-9
    assert float(rerun) == pytest.approx(float(shown), abs=tolerance)
    assert (folder / f"{winner}.joblib").is_file()


def test_no_notebooks_writes_none_but_the_script(small_model):
    """The session's small run is made with --no-notebooks (tests/support/tabular.py)."""
    assert not (small_model / notebooks.NOTEBOOK_DIR).exists()
    assert (small_model / notebooks.CANDIDATE_SCRIPT).is_file()


def test_the_kernel_is_this_python_whatever_kernels_are_installed(tmp_path, monkeypatch):
    """A `python3` kernel spec installed for another environment is never picked, and a fresh
    virtualenv needs no `ipython kernel install`; a failing cell raises with its error."""
    import json
    import sys

    from nbclient.exceptions import CellExecutionError

    other = tmp_path / "jupyter" / "kernels" / "python3"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps(
        {"argv": ["/bin/false", "{connection_file}"], "display_name": "other",
         "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os, sys\nprint(sys.executable)\nprint(os.getcwd())"),
        nbformat.v4.new_code_cell("1 / 0")])
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        notebook_kernel.execute(notebook, tmp_path)
    printed = notebook.cells[0].outputs[0].text.split()
    assert printed == [sys.executable, str(tmp_path)]


def test_a_kernel_that_dies_costs_a_warning_not_the_run(findings, tmp_path, monkeypatch):
    """The search's results stand: the notebook is saved unexecuted, and the log says why."""
    def dies(notebook, cwd, timeout=0):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(notebook_kernel, "execute", dies)
    lines: list[str] = []
    ds = load(findings, "y")
    written = notebooks.write(tmp_path, str(findings), ds, _summary(ds), [], 0,
                              given_problem_type=False, progress=lines.append)
    assert [p.name for p in written] == [notebooks.DATA_EXPLORATION,
                                         notebooks.DATA_EXPLORATION_HTML]
    assert lines == [f"warning: {notebooks.NOTEBOOK_DIR}/{notebooks.DATA_EXPLORATION} could "
                     "not run (RuntimeError: Kernel died before replying to kernel_info); it "
                     "is saved unexecuted"]
    saved = nbformat.read(written[0], as_version=4)
    assert saved.cells and not any(cell.get("outputs") for cell in saved.cells)
