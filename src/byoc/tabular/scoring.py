"""Autopilot's objective metrics computed on predictions: class probabilities, or values.

Every candidate, the ensemble and the permutation importance are scored by these same functions
on the same out-of-fold predictions, so their numbers can be compared on one leaderboard.
"""

from __future__ import annotations

import warnings

import numpy as np

from byoc.tabular import objectives

# Objective name -> its key in summary.json and on the leaderboard.
KEYS = {
    "MSE": "mse",
    "RMSE": "rmse",
    "MAE": "mae",
    "R2": "r2",
    "Accuracy": "accuracy",
    "BalancedAccuracy": "balanced_accuracy",
    "F1": "f1",
    "AUC": "auc",
    "Precision": "precision",
    "Recall": "recall",
    "F1macro": "f1_macro",
    "PrecisionMacro": "precision_macro",
    "RecallMacro": "recall_macro",
}
MINIMIZED_KEYS = frozenset(KEYS[name] for name in objectives.MINIMIZED)


def _value(key: str, y: np.ndarray, raw: np.ndarray) -> float:
    from sklearn import metrics as m

    if raw.ndim == 1:
        error = raw - y
        return {
            "mse": lambda: float(np.mean(error ** 2)),
            "rmse": lambda: float(np.sqrt(np.mean(error ** 2))),
            "mae": lambda: float(np.mean(np.abs(error))),
            "r2": lambda: float(m.r2_score(y, raw)),
        }[key]()
    predicted = raw.argmax(axis=1)
    if key == "accuracy":
        return float(np.mean(predicted == y))
    if key == "auc":
        return float(m.roc_auc_score(y, raw[:, 1]))
    if key == "balanced_accuracy":
        return float(m.balanced_accuracy_score(y, predicted))
    name, _, average = key.partition("_")
    function = {"f1": m.f1_score, "precision": m.precision_score, "recall": m.recall_score}[name]
    return float(function(y, predicted, average=average or "binary", zero_division=0,
                          labels=np.arange(raw.shape[1])))


def compute(keys: list[str], y: np.ndarray, raw: np.ndarray) -> dict[str, float]:
    """Each metric in `keys` for targets `y` and predictions `raw` (probabilities: one column per
    class, classes encoded 0..k-1; or values, for regression)."""
    with warnings.catch_warnings():
        # A fold with one class has no AUC; the metric is then NaN, not a crash.
        warnings.simplefilter("ignore")
        out = {}
        for key in keys:
            try:
                out[key] = _value(key, y, raw)
            except ValueError:
                out[key] = float("nan")
        return out


def goodness(key: str, y: np.ndarray, raw: np.ndarray) -> float:
    """The metric oriented so that higher is better."""
    value = _value(key, y, raw)
    return -value if key in MINIMIZED_KEYS else value


def log_loss(y: np.ndarray, raw: np.ndarray) -> float:
    """Mean log loss of probabilities `raw` (one column per class) for classes `y`."""
    picked = raw[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))
