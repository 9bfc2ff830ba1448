"""The numbers of the evaluation: accuracy, top-k, loss, per-class precision/recall/F1, the
confusion matrix, the most confused pairs and the most confident mistakes. numpy only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Keras's backend epsilon: the loss here matches what model.evaluate reports.
LOSS_EPSILON = 1e-7
CONFIDENT_WRONG_LIMIT = 25


@dataclass
class SplitResult:
    """One split's labels, predicted probabilities and (optionally) its images."""

    y_true: np.ndarray  # (N,) int labels
    probs: np.ndarray  # (N, C) probabilities (softmax output)
    # (N, H, W) or (N, H, W, 1|3) uint8: an array, or a sequence that reads an image when it is
    # asked for (with `shape`, `ndim` and `take(indices, axis=0)`, as a streamed split gives).
    images: np.ndarray | None = None

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
            if not hasattr(self.images, "take"):
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
class Analysis:
    """Everything computed once from a split, shared by the metrics and the report files."""

    predicted: np.ndarray
    confusion: np.ndarray  # [true, predicted] counts
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    metrics: dict[str, float]  # unprefixed metrics.json entries for the split
    effective_k: int


def top_k_key(top_k: int) -> str:
    return f"top_{top_k}_accuracy"


def analyse(result: SplitResult, top_k: int) -> Analysis:
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
        top_k_key(top_k): float((rank < effective_k).mean()),
        "macro_f1": float(f1[present].mean()),
        "samples": int(n),
    }
    return Analysis(predicted, confusion, precision, recall, f1, metrics, effective_k)


def evaluate_split(result: SplitResult, top_k: int) -> dict[str, float]:
    """Accuracy, loss, top-k accuracy, macro F1 and sample count of one split."""
    return analyse(result, top_k).metrics


def most_confused(confusion: np.ndarray, class_names: list[str], limit: int) -> list[dict]:
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


def worst_classes(a: Analysis, class_names: list[str], limit: int) -> list[dict]:
    support = a.confusion.sum(axis=1)
    candidates = [i for i in np.flatnonzero(support) if a.f1[i] < 1]
    candidates.sort(key=lambda i: (a.f1[i], -support[i]))
    return [{
        "class_id": int(i), "class_name": class_names[i], "precision": a.precision[i],
        "recall": a.recall[i], "f1": a.f1[i], "support": int(support[i]),
    } for i in candidates[:limit]]


def confident_wrong(result: SplitResult, a: Analysis, class_names: list[str]) -> list[dict]:
    wrong = np.flatnonzero(a.predicted != result.y_true)
    confidence = result.probs[wrong, a.predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:CONFIDENT_WRONG_LIMIT]
    return [{
        "index": int(i), "true": int(result.y_true[i]), "predicted": int(a.predicted[i]),
        "probability": float(result.probs[i, a.predicted[i]]),
        "true_probability": float(result.probs[i, result.y_true[i]]),
        "true_name": class_names[result.y_true[i]], "predicted_name": class_names[a.predicted[i]],
    } for i in order]


def imbalance(counts: np.ndarray) -> str:
    empty = int((counts == 0).sum())
    if empty:
        return f"{empty} class{'es' if empty > 1 else ''} without images"
    return (f"largest/smallest class {int(counts.max())}/{int(counts.min())} = "
            f"{counts.max() / counts.min():.1f}x")
