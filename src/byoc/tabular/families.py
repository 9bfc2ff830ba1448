"""The candidate model families: each with known-good defaults, a search space and a factory.

Every family sees the same preprocessed features (imputed, scaled, one-hot encoded), so k-NN
works on scaled features and the RBF SVM on standardized ones. Families are scikit-learn's plus
XGBoost: nothing heavier is needed for tables of this size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

# Threads per model for joblib's thread pools (the forests) when the folds are fit one at a
# time (in the search's worker processes, one: the folds are the parallelism there). OpenMP
# (XGBoost, HistGradientBoosting) gets one thread: its threads spin while they wait, and on a
# busy machine two of them made a 133-row fit 18 times slower than one (0.8 s against 14.6 s,
# measured).
N_JOBS = 2
OPENMP_THREADS = 1
# An RBF SVM costs O(rows²) or worse, and three more fits for its probabilities: above this many
# rows it would take the budget of every other family, so it is left out.
SVM_MAX_ROWS = 5000
# Kernel ridge holds a rows × rows kernel matrix and solves it, O(rows³): 0.1 s a fit at 1,000
# rows, and it pays on small smooth regression tables, where trees fit steps to a smooth surface.
KERNEL_RIDGE_MAX_ROWS = 3000



def limit_openmp():
    """OpenMP (HistGradientBoosting, XGBoost) limited to OPENMP_THREADS threads: a context
    manager, or a call that holds for the rest of the process.

    threadpoolctl reaches only the OpenMP runtimes loaded when it is called, and scikit-learn
    loads its own with sklearn.ensemble, so that is imported first. Otherwise HistGradientBoosting
    still ran a thread per core: a 5-fold search of 1,500 rows by 30 columns, 4 classes, took
    164 s on a busy machine instead of 6 (measured)."""
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(OPENMP_THREADS, user_api="openmp")

def _log_uniform(low: float, high: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _uniform(low: float, high: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(rng.uniform(low, high))


def _integer(low: int, high: int) -> Callable[[np.random.Generator], int]:
    return lambda rng: int(rng.integers(low, high + 1))


def _choice(*options: object) -> Callable[[np.random.Generator], object]:
    return lambda rng: options[int(rng.integers(len(options)))]


def _linear(classify: bool, params: dict, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge

    # One knob for both: `alpha` is the regularization strength (LogisticRegression's C = 1/alpha).
    if classify:
        return LogisticRegression(C=1.0 / params["alpha"], max_iter=2000)
    return Ridge(alpha=params["alpha"], random_state=seed)


def _xgboost(classify: bool, params: dict, seed: int):
    from xgboost import XGBClassifier, XGBRegressor

    model = XGBClassifier if classify else XGBRegressor
    return model(**params, tree_method="hist", n_jobs=OPENMP_THREADS, random_state=seed)


def _mlp(classify: bool, params: dict, seed: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    model = MLPClassifier if classify else MLPRegressor
    return model(**params, early_stopping=True, max_iter=500, random_state=seed)


def _hist_gradient_boosting(classify: bool, params: dict, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    model = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    return model(**params, random_state=seed)


def _random_forest(classify: bool, params: dict, seed: int):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    model = RandomForestClassifier if classify else RandomForestRegressor
    return model(**params, n_jobs=N_JOBS, random_state=seed)


def _extra_trees(classify: bool, params: dict, seed: int):
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    model = ExtraTreesClassifier if classify else ExtraTreesRegressor
    return model(**params, n_jobs=N_JOBS, random_state=seed)


def _knn(classify: bool, params: dict, seed: int):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    model = KNeighborsClassifier if classify else KNeighborsRegressor
    return model(**params)


def _kernel_ridge(classify: bool, params: dict, seed: int):
    from sklearn.kernel_ridge import KernelRidge

    # Regression only (`Family.regression_only`); its inputs are the shared preprocessing's
    # standardized numeric and one-hot columns, its target standardized by `build_pipeline`.
    return KernelRidge(**params)


def _svm(classify: bool, params: dict, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    if classify:
        # Probabilities by Platt scaling on 3 internal folds, then one SVC on all the rows.
        return CalibratedClassifierCV(SVC(**params, kernel="rbf", random_state=seed),
                                      method="sigmoid", cv=3, ensemble=False)
    return SVR(**params, kernel="rbf")


@dataclass(frozen=True)
class Family:
    """One candidate family: known-good settings (defaults first, then an alternative that
    differs in kind, not just in degree), a search space and an estimator factory."""

    name: str
    defaults: Mapping[str, object]
    alternative: Mapping[str, object]
    space: Mapping[str, Callable[[np.random.Generator], object]]
    make: Callable[[bool, dict, int], object]
    max_rows: int | None = None  # left out above this many rows
    regression_only: bool = False

    @property
    def presets(self) -> tuple[Mapping[str, object], ...]:
        return self.defaults, self.alternative

    def sample(self, rng: np.random.Generator) -> dict:
        return {key: draw(rng) for key, draw in self.space.items()}


_TREES = {
    "n_estimators": _integer(100, 300),
    "max_features": _choice("sqrt", 0.5, 1.0),
    "min_samples_leaf": _integer(1, 5),
}

# Cheapest first: when the budget runs out early, the fast families have had their turn.
FAMILIES = (
    Family("linear", {"alpha": 1.0}, {"alpha": 0.01}, {"alpha": _log_uniform(1e-3, 1e3)},
           _linear),
    Family("knn", {"n_neighbors": 5, "weights": "distance"},
           {"n_neighbors": 15, "weights": "distance", "p": 1},
           {"n_neighbors": _integer(1, 30), "weights": _choice("uniform", "distance"),
            "p": _choice(1, 2)}, _knn),
    Family("svm", {"C": 10.0, "gamma": "scale"}, {"C": 1.0, "gamma": "scale"},
           {"C": _log_uniform(0.1, 1000.0), "gamma": _log_uniform(1e-4, 1.0)}, _svm,
           max_rows=SVM_MAX_ROWS),
    # The radial basis function kernel is the Gaussian process's posterior mean with a fixed
    # length scale; gamma=None is 1 / columns, as the SVM's "scale" on standardized inputs. The
    # alternative is the Laplacian kernel: rougher functions, for surfaces with kinks.
    Family("kernel_ridge", {"kernel": "rbf", "alpha": 0.1, "gamma": None},
           {"kernel": "laplacian", "alpha": 0.1, "gamma": None},
           {"kernel": _choice("rbf", "laplacian"), "alpha": _log_uniform(1e-3, 10.0),
            "gamma": _log_uniform(1e-3, 1.0)}, _kernel_ridge,
           max_rows=KERNEL_RIDGE_MAX_ROWS, regression_only=True),
    Family("hist_gradient_boosting",
           # scikit-learn's defaults (early stopping is off below 10,000 rows anyway); a
           # multiclass fit grows one tree per class per iteration, so 100 keeps it in its share.
           {"learning_rate": 0.1, "max_iter": 100, "early_stopping": False},
           {"learning_rate": 0.05, "max_iter": 200, "max_leaf_nodes": 15,
            "l2_regularization": 1.0, "early_stopping": False},
           {"learning_rate": _log_uniform(0.02, 0.3), "max_iter": _integer(50, 400),
            "max_leaf_nodes": _integer(8, 64), "min_samples_leaf": _integer(5, 50),
            "l2_regularization": _log_uniform(1e-3, 10.0), "early_stopping": _choice(False)},
           _hist_gradient_boosting),
    Family("random_forest", {"n_estimators": 200, "max_features": "sqrt"},
           {"n_estimators": 200, "max_features": 1.0}, _TREES, _random_forest),
    Family("extra_trees", {"n_estimators": 200, "max_features": "sqrt"},
           {"n_estimators": 200, "max_features": 1.0}, _TREES, _extra_trees),
    Family(
        "xgboost",
        {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1, "subsample": 0.9},
        {"n_estimators": 400, "max_depth": 6, "learning_rate": 0.05, "subsample": 0.8,
         "colsample_bytree": 0.8},
        {
            "n_estimators": _integer(50, 400),
            "max_depth": _integer(2, 8),
            "learning_rate": _log_uniform(0.01, 0.3),
            "subsample": _uniform(0.6, 1.0),
            "colsample_bytree": _uniform(0.5, 1.0),
            "min_child_weight": _log_uniform(1.0, 10.0),
            "reg_lambda": _log_uniform(0.01, 10.0),
        },
        _xgboost,
    ),
    Family(
        "mlp",
        {"hidden_layer_sizes": (64,), "alpha": 1e-4, "learning_rate_init": 1e-3},
        {"hidden_layer_sizes": (128, 64), "alpha": 1e-3, "learning_rate_init": 1e-3},
        {
            "hidden_layer_sizes": _choice((32,), (64,), (128,), (64, 32)),
            "alpha": _log_uniform(1e-5, 1e-1),
            "learning_rate_init": _log_uniform(1e-4, 1e-2),
        },
        _mlp,
    ),
)

BY_NAME = {family.name: family for family in FAMILIES}
FASTEST = FAMILIES[0]


def usable(rows: int, classify: bool) -> tuple[list[Family], dict[str, str]]:
    """The families worth trying on `rows` rows of a classification table (`classify`) or a
    regression one, and why any others are left out."""
    chosen, skipped = [], {}
    for family in FAMILIES:
        if family.regression_only and classify:
            continue  # not a choice for classification, so not worth a line in the log
        if family.max_rows is not None and rows > family.max_rows:
            skipped[family.name] = f"{rows} rows is above its limit of {family.max_rows}"
        else:
            chosen.append(family)
    return chosen, skipped
