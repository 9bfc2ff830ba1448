"""The offline Autopilot-style baseline: preprocess, random-search three algorithms, refit the best.

Like Autopilot's hyperparameter-tuning mode, each algorithm (a linear model, XGBoost, an MLP)
gets its default configuration first, then random configurations in turn while the time budget
lasts; every candidate is scored by k-fold cross-validation on the objective, and the best one
is refit on all rows. Writes leaderboard.csv, summary.json, report.md and model.joblib.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from byoc.errors import UserError
from byoc.tabular import objectives, report
from byoc.tabular.dataset import Dataset, load, prepare_features, read_csv

MODEL_FILE = "model.joblib"
LEADERBOARD_FILE = "leaderboard.csv"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
PREDICTION_COLUMN = "prediction"
DEFAULT_FOLDS = 5
DEFAULT_TIME_BUDGET = 60.0

# Objective -> (key in summary.json and leaderboard, scikit-learn scorer). Error scorers are
# negated by scikit-learn; the key's value is reported with its natural sign.
METRICS = {
    "MSE": ("mse", "neg_mean_squared_error"),
    "RMSE": ("rmse", "neg_root_mean_squared_error"),
    "MAE": ("mae", "neg_mean_absolute_error"),
    "R2": ("r2", "r2"),
    "Accuracy": ("accuracy", "accuracy"),
    "BalancedAccuracy": ("balanced_accuracy", "balanced_accuracy"),
    "F1": ("f1", "f1"),
    "AUC": ("auc", "roc_auc"),
    "Precision": ("precision", "precision"),
    "Recall": ("recall", "recall"),
    "F1macro": ("f1_macro", "f1_macro"),
    "PrecisionMacro": ("precision_macro", "precision_macro"),
    "RecallMacro": ("recall_macro", "recall_macro"),
}


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

    # One thread: the search runs candidates one after another on a shared machine.
    model = XGBClassifier if classify else XGBRegressor
    return model(**params, tree_method="hist", n_jobs=1, random_state=seed)


def _mlp(classify: bool, params: dict, seed: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    model = MLPClassifier if classify else MLPRegressor
    return model(**params, early_stopping=True, max_iter=500, random_state=seed)


@dataclass(frozen=True)
class Algorithm:
    """One candidate family: its default configuration, search space and estimator factory."""

    name: str
    defaults: Mapping[str, object]
    space: Mapping[str, Callable[[np.random.Generator], object]]
    make: Callable[[bool, dict, int], object]

    def sample(self, rng: np.random.Generator) -> dict:
        return {key: draw(rng) for key, draw in self.space.items()}


ALGORITHMS = (
    Algorithm("linear", {"alpha": 1.0}, {"alpha": _log_uniform(1e-3, 1e3)}, _linear),
    Algorithm(
        "xgboost",
        {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1, "subsample": 0.9},
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
    Algorithm(
        "mlp",
        {"hidden_layer_sizes": (64,), "alpha": 1e-4, "learning_rate_init": 1e-3},
        {
            "hidden_layer_sizes": _choice((32,), (64,), (128,), (64, 32)),
            "alpha": _log_uniform(1e-5, 1e-1),
            "learning_rate_init": _log_uniform(1e-4, 1e-2),
        },
        _mlp,
    ),
)


@dataclass
class Candidate:
    name: str
    algorithm: str
    params: dict
    metrics: dict[str, float]  # summary key -> mean over folds
    score_std: float
    fit_time: float


def preprocessor(ds: Dataset):
    """Impute, scale and one-hot encode: the ColumnTransformer every candidate starts with."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ds.numeric),
        ("categorical", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=20,
                          sparse_output=False),
        ), ds.categorical),
    ])


def build_pipeline(ds: Dataset, algorithm: Algorithm, params: dict, seed: int):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    classify = objectives.is_classification(ds.problem_type)
    model = algorithm.make(classify, dict(params), seed)
    if not classify:
        # A standardized target keeps the MLP's and the linear model's steps well scaled.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return Pipeline([("preprocess", preprocessor(ds)), ("model", model)])


def _splitter(ds: Dataset, folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    if objectives.is_classification(ds.problem_type):
        smallest = int(ds.y.value_counts().min())
        if smallest < 2:
            raise UserError(
                f"A class of '{ds.target}' has a single row; cross-validation needs at least 2 "
                "rows per class. Add rows or merge rare classes."
            )
        return StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)
    return KFold(min(folds, len(ds.frame)), shuffle=True, random_state=seed)


def _encoded_target(ds: Dataset) -> tuple[np.ndarray, list[str]]:
    """Class labels as 0..k-1 (sorted, so the positive class of a binary problem is the second)."""
    if not objectives.is_classification(ds.problem_type):
        return ds.y.to_numpy(dtype=float), []
    classes = sorted(ds.y.unique())
    return ds.y.map({c: i for i, c in enumerate(classes)}).to_numpy(), classes


def _score(ds: Dataset, pipeline, y: np.ndarray, cv) -> tuple[dict[str, float], dict[str, float]]:
    from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
    from sklearn.model_selection import cross_validate

    names = objectives.OBJECTIVES[ds.problem_type]
    scoring = {METRICS[n][0]: METRICS[n][1] for n in names}
    with warnings.catch_warnings():
        # A budget-limited MLP stops before converging, and a fold without a predicted positive
        # has no precision: both are expected during a search.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        result = cross_validate(pipeline, ds.X, y, cv=cv, scoring=scoring, error_score="raise")
    means, stds = {}, {}
    for key, scorer in scoring.items():
        values = result[f"test_{key}"] * (-1 if scorer.startswith("neg_") else 1)
        means[key], stds[key] = float(np.mean(values)), float(np.std(values))
    return means, stds


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def search(ds: Dataset, objective: str, cv, time_budget: float, seed: int = 0,
           max_candidates: int | None = None,
           progress: Callable[[str], None] = _stderr) -> list[Candidate]:
    """Cross-validate candidates until the budget is spent; best first.

    Each algorithm's default configuration always runs, so the budget only limits the random
    configurations after them.
    """
    key = METRICS[objective][0]
    y, _ = _encoded_target(ds)
    rng = np.random.default_rng(seed)
    limit = math.inf if max_candidates is None else max(max_candidates, len(ALGORITHMS))
    candidates: list[Candidate] = []
    start = time.monotonic()
    index = 0
    while index < limit and (index < len(ALGORITHMS) or time.monotonic() - start < time_budget):
        algorithm = ALGORITHMS[index % len(ALGORITHMS)]
        params = dict(algorithm.defaults) if index < len(ALGORITHMS) else algorithm.sample(rng)
        name = f"{algorithm.name}-{index + 1:03d}"
        index += 1
        began = time.monotonic()
        try:
            means, stds = _score(ds, build_pipeline(ds, algorithm, params, seed), y, cv)
        except (ValueError, FloatingPointError) as exc:
            progress(f"[{index:>3}] {name:<13} failed: {exc}")
            continue
        candidate = Candidate(name, algorithm.name, params, means, stds[key],
                              time.monotonic() - began)
        candidates.append(candidate)
        progress(
            f"[{index:>3}] {name:<13} {objective}={means[key]:.6g} ±{stds[key]:.3g}  "
            f"fit {candidate.fit_time:.1f}s  budget {time.monotonic() - start:.1f}"
            f"/{time_budget:g}s"
        )
    if not candidates:
        raise UserError("Every candidate failed; see the messages above for the reasons.")
    sign = 1 if objective in objectives.MINIMIZED else -1
    return sorted(candidates, key=lambda c: sign * c.metrics[key])


def _write_leaderboard(path: Path, candidates: list[Candidate], objective: str) -> None:
    key = METRICS[objective][0]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "candidate", "algorithm", "metric", "score", "score_std",
                         "fit_time_s", "params"])
        for rank, c in enumerate(candidates, 1):
            writer.writerow([rank, c.name, c.algorithm, objective, f"{c.metrics[key]:.6g}",
                             f"{c.score_std:.4g}", f"{c.fit_time:.2f}",
                             json.dumps(c.params, sort_keys=True)])


def run(csv_path: str | Path, target: str, out_dir: str | Path, problem_type: str | None = None,
        objective: str | None = None, time_budget: float = DEFAULT_TIME_BUDGET, seed: int = 0,
        folds: int = DEFAULT_FOLDS, max_candidates: int | None = None,
        progress: Callable[[str], None] = _stderr) -> dict:
    """The whole local flow; returns what summary.json holds."""
    import joblib

    if time_budget <= 0:
        raise UserError(f"--time-budget must be positive seconds, not {time_budget}.")
    if folds < 2:
        raise UserError(f"--folds must be at least 2, not {folds}.")
    ds = load(csv_path, target, problem_type)
    objective = objectives.resolve_objective(ds.problem_type, objective)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    analysis = report.analyze(ds, seed)
    report.write_markdown(ds, analysis, out / REPORT_FILE)
    for line in analysis.warnings:
        progress(f"warning: {line}")
    progress(f"{ds.problem_type}, objective {objective}, {len(ds.frame)} rows, "
             f"{len(ds.features)} features; searching for {time_budget:g}s")

    cv = _splitter(ds, folds, seed)
    candidates = search(ds, objective, cv, time_budget, seed, max_candidates, progress)
    _write_leaderboard(out / LEADERBOARD_FILE, candidates, objective)

    best = candidates[0]
    algorithm = next(a for a in ALGORITHMS if a.name == best.algorithm)
    y, classes = _encoded_target(ds)
    pipeline = build_pipeline(ds, algorithm, best.params, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(ds.X, y)
    joblib.dump({
        "pipeline": pipeline,
        "target": ds.target,
        "numeric": ds.numeric,
        "categorical": ds.categorical,
        "problem_type": ds.problem_type,
        "classes": classes,
    }, out / MODEL_FILE)

    summary = {
        "problem_type": ds.problem_type,
        "objective": objective,
        "objective_key": METRICS[objective][0],
        "target": ds.target,
        "rows": len(ds.frame),
        "numeric_features": ds.numeric,
        "categorical_features": ds.categorical,
        "dropped_columns": ds.dropped,
        "classes": classes,
        "positive_class": classes[1] if ds.problem_type == objectives.BINARY else None,
        "cv_folds": cv.get_n_splits(),
        "time_budget_s": time_budget,
        "candidates_evaluated": len(candidates),
        "best_candidate": best.name,
        "best_algorithm": best.algorithm,
        "best_params": best.params,
        "metrics": best.metrics,
        "warnings": analysis.warnings,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def predict(model_dir: str | Path, csv_path: str | Path) -> list:
    """Predictions of the model in `model_dir` for every row of `csv_path`.

    The file is a pickle: load only models you made or trust.
    """
    import joblib

    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist. Run `byoc autopilot local --out {model_dir}` "
                        "first, or pass the directory it wrote with --model.")
    bundle = joblib.load(path)
    frame = read_csv(csv_path)
    features = bundle["numeric"] + bundle["categorical"]
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise UserError(
            f"{csv_path} lacks columns the model was trained on: {', '.join(missing)}. It needs "
            f"{', '.join(features)} (the target '{bundle['target']}' may be present or not)."
        )
    frame = prepare_features(frame[features], bundle["numeric"], bundle["categorical"],
                             str(csv_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = bundle["pipeline"].predict(frame)
    if bundle["classes"]:
        return [bundle["classes"][int(i)] for i in raw]
    return [float(v) for v in raw]


def write_predictions(predictions: list, out=None) -> None:
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow([PREDICTION_COLUMN])
    writer.writerows([p] for p in predictions)

