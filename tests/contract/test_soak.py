"""The soak's short mode: `python -m benchmarks.soak` against the real `serve` for 30 s,
sampled every 10 s. The counts are asserted (no 5xx, no connection errors, every invalid request
gets its 4xx, no worker replaced, open descriptors flat); latency and memory are reported only."""

from __future__ import annotations

import pytest

from benchmarks import soak

pytestmark = pytest.mark.load


def test_half_a_minute_of_mixed_load_meets_the_soak_targets(trained_model_dir):
    result = soak.soak(trained_model_dir, seconds=30, concurrency=8, sample_every=10)
    rows = result["rows"]
    print("\n" + soak.HEADER + "\n" + "\n".join(soak.format_row(r) for r in rows))
    assert len(rows) == 3
    assert sum(r["2xx"] for r in rows) > 0 and sum(r["invalid"] for r in rows) > 0
    missed = [m for m in soak.misses(result) if "RSS" not in m]
    assert not missed, (missed, result["server_log"][-3000:])
