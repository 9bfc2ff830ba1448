"""Hostile request bodies for the fuzz tests: crafted headers, and how many examples each tier
generates.

`make check` runs a tenth of each property's examples (at least 10), `make test` all of them,
each run the same examples. BYOC_FUZZ_EXAMPLES=5000 searches longer, with fresh random examples.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

from hypothesis import HealthCheck, settings
from PIL import Image

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
