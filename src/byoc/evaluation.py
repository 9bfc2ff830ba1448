"""The evaluation report `train` writes to /opt/ml/output/data: headline metrics and where it fails.

Works from numpy arrays (labels, softmax probabilities, images); plots use matplotlib's Agg
renderer through `matplotlib.figure.Figure`, so no global backend is touched and no TensorFlow is
needed. Files, flat in the output directory (<split> is each evaluated split: train, validation,
test):

- `report.md`: open this first. Headline numbers, worst classes, top confusions, links to the rest.
- `metrics.json`: flat numbers per split: `<split>_accuracy`, `<split>_loss` (mean cross-entropy,
  probabilities clipped at 1e-7), `<split>_top_<k>_accuracy`, `<split>_macro_f1`,
  `<split>_samples`. A value that is not a number (a diverged model) is written as null.
- `summary_<split>.json`: top-1 vs top-k accuracy, worst classes, most confused class pairs,
  classes absent from the split, and the names of this split's other files.
- `per_class_<split>.csv`: class_id, class_name, precision, recall, f1, support, predicted.
- `confusion_matrix_<split>.csv`: counts; header row and first column are class names (rows are
  the true class, columns the predicted class). `confusion_matrix_<split>.png`: the same,
  normalised per true class, on a square-root colour scale so that small error rates show.
- `confident_wrong_<split>.csv`: the 25 wrong predictions made with the highest probability
  (index is the row in the split). `confident_wrong_<split>.png`: those images, when given.
- `training_curves.png`: loss and accuracy per epoch, train vs validation (when there is history).
- `class_distribution.csv` (one column per split) and `class_distribution.png`.

Undefined ratios (0/0) are NaN, written as an empty CSV cell or JSON null: the precision of a
class never predicted, the recall of a class absent from the split. F1 is 2·TP / (2·TP + FP + FN),
which is 0, not undefined, for a class that is present but never predicted. Macro F1 averages
over the classes present in the split. Top-k counts ties at the k-th place as hits, as Keras's
top-k accuracy does on TensorFlow (tf.math.in_top_k); a k above the number of classes counts every
class, so its accuracy is 1.0.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Keras's backend epsilon: the loss here matches what model.evaluate reports.
LOSS_EPSILON = 1e-7
CONFIDENT_WRONG_LIMIT = 25
SUMMARY_LIMIT = 10  # rows of worst classes and confused pairs in summary_<split>.json
REPORT_LIMIT = 5  # rows of the same in report.md

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
CURVES_FILE = "training_curves.png"
DISTRIBUTION_CSV = "class_distribution.csv"
DISTRIBUTION_PNG = "class_distribution.png"
CONFIDENT_WRONG_COLUMNS = ("index", "true", "predicted", "probability", "true_probability",
                           "true_name", "predicted_name")
DPI = 100


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


@dataclass
class SplitResult:
    """One split's labels, predicted probabilities and (optionally) its images."""

    y_true: np.ndarray  # (N,) int labels
    probs: np.ndarray  # (N, C) probabilities (softmax output)
    images: np.ndarray | None = None  # (N, H, W) or (N, H, W, 1|3) uint8

    def __post_init__(self) -> None:
        self.y_true = np.asarray(self.y_true)
        self.probs = np.asarray(self.probs, dtype=np.float64)
        if self.y_true.ndim != 1:
            raise ValueError(
                f"y_true must be (N,) integer labels, got shape {self.y_true.shape}; "
                "pass class indices, not one-hot rows."
            )
        if self.probs.ndim != 2 or len(self.probs) != len(self.y_true):
            raise ValueError(
                f"probs must be (N, classes) with N = {len(self.y_true)} labels, got shape "
                f"{self.probs.shape}."
            )
        if self.y_true.size and not np.issubdtype(self.y_true.dtype, np.integer):
            raise ValueError(f"y_true must hold integer labels, got dtype {self.y_true.dtype}.")
        self.y_true = self.y_true.astype(np.int64)
        num_classes = self.probs.shape[1]
        if self.y_true.size and (self.y_true.min() < 0 or self.y_true.max() >= num_classes):
            raise ValueError(
                f"y_true holds labels {self.y_true.min()}..{self.y_true.max()}, outside the "
                f"{num_classes} classes of probs."
            )
        if self.images is not None:
            self.images = np.asarray(self.images)
            if len(self.images) != len(self.y_true) or self.images.ndim not in (3, 4):
                raise ValueError(
                    f"images must be (N, H, W[, C]) with N = {len(self.y_true)}, got shape "
                    f"{self.images.shape}."
                )

    @property
    def num_classes(self) -> int:
        return self.probs.shape[1]


@dataclass
class _Analysis:
    """Everything computed once from a split, shared by the metrics and the report files."""

    predicted: np.ndarray
    confusion: np.ndarray  # [true, predicted] counts
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    metrics: dict[str, float]  # unprefixed metrics.json entries for the split
    effective_k: int


def _top_k_key(top_k: int) -> str:
    return f"top_{top_k}_accuracy"


def _analyse(result: SplitResult, top_k: int) -> _Analysis:
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}.")
    n, c = result.probs.shape
    if n == 0:
        raise ValueError("Cannot evaluate a split with no samples.")
    y, probs = result.y_true, result.probs
    predicted = probs.argmax(axis=1)
    true_prob = probs[np.arange(n), y]
    # Classes strictly more likely than the true one; ties at the k-th place count as hits.
    rank = (probs > true_prob[:, None]).sum(axis=1)
    effective_k = min(top_k, c)
    confusion = np.bincount(y * c + predicted, minlength=c * c).reshape(c, c)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted_count = confusion.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / predicted_count
        recall = tp / support
        f1 = 2 * tp / (support + predicted_count)
    present = support > 0
    metrics = {
        "accuracy": float((predicted == y).mean()),
        "loss": float(-np.log(np.clip(true_prob, LOSS_EPSILON, 1.0)).mean()),
        _top_k_key(top_k): float((rank < effective_k).mean()),
        "macro_f1": float(f1[present].mean()),
        "samples": int(n),
    }
    return _Analysis(predicted, confusion, precision, recall, f1, metrics, effective_k)


def evaluate_split(result: SplitResult, top_k: int) -> dict[str, float]:
    """Accuracy, loss, top-k accuracy, macro F1 and sample count of one split."""
    return _analyse(result, top_k).metrics


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


def _label(class_id: int, name: str, width: int = 26) -> str:
    """A short tick label: the id, plus the name when it says more than the id."""
    if name.isdigit() and int(name) == class_id:
        return str(class_id)
    if len(name) > width:
        name = name[: width - 1] + "…"
    return f"{class_id} {name}"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def _num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


# ---------------------------------------------------------------- plots


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _plot_confusion(path: Path, confusion: np.ndarray, class_names: list[str], split: str) -> None:
    import matplotlib
    from matplotlib.colors import PowerNorm

    c = len(class_names)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = confusion / confusion.sum(axis=1, keepdims=True)
    side = min(max(6.0, 0.3 * c + 3), 26.0)
    fig = _figure(side + 1.5, side)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="0.8")
    image = ax.imshow(
        np.ma.masked_invalid(share), cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1),
        interpolation="nearest",
    )
    labels = [_label(i, name) for i, name in enumerate(class_names)]
    fontsize = 8 if c <= 50 else 6
    ax.set_xticks(range(c), labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(c), labels, fontsize=fontsize)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(
        f"Confusion matrix, {split} ({int(confusion.sum())} samples)\n"
        "share of each true class; grey row: class absent from the split"
    )
    if c <= 20:  # counts stay legible only on small matrices
        for (i, j), count in np.ndenumerate(confusion):
            if count:
                dark = share[i, j] > 0.5
                ax.text(j, i, str(count), ha="center", va="center", fontsize=fontsize,
                        color="white" if dark else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class (square-root scale)")
    fig.savefig(path)


def _mosaic(images: np.ndarray, indices: list[int], cols: int, scale: int,
            cell: tuple[int, int]) -> np.ndarray:
    """The chosen images, scaled up by whole pixels, at the bottom of white cells of a grid."""
    cell_h, cell_w = cell
    canvas = np.full((math.ceil(len(indices) / cols) * cell_h, cols * cell_w, 3), 255, np.uint8)
    for n, index in enumerate(indices):
        image = np.clip(images[index], 0, 255).astype(np.uint8)
        image = image.reshape(*image.shape[:2], -1)[..., :3]  # grey (1) or RGB; alpha dropped
        image = np.broadcast_to(image, (*image.shape[:2], 3))
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
        top = (n // cols + 1) * cell_h - image.shape[0] - 4
        left = (n % cols) * cell_w + (cell_w - image.shape[1]) // 2
        canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
    return canvas


def _plot_confident_wrong(path: Path, images: np.ndarray, rows: list[dict], split: str) -> None:
    # One image and a few captions: 25 separate axes would take seconds to lay out.
    height, width = images.shape[1:3]
    scale = max(1, 128 // max(height, width))
    caption_px, title_px = 34, 30
    cell = (height * scale + caption_px + 4, max(width * scale, 190) + 10)
    cols = min(5, len(rows))
    canvas = _mosaic(images, [row["index"] for row in rows], cols, scale, cell)
    total_h = canvas.shape[0] + title_px
    fig = _figure(canvas.shape[1] / DPI, total_h / DPI, layout=None)
    ax = fig.add_axes((0, 0, 1, canvas.shape[0] / total_h))
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(f"Most confident wrong, {split}: true → predicted (probability)",
                 y=1 - 4 / total_h, va="top", fontsize=10)
    for n, row in enumerate(rows):
        ax.text((n % cols + 0.5) * cell[1], (n // cols) * cell[0] + 2,
                f"{_label(row['true'], row['true_name'])} →\n"
                f"{_label(row['predicted'], row['predicted_name'])} ({row['probability']:.2f})",
                ha="center", va="top", fontsize=7)
    fig.savefig(path)


def _plot_history(path: Path, history: dict[str, list[float]]) -> bool:
    """Loss and accuracy side by side, train vs validation; False when there is no history."""
    from matplotlib.ticker import MaxNLocator

    series = {k: np.asarray(v, dtype=np.float64) for k, v in history.items() if len(v)}
    if not series:
        return False
    panels = (("Loss", lambda base: base == "loss"),
              ("Accuracy", lambda base: "accuracy" in base))
    fig = _figure(11, 4.2)
    for n, (title, wanted) in enumerate(panels):
        ax = fig.add_subplot(1, 2, n + 1)
        bases = sorted({k.removeprefix("val_") for k in series if wanted(k.removeprefix("val_"))})
        # Colour tells train from validation; line style tells metrics apart (accuracy, top-k).
        for style, base in zip(("-", "--", ":", "-."), bases, strict=False):
            for key, colour, split in ((base, "C0", "train"), (f"val_{base}", "C1", "validation")):
                if key in series:
                    values = series[key]
                    ax.plot(np.arange(1, len(values) + 1), values, style, color=colour,
                            marker="o" if len(values) <= 30 else None, markersize=3,
                            label=f"{base} ({split})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if bases:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    fig.savefig(path)
    return True


def _plot_distribution(path: Path, class_counts: dict[str, np.ndarray],
                       class_names: list[str]) -> None:
    c = len(class_names)
    fig = _figure(max(8.0, 0.25 * c + 3), 2.4 * len(class_counts) + 1.2)
    labels = [_label(i, name) for i, name in enumerate(class_names)]
    axes = fig.subplots(len(class_counts), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (split, counts) in zip(axes, class_counts.items(), strict=True):
        ax.bar(range(c), counts, color="C0")
        ax.axhline(counts.mean(), color="C1", linestyle="--", linewidth=1, label="mean")
        ax.set_title(f"{split}: {int(counts.sum())} images, {_imbalance(counts)}", fontsize=10)
        ax.set_ylabel("images")
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xticks(range(c), labels, rotation=90, fontsize=8 if c <= 50 else 6)
    fig.savefig(path)


def _imbalance(counts: np.ndarray) -> str:
    empty = int((counts == 0).sum())
    if empty:
        return f"{empty} class{'es' if empty > 1 else ''} without images"
    return (f"largest/smallest class {int(counts.max())}/{int(counts.min())} = "
            f"{counts.max() / counts.min():.1f}x")


# ---------------------------------------------------------------- per-split files


def _most_confused(confusion: np.ndarray, class_names: list[str], limit: int) -> list[dict]:
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:limit]  # ties: lower class ids first
    support = confusion.sum(axis=1)
    pairs = []
    for true, pred in zip(*np.unravel_index(order, off.shape), strict=True):
        if off[true, pred] == 0:
            break
        pairs.append({
            "true": int(true), "true_name": class_names[true],
            "predicted": int(pred), "predicted_name": class_names[pred],
            "count": int(off[true, pred]), "share_of_true": off[true, pred] / support[true],
        })
    return pairs


def _worst_classes(a: _Analysis, class_names: list[str], limit: int) -> list[dict]:
    support = a.confusion.sum(axis=1)
    candidates = [i for i in np.flatnonzero(support) if a.f1[i] < 1]
    candidates.sort(key=lambda i: (a.f1[i], -support[i]))
    return [{
        "class_id": int(i), "class_name": class_names[i], "precision": a.precision[i],
        "recall": a.recall[i], "f1": a.f1[i], "support": int(support[i]),
    } for i in candidates[:limit]]


def _confident_wrong(result: SplitResult, a: _Analysis, class_names: list[str]) -> list[dict]:
    wrong = np.flatnonzero(a.predicted != result.y_true)
    confidence = result.probs[wrong, a.predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:CONFIDENT_WRONG_LIMIT]
    return [{
        "index": int(i), "true": int(result.y_true[i]), "predicted": int(a.predicted[i]),
        "probability": float(result.probs[i, a.predicted[i]]),
        "true_probability": float(result.probs[i, result.y_true[i]]),
        "true_name": class_names[result.y_true[i]], "predicted_name": class_names[a.predicted[i]],
    } for i in order]


def _write_split(out_dir: Path, split: str, result: SplitResult, a: _Analysis,
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
    _plot_confusion(out_dir / files["confusion_png"], a.confusion, class_names, split)

    wrong = _confident_wrong(result, a, class_names)
    _write_csv(out_dir / files["confident_wrong_csv"], CONFIDENT_WRONG_COLUMNS,
               ([row[k] for k in CONFIDENT_WRONG_COLUMNS] for row in wrong))
    grid = out_dir / files["confident_wrong_png"]
    if wrong and result.images is not None:
        _plot_confident_wrong(grid, result.images, wrong, split)
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
            "top_k_accuracy": a.metrics[_top_k_key(top_k)],
            "gain": a.metrics[_top_k_key(top_k)] - a.metrics["accuracy"],
        },
        "wrong": int((a.predicted != result.y_true).sum()),
        "absent_classes": [class_names[i] for i in np.flatnonzero(support == 0)],
        "worst_classes": _worst_classes(a, class_names, SUMMARY_LIMIT),
        "most_confused": _most_confused(a.confusion, class_names, SUMMARY_LIMIT),
        "files": files,
    }
    _write_json(out_dir / files["summary"], summary)
    return summary


# ---------------------------------------------------------------- report.md


def _report(summaries: list[dict], skipped: list[str], top_k: int, curves: bool,
            distribution: bool) -> str:
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
                f"{_num(m[_top_k_key(top_k)])} | {_num(m['loss'])} | {_num(m['macro_f1'])} |"
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
) -> dict[str, float]:
    """Write every report file into `out_dir`; return the flat metrics of metrics.json."""
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
        analysis = _analyse(result, top_k)
        metrics.update({f"{split}_{k}": v for k, v in analysis.metrics.items()})
        summaries.append(_write_split(out_dir, split, result, analysis, class_names, top_k))
    _write_json(out_dir / METRICS_FILE, metrics)

    curves = _plot_history(out_dir / CURVES_FILE, history)
    if not curves:
        (out_dir / CURVES_FILE).unlink(missing_ok=True)
    if counts:
        _write_csv(out_dir / DISTRIBUTION_CSV, ["class_id", "class_name", *counts],
                   ([i, name, *(v[i] for v in counts.values())]
                    for i, name in enumerate(class_names)))
        _plot_distribution(out_dir / DISTRIBUTION_PNG, counts, class_names)
    (out_dir / REPORT_FILE).write_text(_report(summaries, skipped, top_k, curves, bool(counts)))
    log.info("Evaluation report written to %s (open %s first)", out_dir, REPORT_FILE)
    return metrics
