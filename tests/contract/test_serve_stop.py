"""A graceful stop of the real `serve`: requests in flight finish, idle connections do not hold
the workers until the graceful timeout (SageMaker sends SIGKILL 30 s after SIGTERM).

The order of events is asserted, never a duration: the idle keep-alive connection is closed by
the server while a slow request is still being answered, and that request still gets its answer.
"""

from __future__ import annotations

import signal
import socket
import textwrap
import threading
import time

import requests

from byoc.user_code.source import PROGRAM_ENV, SUBMIT_DIR_ENV
from tests.support.serving import ServeProcess

SLOW_HANDLERS = """\
from pathlib import Path
import time

def model_fn(model_dir):
    return Path(model_dir)


def transform_fn(model, data, content_type, accept):
    if data == b"slow":
        (model / "slow-started").touch()
        # Wait until the test says the stop has begun (or give up after a minute).
        started = model / "stop-begun"
        for _ in range(600):
            if started.exists():
                break
            time.sleep(0.1)
        time.sleep(1)
    return "answered", "text/plain"
"""


def _idle_keep_alive_connection(port: int) -> socket.socket:
    """A connection that made one HTTP/1.1 request and stays open, as a pooled client's does."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 200"), response
    return sock


def test_a_stop_closes_idle_connections_and_finishes_requests_in_flight(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent(SLOW_HANDLERS))
    model = tmp_path / "model"
    model.mkdir()
    env = {PROGRAM_ENV: "inference.py", SUBMIT_DIR_ENV: f"file://{code}"}
    events: list[str] = []
    with ServeProcess(model, tmp_path / "ml", env) as server:
        idle = _idle_keep_alive_connection(server.port)
        answers = []

        def slow_request():
            answers.append(requests.post(f"{server.url}/invocations", data=b"slow",
                                         headers={"Content-Type": "text/plain",
                                                  "Connection": "close"}, timeout=60))
            events.append("slow request answered")

        slow = threading.Thread(target=slow_request)
        slow.start()
        for _ in range(600):  # the request is in the handler before the stop begins
            if (model / "slow-started").exists():
                break
            time.sleep(0.1)
        server.proc.send_signal(signal.SIGTERM)
        (model / "stop-begun").touch()
        assert idle.recv(4096) == b""  # closed by the server, without a request
        events.append("idle connection closed")
        slow.join(timeout=60)
        idle.close()
        assert server.proc.wait(timeout=60) == 0, server.log()
    assert events == ["idle connection closed", "slow request answered"], server.log()
    assert answers[0].status_code == 200 and answers[0].text == "answered"
