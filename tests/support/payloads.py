"""Request bodies the tests send to `serve`: an image array as a PNG file or a .npy file."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_bytes(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "PNG")
    return out.getvalue()


def npy_bytes(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()
