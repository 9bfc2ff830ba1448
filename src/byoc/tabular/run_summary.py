"""What a run of the tabular baseline found: `Summary`, written as summary.json, read by the report,
the candidate script, the MLflow record and the command line."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass
class Summary:
    """What a run found, as summary.json holds it (same keys, same order)."""

    problem_type: str
    objective: str  # Autopilot's name, e.g. MSE, F1
    objective_key: str  # its key in `metrics`, e.g. mse, f1
    mode: str  # ensembling or hpo
    mode_reason: str
    target: str
    rows: int
    numeric_features: list[str]
    categorical_features: list[str]
    dropped_columns: dict[str, str]  # column -> why it was dropped
    classes: list[str]  # empty for regression
    positive_class: str | None  # the second class of a binary problem
    cv_folds: int
    time_budget_s: float
    elapsed_s: float
    search_budget_s: float  # the search's part of the budget (the rest: ensemble, importance)
    search_elapsed_s: float
    search_stop: str  # why the search stopped: budget spent, leaderboard stopped moving, ...
    candidates_evaluated: int  # single candidates, not the ensemble or the stacked model
    best_candidate: str
    best_algorithm: str
    best_params: dict
    metrics: dict[str, float]  # the best entry's cross-validated means; empty if unscored
    score_std: float | None  # the best entry's std across folds of the objective
    tied_with_best: list[str]
    ensemble: dict[str, float] | None  # member -> weight
    stacked: dict | None  # members and stacker
    importance: dict[str, float]  # column -> drop in the objective when shuffled
    importance_folds: int
    warnings: list[str]
    # SHAP values of the model: explainer, what they explain, rows, column -> mean |SHAP value|,
    # and a few rows' top contributions; None if the run has no scored model.
    shap: dict | None = None

    def as_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

