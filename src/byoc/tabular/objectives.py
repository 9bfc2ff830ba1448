"""Autopilot's problem types and objective metrics, shared by the AWS driver and the local baseline.

No heavy imports: `byoc autopilot start` validates flags with this module before touching AWS.
"""

from __future__ import annotations

from byoc.errors import UserError

REGRESSION = "Regression"
BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)

# The objectives AutoMLJobObjective accepts for each tabular problem type (AutoMLMetricEnum).
# LogLoss is reported for candidates but is not accepted as an objective, so it is absent here.
OBJECTIVES = {
    REGRESSION: ("MSE", "RMSE", "MAE", "R2"),
    BINARY: ("F1", "Accuracy", "AUC", "BalancedAccuracy", "Precision", "Recall"),
    MULTICLASS: ("Accuracy", "F1macro", "BalancedAccuracy", "PrecisionMacro", "RecallMacro"),
}

# Autopilot's own defaults when no objective is given: MSE, F1 for two classes, Accuracy otherwise.
DEFAULT_OBJECTIVE = {problem: names[0] for problem, names in OBJECTIVES.items()}

# Error metrics: lower is better. Everything else is maximized.
MINIMIZED = frozenset({"MSE", "RMSE", "MAE"})

REGRESSION_MIN_DISTINCT = 10  # a numeric target with more distinct values is a regression target


def is_classification(problem_type: str) -> bool:
    return problem_type in (BINARY, MULTICLASS)


def infer_problem_type(distinct: int, numeric: bool) -> str:
    """Autopilot's rule of thumb: many distinct numbers → Regression; 2 classes → Binary."""
    if numeric and distinct > REGRESSION_MIN_DISTINCT:
        return REGRESSION
    return BINARY if distinct == 2 else MULTICLASS


def check_problem_type(problem_type: str) -> str:
    if problem_type not in PROBLEM_TYPES:
        raise UserError(
            f"Unknown problem type '{problem_type}'. Use one of: {', '.join(PROBLEM_TYPES)}."
        )
    return problem_type


def problem_types_for(objective: str) -> tuple[str, ...]:
    """The problem types `objective` fits: one for most, two for Accuracy and BalancedAccuracy."""
    return tuple(problem for problem, names in OBJECTIVES.items() if objective in names)


def resolve_objective(problem_type: str | None, objective: str | None) -> str | None:
    """The objective to use, checked against the problem type; None when both are unknown.

    Without a problem type, any known objective is accepted (Autopilot infers the type and
    rejects a mismatch itself).
    """
    if problem_type is not None:
        check_problem_type(problem_type)
        if objective is None:
            return DEFAULT_OBJECTIVE[problem_type]
        if objective not in OBJECTIVES[problem_type]:
            raise UserError(
                f"Objective '{objective}' does not fit {problem_type}. Use one of: "
                f"{', '.join(OBJECTIVES[problem_type])}."
            )
        return objective
    if objective is None:
        return None
    known = sorted({name for names in OBJECTIVES.values() for name in names})
    if objective not in known:
        raise UserError(f"Unknown objective '{objective}'. Use one of: {', '.join(known)}.")
    return objective

