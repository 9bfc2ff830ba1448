"""`candidate.py`, the script beside model.joblib that rebuilds the search's best pipeline, and the
pipeline's source it shares with the candidate definition notebook: it runs whichever family won.
The search picks the winner by score, so these tests write the script for every family, with the
family's defaults, through the function the run calls, and run it."""

from __future__ import annotations

import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from byoc.tabular import baseline, families, notebooks, pipeline_source
from byoc.tabular.candidate_pipeline import build_pipeline
from byoc.tabular.dataset import load
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


# Kernel ridge is for regression only: tests/tabular/test_search.py runs its script.
@pytest.mark.parametrize("family", [f for f in families.FAMILIES if not f.regression_only],
                         ids=lambda f: f.name)
def test_the_candidate_script_of_every_family_fits_and_predicts(searched, family, tmp_path):
    root, frame, summary = searched
    ds = load(root / "t.csv", "y")
    best = notebooks.Entry(f"{family.name}-001", family.name, dict(family.defaults), 0.5, 0.0)
    script = tmp_path / notebooks.CANDIDATE_SCRIPT
    script.write_text(notebooks.candidate_script(str(root / "t.csv"), ds, summary, best, 0))
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
@pytest.mark.parametrize("problem_type", ["BinaryClassification", "Regression"])
def test_every_setting_a_family_can_take_renders_as_the_same_pipeline(searched, family,
                                                                      problem_type):
    """Presets and a random draw: the source the notebook and the script show builds the very
    pipeline the search built (tuples stay tuples, False stays False)."""
    root, _, _ = searched
    ds = load(root / "t.csv", "y")
    ds.problem_type = problem_type
    for params in [*map(dict, family.presets), family.sample(np.random.default_rng(0))]:
        built = build_pipeline(ds, family, params, 0)
        scope: dict = {}
        exec(pipeline_source.render(built), scope)
        assert repr(scope["pipeline"]) == repr(built)
        assert _leaves(scope["pipeline"]) == _leaves(built)


def test_a_setting_without_a_source_form_is_refused():
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(ValueError, match="no source form"):
        pipeline_source.render(FunctionTransformer(func=lambda x: x))


def test_a_missing_value_marker_renders_as_numpy_nan():
    from sklearn.impute import SimpleImputer

    text = pipeline_source.render(SimpleImputer(missing_values=-1.0, fill_value=float("nan")))
    assert "from numpy import nan" in text and "fill_value=nan" in text


def _leaves(pipeline) -> dict:
    """Every nested parameter that is a plain value (not an estimator or a list of steps)."""
    return {k: v for k, v in pipeline.get_params(deep=True).items()
            if not hasattr(v, "get_params") and not isinstance(v, list)}
