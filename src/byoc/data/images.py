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

from byoc.echo import reason
from byoc.errors import UserError

# A decompression bomb is an image whose header claims more pixels than it is worth decoding.
# 64 megapixels is far above any sign photo and far below what would exhaust a worker.
MAX_IMAGE_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Resizing a very thin image costs memory in proportion to its long side (a 1x60,000,000 PNG of
# a few kilobytes took 1.4 GB): no side may be longer than this.
MAX_IMAGE_SIDE = 16_384
# An image much larger than its target size is first reduced by whole factors (a box average)
# to no less than this many times the target, then resized: as good as one resize (Pillow's own
# `reducing_gap` rule), without the full-size copies that converting it whole would make (a
# 64-megapixel PNG with transparency took 0.6 GB that way).
REDUCING_GAP = 3
# Rows converted and reduced at a time: a conversion costs one band, not one copy of the image.
BAND_ROWS = 256

# What PIL decodes the channel counts into.
_MODES = {1: "L", 3: "RGB"}


def open_image(source: bytes | str | os.PathLike,
               formats: tuple[str, ...] | None = None,
               size: tuple[int, int] | None = None) -> Image.Image:
    """Open an image from bytes or a path; raise UserError on anything unreadable or too large.

    `formats` limits the PIL plugins tried (None: all of them). `size` (h, w), the size the image
    will be resized to: a JPEG is then decoded at the smallest scale (1/2 to 1/8) that keeps it
    REDUCING_GAP times larger, which takes a fraction of the memory of a full decode.
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
            if size is not None:
                img.draft(None, (size[1] * REDUCING_GAP, size[0] * REDUCING_GAP))
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"Image is too large to decode safely: {exc}") from None
    except UserError:
        raise
    except Image.UnidentifiedImageError:
        accepted = f" ({', '.join(formats)})" if formats else ""
        raise UserError(f"Cannot decode the image: it is not in a format this reader "
                        f"accepts{accepted}.") from None
    except Exception as exc:  # PIL raises many types for bad bytes
        raise UserError(f"Cannot decode the image: {reason(exc)}") from None
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
    h, w = size
    img = _shrunk(img, (w, h), _MODES[channels])
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    if channels == 1:
        arr = arr[..., None]
    return arr


def _converted(img: Image.Image, mode: str) -> Image.Image:
    if img.mode == mode:
        return img
    # Drop alpha onto white rather than black: signs photographed or drawn on transparent
    # backgrounds look like their printed selves.
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    try:
        return img.convert(mode)
    except ValueError as exc:  # e.g. a LAB TIFF: PIL has no conversion to RGB
        raise UserError(
            f"Cannot convert the image from mode {img.mode} to {mode}: {exc}. "
            "Save it as an RGB or grayscale image."
        ) from None


def _shrunk(img: Image.Image, size: tuple[int, int], mode: str) -> Image.Image:
    """`img` converted to `mode` and reduced by whole factors while it stays REDUCING_GAP times
    larger than `size` (w, h), a band of rows at a time (see REDUCING_GAP)."""
    fx = max(1, img.width // (size[0] * REDUCING_GAP))
    fy = max(1, img.height // (size[1] * REDUCING_GAP))
    if fx == fy == 1:
        return _converted(img, mode)
    out = Image.new(mode, (-(-img.width // fx), -(-img.height // fy)))
    band = fy * max(1, BAND_ROWS // fy)
    for top in range(0, img.height, band):
        piece = img.crop((0, top, img.width, min(top + band, img.height)))
        out.paste(_converted(piece, mode).reduce((fx, fy)), (0, top // fy))
    return out


def load(
    source: bytes | str | os.PathLike,
    size: tuple[int, int],
    channels: int = 3,
    roi: tuple[int, int, int, int] | None = None,
    formats: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Decode and resize one image (see `to_array`)."""
    return to_array(open_image(source, formats, size if roi is None else None), size, channels,
                    roi)
