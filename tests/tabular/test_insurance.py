"""The insurance-charges demo table has the relationships the demo relies on, and its run writes
both notebooks, executed, and the HTML page; the candidate notebook reproduces its scores when
run again in a fresh kernel."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from byoc.cli import main
from byoc.tabular import baseline, insurance, notebook_kernel, notebooks
from tests.support.tabular import UNREACHED_BUDGET

RERUN_LINE = re.compile(r"^(\w+) = (\S+) re-run.*?; (\S+) on the leaderboard$", re.M)


def test_smoker_age_and_obesity_effects():
    t = insurance.generate(rows=4000, seed=1)
    charges, smoker = t["charges"], t["smoker"] == "yes"
    ratio = charges[smoker].mean() / charges[~smoker].mean()
    assert 2.5 < ratio < 4.5
    assert 0.15 < smoker.mean() < 0.25
    assert np.corrcoef(t["age"][~smoker], charges[~smoker])[0, 1] > 0.5
    obese = t["bmi"] > insurance.OBESE_BMI
    # The interaction: obesity costs smokers a lot and non-smokers little.
    smoker_gap = charges[smoker & obese].mean() - charges[smoker & ~obese].mean()
    other_gap = charges[~smoker & obese].mean() - charges[~smoker & ~obese].mean()
    assert smoker_gap > 15000 and abs(other_gap) < 2000
    assert charges.min() > 1000 and set(t["region"]) == set(insurance.REGIONS)


def test_same_seed_same_table():
    a, b = insurance.generate(50, seed=7), insurance.generate(50, seed=7)
    assert all(np.array_equal(a[c], b[c]) for c in insurance.COLUMNS)
    assert not np.array_equal(a["charges"], insurance.generate(50, seed=8)["charges"])


@pytest.fixture(scope="module")
def insurance_run(tmp_path_factory):
    """The demo's table, 300 rows, and a run of it with its notebooks (4 candidates, 3 folds)."""
    tmp_path = tmp_path_factory.mktemp("insurance")
    path = tmp_path / "insurance.csv"
    assert main(["autopilot", "insurance", "--out", str(path), "--rows", "300",
                 "--seed", "2"]) == 0
    summary = baseline.run(path, insurance.TARGET, tmp_path / "out", mode="hpo",
                           max_candidates=4, time_budget=UNREACHED_BUDGET, folds=3,
                           progress=lambda line: None)
    return path, tmp_path / "out", summary


def test_cli_writes_csv_and_baseline_learns_it(insurance_run):
    path, _, summary = insurance_run
    frame = pd.read_csv(path)
    assert list(frame.columns) == list(insurance.COLUMNS) and len(frame) == 300
    assert summary.problem_type == "Regression"
    assert summary.categorical_features == ["sex", "smoker", "region"]
    assert summary.metrics["r2"] > 0.75


def _outputs(notebook) -> tuple[str, list[str], list]:
    """A notebook's printed text, the kinds of its rich outputs, and its errors."""
    text, kinds, errors = [], [], []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type == "error":
                errors.append(out)
            else:
                kinds += list(out.data)
    return "".join(text), kinds, errors


def test_the_run_writes_both_notebooks_executed_and_the_html_page(insurance_run):
    _, out, summary = insurance_run
    folder = out / notebooks.NOTEBOOK_DIR
    exploration = nbformat.read(folder / notebooks.DATA_EXPLORATION, as_version=4)
    text, kinds, errors = _outputs(exploration)
    assert not errors
    assert "300 rows and 7 columns in the file" in text
    assert "Regression: the target holds numbers" in text
    assert "image/png" in kinds and "text/html" in kinds  # the plots and the tables
    html = (folder / notebooks.DATA_EXPLORATION_HTML).read_text()
    assert "columns most related to the target" in html and "data:image/png;base64" in html

    candidates = nbformat.read(folder / notebooks.CANDIDATE_DEFINITION, as_version=4)
    text, _, errors = _outputs(candidates)
    assert not errors
    board = pd.read_csv(out / baseline.LEADERBOARD_FILE)
    shown = board["candidate"].head(notebooks.TOP_CANDIDATES).tolist()
    reruns = RERUN_LINE.findall(text)
    assert [line for line in text.splitlines() if "re-run (" in line][0].split()[0] == \
        summary.objective_key
    assert len(reruns) == len(shown)
    for name in shown:
        assert (folder / f"{name}.joblib").is_file()


def test_the_candidate_notebook_reproduces_the_leaderboard_in_a_fresh_kernel(insurance_run):
    """As a user re-runs it: the saved notebook, its outputs cleared, executed top to bottom."""
    _, out, summary = insurance_run
    folder = out / notebooks.NOTEBOOK_DIR
    notebook = nbformat.read(folder / notebooks.CANDIDATE_DEFINITION, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook_kernel.execute(notebook, folder)
    reruns = RERUN_LINE.findall(_outputs(notebook)[0])
    board = pd.read_csv(out / baseline.LEADERBOARD_FILE).set_index("candidate")
    assert len(reruns) == min(notebooks.TOP_CANDIDATES, len(board))
    for metric, rerun, shown in reruns:
        assert metric == summary.objective_key
        # Same folds, same seed, same settings: the same score, up to the printed digits.
        assert float(rerun) == pytest.approx(float(shown), rel=1e-5)
    best = summary.best_candidate
    assert float(board.loc[best, "score"]) == pytest.approx(float(reruns[0][1]), rel=1e-5)
