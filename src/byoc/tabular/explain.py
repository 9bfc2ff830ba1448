"""Explainability: permutation importance of each input column, on held-out folds, and its plot.

A column's importance is how much the objective drops when its values are shuffled among the
rows. Each fold's rows are predicted by the fold's own model(s), which never saw them, so the
numbers describe generalization rather than memorized rows.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from byoc.tabular import scoring

REPEATS = 3  # shuffles per column and fold
MAX_ROWS = 500  # held-out rows used in all, spread over the folds
TOP = 15  # columns in the plot and the report's table


def permutation_importance(model, X: pd.DataFrame, y: np.ndarray, folds: list[np.ndarray],
                           key: str, seed: int = 0, stop_at: float = math.inf,
                           ) -> tuple[dict[str, dict[str, float]], int]:
    """Column -> {"importance": mean drop of the objective, "std": its spread}, largest first;
    and the number of folds it used: the first always, the others while `stop_at` (a
    time.monotonic() value) is ahead.

    `model` has `fold(k)`, the model that did not see `folds[k]`, with `raw(X)` predictions.
    """
    rng = np.random.default_rng(seed)
    per_fold = max(1, MAX_ROWS // len(folds))
    columns = list(X.columns)
    drops: dict[str, list[float]] = {name: [] for name in columns}
    used, began = 0, time.monotonic()
    for k, held_out in enumerate(folds):
        if used and time.monotonic() + (time.monotonic() - began) / used > stop_at:
            break
        used += 1
        rows = held_out if len(held_out) <= per_fold else rng.choice(held_out, per_fold,
                                                                     replace=False)
        part, target = X.iloc[rows].reset_index(drop=True), y[rows]
        fold_model = model.fold(k)
        base = scoring.goodness(key, target, fold_model.raw(part))
        # Every shuffled copy in one frame: one predict call per fold instead of one per column.
        copies = []
        for name in columns:
            for _ in range(REPEATS):
                copy = part.copy()
                copy[name] = part[name].to_numpy()[rng.permutation(len(part))]
                copies.append(copy)
        raw = fold_model.raw(pd.concat(copies, ignore_index=True))
        chunks = np.split(raw, len(copies))
        for i, name in enumerate(columns):
            for chunk in chunks[i * REPEATS:(i + 1) * REPEATS]:
                drops[name].append(base - scoring.goodness(key, target, chunk))
    result = {name: {"importance": float(np.mean(d)), "std": float(np.std(d))}
              for name, d in drops.items()}
    return dict(sorted(result.items(), key=lambda item: -item[1]["importance"])), used


def plot(importance: dict[str, dict[str, float]], objective: str, path: Path) -> Path:
    """A horizontal bar chart of the TOP most important columns, most important on top."""
    from matplotlib.figure import Figure

    top = list(importance.items())[:TOP][::-1]
    fig = Figure(figsize=(7.0, 1.0 + 0.35 * len(top)), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.barh([name for name, _ in top], [v["importance"] for _, v in top],
            xerr=[v["std"] for _, v in top], color="tab:blue", ecolor="0.4")
    ax.axvline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel(f"Drop in {objective} when the column is shuffled (held-out folds)")
    ax.set_title(f"Permutation importance: top {len(top)} columns")
    fig.savefig(path)
    return path
