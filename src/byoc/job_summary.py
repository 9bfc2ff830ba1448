"""What a training job leaves in /opt/ml/output/data for people to read, and the few lines printed
when it ends: metrics.json's numbers and where the report is.

The container's evaluation writes these files (`byoc.evaluation`); the driver prints this summary
for `byoc train` (after the output is downloaded) and `byoc local train`. Both sides share this
module, so the driver imports no evaluation code. Nothing heavy: standard library only.
"""

from __future__ import annotations

import json
from pathlib import Path

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"


def _value(value: object) -> str:
    if value is None:
        return "n/a (not a number)"  # evaluation writes NaN, e.g. a diverged loss, as null
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def summary_lines(output_data: Path) -> list[str]:
    """`Evaluation` and one line per metrics.json entry, then the report and its plots.

    Empty when `output_data` (the job's /opt/ml/output/data) holds no metrics.json. The entries
    keep the file's order: split by split, accuracy, loss, top-k accuracy, macro F1, samples.
    """
    lines = metrics_lines(output_data)
    if not lines:
        return []
    report = Path(output_data) / REPORT_FILE
    if report.is_file():
        lines.append(f"Report: {report}")
    lines += [f"  plot: {png}" for png in sorted(Path(output_data).glob("*.png"))]
    return lines


def metrics_lines(output_data: Path) -> list[str]:
    """`Evaluation` and one line per metrics.json entry; empty without metrics.json. For output
    read and not kept (`byoc attach` without --download), where no report path would last."""
    metrics_file = Path(output_data) / METRICS_FILE
    if not metrics_file.is_file():
        return []
    return ["Evaluation", *(f"  {key:32s} {_value(value)}"
                            for key, value in json.loads(metrics_file.read_text()).items())]
