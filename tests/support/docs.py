"""Code blocks of the documentation pages (docs/), for the tests that run them as written."""

from __future__ import annotations

from tests.support.executables import REPO

DOCS = REPO / "docs"


def code_blocks(page: str, language: str) -> list[str]:
    """Every fenced block of `language` in docs/`page`, without its fences, in page order."""
    text = (DOCS / page).read_text()
    return [b.split("```", 1)[0] for b in text.split(f"```{language}\n")[1:]]


def code_block(page: str, language: str, first_line: str) -> str:
    """The one block of `language` in docs/`page` whose first line starts with `first_line`."""
    found = [b for b in code_blocks(page, language) if b.startswith(first_line)]
    assert len(found) == 1, \
        f"docs/{page} has {len(found)} {language} blocks starting {first_line!r}"
    return found[0]
