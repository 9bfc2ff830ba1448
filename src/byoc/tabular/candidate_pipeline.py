"""The pipeline every candidate is: the shared preprocessing and one model family, fit on
the same folds and the same encoded target, so that candidates, ensembles and the candidate script
can be compared row for row."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from byoc.errors import UserError
from byoc.tabular import objectives
from byoc.tabular.dataset import Dataset
from byoc.tabular.families import BY_NAME, Family

# The preprocessing every candidate shares, and the words the report and the data exploration
# notebook use for it: one definition, so what they say is what the code does.
NUMERIC_IMPUTATION = "median"
CATEGORICAL_IMPUTATION = "most_frequent"
MAX_CATEGORIES = 20  # one-hot columns per categorical, the rare categories' shared one included
IMPUTATION_WORDS = {"median": "median imputation", "most_frequent": "most-frequent imputation"}
NUMERIC_STEPS = f"{IMPUTATION_WORDS[NUMERIC_IMPUTATION]}, then standard scaling"
CATEGORICAL_STEPS = (f"{IMPUTATION_WORDS[CATEGORICAL_IMPUTATION]}, then one-hot encoding (rare "
                     "and unseen categories share one column)")
HIGH_CARDINALITY = (f"one-hot encoding keeps the {MAX_CATEGORIES - 1} most frequent categories "
                    "as columns; the rarer ones and unseen ones share one column")


def preprocessor(ds: Dataset):
    """Impute, scale and one-hot encode: the ColumnTransformer every candidate starts with."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy=NUMERIC_IMPUTATION), StandardScaler()),
         ds.numeric),
        ("categorical", make_pipeline(
            SimpleImputer(strategy=CATEGORICAL_IMPUTATION),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES,
                          sparse_output=False),
        ), ds.categorical),
    ])


def build_pipeline(ds: Dataset, family: Family, params: dict, seed: int):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    classify = objectives.is_classification(ds.problem_type)
    model = family.make(classify, dict(params), seed)
    if not classify:
        # A standardized target keeps the MLP's, the SVM's and the linear model's steps scaled.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return Pipeline([("preprocess", preprocessor(ds)), ("model", model)])


def fit(pipeline, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # A budget-limited MLP stops before converging: expected during a search.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline.fit(X, y)


def cross_validate(pipeline, X, y: np.ndarray, folds: list[np.ndarray], classify: bool,
                   before_fold: Callable[[int], None] | None = None) -> tuple[list, np.ndarray]:
    """A fresh copy of `pipeline` fit per fold on the other folds' rows: the fold models, and
    their out-of-fold predictions (class probabilities, or values). The search scores every
    candidate with it, and the candidate notebook re-runs it. `before_fold(k)` is called
    before fold k's fit (the search stops there when time is up)."""
    from sklearn.base import clone

    oof = np.zeros((len(y), len(np.unique(y)))) if classify else np.zeros(len(y))
    models = []
    for held_out in folds:
        if before_fold is not None:
            before_fold(len(models))
        seen = np.setdiff1d(np.arange(len(y)), held_out)
        model = fit(clone(pipeline), X.iloc[seen], y[seen])
        oof[held_out] = model.predict_proba(X.iloc[held_out]) if classify else \
            model.predict(X.iloc[held_out])
        models.append(model)
    return models, oof


def refit(ds: Dataset, family: str, params: dict, seed: int):
    """One pipeline of the named family, fit on every row of `ds`."""
    return fit(build_pipeline(ds, BY_NAME[family], params, seed), ds.X, encoded_target(ds)[0])


def folds_of(ds: Dataset, folds: int, seed: int) -> list[np.ndarray]:
    """The held-out row indices of each fold, shared by every candidate and the ensemble."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if objectives.is_classification(ds.problem_type):
        smallest = int(ds.y.value_counts().min())
        if smallest < 2:
            raise UserError(
                f"A class of '{ds.target}' has a single row; cross-validation needs at least 2 "
                "rows per class. Add rows or merge rare classes."
            )
        splitter = StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)
    else:
        splitter = KFold(min(folds, len(ds.frame)), shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(ds.X, ds.y)]


def encoded_target(ds: Dataset) -> tuple[np.ndarray, list[str]]:
    """Class labels as 0..k-1 (sorted, so the positive class of a binary problem is the second)."""
    if not objectives.is_classification(ds.problem_type):
        return ds.y.to_numpy(dtype=float), []
    classes = sorted(ds.y.unique())
    return ds.y.map({c: i for i, c in enumerate(classes)}).to_numpy(), classes
