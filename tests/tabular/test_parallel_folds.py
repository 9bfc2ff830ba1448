"""Folds fit side by side in worker processes: the same models, predictions and leaderboard as
one at a time, and the search still stops between rounds of folds when its time is up."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from byoc.tabular import families
from byoc.tabular.candidate_pipeline import (
    FoldWorkers,
    build_pipeline,
    cross_validate,
    encoded_target,
    folds_of,
)
from byoc.tabular.dataset import load
from byoc.tabular.search import ENSEMBLING, _cross_validate, _OutOfTime, rounds, search
from tests.support.tabular import UNREACHED_BUDGET

JOBS = 2
# A forest (its own n_jobs, set to 1 in the workers), OpenMP (histogram boosting, XGBoost) and
# a plain model: each kind of threading the workers limit.
CHOSEN = ["linear", "random_forest", "hist_gradient_boosting", "xgboost"]


def _table(root, rows: int = 200):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.uniform(-2, 2, rows), "b": rng.uniform(-2, 2, rows),
                          "kind": rng.choice(["p", "q", "r"], rows)})
    frame["y"] = np.sin(2 * frame["a"]) + frame["b"] ** 2 + (frame["kind"] == "p") \
        + 0.1 * rng.normal(size=rows)
    path = root / "table.csv"
    frame.to_csv(path, index=False)
    return load(path, "y")


def _started(jobs: int = JOBS) -> FoldWorkers:
    """Workers that have started (they start in the background)."""
    workers = FoldWorkers(jobs)
    for _ in range(1200):
        if workers.ready:
            return workers
        time.sleep(0.1)
    pytest.fail("the fold workers did not start within 2 minutes")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["random_forest", "hist_gradient_boosting"])
def test_workers_fit_the_same_folds_as_one_at_a_time(tmp_path, name):
    ds = _table(tmp_path)
    y, _ = encoded_target(ds)
    folds = folds_of(ds, 5, 0)
    pipeline = build_pipeline(ds, families.BY_NAME[name], dict(families.BY_NAME[name].defaults), 0)
    serial_models, serial = cross_validate(pipeline, ds.X, y, folds, classify=False)
    called: list[int] = []
    models, parallel = cross_validate(pipeline, ds.X, y, folds, classify=False,
                                      before_fold=called.append, workers=_started())
    # A forest sums its trees in the order its threads finish them: equal to rounding.
    np.testing.assert_allclose(parallel, serial, rtol=1e-12)
    assert len(models) == len(serial_models) == 5
    for fold, (ours, theirs) in enumerate(zip(models, serial_models, strict=True)):
        np.testing.assert_allclose(ours.predict(ds.X.iloc[folds[fold]]),
                                   theirs.predict(ds.X.iloc[folds[fold]]), rtol=1e-12)
    assert called == [0, 2, 4]  # before each round of two folds, with the folds done so far
    if name == "random_forest":  # one thread per worker, since the folds are the parallelism
        assert models[0].get_params()["model__regressor__n_jobs"] == 1
        assert serial_models[0].get_params()["model__regressor__n_jobs"] == families.N_JOBS


@pytest.mark.slow
def test_a_candidate_stops_after_the_round_that_used_its_time(tmp_path):
    """A candidate whose time is up when its first round ends stops there: the fits already
    running finish, none more start."""
    ds = _table(tmp_path)
    y, _ = encoded_target(ds)
    folds = folds_of(ds, 5, 0)
    with pytest.raises(_OutOfTime) as out:
        _cross_validate(ds, families.BY_NAME["linear"], {"alpha": 1.0}, y, folds, 0,
                        stop_at=time.monotonic(), classify=False, workers=_started())
    assert out.value.folds_done == JOBS
    assert rounds(5, JOBS) == 3 and rounds(5, JOBS, done=2) == 1 and rounds(5, 1) == 5


@pytest.mark.slow
def test_parallel_folds_give_the_serial_leaderboard(tmp_path):
    """Same seed and candidate count: the same candidates, in the same order, with the same
    scores, whether the folds run one at a time or side by side."""
    ds = _table(tmp_path)
    chosen = [families.BY_NAME[name] for name in CHOSEN]
    _started()  # the pool the search reuses, so that most candidates run in it

    def leaderboard(jobs: int, lines: list[str]):
        found = search(ds, "MSE", folds_of(ds, 3, 0), UNREACHED_BUDGET, 0, ENSEMBLING,
                       max_candidates=10, progress=lines.append, families=chosen, jobs=jobs)
        return found.candidates

    serial_lines: list[str] = []
    parallel_lines: list[str] = []
    serial, parallel = leaderboard(1, serial_lines), leaderboard(JOBS, parallel_lines)
    assert [c.name for c in parallel] == [c.name for c in serial]
    assert [c.params for c in parallel] == [c.params for c in serial]
    for ours, theirs in zip(parallel, serial, strict=True):
        assert ours.metrics == pytest.approx(theirs.metrics, rel=1e-9)
        np.testing.assert_allclose(ours.oof, theirs.oof, rtol=1e-9)
    assert "one fold at a time" in serial_lines[0]
    assert f"{JOBS} folds at a time" in parallel_lines[0]


@pytest.mark.slow
def test_a_dead_worker_costs_its_round_not_the_search(tmp_path, caplog):
    """A worker killed (as the kernel kills one out of memory): its round is fit in this
    process, with the same result, and so is every later fold."""
    ds = _table(tmp_path)
    y, _ = encoded_target(ds)
    folds = folds_of(ds, 5, 0)
    linear = families.BY_NAME["linear"]
    pipeline = build_pipeline(ds, linear, dict(linear.defaults), 0)
    _, serial = cross_validate(pipeline, ds.X, y, folds, classify=False)
    workers = _started()
    for pid in list(workers._executor._processes):
        os.kill(pid, signal.SIGKILL)
    with caplog.at_level("WARNING", logger="byoc.tabular.candidate_pipeline"):
        models, parallel = cross_validate(pipeline, ds.X, y, folds, classify=False,
                                          workers=workers)
    np.testing.assert_allclose(parallel, serial, rtol=1e-12)
    assert len(models) == 5
    assert workers.broken and not workers.ready
    assert caplog.text.count("A fold worker died") == 1
