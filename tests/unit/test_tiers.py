"""The tiers select tests by marker expressions, in the Makefile (the fast tier) and in
scripts/slow-tier.sh (the slow tier's two sessions). Every test must run in exactly one of the
three: a test that no expression selects would never run in `make test`, and one that two select
would run twice."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from _pytest.mark.expression import Expression  # how `pytest -m` evaluates the same strings

ROOT = Path(__file__).resolve().parents[2]


def _expressions() -> dict[str, str]:
    make = (ROOT / "Makefile").read_text()
    script = (ROOT / "scripts" / "slow-tier.sh").read_text()
    found = {"fast": re.search(r"^FAST := (.+)$", make, re.M).group(1).strip()}
    for name in ("containers", "processes"):
        found[name] = re.search(rf'^session {name} "([^"]+)"', script, re.M).group(1)
    return found


def test_the_fast_tier_and_the_slow_tiers_two_sessions_split_the_suite(tmp_path):
    out = tmp_path / "markers.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.markers", "--collect-only", "-q",
         "-p", "no:cacheprovider", str(ROOT / "tests")],
        cwd=ROOT, env={**os.environ, "BYOC_MARKERS_OUT": str(out), "PYTEST_ADDOPTS": ""},
        check=True, capture_output=True,
    )
    markers = json.loads(out.read_text())
    tiers = {name: Expression.compile(text) for name, text in _expressions().items()}
    assert len(markers) > 1000, "the collection found too few tests to judge"
    misplaced = {}
    for node, names in markers.items():
        chosen = [name for name, expr in tiers.items() if expr.evaluate(names.__contains__)]
        if len(chosen) != 1:
            misplaced[node] = chosen
    assert not misplaced, f"tests in no tier or in two: {dict(list(misplaced.items())[:10])}"
    # The sessions are what the docs say: the Docker tests together, the training runs apart.
    docker = [n for n, names in markers.items() if "docker" in names]
    assert docker and all(tiers["containers"].evaluate(markers[n].__contains__) for n in docker)
    assert any(tiers["processes"].evaluate(names.__contains__) for names in markers.values())
