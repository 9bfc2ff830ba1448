"""Bagged models, and the weighted ensemble built from their out-of-fold predictions.

Bagging: a candidate is fit once per cross-validation fold; each fold's model predicts the rows
it did not see (its out-of-fold predictions), and the candidate predicts new rows by averaging
its fold models. Ensembling: greedy ensemble selection (Caruana et al., "Ensemble selection from
libraries of models", ICML 2004) adds, with replacement, the member that most improves the
objective on the out-of-fold predictions; the weights are how often each member was picked.
Its score is nested: for each fold, the weights are chosen on the other folds' rows only.

Stacking (Wolpert, "Stacked generalization", 1992): a linear model learns how to combine the
members from the same out-of-fold predictions: logistic regression on the log-probabilities
(classification), or least squares with non-negative weights on the predictions (regression,
as Breiman's "Stacked regressions", 1996). Unlike the weighted average, it can learn per class
which member to trust. Its score is nested the same way: for each fold, the linear model is fit
on the other folds' rows only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from byoc.tabular import scoring

ENSEMBLE_NAME = "ensemble"  # the leaderboard's names of the two entries that combine candidates
STACKED_NAME = "stacked"
ENSEMBLE_SIZE = 25  # selection rounds; the weights are multiples of 1/25


def _raw(model, X, classify: bool) -> np.ndarray:
    return model.predict_proba(X) if classify else model.predict(X)


@dataclass
class Bagged:
    """A candidate's models, one per fold (or a single refit model); predicts their average."""

    models: list
    classify: bool

    def raw(self, X) -> np.ndarray:
        return np.mean([_raw(m, X, self.classify) for m in self.models], axis=0)

    def fold(self, k: int) -> Bagged:
        """The model of fold k alone: it never saw that fold's rows."""
        return Bagged([self.models[k]], self.classify)


@dataclass
class Weighted:
    """A weighted average of bagged members' predictions."""

    members: list[tuple[float, Bagged]]

    @property
    def classify(self) -> bool:
        return self.members[0][1].classify

    def raw(self, X) -> np.ndarray:
        return sum(w * member.raw(X) for w, member in self.members)

    def fold(self, k: int) -> Weighted:
        return Weighted([(w, member.fold(k)) for w, member in self.members])


def _stack_features(raws: list[np.ndarray]) -> np.ndarray:
    if raws[0].ndim == 2:
        return np.hstack([np.log(np.clip(r, 1e-6, 1.0)) for r in raws])
    return np.column_stack(raws)


def _fit_stacker(features: np.ndarray, y: np.ndarray, classify: bool):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LinearRegression, LogisticRegression

    stacker = LogisticRegression(max_iter=2000) if classify else LinearRegression(positive=True)
    with warnings.catch_warnings():
        # lbfgs may reach max_iter before its tolerance; the nested score judges the stacker
        # as it is.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return stacker.fit(features, y)


def _outside(n: int, held_out: np.ndarray) -> np.ndarray:
    """A mask of the rows not in `held_out`."""
    seen = np.ones(n, dtype=bool)
    seen[held_out] = False
    return seen


@dataclass
class Stacked:
    """Bagged members combined by a linear model of their predictions; `fold_stackers[k]` was fit
    without fold k's rows."""

    members: list[Bagged]
    stacker: object
    fold_stackers: list
    classify: bool

    def raw(self, X) -> np.ndarray:
        features = _stack_features([m.raw(X) for m in self.members])
        return _raw(self.stacker, features, self.classify)

    @property
    def how(self) -> str:
        return ("logistic regression on log-probabilities" if self.classify else
                "non-negative least squares on predictions")

    def fold(self, k: int) -> Stacked:
        return Stacked([m.fold(k) for m in self.members], self.fold_stackers[k], [],
                       self.classify)


def stack(members: list[Bagged], raws: list[np.ndarray], y: np.ndarray,
          folds: list[np.ndarray], keys: list[str]) -> tuple[Stacked, list[dict[str, float]]]:
    """The stacked model of `members` (whose out-of-fold predictions are `raws`), and its
    metrics on each fold with the linear model fit on the other folds only."""
    classify = raws[0].ndim == 2
    features = _stack_features(raws)
    scores, fold_stackers = [], []
    for held_out in folds:
        seen = _outside(len(y), held_out)
        stacker = _fit_stacker(features[seen], y[seen], classify)
        fold_stackers.append(stacker)
        scores.append(scoring.compute(keys, y[held_out],
                                      _raw(stacker, features[held_out], classify)))
    stacker = _fit_stacker(features, y, classify)
    return Stacked(members, stacker, fold_stackers, classify), scores


def select(raws: list[np.ndarray], y: np.ndarray, key: str,
           size: int = ENSEMBLE_SIZE) -> np.ndarray:
    """Greedy ensemble selection with replacement: one weight per entry of `raws`, summing to 1.

    Candidates are compared on the objective `key`; for classification, equal objectives (common
    with accuracy on small data) are decided by log loss.
    """
    classify = raws[0].ndim == 2
    counts = np.zeros(len(raws))
    total = np.zeros_like(raws[0], dtype=float)
    for step in range(size):
        best, best_value = 0, None
        for i, raw in enumerate(raws):
            mixed = (total + raw) / (step + 1)
            value = (scoring.goodness(key, y, mixed),
                     -scoring.log_loss(y, mixed) if classify else 0.0)
            if best_value is None or value > best_value:
                best, best_value = i, value
        counts[best] += 1
        total += raws[best]
    return counts / counts.sum()


def nested_scores(raws: list[np.ndarray], y: np.ndarray, folds: list[np.ndarray], key: str,
                  keys: list[str]) -> list[dict[str, float]]:
    """The ensemble's metrics on each fold, with weights selected on the other folds only."""
    scores = []
    for held_out in folds:
        seen = _outside(len(y), held_out)
        weights = select([r[seen] for r in raws], y[seen], key)
        mixed = sum(w * r[held_out] for w, r in zip(weights, raws, strict=True))
        scores.append(scoring.compute(keys, y[held_out], mixed))
    return scores
