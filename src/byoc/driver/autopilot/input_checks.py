"""What byoc checks before an Autopilot job is created: the CSV (its separator, header, target,
rows and problem type), the job's settings, and a local file's upload as comma-separated CSV."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from byoc.driver.autopilot.limits import COLUMN_NAME, MIN_ROWS, MODES, WEIGHT_MODE
from byoc.driver.aws import (
    Aws,
    split_s3_uri,
    upload_file,
)
from byoc.errors import UserError
from byoc.tabular import csv_check, objectives


def read_sample(aws: Aws | None, source: str) -> tuple[str, bool]:
    """The first csv_check.SAMPLE_BYTES of a local or S3 CSV, and whether that is all of it."""
    if not source.startswith("s3://"):
        return csv_check.read_head(Path(source))
    import botocore.exceptions

    bucket, key = split_s3_uri(source)
    s3 = aws.client("s3")
    size = csv_check.SAMPLE_BYTES
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")
    except s3.exceptions.NoSuchKey:
        raise UserError(f"{source} does not exist. Pass an existing CSV object.") from None
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidRange":
            return "", True  # S3's answer for a range of an empty object
        raise
    body = answer["Body"].read()
    total = answer.get("ContentRange", "").rpartition("/")[2]
    complete = int(total) <= size if total.isdigit() else len(body) < size
    return body.decode("utf-8", errors="replace"), complete


def check_csv(aws: Aws | None, source: str, target: str, weight: str | None = None
              ) -> csv_check.TargetScan | None:
    """Check that the CSV's header names `target` (and `weight`, the sample weight column).
    Return a scan of its rows when the whole file can be read here (a local file, or an S3
    object of at most csv_check.SAMPLE_BYTES), else None: a large S3 object is only probed."""
    text, complete = read_sample(aws, source)
    delimiter = csv_check.separator(text.partition("\n")[0])
    if delimiter != "," and source.startswith("s3://"):
        raise UserError(
            f"{source} is {csv_check.SEPARATOR_NAMES[delimiter]}-separated, and Autopilot reads "
            "only comma-separated CSV (or Parquet). Pass a local copy of the file instead: "
            "`byoc autopilot start` rewrites it with commas before uploading."
        )
    columns = csv_check.header(text, source, delimiter)
    csv_check.check_target(columns, target, source)
    if weight is not None and weight not in columns:
        raise UserError(f"Sample weight column '{weight}' is not in {source}. Its columns are: "
                        f"{', '.join(columns)}.")
    if not source.startswith("s3://"):
        return csv_check.scan_file(Path(source), target, delimiter)
    if complete:
        return csv_check.scan(io.StringIO(text, newline=""), target, source)
    return None


def upload_csv(aws: Aws, path: Path, uri: str, stream=None) -> str:
    """Upload a local CSV for Autopilot, which reads only plain comma-separated UTF-8: a file
    split by ';' or tabs, or led by a byte-order mark, is uploaded as a comma-separated copy
    (the file itself is left as it is). Return the object's URI."""
    with path.open("rb") as fh:
        head = fh.read(csv_check.SAMPLE_BYTES)
    has_bom = head.startswith(b"\xef\xbb\xbf")
    first_line = head.decode("utf-8-sig", errors="replace").partition("\n")[0]
    delimiter = csv_check.separator(first_line)
    if delimiter == "," and not has_bom:
        return upload_file(aws, path, uri)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="byoc-autopilot-") as tmp:
        copy = Path(tmp) / path.name
        csv_check.rewrite_as_commas(path, copy, delimiter)
        what = (f"{csv_check.SEPARATOR_NAMES[delimiter]}-separated" if delimiter != ","
                else "led by a byte-order mark")
        print(f"{path} is {what}; uploading a comma-separated UTF-8 copy, as Autopilot "
              "requires.", file=stream or sys.stderr)
        return upload_file(aws, copy, uri)


def resolve_problem(scan: csv_check.TargetScan | None, source: str, problem_type: str | None,
                    objective: str | None) -> tuple[str | None, str | None]:
    """The problem type and objective to send: both or neither, as the API requires.

    A CSV read whole gets the type by the rule `autopilot local` uses. For a large S3 object
    Autopilot infers it, unless an objective is given: then the objective must name the type
    (MSE is Regression; Accuracy could be either classification), or --problem-type must.
    """
    objective = objectives.resolve_objective(problem_type, objective)
    if problem_type is not None:
        return problem_type, objective
    if scan is not None:
        problem_type = scan.problem_type()
    elif objective is not None:
        fits = objectives.problem_types_for(objective)
        if len(fits) != 1:
            raise UserError(
                f"Objective '{objective}' fits {' and '.join(fits)}, and {source} is larger "
                f"than the {csv_check.SAMPLE_BYTES // 1024} KiB byoc reads to infer the type. "
                "Autopilot takes an objective only with a problem type: pass --problem-type."
            )
        problem_type = fits[0]
    else:
        return None, None  # Autopilot infers both
    return problem_type, objectives.resolve_objective(problem_type, objective)


def check_rows(scan: csv_check.TargetScan | None) -> None:
    """Autopilot's minimum, checked here so that a small file fails now, not after minutes."""
    if scan is not None and scan.rows < MIN_ROWS:
        raise UserError(
            f"{scan.source} has {scan.rows} data rows; Autopilot needs at least {MIN_ROWS}. Add "
            "rows, or try the offline baseline on this file: byoc autopilot local --csv "
            f"{scan.source} --target {scan.target} --out DIR"
        )


def check_limits(*, target: str, mode: str, max_runtime: int | None,
                 max_runtime_per_job: int | None, validation_fraction: float | None,
                 sample_weight: str | None) -> None:
    """The job's own settings, checked before the CSV is read."""
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, not '{mode}'.")
    if max_runtime_per_job and max_runtime and max_runtime_per_job > max_runtime:
        raise UserError(f"--max-runtime-per-job ({max_runtime_per_job} s) is longer than the "
                        f"whole job's --max-runtime ({max_runtime} s): lower it or raise "
                        "--max-runtime.")
    if validation_fraction is not None and not 0 < validation_fraction < 1:
        raise UserError(f"--validation-fraction must be between 0 and 1, e.g. 0.2 (a fifth of "
                        f"the rows), not {validation_fraction:g}.")
    if sample_weight is not None:
        if not COLUMN_NAME.fullmatch(sample_weight):
            raise UserError(f"--sample-weight-column '{sample_weight}': Autopilot takes column "
                            "names of letters, digits, _ and - only (up to 256). Rename the "
                            "column in the CSV.")
        if sample_weight == target:
            raise UserError("--sample-weight-column names the target: weights must be another "
                            "column.")
        if mode != WEIGHT_MODE:
            raise UserError(f"Autopilot uses sample weights in {WEIGHT_MODE} mode only: add "
                            f"--mode {WEIGHT_MODE}, or drop --sample-weight-column.")
