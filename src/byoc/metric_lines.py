"""The metric lines `train` prints, and the regexes SageMaker uses to read them.

One line per epoch, e.g.

    #metrics epoch=3 train_loss=0.4121 train_accuracy=0.887 val_loss=0.3502 val_accuracy=0.9012
    val_top_k_accuracy=0.993  (all on one line)

and one line at the end with the evaluated splits (`#metrics final test_accuracy=... ...`).
`METRIC_DEFINITIONS` is what the driver passes as a training job's `MetricDefinitions`. No
TensorFlow here: the driver imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

PREFIX = "#metrics"
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf)"

# Log key -> SageMaker metric name. `\b` keeps `accuracy=` from matching inside `val_accuracy=`.
LOGGED = {
    "train_loss": "train:loss",
    "train_accuracy": "train:accuracy",
    "val_loss": "validation:loss",
    "val_accuracy": "validation:accuracy",
    "val_top_k_accuracy": "validation:top_k_accuracy",
    "test_loss": "test:loss",
    "test_accuracy": "test:accuracy",
    "test_top_k_accuracy": "test:top_k_accuracy",
}

METRIC_DEFINITIONS = [
    {"Name": name, "Regex": rf"{PREFIX} .*\b{key}={_NUMBER}"} for key, name in LOGGED.items()
]

# The tuning objective `byoc tune` uses by default.
OBJECTIVE_METRIC = "validation:accuracy"


def _fmt(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return f"{value:.6g}"


def epoch_line(epoch: int, values: Mapping[str, float]) -> str:
    """The per-epoch line; `values` uses the keys of LOGGED."""
    parts = [f"{k}={_fmt(v)}" for k, v in values.items() if k in LOGGED]
    return f"{PREFIX} epoch={epoch} " + " ".join(parts)


def final_line(values: Mapping[str, float]) -> str:
    parts = [f"{k}={_fmt(v)}" for k, v in values.items() if k in LOGGED]
    return f"{PREFIX} final " + " ".join(parts)
