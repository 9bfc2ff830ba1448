"""How the tabular tests bound a search: by a candidate count, never by the clock.

A time budget decides how many candidates run, so the same test could pass on a quiet machine and
fail on a busy one. The tests give the search a budget no run reaches and a candidate count that
stops it, so that every run tries the same candidates in the same order. The time budget itself
is for users, and `benchmarks/tabular.py` measures what it buys.
"""

from __future__ import annotations

# Seconds: far more than any test's search takes, so the candidate count alone stops it.
UNREACHED_BUDGET = 3600.0
# Each family's defaults, one candidate per family, in the families' order: the families of a
# classification table (kernel ridge is for regression only).
EACH_FAMILY_ONCE = 8


def each_family_once(rows: int, classify: bool) -> int:
    """The candidate count of each usable family's defaults on such a table."""
    from byoc.tabular.families import usable

    return len(usable(rows, classify)[0])


def bounded(max_candidates: int = EACH_FAMILY_ONCE) -> list[str]:
    """The `byoc autopilot local` flags of a search bounded by its candidate count, without the
    notebooks: executing them costs seconds per run, and tests/tabular/test_notebooks.py and
    test_insurance.py test them."""
    return ["--time-budget", str(UNREACHED_BUDGET), "--max-candidates", str(max_candidates),
            "--no-notebooks"]
