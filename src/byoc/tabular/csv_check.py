"""A light look at a tabular CSV before any work: its header, its target, its problem type.

pandas-free, so `byoc autopilot start` can check a local file or the first bytes of an S3 object
before it uploads or creates anything. The offline baseline (`tabular.dataset`) reads the whole
file with pandas but raises the same errors, with the same texts, from here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from byoc.errors import UserError
from byoc.tabular import objectives

# Enough of a file or an S3 object for its header; a CSV this small is read whole, so its rows
# and target values can be checked before anything is uploaded or created.
SAMPLE_BYTES = 1024 * 1024

# Separators a header row may be split by: spreadsheet exports use ';' or tabs. Autopilot itself
# reads only ',' (and Parquet), so `autopilot start` rewrites a local file split otherwise.
SEPARATORS = (",", ";", "\t")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


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


def separator(header_line: str) -> str:
    """',' unless the header row is clearly split by ';' or a tab (spreadsheet exports)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def header(text: str, source: str, delimiter: str = ",") -> list[str]:
    """The header row of a CSV's first bytes, checked to be followed by at least one data row."""
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    names = next(rows, None)
    if not names or not any(cell.strip() for cell in names):
        raise empty(source)
    if next(rows, None) is None:
        raise no_rows(source)
    return [cell.strip() for cell in names]


def read_head(path: Path, size: int | None = None) -> tuple[str, bool]:
    """The first `size` (default SAMPLE_BYTES) bytes of a local CSV as text, and whether that
    is the whole file; a UserError when there is no such file."""
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file. Pass a CSV file with a "
                        "header, or an s3:// URI.")
    size = size or SAMPLE_BYTES
    with path.open("rb") as fh:
        data = fh.read(size + 1)
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
    return data[:size].decode("utf-8-sig", errors="replace"), len(data) <= size


@dataclass(frozen=True)
class TargetScan:
    """What one pass over a CSV's rows found: how many there are, and the target's values."""

    source: str
    target: str
    rows: int
    values: frozenset[str]

    def problem_type(self) -> str:
        """The problem type by `objectives.infer_problem_type`, or a UserError when the target
        has fewer than two distinct values."""
        numeric = all(_is_number(v) for v in self.values)
        distinct = len({float(v) for v in self.values}) if numeric else len(self.values)
        if distinct < 2:
            raise UserError(f"Target '{self.target}' in {self.source} has fewer than two distinct "
                            "values: there is nothing to learn. Check that --target names the "
                            "right column.")
        return objectives.infer_problem_type(distinct, numeric)


def scan(lines: Iterable[str], target: str, source: str, delimiter: str = ",") -> TargetScan:
    """Count the data rows and collect the target's values; `lines` is the CSV, header first."""
    values: set[str] = set()
    rows = 0
    for row in csv.DictReader(lines, skipinitialspace=True, delimiter=delimiter):
        rows += 1
        value = (row.get(target) or "").strip()
        if value:
            values.add(value)
    return TargetScan(source, target, rows, frozenset(values))


def scan_file(path: Path, target: str, delimiter: str = ",") -> TargetScan:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return scan(fh, target, str(path), delimiter)


def rewrite_as_commas(source: Path, destination: Path, delimiter: str) -> int:
    """Write `source`, split by `delimiter` and maybe led by a byte-order mark, to `destination`
    as plain comma-separated UTF-8 (quoting what needs it). Return the number of data rows."""
    rows = -1
    with source.open(newline="", encoding="utf-8-sig") as src, \
            destination.open("w", newline="", encoding="utf-8") as dst:
        writer = csv.writer(dst)
        for row in csv.reader(src, delimiter=delimiter):
            writer.writerow(cell.strip() for cell in row)
            rows += 1
    return max(rows, 0)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
