"""Hostile request bodies for the fuzz tests: crafted headers, and how many examples each tier
generates.

`make check` runs a tenth of each property's examples (at least 10), `make test` all of them,
each run the same examples. BYOC_FUZZ_EXAMPLES=5000 searches longer, with fresh random examples.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib

from hypothesis import HealthCheck, settings
from PIL import Image

LARGE_SIDE = 8000  # 64 megapixels: images.MAX_IMAGE_PIXELS, the largest image accepted
QUICK = os.environ.get("BYOC_TIER") == "check"


def fuzz(examples: int, *extra_health_checks: HealthCheck) -> settings:
    """Settings for a property that runs `examples` examples in the full suite."""
    deep = int(os.environ.get("BYOC_FUZZ_EXAMPLES", "0"))
    count = deep or (max(10, examples // 10) if QUICK else examples)
    return settings(max_examples=count, deadline=None, derandomize=not deep,
                    suppress_health_check=[HealthCheck.too_slow, *extra_health_checks])


def encoded(fmt: str, mode: str = "RGB", size=(7, 6), **save) -> bytes:
    """A small image in `fmt` (PNG, JPEG, ...), as a client would send it."""
    out = io.BytesIO()
    Image.new(mode, size, color=None if mode == "LAB" else 0).save(out, fmt, **save)
    return out.getvalue()


def npy_header(shape: tuple, descr: str = "<f4", fortran: bool = False) -> bytes:
    """A version 1.0 .npy header declaring `shape` of `descr`, with no data after it."""
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG whose IHDR is rewritten (CRC fixed) to declare width x height."""
    body = bytearray(encoded("PNG"))
    body[16:24] = struct.pack(">II", width, height)
    body[29:33] = struct.pack(">I", zlib.crc32(bytes(body[12:29])))
    return bytes(body)


def b64_pngs(n: int, last: str | None = None) -> bytes:
    """{"instances": [{"b64": <a 1x1 PNG>} x n]}; `last` replaces the last instance's data."""
    tiny = base64.b64encode(encoded("PNG", size=(1, 1))).decode()
    items = [{"b64": tiny}] * n
    if last is not None:
        items[-1] = {"b64": last}
    return json.dumps({"instances": items}).encode()


PNG_TYPES = {"L": (0, 1), "RGB": (2, 3), "P": (3, 1), "RGBA": (6, 4)}


def large_png(width: int, height: int, mode: str) -> bytes:
    """A PNG of width x height in `mode`, written a row at a time (PIL would hold the whole
    image in this process); a P image has a grey palette and index 0 transparent."""
    color_type, bands = PNG_TYPES[mode]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    row = b"\0" + bytes(i % 251 for i in range(width * bands))
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    extra = (chunk(b"PLTE", bytes(i // 3 for i in range(768))) + chunk(b"tRNS", b"\0")
             if mode == "P" else b"")
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
            + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
