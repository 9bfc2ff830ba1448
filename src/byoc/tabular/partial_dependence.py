"""Partial dependence of a finished model on a few columns, drawn by scikit-learn's
PartialDependenceDisplay.

scikit-learn's `partial_dependence` asks the model for one grid value at a time; a bagged ensemble
costs about 0.4 s a call whatever its size, so the averages are computed here in one call over
every (column, grid value, row), and handed to the display as `partial_dependence` would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PLOT = "partial_dependence.png"
COLUMNS = 3  # the top columns by SHAP importance
GRID = 15  # values per column
ROWS = 40  # rows averaged over
MAX_CLASSES = 5  # multiclass: one row of plots per class, up to this many


def _grid(column: pd.Series, numeric: bool) -> np.ndarray:
    values = column.dropna()
    if not numeric:
        return values.value_counts().index[:GRID].to_numpy()
    if values.nunique() <= GRID:
        return np.sort(values.unique()).astype(float)
    return np.unique(np.quantile(values.to_numpy(dtype=float), np.linspace(0.05, 0.95, GRID)))


def compute(model, X: pd.DataFrame, columns: list[str], numeric: list[str],
            seed: int = 0) -> list[dict]:
    """For each column: its grid and the model's average raw output (value, or each class's
    probability) over a sample of `X` with the column set to each grid value."""
    rng = np.random.default_rng(seed)
    sample = X.iloc[rng.choice(len(X), ROWS, replace=False)] if len(X) > ROWS else X
    grids = [_grid(X[name], name in numeric) for name in columns]
    copies = []
    for name, grid in zip(columns, grids, strict=True):
        for value in grid:
            copy = sample.copy()
            copy[name] = value
            copies.append(copy)
    raw = model.raw(pd.concat(copies, ignore_index=True))
    averages = iter(chunk.mean(axis=0) for chunk in np.split(raw, len(copies)))
    return [{"column": name, "grid": grid, "numeric": name in numeric,
             "average": np.array([next(averages) for _ in grid]),
             "deciles": np.quantile(X[name].dropna().to_numpy(dtype=float),
                                    np.arange(0.1, 1.0, 0.1)) if name in numeric else None}
            for name, grid in zip(columns, grids, strict=True)]


def plot(results: list[dict], classes: list[str], target: str, path: Path) -> Path:
    """One plot per column (a row per class for multiclass, the positive class for binary)."""
    from matplotlib.figure import Figure
    from sklearn.inspection import PartialDependenceDisplay
    from sklearn.utils import Bunch

    outputs = ([None] if not classes else [1] if len(classes) == 2
               else list(range(min(len(classes), MAX_CLASSES))))
    fig = Figure(figsize=(3.6 * len(results), 3.0 * len(outputs)), dpi=100,
                 layout="constrained")
    axes = fig.subplots(len(outputs), len(results), squeeze=False)
    names = [r["column"] for r in results]
    for row, output in zip(axes, outputs, strict=True):
        pd_results = [Bunch(grid_values=[r["grid"]],
                            average=(r["average"][None, :] if output is None
                                     else r["average"].T[output][None, :]))
                      for r in results]
        display = PartialDependenceDisplay(
            pd_results, features=[(i,) for i in range(len(results))], feature_names=names,
            target_idx=0, deciles={i: r["deciles"] for i, r in enumerate(results) if
                                   r["numeric"]},
            kind="average", is_categorical=[(not r["numeric"],) for r in results])
        display.plot(ax=row)
        label = target if output is None else f"P({classes[output]})"
        for ax in row:
            ax.set_ylabel(label)
    fig.suptitle(f"Partial dependence of {'the prediction' if not classes else 'probabilities'}"
                 f" on the top {len(results)} columns (average over {ROWS} rows)")
    fig.savefig(path)
    return path
