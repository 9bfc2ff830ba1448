"""The evaluation's files in /opt/ml/output/data: metrics.json, per-split CSV and JSON, report.md.
`write_report` is the entry point (see the package docstring for every file)."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from byoc.evaluation.analysis import (
    Analysis,
    SplitResult,
    analyse,
    confident_wrong,
    most_confused,
    top_k_key,
    worst_classes,
)
from byoc.evaluation.plots import (
    plot_confident_wrong,
    plot_confusion,
    plot_distribution,
    plot_history,
)
from byoc.job_summary import METRICS_FILE, REPORT_FILE

log = logging.getLogger("byoc.evaluation")

SUMMARY_LIMIT = 10  # rows of worst classes and confused pairs in summary_<split>.json
REPORT_LIMIT = 5  # rows of the same in report.md

CURVES_FILE = "training_curves.png"
DISTRIBUTION_CSV = "class_distribution.csv"
DISTRIBUTION_PNG = "class_distribution.png"
CONFIDENT_WRONG_COLUMNS = ("index", "true", "predicted", "probability", "true_probability",
                           "true_name", "predicted_name")


def split_files(split: str) -> dict[str, str]:
    """File names written for one evaluated split, by kind."""
    return {
        "summary": f"summary_{split}.json",
        "per_class": f"per_class_{split}.csv",
        "confusion_csv": f"confusion_matrix_{split}.csv",
        "confusion_png": f"confusion_matrix_{split}.png",
        "confident_wrong_csv": f"confident_wrong_{split}.csv",
        "confident_wrong_png": f"confident_wrong_{split}.png",
    }


# ---------------------------------------------------------------- small formatting helpers


def _json_value(value):
    """Plain JSON: numpy scalars to Python, NaN and infinities to null."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(_json_value(data), indent=2, allow_nan=False) + "\n")


def _cell(value) -> str:
    """A CSV cell: numbers to 6 significant digits, NaN as an empty cell."""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{float(value):.6g}"
    return str(value)


def _write_csv(path: Path, header: Sequence[str], rows) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def _num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _write_split(out_dir: Path, split: str, result: SplitResult, a: Analysis,
                 class_names: list[str], top_k: int) -> dict:
    """Write one split's files; return its summary (also written as summary_<split>.json)."""
    files = split_files(split)
    support = a.confusion.sum(axis=1)
    _write_csv(out_dir / files["per_class"],
               ("class_id", "class_name", "precision", "recall", "f1", "support", "predicted"),
               zip(range(len(class_names)), class_names, a.precision, a.recall, a.f1, support,
                   a.confusion.sum(axis=0), strict=True))
    _write_csv(out_dir / files["confusion_csv"], ["true\\predicted", *class_names],
               ([name, *row] for name, row in zip(class_names, a.confusion.tolist(), strict=True)))
    plot_confusion(out_dir / files["confusion_png"], a.confusion, class_names, split)

    wrong = confident_wrong(result, a, class_names)
    _write_csv(out_dir / files["confident_wrong_csv"], CONFIDENT_WRONG_COLUMNS,
               ([row[k] for k in CONFIDENT_WRONG_COLUMNS] for row in wrong))
    grid = out_dir / files["confident_wrong_png"]
    if wrong and result.images is not None:
        plot_confident_wrong(grid, result.images, wrong, split)
    else:
        grid.unlink(missing_ok=True)  # a grid from an earlier run would describe another model
        files.pop("confident_wrong_png")

    summary = {
        "split": split,
        "metrics": a.metrics,
        "num_classes": len(class_names),
        "top_k": {
            "k": top_k,
            "k_effective": a.effective_k,  # k is clipped to the number of classes
            "top_1_accuracy": a.metrics["accuracy"],
            "top_k_accuracy": a.metrics[top_k_key(top_k)],
            "gain": a.metrics[top_k_key(top_k)] - a.metrics["accuracy"],
        },
        "wrong": int((a.predicted != result.y_true).sum()),
        "absent_classes": [class_names[i] for i in np.flatnonzero(support == 0)],
        "worst_classes": worst_classes(a, class_names, SUMMARY_LIMIT),
        "most_confused": most_confused(a.confusion, class_names, SUMMARY_LIMIT),
        "files": files,
    }
    _write_json(out_dir / files["summary"], summary)
    return summary


# ---------------------------------------------------------------- report.md


def _report(summaries: list[dict], skipped: list[str], top_k: int, curves: bool,
            distribution: bool, notes: Sequence[str] = ()) -> str:
    lines = ["# Evaluation report", ""]
    if summaries:
        lines += [
            f"| split | samples | accuracy | top-{top_k} accuracy | loss | macro F1 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for s in summaries:
            m = s["metrics"]
            lines.append(
                f"| {s['split']} | {m['samples']} | {_num(m['accuracy'])} | "
                f"{_num(m[top_k_key(top_k)])} | {_num(m['loss'])} | {_num(m['macro_f1'])} |"
            )
        clipped = summaries[0]["top_k"]["k_effective"]
        if clipped < top_k:
            lines += ["", f"top_k={top_k} is more than the {clipped} classes: every prediction "
                          "is a top-k hit."]
    else:
        lines.append("No split was evaluated.")
    if skipped:
        lines += ["", f"Not evaluated (no samples): {', '.join(skipped)}."]
    lines += ["", f"All numbers: [{METRICS_FILE}]({METRICS_FILE}). Empty cells in the CSV files "
                  "are undefined ratios (0/0): the precision of a class never predicted, the "
                  "recall of a class absent from the split."]
    if notes:
        lines += ["", "## Model and serving", ""] + [f"- {_md(note)}" for note in notes]

    for s in summaries:
        files, k = s["files"], s["top_k"]
        lines += ["", f"## {s['split']}", "",
                  f"{s['wrong']} of {s['metrics']['samples']} wrong. Top-1 accuracy "
                  f"{_num(k['top_1_accuracy'])}, top-{k['k_effective']} accuracy "
                  f"{_num(k['top_k_accuracy'])}.", ""]
        worst = s["worst_classes"][:REPORT_LIMIT]
        if worst:
            lines += ["Worst classes (lowest F1):", "",
                      "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {w['class_id']} {_md(w['class_name'])} | {_num(w['precision'])} | "
                      f"{_num(w['recall'])} | {_num(w['f1'])} | {w['support']} |" for w in worst]
        else:
            lines.append("Every class present is classified perfectly.")
        confused = s["most_confused"][:REPORT_LIMIT]
        if confused:
            lines += ["", "Most confused (true → predicted):", "",
                      "| true | predicted | count | share of true class |", "|---|---|---:|---:|"]
            lines += [f"| {p['true']} {_md(p['true_name'])} | {p['predicted']} "
                      f"{_md(p['predicted_name'])} | {p['count']} | {p['share_of_true']:.1%} |"
                      for p in confused]
        if s["absent_classes"]:
            lines += ["", f"Classes absent from this split: "
                          f"{', '.join(_md(n) for n in s['absent_classes'])}."]
        lines += ["", f"![confusion matrix, {s['split']}]({files['confusion_png']})", ""]
        links = [f"[confusion matrix (CSV)]({files['confusion_csv']})",
                 f"[per-class precision/recall/F1]({files['per_class']})",
                 f"[most confident wrong]({files['confident_wrong_csv']})",
                 f"[summary (JSON)]({files['summary']})"]
        if "confident_wrong_png" in files:
            links.insert(3, f"[their images]({files['confident_wrong_png']})")
        lines.append("Files: " + ", ".join(links) + ".")

    lines += ["", "## Training curves", ""]
    lines.append(f"![training curves]({CURVES_FILE})" if curves
                 else "No training history was recorded.")
    lines += ["", "## Class distribution", ""]
    lines.append(f"![class distribution]({DISTRIBUTION_PNG}) "
                 f"([counts per split]({DISTRIBUTION_CSV}))" if distribution
                 else "No class counts were given.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- entry point


def write_report(
    out_dir: Path,
    *,
    class_names: list[str],
    splits: dict[str, SplitResult],
    history: dict[str, list[float]],
    class_counts: dict[str, np.ndarray],
    top_k: int,
    notes: Sequence[str] = (),
) -> dict[str, float]:
    """Write every report file into `out_dir`; return the flat metrics of metrics.json.

    `notes` are sentences on the model and how it will be served (the user's code and loss,
    the runtime `serve` will use and why), listed under "Model and serving"."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    class_names = [str(n) for n in class_names]
    c = len(class_names)
    for split, result in splits.items():
        if result.num_classes != c:
            raise ValueError(f"Split '{split}' has probabilities for {result.num_classes} "
                             f"classes, but {c} class names were given.")
    counts = {s: np.asarray(v, dtype=np.int64).reshape(-1) for s, v in class_counts.items()}
    for split, v in counts.items():
        if len(v) != c:
            raise ValueError(f"class_counts['{split}'] has {len(v)} entries for {c} classes.")

    metrics: dict[str, float] = {}
    summaries, skipped = [], []
    for split, result in splits.items():
        if len(result.y_true) == 0:
            log.warning("Split %s has no samples; not evaluated.", split)
            skipped.append(split)
            continue
        analysis = analyse(result, top_k)
        metrics.update({f"{split}_{k}": v for k, v in analysis.metrics.items()})
        summaries.append(_write_split(out_dir, split, result, analysis, class_names, top_k))
    _write_json(out_dir / METRICS_FILE, metrics)

    curves = plot_history(out_dir / CURVES_FILE, history)
    if not curves:
        (out_dir / CURVES_FILE).unlink(missing_ok=True)
    if counts:
        _write_csv(out_dir / DISTRIBUTION_CSV, ["class_id", "class_name", *counts],
                   ([i, name, *(v[i] for v in counts.values())]
                    for i, name in enumerate(class_names)))
        plot_distribution(out_dir / DISTRIBUTION_PNG, counts, class_names)
    (out_dir / REPORT_FILE).write_text(_report(summaries, skipped, top_k, curves, bool(counts),
                                               notes))
    log.info("Evaluation report written to %s (open %s first)", out_dir, REPORT_FILE)
    return metrics
