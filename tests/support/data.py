"""Small image data sets made on the spot: each class a distinct colour plus noise, so a model
learns them in a few epochs."""

from __future__ import annotations

import os
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


def _noise(path: Path, rng: np.random.Generator, size: tuple[int, int] = (26, 22)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)).save(path)


def every_layout(root: Path) -> dict[str, Path]:
    """Each image layout `train` reads, written small (noise images, 2-3 classes): name → the
    channel directory. Used to check that every reader and the stream agree."""
    rng = np.random.default_rng(7)
    out = {}

    folders = out["folders"] = root / "folders"
    for cls, suffix in (("cat", ".png"), ("dog", ".jpg"), ("owl", ".ppm")):
        for i in range(4):
            _noise(folders / cls / f"{i}{suffix}", rng)

    named = out["signnames"] = root / "signnames"
    for cls in ("00", "02"):
        for i in range(3):
            _noise(named / cls / f"{i}.png", rng)
    (named / "signnames.csv").write_text("ClassId,SignName\n0,Stop\n1,Yield\n2,Go\n")

    kaggle = out["gtsrb"] = root / "gtsrb"
    rows = []
    for cls in ("0", "1", "2"):
        for i in range(3):
            _noise(kaggle / "Train" / cls / f"{cls}_{i}.png", rng, (30, 28))
            rows.append(f"30,28,{2 + i},3,{20 + i},22,{cls},Train/{cls}/{cls}_{i}.png\n")
    (kaggle / "Train.csv").write_text(
        "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path\n" + "".join(rows))
    test_rows = []
    for i in range(4):
        _noise(kaggle / "Test" / f"{i:05d}.png", rng, (30, 28))
        test_rows.append(f"30,28,1,2,25,24,{i % 3},Test/{i:05d}.png\n")
    (kaggle / "Test.csv").write_text(
        "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path\n" + "".join(test_rows))

    bench = out["gtsrb_ppm"] = root / "gtsrb_ppm"
    images = bench / "Final_Training" / "Images"
    for cls in ("00000", "00001"):
        lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
        for i in range(3):
            _noise(images / cls / f"00000_{i:05d}.ppm", rng, (24, 24))
            lines.append(f"00000_{i:05d}.ppm;24;24;{i};2;18;{19 + i};{int(cls)}")
        (images / cls / f"GT-{cls}.csv").write_text("\n".join(lines) + "\n")

    listing = out["listing_csv"] = root / "listing_csv"
    lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for i in range(5):
        _noise(listing / f"{i:05d}.ppm", rng, (20, 20))
        lines.append(f"{i:05d}.ppm;20;20;1;1;17;16;{(i * 7) % 3}")
    (listing / "GT-final_test.csv").write_text("\n".join(lines) + "\n")

    splits = out["test_folders"] = root / "test_folders"
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("00", "01"):
            for i in range(n):
                _noise(splits / split / cls / f"{i}.png", rng)
        (splits / split / "signnames.csv").write_text("ClassId,SignName\n0,Stop\n1,Yield\n")

    wrapped = out["wrapper"] = root / "wrapper"
    for cls in ("a", "b"):
        for i in range(3):
            _noise(wrapped / "dataset" / cls / f"{i}.png", rng)
    return out


def linked_channels(root: Path, counts: dict[str, int], classes: int = 2,
                    distinct: int = 4) -> dict[str, Path]:
    """`train/`, `validation/`, `test/` ... of class folders holding `counts[split]` images in
    all, cheap to make at any count: each class has `distinct` small PNGs, and every file is a
    hard link to one of them. `train` still opens and decodes every file, so what a channel
    costs in memory is its count times the decoded size `train` resizes each image to."""
    sources = tiny_folders(root / "distinct", classes=classes, per_class=distinct, size=16)
    channels = {}
    for split, count in counts.items():
        for i in range(count):
            c = i % classes
            dest = root / split / f"class_{c}" / f"{i}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(sources / f"class_{c}" / f"{(i // classes) % distinct}.png", dest)
        channels[split] = root / split
    return channels
