"""The tracking page's local walkthrough (docs/tracking.md), run as written in process mode: two
tracked runs in a local store, the listing (the `tracking_walkthrough` fixture), then the
comparison with the run ids the listing printed in place of RUN_ID, as the page says."""

from __future__ import annotations

import re

import pytest

from tests.support.docs import code_blocks, commands, run_command
from tests.support.executables import exe_env

PAGE = "tracking.md"


@pytest.mark.slow
def test_the_local_tracking_walkthrough_runs_as_written(tracking_walkthrough):
    [compare] = [b for b in code_blocks(PAGE, "bash") if "byoc runs compare RUN_ID RUN_ID" in b]
    listed = tracking_walkthrough.listed
    ids = re.findall(r"^([0-9a-f]{32}) ", listed, re.M)
    assert len(ids) == 2, listed

    [command] = commands(compare)
    compared = run_command(command.replace("RUN_ID RUN_ID", " ".join(ids)),
                           tracking_walkthrough.directory, exe_env())
    # The two runs differ in the learning rate alone: no other hyperparameter gets a row.
    rows = {line.split()[0] for line in compared.splitlines() if line.strip()}
    assert "learning_rate" in rows and "epochs" not in rows, compared
    assert re.search(r"\(\d+ other hyperparameter\(s\) are the same in every run\)", compared)
