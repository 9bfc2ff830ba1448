"""`KEY=VALUE` pairs as a dict: what the hyperparameter, tag and environment flags share.

Neutral ground: the container's hyperparameters and the driver both read pairs, and neither may
depend on the command line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from byoc.errors import UserError


def parse_pairs(pairs: Iterable[str] | None, flag: str, example: str) -> dict[str, str]:
    """`KEY=VALUE` flags as a dict; a pair without `=` or a key is refused with an example."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects KEY=VALUE, got '{pair}'. Example: {flag} {example}")
        found[key.strip()] = value.strip()
    return found


Pairs = Mapping[str, object] | Iterable[str] | None
"""`KEY=VALUE` settings as a program gives them (a dict) or as flags do (`["KEY=VALUE", ...]`)."""


def as_pairs(values: Pairs) -> list[str] | None:
    """`values` as `KEY=VALUE` strings, so that a dict gets the checks and messages flags get."""
    if values is None:
        return None
    if isinstance(values, Mapping):
        return [f"{key}={value}" for key, value in values.items()]
    return list(values)
