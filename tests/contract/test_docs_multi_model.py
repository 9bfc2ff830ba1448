"""The multi-model page's local walkthrough (docs/multi-model.md), run as written in process mode.

Its three blocks run in a fresh directory, line by line, through bash: make the models, lay out
models/ and start the server, then every request of the third block. The one change is the one
the page allows: another port than 8080.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

from tests.support.docs import code_blocks
from tests.support.executables import exe_env
from tests.support.net import free_port

PAGE = "multi-model.md"


def _commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = block.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def _run(command: str, cwd, env) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_local_multi_model_walkthrough_runs_as_written(tmp_path):
    blocks = code_blocks(PAGE, "bash")
    [make] = [b for b in blocks if "byoc local train" in b]
    [layout] = [b for b in blocks if "byoc local serve --multi-model" in b]
    [requests_block] = [b for b in blocks if "curl" in b]
    port = str(free_port())
    env = exe_env()

    for command in _commands(make):
        _run(command, tmp_path, env)
    assert (tmp_path / "sign.png").is_file()

    *setup, serve = _commands(layout)
    assert serve.startswith("byoc local serve") and "--port 8080" in serve
    for _ in range(2):  # the page says running the lines again gives the same result
        for command in setup:
            _run(command, tmp_path, env)
        assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["gray", "signs"]
        assert (tmp_path / "models" / "signs" / "byoc-model.json").is_file()

    server = subprocess.Popen(["bash", "-c", "exec " + serve.replace("8080", port)],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the server never answered /ping"
            time.sleep(0.5)

        out = [_run(c.replace("8080", port), tmp_path, env) for c in _commands(requests_block)]
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
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
