"""argparse value types shared by every area's sub-commands: whole counts, positive seconds and
KEY=VALUE pairs.

Light on purpose: building `byoc --help` imports this, and nothing here imports an area.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from byoc.errors import UserError


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def parse_pairs(pairs: Iterable[str] | None, flag: str, example: str) -> dict[str, str]:
    """`KEY=VALUE` flags as a dict; a pair without `=` or a key is refused with an example."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects KEY=VALUE, got '{pair}'. Example: {flag} {example}")
        found[key.strip()] = value.strip()
    return found
