"""The multi-model page's local walkthrough (docs/multi-model.md), run as written in process mode.

Its three blocks run in a fresh directory, line by line, through bash: make the models, lay out
models/ and start the server, then every request of the third block. The one change is the one
the page allows: another port than 8080.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.docs import code_blocks, commands, run_command, serving
from tests.support.executables import exe_env
from tests.support.net import free_port

PAGE = "multi-model.md"


@pytest.mark.slow
def test_the_local_multi_model_walkthrough_runs_as_written(tmp_path, shared_steps):
    blocks = code_blocks(PAGE, "bash")
    [make] = [b for b in blocks if "byoc local train" in b]
    [layout] = [b for b in blocks if "byoc local serve --multi-model" in b]
    [requests_block] = [b for b in blocks if "curl" in b]
    port = free_port()
    env = exe_env()

    for command in commands(make):
        shared_steps.run(command, tmp_path, env)
    assert (tmp_path / "sign.png").is_file()

    *setup, serve = commands(layout)
    assert serve.startswith("byoc local serve") and "--port 8080" in serve
    for _ in range(2):  # the page says running the lines again gives the same result
        for command in setup:
            run_command(command, tmp_path, env)
        assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["gray", "signs"]
        assert (tmp_path / "models" / "signs" / "byoc-model.json").is_file()

    with serving(serve.replace("8080", str(port)), tmp_path, env, port):
        out = [run_command(c.replace("8080", str(port)), tmp_path, env)
               for c in commands(requests_block)]
        load_signs, load_gray, invoke_signs, invoke_gray, listed, deleted = out
        assert "signs" in load_signs and "gray" in load_gray
        [prediction] = json.loads(invoke_signs)["predictions"]
        assert prediction["label"] and len(prediction["top_k"]) == 5
        assert "sign.png" in invoke_gray and invoke_gray.count("\n") >= 3
        models = json.loads(listed)["models"]
        assert sorted(m["modelName"] for m in models) == ["gray", "signs"]
        assert deleted.strip()
        after = requests.get(f"http://127.0.0.1:{port}/models", timeout=10).json()
        assert [m["modelName"] for m in after["models"]] == ["gray"]
