"""The findings of the data exploration notebook, one function each, as tables.

Each table says what byoc found about a column and what it will do about it, in the words the
preprocessing code defines (`candidate_pipeline`, `dataset`), so that the notebook and the
pipeline cannot tell two stories.
"""

from __future__ import annotations

import pandas as pd

from byoc.tabular import objectives
from byoc.tabular.candidate_pipeline import (
    CATEGORICAL_IMPUTATION,
    CATEGORICAL_STEPS,
    HIGH_CARDINALITY,
    IMPUTATION_WORDS,
    MAX_CATEGORIES,
    NUMERIC_IMPUTATION,
    NUMERIC_STEPS,
)
from byoc.tabular.dataset import SET_ASIDE, Dataset

TOP_RELATED = 15  # columns in the plot of the columns most related to the target


def problem_type_reason(ds: Dataset, given: bool) -> str:
    """Why the problem type is what it is, as `objectives.infer_problem_type` decides it."""
    if given:
        return f"{ds.problem_type}, as given with --problem-type."
    distinct = ds.y.nunique()
    if ds.problem_type == objectives.REGRESSION:
        return (f"Regression: the target holds numbers with {distinct} distinct values, more "
                f"than {objectives.REGRESSION_MIN_DISTINCT}.")
    kind = "two classes" if ds.problem_type == objectives.BINARY else f"{distinct} classes"
    return f"{ds.problem_type}: the target has {kind}."


def column_types(ds: Dataset) -> pd.DataFrame:
    """Every column: its pandas type, what byoc made of it, why, and what it does with it."""
    rows = []
    for name in ds.frame.columns:
        column = ds.frame[name]
        if name == ds.target:
            kind, why, action = "target", "named with --target", "predicted"
        elif name in ds.dropped:
            kind, why, action = "set aside", ds.dropped[name], SET_ASIDE
        elif name in ds.numeric:
            kind, why, action = "numeric", "numbers in every filled row", NUMERIC_STEPS
        else:
            kind, why, action = "categorical", "text (or true/false) values", CATEGORICAL_STEPS
        rows.append({"column": name, "dtype": str(column.dtype), "byoc": kind, "why": why,
                     "what byoc does": action})
    return pd.DataFrame(rows)


def missing_values(ds: Dataset) -> pd.DataFrame:
    """Missing values per feature column, most missing first, and how they are filled."""
    words = {**{n: IMPUTATION_WORDS[NUMERIC_IMPUTATION] for n in ds.numeric},
             **{n: IMPUTATION_WORDS[CATEGORICAL_IMPUTATION] for n in ds.categorical}}
    rows = [{"column": name, "missing": int(ds.frame[name].isna().sum()),
             "missing %": round(100.0 * ds.frame[name].isna().mean(), 1),
             "what byoc does": words[name] if ds.frame[name].isna().any() else "nothing to fill"}
            for name in ds.features]
    return pd.DataFrame(rows).sort_values("missing", ascending=False, kind="stable")


def target_distribution(ds: Dataset) -> pd.DataFrame:
    """Class counts and shares (classification), or the target's summary statistics."""
    if objectives.is_classification(ds.problem_type):
        counts = ds.y.value_counts()
        return pd.DataFrame({"rows": counts, "share %": (100.0 * counts / counts.sum()).round(1)})
    return ds.y.describe().to_frame().T


def related_columns(scores: dict[str, float], ds: Dataset) -> pd.DataFrame:
    """`data_report.single_feature_scores`, best first: how well each column alone predicts the
    target."""
    metric = "accuracy" if objectives.is_classification(ds.problem_type) else "r2"
    frame = pd.DataFrame({"column": list(scores), f"{metric} alone": list(scores.values())})
    return frame.sort_values(f"{metric} alone", ascending=False).reset_index(drop=True)


def duplicated_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """The rows of the file that repeat an earlier row exactly (every column, target included)."""
    return raw[raw.duplicated(keep="first")]


def set_aside(ds: Dataset) -> pd.DataFrame:
    """The constant, empty and ID-like columns, and why."""
    return pd.DataFrame([{"column": name, "why": why, "what byoc does": SET_ASIDE}
                         for name, why in ds.dropped.items()],
                        columns=["column", "why", "what byoc does"])


def high_cardinality(ds: Dataset) -> pd.DataFrame:
    """Categorical columns with more categories than the one-hot encoding keeps."""
    rows = [{"column": name, "categories": int(ds.frame[name].nunique()),
             "what byoc does": HIGH_CARDINALITY}
            for name in ds.categorical if ds.frame[name].nunique() > MAX_CATEGORIES]
    return pd.DataFrame(rows, columns=["column", "categories", "what byoc does"])


def plot_related(related: pd.DataFrame, ax) -> None:
    """A horizontal bar chart of the TOP_RELATED columns most related to the target."""
    top = related.head(TOP_RELATED).iloc[::-1]
    ax.barh(top["column"].astype(str), top.iloc[:, 1], color="tab:blue")
    ax.set_xlabel(f"{top.columns[1]} (3-fold CV of a depth-4 tree on the column alone)")
    ax.set_title(f"Columns most related to the target: top {len(top)}")


def plot_target(ds: Dataset, ax) -> None:
    """Class balance as bars, or the target's histogram."""
    if objectives.is_classification(ds.problem_type):
        counts = ds.y.value_counts()
        ax.bar(counts.index.astype(str), counts.to_numpy(), color="tab:blue")
        ax.set_ylabel("rows")
    else:
        ax.hist(ds.y.to_numpy(dtype=float), bins=40, color="tab:blue")
        ax.set_xlabel(ds.target)
        ax.set_ylabel("rows")
    ax.set_title(f"Distribution of '{ds.target}'")
