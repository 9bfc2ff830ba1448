"""The evaluation's plots: confusion matrix, confident mistakes, training curves, class balance.

matplotlib's Agg renderer through `matplotlib.figure.Figure`, so no global backend is touched.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from byoc.evaluation.analysis import imbalance

DPI = 100


def label(class_id: int, name: str, width: int = 26) -> str:
    """A short tick label: the id, plus the name when it says more than the id."""
    if name.isdigit() and int(name) == class_id:
        return str(class_id)
    if len(name) > width:
        name = name[: width - 1] + "…"
    return f"{class_id} {name}"


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def plot_confusion(path: Path, confusion: np.ndarray, class_names: list[str], split: str) -> None:
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
    labels = [label(i, name) for i, name in enumerate(class_names)]
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


def plot_confident_wrong(path: Path, images: np.ndarray, rows: list[dict], split: str) -> None:
    # One image and a few captions: 25 separate axes would take seconds to lay out.
    height, width = images.shape[1:3]
    scale = max(1, 128 // max(height, width))
    caption_px, title_px = 34, 30
    cell = (height * scale + caption_px + 4, max(width * scale, 190) + 10)
    cols = min(5, len(rows))
    # Only the images shown are read (a streamed split decodes them now).
    shown = np.asarray(images.take([row["index"] for row in rows], axis=0))
    canvas = _mosaic(shown, list(range(len(rows))), cols, scale, cell)
    total_h = canvas.shape[0] + title_px
    fig = _figure(canvas.shape[1] / DPI, total_h / DPI, layout=None)
    ax = fig.add_axes((0, 0, 1, canvas.shape[0] / total_h))
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(f"Most confident wrong, {split}: true → predicted (probability)",
                 y=1 - 4 / total_h, va="top", fontsize=10)
    for n, row in enumerate(rows):
        ax.text((n % cols + 0.5) * cell[1], (n // cols) * cell[0] + 2,
                f"{label(row['true'], row['true_name'])} →\n"
                f"{label(row['predicted'], row['predicted_name'])} ({row['probability']:.2f})",
                ha="center", va="top", fontsize=7)
    fig.savefig(path)


def plot_history(path: Path, history: dict[str, list[float]]) -> bool:
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


def plot_distribution(path: Path, class_counts: dict[str, np.ndarray],
                       class_names: list[str]) -> None:
    c = len(class_names)
    fig = _figure(max(8.0, 0.25 * c + 3), 2.4 * len(class_counts) + 1.2)
    labels = [label(i, name) for i, name in enumerate(class_names)]
    axes = fig.subplots(len(class_counts), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (split, counts) in zip(axes, class_counts.items(), strict=True):
        ax.bar(range(c), counts, color="C0")
        ax.axhline(counts.mean(), color="C1", linestyle="--", linewidth=1, label="mean")
        ax.set_title(f"{split}: {int(counts.sum())} images, {imbalance(counts)}", fontsize=10)
        ax.set_ylabel("images")
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xticks(range(c), labels, rotation=90, fontsize=8 if c <= 50 else 6)
    fig.savefig(path)
