"""Read a tabular CSV once, check it, and sort its columns: target, numeric, categorical, dropped.

Every check that a user can fix ends in a UserError that names the file, the column and the way
out; later steps (report, search, predict) take the resulting `Dataset` and trust it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from byoc.errors import UserError
from byoc.tabular import csv_check, objectives

MIN_ROWS = 10  # fewer rows cannot be split into cross-validation folds that mean anything
ID_DISTINCT_SHARE = 0.95
# Why a column is set aside, and what happens to it: the words of the report, the warnings and
# the data exploration notebook.
EMPTY = "empty (no value in any row)"
CONSTANT = "constant"
ID_LIKE = "ID-like (a distinct value in every row)"
SET_ASIDE = "left out of the features"


@dataclass
class Dataset:
    """A checked table: features and target, with the reasons any column was set aside."""

    source: str
    frame: pd.DataFrame
    target: str
    problem_type: str
    numeric: list[str]
    categorical: list[str]
    dropped: dict[str, str] = field(default_factory=dict)
    rows_without_target: int = 0

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 - the usual name for a feature matrix
        return self.frame[self.features]

    @property
    def y(self) -> pd.Series:
        return self.frame[self.target]


def _separator(path: Path) -> str:
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        return csv_check.separator(fh.readline())


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV with a header row, or a UserError saying why it cannot be used.

    A byte-order mark (Excel's "CSV UTF-8") is dropped, and a header split by ';' or tabs
    selects that separator.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file. Pass a CSV file with a header.")
    try:
        frame = pd.read_csv(path, sep=_separator(path), skipinitialspace=True,
                            encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise csv_check.empty(str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a readable CSV: {exc}") from None
    if frame.empty:
        raise csv_check.no_rows(str(path))
    return frame


def infer_problem_type(y: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    return objectives.infer_problem_type(y.nunique(), numeric)


def _is_id_like(column: pd.Series) -> bool:
    """All-distinct labels (strings) or a counter (integers in an even step), not a measurement."""
    values = column.dropna()
    if len(values) < MIN_ROWS:
        return False
    if pd.api.types.is_integer_dtype(values):
        if values.nunique() != len(values):
            return False
        steps = np.diff(np.sort(values.to_numpy()))
        return bool(np.all(steps == steps[0]))
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        return values.nunique() >= ID_DISTINCT_SHARE * len(values)
    return False


def load(path: str | Path, target: str, problem_type: str | None = None) -> Dataset:
    """Read and check `path` for learning `target`; infer the problem type when not given."""
    frame = read_csv(path)
    csv_check.check_target(list(frame.columns), target, str(path))
    y = frame[target]
    missing = int(y.isna().sum())
    if missing == len(frame):
        raise UserError(
            f"Target '{target}' has no value in any of the {len(frame)} rows of {path}. Fill it "
            "in, or pass the column to predict with --target."
        )
    if _is_id_like(y.dropna()) and (problem_type is None or
                                    objectives.is_classification(problem_type)):
        raise UserError(
            f"Target '{target}' in {path} looks like an identifier (a distinct value in every "
            "row, or a counter): there is nothing to generalize from. Pass the column to "
            "predict with --target."
        )
    frame = frame[y.notna()].reset_index(drop=True)
    y = frame[target]
    if len(frame) < MIN_ROWS:
        raise UserError(
            f"{path} has {len(frame)} rows with a value for '{target}'; at least {MIN_ROWS} are "
            "needed for cross-validation. Add rows or fill in the target."
        )
    if y.nunique() < 2:
        raise UserError(
            f"Target '{target}' in {path} has a single value ({y.iloc[0]!r}) in every row: there "
            "is nothing to learn. Check that --target names the right column."
        )
    if problem_type is None:
        problem_type = infer_problem_type(y)
    objectives.check_problem_type(problem_type)
    if problem_type == objectives.REGRESSION and not pd.api.types.is_numeric_dtype(y):
        raise UserError(
            f"Target '{target}' holds non-numeric values (e.g. {y.iloc[0]!r}); Regression needs "
            "numbers. Use --problem-type MulticlassClassification or BinaryClassification."
        )
    if problem_type == objectives.BINARY and y.nunique() != 2:
        raise UserError(
            f"BinaryClassification needs exactly 2 classes; '{target}' has {y.nunique()}. "
            "Use --problem-type MulticlassClassification."
        )
    if objectives.is_classification(problem_type):
        # Labels are kept as text; whole floats (a label column that had gaps) print as ints.
        if pd.api.types.is_float_dtype(y) and bool((y == y.round()).all()):
            y = y.astype(int)
        frame[target] = y.astype(str)

    numeric, categorical, dropped = [], [], {}
    for name in frame.columns:
        if name == target:
            continue
        column = frame[name]
        if column.isna().all():
            dropped[name] = EMPTY
        elif column.nunique(dropna=True) <= 1:
            dropped[name] = CONSTANT
        elif _is_id_like(column):
            dropped[name] = ID_LIKE
        elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            numeric.append(name)
        else:
            categorical.append(name)
    if not numeric and not categorical:
        raise UserError(
            f"{path} has no usable feature column besides '{target}' (set aside: "
            f"{', '.join(f'{k}: {v}' for k, v in dropped.items()) or 'none'})."
        )
    frame[numeric + categorical] = prepare_features(frame, numeric, categorical, str(path))
    return Dataset(str(path), frame, target, problem_type, numeric, categorical, dropped, missing)


def prepare_features(frame: pd.DataFrame, numeric: list[str], categorical: list[str],
                     source: str) -> pd.DataFrame:
    """The feature columns as the pipeline expects them: numbers, and categories as text."""
    out = pd.DataFrame(index=frame.index)
    for name in numeric:
        try:
            out[name] = pd.to_numeric(frame[name])
        except (ValueError, TypeError):
            raise UserError(
                f"Column '{name}' in {source} must hold numbers (the model was trained on "
                "numbers there); fix or blank out the other values."
            ) from None
    for name in categorical:
        out[name] = frame[name].map(str, na_action="ignore")
    return out
