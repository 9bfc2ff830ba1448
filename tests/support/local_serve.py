"""`byoc local serve` over a user's inference handlers, in a child process as a user runs it:
start it, send one request, stop it with Ctrl-C's signal."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from byoc.driver.local import process
from tests.support.executables import exe_env
from tests.support.serving import as_at_a_terminal, free_port

ENTRY_POINT = "inference.py"


def handlers_and_model(root: Path, handlers: str, model_files: dict[str, str]
                       ) -> tuple[Path, Path]:
    """(a model dir holding `model_files`, a source dir with `handlers` as ENTRY_POINT)."""
    model, src = root / "model", root / "src"
    model.mkdir()
    src.mkdir()
    for name, text in model_files.items():
        (model / name).write_text(text)
    (src / ENTRY_POINT).write_text(handlers)
    return model, src


def post_once(model: Path, src: Path, *flags: str, body: bytes = b"world") -> requests.Response:
    """Serve `model` with the handlers in `src` and `flags`, POST `body` as text, stop; the
    answer, with the server's log in its assertion message when it is not 200."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "byoc.cli", "local", "serve", "--model", str(model), "--port",
         str(port), "--source-dir", str(src), "--entry-point", ENTRY_POINT, *flags],
        env=exe_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=as_at_a_terminal)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_for_ping(url, timeout=180, alive=lambda: proc.poll() is None)
        answer = requests.post(f"{url}/invocations", data=body,
                               headers={"Content-Type": "text/plain",
                                        # else gunicorn waits out its grace period on stop
                                        "Connection": "close"}, timeout=30)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert answer.status_code == 200, out[-2000:]
    return answer
