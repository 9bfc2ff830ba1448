"""What an error message may repeat of what it was given: a short quote, never a whole header or
key, and never a memory address (which says something about the process, nothing to the user).
"""

from __future__ import annotations

import re

# Characters of a value an error message quotes: enough to recognise it, too few to reflect a
# request back at its sender.
QUOTE_LIMIT = 60
_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>|\bat 0x[0-9a-fA-F]+\b")


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, cut to about `limit` characters with the full length said when it is cut."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str | bytes) else ""
    return f"{text[:limit]}...{size}"


def reason(exc: BaseException, limit: int = 200) -> str:
    """A library's error message, fit to pass on: without addresses, and short (a parser may
    quote the whole offending field)."""
    text = without_addresses(str(exc))
    return text if len(text) <= limit else f"{text[:limit]}..."


def without_addresses(text: str) -> str:
    """`text` without memory addresses: "<_io.BytesIO object at 0x7f...>" becomes
    "<_io.BytesIO>"."""
    return _ADDRESS.sub(lambda m: f"<{m.group(1)}>" if m.group(1) else "", text)
