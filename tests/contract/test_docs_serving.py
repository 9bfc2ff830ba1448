"""The serving page's walkthrough (docs/serving.md), run as written in process mode: make the
model and the two images, serve, then the requests of the last block. The one change is the one
the page allows: another port than 8080."""

from __future__ import annotations

import json

import pytest

from tests.support.docs import code_blocks, commands, run_command, serving
from tests.support.executables import exe_env
from tests.support.net import free_port

PAGE = "serving.md"


@pytest.mark.slow
def test_the_serving_walkthrough_runs_as_written(tmp_path, shared_steps):
    make, serve_block, ask = code_blocks(PAGE, "bash")[:3]
    port = free_port()
    env = exe_env()
    for command in commands(make):
        shared_steps.run(command, tmp_path, env)
    assert (tmp_path / "sign.png").is_file() and (tmp_path / "other.ppm").is_file()

    [serve] = commands(serve_block)
    assert serve.startswith("byoc local serve") and "--port 8080" in serve
    with serving(serve.replace("8080", str(port)), tmp_path, env, port):
        invoked, posted = [run_command(c.replace("8080", str(port)), tmp_path, env)
                           for c in commands(ask)]
    # --top-k 3: a header line and three ranked lines per file
    assert invoked.count("sign.png:") == 1 and invoked.count("other.ppm:") == 1
    assert invoked.count("  1. ") == 2 and invoked.count("  3. ") == 2
    [prediction] = json.loads(posted)["predictions"]
    assert 0 <= prediction["class_id"] < 43 and prediction["label"]
