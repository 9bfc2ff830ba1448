"""Greedy ensemble selection and its nested score, on predictions with known properties."""

from __future__ import annotations

import numpy as np
import pytest

from byoc.tabular import ensemble, scoring


def _folds(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def test_selection_prefers_the_accurate_member_and_averages_complementary_ones():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    good = y + rng.normal(scale=0.3, size=400)
    bad = rng.normal(size=400)
    weights = ensemble.select([bad, good], y, "mse")
    assert weights[1] > 0.9 and weights.sum() == pytest.approx(1.0)
    # Two members with independent errors: their average halves the error variance.
    other = y + rng.normal(scale=0.3, size=400)
    weights = ensemble.select([good, other], y, "mse")
    assert 0.3 < weights[0] < 0.7


def _noise_members(rng: np.random.Generator, rows: int, count: int = 30) -> list[np.ndarray]:
    """Binary members that know nothing: any in-sample gain from combining them is overfitting."""
    raws = []
    for _ in range(count):
        p = rng.random(rows)
        raws.append(np.column_stack([1 - p, p]))
    return raws


def test_nested_score_does_not_reward_fitting_noise():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=200)
    raws = _noise_members(rng, 200)
    folds = _folds(200, 5)
    in_sample_weights = ensemble.select(raws, y, "accuracy")
    mixed = sum(w * r for w, r in zip(in_sample_weights, raws, strict=True))
    in_sample = scoring.compute(["accuracy"], y, mixed)["accuracy"]
    nested = np.mean([s["accuracy"] for s in
                      ensemble.nested_scores(raws, y, folds, "accuracy", ["accuracy"])])
    assert in_sample > 0.6
    assert nested < in_sample - 0.05 and abs(nested - 0.5) < 0.1


def test_metrics_match_scikit_learn():
    from sklearn.metrics import f1_score, mean_absolute_error, r2_score, roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=100)
    p = np.clip(y * 0.6 + rng.random(100) * 0.5, 0, 1)
    raw = np.column_stack([1 - p, p])
    got = scoring.compute(["f1", "auc"], y, raw)
    assert got["f1"] == pytest.approx(f1_score(y, raw.argmax(1)))
    assert got["auc"] == pytest.approx(roc_auc_score(y, p))
    t, v = rng.normal(size=50), rng.normal(size=50)
    got = scoring.compute(["r2", "mae"], t, v)
    assert got["r2"] == pytest.approx(r2_score(t, v))
    assert got["mae"] == pytest.approx(mean_absolute_error(t, v))


def _members(raws: list[np.ndarray]) -> list[ensemble.Bagged]:
    # Stand-ins for bagged fold models: only their out-of-fold predictions matter to `stack`.
    return [ensemble.Bagged([], classify=r.ndim == 2) for r in raws]


def test_stacking_learns_what_a_weighted_average_cannot():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=600)
    # A member that is right 90% of the time, but names the classes in another order (as a model
    # whose probabilities are systematically confused between classes), and a weak honest one.
    confused = np.where(rng.random(600) < 0.9, (y + 1) % 3, rng.integers(0, 3, size=600))
    weak = np.where(rng.random(600) < 0.5, y, rng.integers(0, 3, size=600))
    raws = [np.eye(3)[confused] * 0.8 + 0.2 / 3, np.eye(3)[weak] * 0.6 + 0.4 / 3]
    folds = _folds(600, 5)
    stacked, per_fold = ensemble.stack(_members(raws), raws, y, folds, ["accuracy"])
    weighted = ensemble.nested_scores(raws, y, folds, "accuracy", ["accuracy"])
    assert np.mean([s["accuracy"] for s in per_fold]) > 0.85
    assert np.mean([s["accuracy"] for s in weighted]) < 0.7
    assert len(stacked.fold_stackers) == len(folds)


def test_stacking_nested_score_does_not_reward_fitting_noise():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=200)
    raws = _noise_members(rng, 200)
    _, per_fold = ensemble.stack(_members(raws), raws, y, _folds(200, 5), ["accuracy"])
    assert abs(np.mean([s["accuracy"] for s in per_fold]) - 0.5) < 0.1


def test_stacked_regression_weights_are_non_negative():
    rng = np.random.default_rng(5)
    y = rng.normal(size=300)
    raws = [y + rng.normal(scale=0.5, size=300), -y + rng.normal(scale=0.1, size=300)]
    stacked, per_fold = ensemble.stack(_members(raws), raws, y, _folds(300, 5), ["r2"])
    # The anti-correlated member gets no negative weight: the stacker only averages.
    assert (stacked.stacker.coef_ >= 0).all() and stacked.stacker.coef_[1] == 0
    assert np.mean([s["r2"] for s in per_fold]) > 0.6
