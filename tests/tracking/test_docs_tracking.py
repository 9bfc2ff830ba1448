"""The tracking page's local walkthrough (docs/tracking.md), run as written in process mode: two
tracked runs in a local store, the listing, then the comparison with the run ids the listing
printed in place of RUN_ID, as the page says."""

from __future__ import annotations

import re

import pytest

from tests.support.docs import code_blocks, commands, run_command
from tests.support.executables import exe_env

PAGE = "tracking.md"


@pytest.mark.slow
def test_the_local_tracking_walkthrough_runs_as_written(tmp_path, shared_steps):
    blocks = code_blocks(PAGE, "bash")
    [local] = [b for b in blocks if "--track ./mlruns --experiment signs" in b]
    [compare] = [b for b in blocks if "byoc runs compare RUN_ID RUN_ID" in b]
    env = exe_env()
    *_, listed = [shared_steps.run(c, tmp_path, env) for c in commands(local)]
    ids = re.findall(r"^([0-9a-f]{32}) ", listed, re.M)
    assert len(ids) == 2, listed

    [command] = commands(compare)
    compared = run_command(command.replace("RUN_ID RUN_ID", " ".join(ids)), tmp_path, env)
    # The two runs differ in the learning rate alone: no other hyperparameter gets a row.
    rows = {line.split()[0] for line in compared.splitlines() if line.strip()}
    assert "learning_rate" in rows and "epochs" not in rows, compared
    assert re.search(r"\(\d+ other hyperparameter\(s\) are the same in every run\)", compared)
