"""The search spends its budget: it keeps drawing candidates while families improve, stops early
only when the leaderboard has stopped moving, and says why; and the kernel ridge family, for
small regression tables."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from byoc.tabular import baseline, families, notebooks
from byoc.tabular.candidate_pipeline import folds_of
from byoc.tabular.dataset import load
from byoc.tabular.search import (
    ENSEMBLING,
    FAMILY_PATIENCE,
    HPO,
    STALL_CANDIDATES,
    TOLERANCE,
    Plateau,
    search,
)
from tests.support.executables import exe_env
from tests.support.tabular import UNREACHED_BUDGET

OLD_CAP = 5  # candidates per family in ensembling mode before the search spent its budget


def test_plateau_counts_candidates_since_a_real_improvement():
    mse = Plateau(sign=1)  # lower is better
    assert mse.record(100.0) and mse.stale == 0
    assert not mse.record(100.0 * (1 - TOLERANCE / 2))  # within the tolerance: no improvement
    assert not mse.record(None) and mse.stale == 2  # a failed candidate counts as stale
    assert mse.record(90.0) and mse.stale == 0
    accuracy = Plateau(sign=-1)  # higher is better
    assert accuracy.record(0.5) and not accuracy.record(0.4) and accuracy.stale == 1
    assert accuracy.record(0.6) and accuracy.stale == 0


def _smooth(root, rows: int = 160):
    """A smooth regression surface of two numeric columns and a categorical one, with noise."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.uniform(-2, 2, rows), "b": rng.uniform(-2, 2, rows),
                          "kind": rng.choice(["p", "q"], rows)})
    frame["y"] = (np.sin(2 * frame["a"]) + frame["b"] ** 2 + (frame["kind"] == "p")
                  + 0.1 * rng.normal(size=rows))
    path = root / "smooth.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_search_keeps_drawing_until_the_leaderboard_stops_moving(tmp_path):
    """Two cheap families and a budget no run reaches: the search goes on past the presets
    (and past the five candidates per family that ensembling used to stop at) and ends by
    itself, saying the leaderboard stopped moving."""
    ds = load(_smooth(tmp_path), "y")
    lines: list[str] = []
    chosen = [families.BY_NAME["linear"], families.BY_NAME["knn"]]
    found = search(ds, "MSE", folds_of(ds, 2, 0), UNREACHED_BUDGET, 0, ENSEMBLING,
                   progress=lines.append, families=chosen)
    assert found.stopped_early and found.elapsed_s < found.budget_s
    assert "stopped" in found.stop_reason
    tried = pd.Series([c.family for c in found.candidates]).value_counts()
    assert tried.max() > OLD_CAP
    # Every candidate in the last stretch left the best score where it was.
    numbered = sorted(found.candidates, key=lambda c: int(c.name.rsplit("-", 1)[1]))
    best_before = [min(c.metrics["mse"] for c in numbered[:i + 1]) for i in range(len(numbered))]
    last = min(FAMILY_PATIENCE, STALL_CANDIDATES)
    assert best_before[-1] >= best_before[-last] * (1 - TOLERANCE)
    assert lines[-1].startswith("search stopped after") and found.stop_reason in lines[-1]


@pytest.mark.slow
def test_a_candidate_limit_is_the_reason_given(tmp_path):
    ds = load(_smooth(tmp_path), "y")
    found = search(ds, "MSE", folds_of(ds, 2, 0), UNREACHED_BUDGET, 0, ENSEMBLING,
                   max_candidates=3, progress=lambda line: None)
    assert len(found.candidates) == 3 and not found.stopped_early
    assert found.stop_reason == "the candidate limit (3) was reached"


def test_kernel_ridge_is_offered_for_small_regression_tables_only():
    def names(rows: int, classify: bool) -> tuple[set[str], dict[str, str]]:
        chosen, skipped = families.usable(rows, classify)
        return {f.name for f in chosen}, skipped

    assert "kernel_ridge" in names(1000, classify=False)[0]
    assert "kernel_ridge" not in names(1000, classify=True)[0]
    chosen, skipped = names(families.KERNEL_RIDGE_MAX_ROWS + 1, classify=False)
    assert "kernel_ridge" not in chosen and "above its limit" in skipped["kernel_ridge"]


@pytest.mark.slow
def test_kernel_ridge_on_the_leaderboard_in_the_candidate_code_and_ahead_of_linear(tmp_path):
    """On a smooth surface kernel ridge, with standardized inputs and one-hot categories, is far
    ahead of the linear model; it is on the leaderboard, and the candidate code, rendered from
    its pipeline as the notebook and candidate.py render it, re-runs its score."""
    path = _smooth(tmp_path)
    order = [f.name for f in families.usable(160, classify=False)[0]]
    upto = order.index("kernel_ridge") + 1
    out = tmp_path / "out"
    summary = baseline.run(path, "y", out, mode=HPO, max_candidates=upto,
                           time_budget=UNREACHED_BUDGET, folds=2, progress=lambda line: None,
                           write_notebooks=False, explanations=False)
    board = pd.read_csv(out / baseline.LEADERBOARD_FILE)
    score = board.groupby("algorithm")["score"].min()
    assert score["kernel_ridge"] < 0.5 * score["linear"]  # MSE: lower is better
    assert summary.search_stop == f"the candidate limit ({upto}) was reached"
    assert "stopped because the candidate limit" in (out / baseline.REPORT_FILE).read_text()
    saved = json.loads((out / baseline.SUMMARY_FILE).read_text())
    assert saved["search_stop"] == summary.search_stop and saved["search_budget_s"] > 0
    (entry,) = [e for e in notebooks.read_leaderboard(out / baseline.LEADERBOARD_FILE)
                if e.family == "kernel_ridge"]
    script = tmp_path / notebooks.CANDIDATE_SCRIPT
    script.write_text(notebooks.candidate_script(str(path), load(path, "y"), summary, entry, 0))
    code = script.read_text()
    assert "KernelRidge(" in code and "StandardScaler()" in code and "OneHotEncoder(" in code
    result = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "m.joblib")],
                            env=exe_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reproduced = float(result.stdout.split("=")[1].split()[0])
    assert reproduced == pytest.approx(entry.score, rel=1e-5)
