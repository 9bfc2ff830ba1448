"""Small image data sets made on the spot: each class a distinct colour plus noise, so a model
learns them in a few epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def tiny_folders(root: Path, classes: int = 3, per_class: int = 12, size: int = 20,
                 seed: int = 0) -> Path:
    """One channel of class folders (`class_0/`, `class_1/`, ...) of `size`×`size` PNGs."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root / f"class_{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            img[..., c % 3] += 170
            Image.fromarray(img).save(d / f"{i}.png")
    return root


def tiny_signs(root: Path) -> Path:
    """Three colour classes, 20x20, in train/ validation/ test/ class folders."""
    for seed, (split, n) in enumerate((("train", 12), ("validation", 4), ("test", 4))):
        tiny_folders(root / split, classes=3, per_class=n, seed=seed)
    return root
