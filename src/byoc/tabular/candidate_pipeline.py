"""The pipeline every candidate is: the shared preprocessing and one model family, fit on
the same folds and the same encoded target, so that candidates, ensembles and the candidate script
can be compared row for row."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

import numpy as np

from byoc.errors import UserError
from byoc.tabular import objectives
from byoc.tabular.dataset import Dataset
from byoc.tabular.families import BY_NAME, Family

log = logging.getLogger(__name__)

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
                   before_fold: Callable[[int], None] | None = None,
                   workers: FoldWorkers | None = None) -> tuple[list, np.ndarray]:
    """A fresh copy of `pipeline` fit per fold on the other folds' rows: the fold models, and
    their out-of-fold predictions (class probabilities, or values). The search scores every
    candidate with it, and the candidate notebook re-runs it. `before_fold(k)` is called
    before fold k's fit (the search stops there when time is up).

    With `workers`, `workers.jobs` folds are fit at a time, in rounds, each in a worker process
    with one thread; `before_fold` is called before each round. The fits are the same as one
    at a time, and so are the models and predictions."""
    from sklearn.base import clone

    oof = np.zeros((len(y), len(np.unique(y)))) if classify else np.zeros(len(y))
    models = []
    jobs = jobs_of(workers)
    if jobs > 1:
        # One thread per fit: the folds are the parallelism (a forest's own threads would
        # contend with the other workers' fits). A forest's trees are the same either way.
        pipeline = clone(pipeline).set_params(
            **{k: 1 for k in pipeline.get_params() if k.endswith("n_jobs")})
    for start in range(0, len(folds), jobs):
        if before_fold is not None:
            before_fold(len(models))
        batch = folds[start:start + jobs]
        if workers is not None and jobs > 1:
            fitted = workers.fit(pipeline, X, y, batch, classify)
        else:
            fitted = [_fold_fit(clone(pipeline), X, y, held_out, classify) for held_out in batch]
        for held_out, (model, predicted) in zip(batch, fitted, strict=True):
            oof[held_out] = predicted
            models.append(model)
    return models, oof


def _fold_fit(pipeline, X, y: np.ndarray, held_out: np.ndarray, classify: bool):
    """`pipeline` fit on the rows outside `held_out`, and its predictions for those inside."""
    seen = np.setdiff1d(np.arange(len(y)), held_out)
    model = fit(pipeline, X.iloc[seen], y[seen])
    return model, (model.predict_proba(X.iloc[held_out]) if classify else
                   model.predict(X.iloc[held_out]))


class FoldWorkers:
    """`jobs` worker processes that fit folds side by side: joblib's reusable loky pool (fresh
    interpreters, safe with OpenMP, unlike a fork), each worker limited to one OpenMP and BLAS
    thread, kept until idle for 5 minutes.

    Starting them costs seconds (each imports scikit-learn and XGBoost; 5–6 s on a busy 2-core
    machine, measured), so they start in the background: until `ready`, the caller fits its
    folds itself, one at a time."""

    def __init__(self, jobs: int):
        from joblib.externals.loky import get_reusable_executor

        self.jobs = jobs
        self.broken = False  # a worker died: the folds are fit here, one at a time, from then on
        self._executor = get_reusable_executor(max_workers=jobs, timeout=300, env={
            name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                   "MKL_NUM_THREADS")})
        self._starting = [self._executor.submit(_import_models) for _ in range(jobs)]

    @property
    def ready(self) -> bool:
        return not self.broken and all(future.done() for future in self._starting)

    def fit(self, pipeline, X, y: np.ndarray, folds: list[np.ndarray],
            classify: bool) -> list[tuple[object, np.ndarray]]:
        """`_fold_fit` of each fold, in the workers; in the order of `folds`. A worker that
        dies (killed, out of memory) costs its round, not the search: the round is fit here,
        and so is every later fold."""
        from concurrent.futures.process import BrokenProcessPool

        from sklearn.base import clone

        if not self.broken:
            try:
                futures = [self._executor.submit(_fold_fit, clone(pipeline), X, y, held_out,
                                                 classify) for held_out in folds]
                return [future.result() for future in futures]
            except BrokenProcessPool as exc:  # loky's TerminatedWorkerError is one
                self.broken = True
                log.warning("A fold worker died (%s): the search fits its folds one at a time "
                            "in this process from here on.", str(exc).splitlines()[0])
        return [_fold_fit(clone(pipeline), X, y, held_out, classify) for held_out in folds]


def jobs_of(workers: FoldWorkers | None) -> int:
    """Folds fit at a time: the workers' count, or one without workers."""
    return 1 if workers is None else workers.jobs


def _import_models() -> None:
    import sklearn.ensemble  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import xgboost  # noqa: F401

    # Held briefly, so that each worker takes one of these tasks rather than one doing all.
    time.sleep(0.2)


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
