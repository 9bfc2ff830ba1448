"""Decode and resize one image the same way for training and for serving.

Pixels stay uint8 0..255: the model rescales them itself, so there is one preprocessing path.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from byoc.errors import UserError

# A decompression bomb is an image whose header claims more pixels than it is worth decoding.
# 64 megapixels is far above any sign photo and far below what would exhaust a worker.
MAX_IMAGE_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Resizing a very thin image costs memory in proportion to its long side (a 1x60,000,000 PNG of
# a few kilobytes took 1.4 GB): no side may be longer than this.
MAX_IMAGE_SIDE = 16_384

# What PIL decodes the channel counts into.
_MODES = {1: "L", 3: "RGB"}


def open_image(source: bytes | str | os.PathLike,
               formats: tuple[str, ...] | None = None) -> Image.Image:
    """Open an image from bytes or a path; raise UserError on anything unreadable or too large.

    `formats` limits the PIL plugins tried (None: all of them).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source),
                             formats=formats)
            if img.width * img.height > MAX_IMAGE_PIXELS or max(img.size) > MAX_IMAGE_SIDE:
                raise UserError(
                    f"Image of {img.width}x{img.height} pixels is too large to decode safely "
                    f"(limit {MAX_IMAGE_PIXELS} pixels, {MAX_IMAGE_SIDE} per side)."
                )
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"Image is too large to decode safely: {exc}") from None
    except UserError:
        raise
    except Exception as exc:  # PIL raises many types for bad bytes
        raise UserError(f"Cannot decode the image: {exc}") from None
    return img


def to_array(
    img: Image.Image,
    size: tuple[int, int],
    channels: int = 3,
    roi: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Crop to `roi` (x1, y1, x2, y2), convert to `channels` and resize to `size` (h, w): uint8."""
    if roi is not None:
        img = img.crop(roi)
    mode = _MODES[channels]
    if img.mode != mode:
        # Drop alpha onto white rather than black: signs photographed or drawn on transparent
        # backgrounds look like their printed selves.
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img)
        try:
            img = img.convert(mode)
        except ValueError as exc:  # e.g. a LAB TIFF: PIL has no conversion to RGB
            raise UserError(
                f"Cannot convert the image from mode {img.mode} to {mode}: {exc}. "
                "Save it as an RGB or grayscale image."
            ) from None
    h, w = size
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    if channels == 1:
        arr = arr[..., None]
    return arr


def load(
    source: bytes | str | os.PathLike,
    size: tuple[int, int],
    channels: int = 3,
    roi: tuple[int, int, int, int] | None = None,
    formats: tuple[str, ...] | None = None,
) -> np.ndarray:
    return to_array(open_image(source, formats), size, channels, roi)
