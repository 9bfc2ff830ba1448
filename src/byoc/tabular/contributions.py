"""SHAP values of a finished model: how much each input column moved each row's prediction.

They are in the units of what the model predicts: the target's units (regression), the
probability of the positive class (binary), or of each row's predicted class (multiclass), and
for each row they add up, with the base value, to that prediction. A single tree family is
explained by shap's TreeExplainer, one fold model at a time (a bagged model predicts the folds'
average, so its SHAP values are the folds' average).
Anything else (the weighted ensemble, the stacked model, k-NN, the SVM, the MLP, the linear model)
by shap's KernelExplainer (Kernel SHAP, as SageMaker Clarify uses) over the same background, on
a few rows: each costs its coalitions × BACKGROUND model rows. Categorical columns are explained
as a whole: their one-hot columns' SHAP values are summed.

Shap's model-agnostic explainers ask for one row's masked copies at a time, and a bagged ensemble
costs about 0.4 s a call whatever its size (25 pipelines, measured on the insurance table), so
`_batched` runs the explainer twice: once to record every row it asks for, then once more,
answered from a single call over all of them. (Its permutation explainer was not used: its numba
masking code compiles for 10 s or more in every new process.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PLOT = "shap.png"
BACKGROUND = 20  # rows standing in for "the column is unknown"
TREE_ROWS = 100  # rows explained with TreeExplainer
MODEL_ROWS = 12_000  # rows Kernel SHAP may ask the model for, in all
MIN_ROWS = 5  # rows explained, however many columns
FORESTS = ("RandomForest", "ExtraTrees")
BOOSTED = ("XGB", "HistGradientBoosting")


@dataclass
class Contributions:
    """SHAP values of `rows` (one per row and column, in the model's output units) and each
    row's base value; `explained` says what they add up to."""

    rows: pd.DataFrame
    values: np.ndarray
    base: np.ndarray
    explained: str
    explainer: str

    def importance(self) -> dict[str, float]:
        """Column -> mean |SHAP value| over the rows, largest first."""
        mean = np.abs(self.values).mean(axis=0)
        ranked = sorted(zip(self.rows.columns, mean, strict=True), key=lambda item: -item[1])
        return {str(name): float(value) for name, value in ranked}

    def top(self, i: int, count: int = 3) -> list[tuple[str, object, float]]:
        """Row i's `count` largest contributions: (column, its value in the row, SHAP value)."""
        order = np.argsort(-np.abs(self.values[i]))[:count]
        return [(str(self.rows.columns[j]), self.rows.iat[i, j], float(self.values[i, j]))
                for j in order]


def background(X: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The rows that stand in for "the column is unknown": a sample of the training rows, kept
    in model.joblib for `autopilot predict --explain`."""
    rng = np.random.default_rng(seed)
    return X.iloc[np.sort(_sample(rng, len(X), BACKGROUND))].reset_index(drop=True)


def explain(model, X: pd.DataFrame, classes: list[str], seed: int = 0,
            rows: pd.DataFrame | None = None) -> Contributions:
    """SHAP values of `model` (a run's model, with `raw(frame)`) for `rows` (default: a sample of
    `X`, as many as the explainer affords), over `background(X)`; `X` holds the rows it was
    trained on, or that background."""
    rng = np.random.default_rng(seed + 1)
    trees = _tree_models(model, len(classes))
    limit = TREE_ROWS if trees else _rows_for(X.shape[1])
    if rows is None:
        rows = X.iloc[np.sort(_sample(rng, len(X), limit))]
    rows = rows.reset_index(drop=True)
    base_rows = background(X, seed)
    parts = []
    for start in range(0, len(rows), limit):  # bounded memory, for predict --explain
        part = rows.iloc[start:start + limit].reset_index(drop=True)
        if trees:
            parts.append(_tree_values(trees, part, base_rows, bool(classes)))
        else:
            parts.append(_kernel_values(model, part, base_rows, seed, len(classes) or None))
    values = np.concatenate([v for v, _ in parts])
    base = np.concatenate([b for _, b in parts])
    explainer = "TreeExplainer" if trees else "KernelExplainer"
    return _pick_output(rows, values, base, classes, explainer)


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return rng.choice(n, size, replace=False) if n > size else np.arange(n)


def _rows_for(columns: int) -> int:
    """Rows Kernel SHAP can afford: each costs its coalitions × BACKGROUND model rows."""
    return max(MIN_ROWS, MODEL_ROWS // (_coalitions(columns) * BACKGROUND))


def _pick_output(rows, values, base, classes, explainer) -> Contributions:
    """One output per row: the prediction, the positive class's probability, or the predicted
    class's probability."""
    if not classes:
        return Contributions(rows, values, base, "the prediction", explainer)
    if len(classes) == 2:
        return Contributions(rows, values[..., 1], base[..., 1],
                             f"the probability of '{classes[1]}'", explainer)
    # Base plus SHAP values is each class's probability: no second call of the model.
    predicted = (base + values.sum(axis=1)).argmax(axis=1)
    at = np.arange(len(rows))
    return Contributions(rows, values[at, :, predicted], base[at, predicted],
                         "the probability of the predicted class", explainer)


def _tree_models(model, n_classes: int) -> list | None:
    """The fold pipelines of a bagged tree family that TreeExplainer explains in the model's
    output units, or None: forests always (their leaves hold values or probabilities), boosted
    trees for regression, and XGBoost for two classes (interventional, through the logistic
    link). HistGradientBoosting's classifiers are left to Kernel SHAP (measured: off by
    up to 0.07 in probability, interventionally), and so are multiclass boosted trees, which
    TreeExplainer explains in log-odds only."""
    pipelines = getattr(model, "models", None)
    if not pipelines or not hasattr(pipelines[0], "named_steps"):
        return None
    name = type(_estimator(pipelines[0])).__name__
    if name.startswith(FORESTS) or (name.startswith(BOOSTED) and not n_classes):
        return pipelines
    if name.startswith("XGB") and n_classes == 2:
        return pipelines
    return None


def _estimator(pipeline):
    model = pipeline.named_steps["model"]
    return getattr(model, "regressor_", model)


def _tree_values(pipelines: list, rows: pd.DataFrame, background: pd.DataFrame,
                 classify: bool) -> tuple[np.ndarray, np.ndarray]:
    import shap

    values, base = [], []
    for pipeline in pipelines:
        preprocess = pipeline.named_steps["preprocess"]
        estimator = _estimator(pipeline)
        if type(estimator).__name__.startswith(BOOSTED) and not classify:
            # Exact, and fast on shallow trees.
            explainer = shap.TreeExplainer(estimator, feature_perturbation="tree_path_dependent")
        else:
            # Forests' deep trees: over the background, 20 times faster than path-dependent
            # (measured), within 2% of the prediction; XGBoost through the logistic link.
            explainer = shap.TreeExplainer(
                estimator, preprocess.transform(background),
                feature_perturbation="interventional",
                model_output="probability" if classify else "raw")
        shap_values = explainer(preprocess.transform(rows), check_additivity=False)
        v, b = shap_values.values, np.asarray(shap_values.base_values, dtype=float)
        if classify and v.ndim == 2:  # one output: the positive class's probability
            v, b = np.stack([-v, v], axis=-1), np.stack([1 - b, b], axis=-1)
        target = getattr(pipeline.named_steps["model"], "transformer_", None)
        if target is not None:  # the regressor predicts the standardized target
            v, b = v * target.scale_[0], b * target.scale_[0] + target.mean_[0]
        values.append(_by_column(v, preprocess, rows.columns))
        base.append(b)
    return np.mean(values, axis=0), np.mean(base, axis=0)


def _by_column(values: np.ndarray, preprocess, columns: pd.Index) -> np.ndarray:
    """The SHAP values of the preprocessed features summed back to the input columns."""
    out = np.zeros((values.shape[0], len(columns), *values.shape[2:]))
    position = {name: i for i, name in enumerate(columns)}
    for name, _, names in preprocess.transformers_:
        if name not in preprocess.output_indices_ or not len(names):
            continue
        span = preprocess.output_indices_[name]
        step = preprocess.named_transformers_[name][-1]
        if hasattr(step, "categories_"):  # one-hot: named "<index>_<category>"
            owners = [int(n.split("_", 1)[0]) for n in
                      step.get_feature_names_out([str(i) for i in range(len(names))])]
        else:
            owners = list(range(len(names)))
        for k, owner in zip(range(span.start, span.stop), owners, strict=True):
            out[:, position[names[owner]]] += values[:, k]
    return out


def _kernel_values(model, rows: pd.DataFrame, background: pd.DataFrame, seed: int,
                   width: int | None) -> tuple[np.ndarray, np.ndarray]:
    import shap

    codes = _Codes(pd.concat([rows, background]))
    encoded = codes.encode(rows)

    def run(f):
        explainer = shap.KernelExplainer(f, codes.encode(background))
        values = explainer.shap_values(encoded, nsamples=_coalitions(encoded.shape[1]),
                                       l1_reg=False, silent=True)
        if isinstance(values, list):
            values = np.stack(values, axis=-1)
        return values, np.tile(explainer.expected_value, (len(encoded), 1)).reshape(
            len(encoded), *np.shape(explainer.expected_value))

    return _batched(lambda matrix: model.raw(codes.decode(matrix)), run, seed, width)


def _coalitions(columns: int) -> int:
    """Kernel SHAP's samples per row: every coalition of up to 6 columns (exact), else a sample
    of 2 × columns + 64 (shap's default is 2 × columns + 2048)."""
    return min(2 ** columns - 2, 2 * columns + 64) if columns > 1 else 2


class _Codes:
    """Rows as the float matrix shap's maskers need: text columns as category codes."""

    def __init__(self, frame: pd.DataFrame):
        self.columns = list(frame.columns)
        self.dtypes = frame.dtypes
        self.categories = {name: pd.Index(frame[name].dropna().unique())
                           for name in frame.columns
                           if not pd.api.types.is_numeric_dtype(frame[name])}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = frame.copy()
        for name, categories in self.categories.items():
            code = categories.get_indexer(frame[name]).astype(float)
            out[name] = np.where(code < 0, np.nan, code)
        return out.to_numpy(dtype=float)

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(matrix, columns=self.columns)
        for name, categories in self.categories.items():
            codes = frame[name].to_numpy()
            known = ~np.isnan(codes)
            column = np.full(len(frame), None, dtype=object)
            column[known] = categories.to_numpy()[codes[known].astype(int)]
            frame[name] = column
        return frame


def _batched(predict, run, seed: int, width: int | None):
    """`run(f)` (an explainer over the function `f`) with every call of `f` answered from one
    call of `predict`: the first pass records what `f` is asked, the second replays the answers.
    The explainer draws its permutations from numpy's global generator, seeded the same for both
    passes; the replay checks that it is asked the same rows.
    """
    asked: list[np.ndarray] = []
    shape = () if width is None else (width,)

    def record(matrix):
        asked.append(np.array(matrix, dtype=float))
        return np.zeros((len(matrix), *shape))

    np.random.seed(seed)
    run(record)
    answers = iter(np.split(predict(np.concatenate(asked)),
                            np.cumsum([len(m) for m in asked])[:-1]))
    questions = iter(asked)

    def replay(matrix):
        if not np.array_equal(np.asarray(matrix, dtype=float), next(questions), equal_nan=True):
            raise RuntimeError("shap's explainer asked other rows the second time")
        return next(answers)

    np.random.seed(seed)
    return run(replay)


def plot(contributions: Contributions, path: Path, top: int = 15) -> Path:
    """shap's beeswarm of the `top` columns: one dot per row, coloured by the column's value
    (text columns in grey)."""
    import shap
    from matplotlib.figure import Figure

    numbers = contributions.rows.apply(
        lambda column: column.astype(float) if pd.api.types.is_numeric_dtype(column)
        else pd.Series(np.nan, index=column.index))
    explanation = shap.Explanation(contributions.values, base_values=contributions.base,
                                   data=numbers.to_numpy(dtype=float),
                                   feature_names=[str(c) for c in contributions.rows.columns])
    shown = min(top, len(contributions.rows.columns))
    fig = Figure(figsize=(8.0, 1.5 + 0.4 * shown), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    with warnings.catch_warnings():
        # The colour scale of an all-grey (text) column is a percentile of nothing.
        warnings.simplefilter("ignore", RuntimeWarning)
        shap.plots.beeswarm(explanation, max_display=shown, ax=ax, show=False, plot_size=None)
    ax.set_xlabel(f"SHAP value: effect on {contributions.explained}")
    ax.set_title(f"SHAP values ({contributions.explainer}, {len(contributions.rows)} rows)")
    fig.savefig(path)
    return path
