"""A light look at a tabular CSV before any work: its header, its target, its problem type.

pandas-free, so `byoc autopilot start` can check a local file or the first bytes of an S3 object
before it uploads or creates anything. The offline baseline (`tabular.dataset`) reads the whole
file with pandas but raises the same errors, with the same texts, from here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from byoc.errors import UserError
from byoc.tabular import objectives

HEADER_PROBE_BYTES = 64 * 1024  # enough of a file or an S3 object to read its header row


def empty(source: str) -> UserError:
    return UserError(f"{source} is empty. Pass a CSV with a header row and data rows.")


def no_rows(source: str) -> UserError:
    return UserError(f"{source} has a header but no data rows.")


def check_target(columns: list[str], target: str, source: str) -> None:
    if target not in columns:
        raise UserError(
            f"Target column '{target}' is not in {source}. Its columns are: "
            f"{', '.join(map(str, columns))}. Pass one of them with --target."
        )


def header(text: str, source: str) -> list[str]:
    """The header row of a CSV's first bytes, checked to be followed by at least one data row."""
    rows = csv.reader(io.StringIO(text))
    names = next(rows, None)
    if not names or not any(cell.strip() for cell in names):
        raise empty(source)
    if next(rows, None) is None:
        raise no_rows(source)
    return [cell.strip() for cell in names]


def read_head(path: Path, size: int = HEADER_PROBE_BYTES) -> str:
    """The first `size` characters of a local CSV, or a UserError when there is no such file."""
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file. Pass a CSV file with a "
                        "header, or an s3:// URI.")
    with path.open(newline="") as fh:
        return fh.read(size)


def problem_type(lines: Iterable[str], target: str, source: str) -> str:
    """The problem type from the target column's values, by `objectives.infer_problem_type`.

    `lines` is the CSV, header first: an open file, or the whole lines of a sample.
    """
    values = set()
    for row in csv.DictReader(lines, skipinitialspace=True):
        value = (row.get(target) or "").strip()
        if value:
            values.add(value)
    numeric = all(_is_number(v) for v in values)
    distinct = len({float(v) for v in values}) if numeric else len(values)
    if distinct < 2:
        raise UserError(f"Target '{target}' in {source} has fewer than two distinct values: "
                        "there is nothing to learn. Check that --target names the right column.")
    return objectives.infer_problem_type(distinct, numeric)


def file_problem_type(path: Path, target: str) -> str:
    with path.open(newline="") as fh:
        return problem_type(fh, target, str(path))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
