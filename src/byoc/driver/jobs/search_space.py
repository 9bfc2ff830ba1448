"""What a tuning job searches: byoc's trainer's ranges, or the user's `NAME=LOW:HIGH[:log]` and
`NAME=A,B,C` ranges."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from byoc import hyperparams
from byoc.errors import UserError

log = logging.getLogger(__name__)


# The search space of `byoc tune`; every value is a valid hyperparameter (a test parses them).
CONTINUOUS_RANGES = [
    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.01",
     "ScalingType": "Logarithmic"},
]
INTEGER_RANGES = [
    {"Name": "epochs", "MinValue": "5", "MaxValue": "30", "ScalingType": "Linear"},
]
CATEGORICAL_RANGES = [
    {"Name": "batch_size", "Values": ["32", "64", "128"]},
    {"Name": "model", "Values": list(hyperparams.ARCHITECTURE_NAMES)},
    {"Name": "optimizer", "Values": list(hyperparams.OPTIMIZERS)},
    {"Name": "augment", "Values": ["true", "false"]},
]


def parameter_ranges(static: Mapping[str, str]) -> dict:
    """The tuning ranges, without the hyperparameters the user fixed with --hp."""
    def keep(ranges: list[dict]) -> list[dict]:
        return [r for r in ranges if r["Name"] not in static]

    return {"ContinuousParameterRanges": keep(CONTINUOUS_RANGES),
            "IntegerParameterRanges": keep(INTEGER_RANGES),
            "CategoricalParameterRanges": keep(CATEGORICAL_RANGES)}


# `--range NAME=LOW:HIGH[:log]` or `--range NAME=A,B,C`: a search space of the user's own.
# SageMaker searches at most 30 hyperparameters, with at most 30 values for a categorical one.
MAX_RANGES = 30
MAX_CATEGORICAL_VALUES = 30
RANGE_EXAMPLE = "learning_rate=0.0001:0.1:log"


def _number(text: str, flag: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--range {flag}: '{text}' is not a number. Example: --range "
                        f"{RANGE_EXAMPLE}, or --range optimizer=adam,sgd") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"--range {flag}: '{text}' is not a finite number.")
    return value


def parse_ranges(pairs: list[str] | None) -> dict | None:
    """`--range` flags as ParameterRanges; None when there are none (byoc's own search space).

    LOW:HIGH is an integer range when both are whole numbers, else a continuous one; `:log`
    searches it on a log scale (both bounds above 0). A comma-separated list is categorical.
    """
    from byoc.pairs import parse_pairs

    given = parse_pairs(pairs, "--range", RANGE_EXAMPLE)
    if not given:
        return None
    if len(given) > MAX_RANGES:
        raise UserError(f"A tuning job searches at most {MAX_RANGES} hyperparameters; "
                        f"{len(given)} --range flags were given.")
    ranges: dict[str, list[dict]] = {"ContinuousParameterRanges": [],
                                     "IntegerParameterRanges": [],
                                     "CategoricalParameterRanges": []}
    for name, text in given.items():
        if ":" not in text:
            values = [v.strip() for v in text.split(",") if v.strip()]
            if not values or len(values) > MAX_CATEGORICAL_VALUES:
                raise UserError(f"--range {name}: give 1 to {MAX_CATEGORICAL_VALUES} values "
                                "separated by commas (A,B,C), or LOW:HIGH.")
            ranges["CategoricalParameterRanges"].append({"Name": name, "Values": values})
            continue
        low, high, *scale = text.split(":")
        if scale not in ([], ["log"]):
            raise UserError(f"--range {name}={text}: expected LOW:HIGH or LOW:HIGH:log. "
                            f"Example: --range {RANGE_EXAMPLE}")
        bounds = _number(low, name), _number(high, name)
        if not bounds[0] < bounds[1]:
            raise UserError(f"--range {name}={text}: LOW must be below HIGH.")
        if scale and bounds[0] <= 0:
            raise UserError(f"--range {name}={text}: a log scale needs LOW above 0.")
        kind = ("IntegerParameterRanges" if all(isinstance(b, int) for b in bounds)
                else "ContinuousParameterRanges")
        ranges[kind].append({"Name": name, "MinValue": low, "MaxValue": high,
                             "ScalingType": "Logarithmic" if scale else "Auto"})
    return ranges


def range_names(ranges: Mapping[str, list[dict]]) -> list[str]:
    return sorted(r["Name"] for kind in ranges.values() for r in kind)


def range_values(ranges: Mapping[str, list[dict]]) -> list[tuple[str, str]]:
    """Every (name, value) a trial may get at the edges of the search space: each bound, and
    each categorical value."""
    return [(r["Name"], value) for kind in ranges.values() for r in kind
            for value in r.get("Values") or (r["MinValue"], r["MaxValue"])]
