"""`candidate.py`, the script beside model.joblib that rebuilds the search's best pipeline: it runs
whichever family won. The search picks the winner by score, so these tests write the script for
every family, with the family's defaults, through the function the search calls, and run it."""

from __future__ import annotations

import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from byoc.tabular import baseline, families, search, search_record
from byoc.tabular.run_summary import Summary
from tests.support.executables import exe_env
from tests.support.tabular import UNREACHED_BUDGET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny table (60 rows, a numeric and a categorical column) and a one-candidate search of
    it, for a real summary."""
    root = tmp_path_factory.mktemp("candidates")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "color": rng.choice(["red", "blue"], 60)})
    frame["y"] = np.where(frame["x"] + (frame["color"] == "red") > 0.5, "up", "down")
    frame.to_csv(root / "t.csv", index=False)
    summary = baseline.run(root / "t.csv", "y", root / "out", mode="hpo", max_candidates=1,
                           time_budget=UNREACHED_BUDGET, folds=2, progress=lambda line: None,
                           write_notebooks=False)
    return root, frame, summary


@pytest.mark.parametrize("family", families.FAMILIES, ids=lambda f: f.name)
def test_the_candidate_script_of_every_family_fits_and_predicts(searched, family, tmp_path):
    root, frame, summary = searched
    best = search.Candidate(f"{family.name}-001", family.name, dict(family.defaults),
                              {summary.objective_key: 0.5}, 0.0, 0.0)
    script = search_record.write_candidate_script(tmp_path, root / "t.csv", summary, best, 0)
    result = subprocess.run([sys.executable, str(script), str(root / "t.csv"),
                             str(tmp_path / "refit.joblib")], env=exe_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"{summary.objective_key} = ")
    refit = joblib.load(tmp_path / "refit.joblib")
    assert refit["classes"] == summary.classes == ["down", "up"]
    predicted = refit["pipeline"].predict(frame.drop(columns="y"))
    assert set(predicted) <= {0, 1} and len(predicted) == len(frame)


@pytest.mark.parametrize("family", families.FAMILIES, ids=lambda f: f.name)
def test_every_setting_a_family_can_take_is_written_as_it_is(family, tmp_path):
    """Presets and a random draw: the script's PARAMS are the very values (tuples stay tuples,
    False stays False), and a value Python cannot write as a literal is refused."""
    settings = [*map(dict, family.presets), family.sample(np.random.default_rng(0))]
    for params in settings:
        best = search.Candidate("c", family.name, params, {"accuracy": 0.5}, 0.0, 0.0)
        script = search_record.write_candidate_script(tmp_path, tmp_path / "t.csv", _SUMMARY,
                                                      best, 0)
        scope: dict = {}
        exec(_assignments(script.read_text()), scope)  # the constants only, not main()
        assert scope["PARAMS"] == params and scope["FAMILY"] == family.name


def test_a_setting_that_is_not_a_literal_is_refused(tmp_path):
    best = search.Candidate("c", "linear", {"alpha": np.float64("nan")}, {"accuracy": 0.5},
                              0.0, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        search_record.write_candidate_script(tmp_path, tmp_path / "t.csv", _SUMMARY, best, 0)
    assert not (tmp_path / search_record.CANDIDATE_SCRIPT).exists()


_SUMMARY = Summary(
    problem_type="BinaryClassification", objective="Accuracy", objective_key="accuracy",
    mode="hpo", mode_reason="chosen with --mode", target="y", rows=10, numeric_features=["x"],
    categorical_features=[], dropped_columns={}, classes=["down", "up"], positive_class="up",
    cv_folds=2, time_budget_s=60.0, elapsed_s=1.0, candidates_evaluated=1, best_candidate="c",
    best_algorithm="linear", best_params={}, metrics={"accuracy": 0.5}, score_std=0.0,
    tied_with_best=[], ensemble=None, stacked=None, importance={}, importance_folds=0,
    warnings=[])


def _assignments(text: str) -> str:
    """The script's module-level constants (CSV = ... through SEED = ...)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CSV = "))
    end = next(i for i, line in enumerate(lines) if line.startswith("SEED = "))
    return "\n".join(lines[start:end + 1])

