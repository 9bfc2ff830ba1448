"""A development plugin, not a fixture: after collection, write each test's markers as JSON.

    BYOC_MARKERS_OUT=/tmp/markers.json python -m pytest -p tests.support.markers --collect-only -q

tests/unit/test_tiers.py uses it to check that the tiers' marker expressions split the suite.
"""

from __future__ import annotations

import json
import os

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    path = os.environ.get("BYOC_MARKERS_OUT")
    if path:
        found = {item.nodeid: sorted({m.name for m in item.iter_markers()})
                 for item in session.items}
        with open(path, "w") as out:
            json.dump(found, out)
