"""`byoc invoke --url`: the requests it sends to a local model server, and how it prints answers."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from byoc.cli import main
from byoc.driver import invoke

ANSWER = {"predictions": [{
    "class_id": 1, "label": "speed_limit_30", "probability": 0.8,
    "top_k": [{"class_id": 1, "label": "speed_limit_30", "probability": 0.8},
              {"class_id": 2, "label": "speed_limit_50", "probability": 0.15},
              {"class_id": 5, "label": "speed_limit_80", "probability": 0.05}],
}]}


@pytest.fixture
def recording_server():
    """A stand-in for the model server that records each request and answers like it does.

    The real server is exercised by the serving tests; here the subject is the client's side of
    the HTTP exchange, so a stand-in that records what arrives is the honest check.
    """
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if body == b"not an image":
                self.send_response(400)
                payload = b'{"error": "cannot decode image/png: not an image"}'
            else:
                self.send_response(200)
                payload = json.dumps(ANSWER).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_invoke_url_sends_one_request_per_file_with_its_content_type(recording_server, tmp_path,
                                                                     capsys):
    url, received = recording_server
    files = {"a.png": b"\x89PNG\r\n", "b.JPG": b"\xff\xd8\xff",
             "c.ppm": b"P6 1 1 255 \x00\x00\x00", "d.npy": b"\x93NUMPY"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    assert main(["invoke", "--url", url, "--top-k", "3",
                 *(str(tmp_path / n) for n in files)]) == 0

    assert [r["path"] for r in received] == ["/invocations"] * 4
    assert [r["headers"]["Content-Type"] for r in received] == [
        "image/png", "image/jpeg", "image/x-portable-pixmap", "application/x-npy"]
    assert [r["body"] for r in received] == list(files.values())
    assert {r["headers"][invoke.CUSTOM_ATTRIBUTES_HEADER] for r in received} == {"top_k=3"}
    out = capsys.readouterr().out
    assert out.count("speed_limit_30 (class 1, p=0.8000)") == 4
    assert "3. speed_limit_80" in out


def test_invoke_url_reports_the_servers_error_and_an_unknown_extension(recording_server,
                                                                       tmp_path, capsys):
    url, received = recording_server
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["invoke", "--url", url, str(tmp_path / "bad.png")]) == 2
    assert "answered 400 for" in capsys.readouterr().err
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    assert main(["invoke", "--url", url, str(tmp_path / "x.gif")]) == 2
    assert "Cannot tell the content type of x.gif" in capsys.readouterr().err
    assert len(received) == 1  # the .gif was refused before any request


def test_invoke_url_with_nothing_listening_says_to_start_a_server(tmp_path, capsys,
                                                                   find_free_port):
    port = find_free_port()
    (tmp_path / "a.png").write_bytes(b"x")
    assert main(["invoke", "--url", f"http://127.0.0.1:{port}", str(tmp_path / "a.png")]) == 2
    assert "Nothing answers at" in capsys.readouterr().err


def test_invoke_needs_exactly_one_target(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"x")
    assert main(["invoke", str(tmp_path / "a.png")]) == 2
    assert "Pass either --endpoint" in capsys.readouterr().err


def test_format_response_prints_csv_and_several_predictions():
    assert invoke.format_response("r.csv", b"1,0.9\n0,0.2\n", "text/csv") == [
        "r.csv:", "  1,0.9", "  0,0.2"]
    two = {"predictions": [ANSWER["predictions"][0]] * 2}
    lines = invoke.format_response("batch.npy", json.dumps(two).encode(), "application/json")
    assert lines[0].startswith("batch.npy[0]: speed_limit_30")
    assert any(line.startswith("batch.npy[1]: ") for line in lines)


# ---------------------------------------------------------------------------------------------
# `byoc invoke --endpoint`: the sagemaker-runtime client's timeouts and retries


@pytest.fixture
def runtime_server(moto_endpoint, monkeypatch):
    """A stand-in for SageMaker's runtime endpoint on a loopback port, reached by the real
    botocore client through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.

    moto's runtime answers at once with canned data; timeouts and throttling need a server
    that is slow or refuses on purpose. `script` holds the answers to give, in order: a number
    of seconds to sleep before answering 200, or "throttle" for a 400 ThrottlingException.
    """
    received: list[str] = []
    script: list[float | str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(self.path)
            step = script.pop(0) if script else 0.0
            if step == "throttle":
                payload = b'{"message": "Rate exceeded"}'
                self.send_response(400)
                self.send_header("x-amzn-ErrorType", "ThrottlingException")
            else:
                time.sleep(step)
                payload = json.dumps(ANSWER).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
                       f"http://127.0.0.1:{server.server_address[1]}")
    yield received, script
    server.shutdown()
    server.server_close()


def test_runtime_client_waits_longer_than_the_endpoint_and_never_resends(moto_endpoint):
    from byoc.driver.aws import connect

    client = invoke.runtime_client(connect())
    assert client.meta.config.read_timeout == invoke.READ_TIMEOUT == 80
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_a_read_timeout_is_reported_and_the_invocation_is_sent_once(runtime_server, tmp_path,
                                                                    monkeypatch, capsys):
    # The real limit is 80 s; a 1 s timeout against a 3 s answer shows the same behaviour.
    monkeypatch.setattr(invoke, "READ_TIMEOUT", 1)
    received, script = runtime_server
    script.append(3.0)
    (tmp_path / "slow.json").write_text("[[0.0]]")

    assert main(["invoke", "--endpoint", "signs", str(tmp_path / "slow.json")]) == 2

    # With botocore's retries (10, adaptive) the same request went out 11 times.
    assert received == ["/endpoints/signs/invocations"]
    err = capsys.readouterr().err
    assert "Endpoint signs sent no answer for" in err and "within 1 s" in err
    assert "/aws/sagemaker/Endpoints/signs" in err


def test_throttled_invocations_are_retried_with_backoff(runtime_server, tmp_path, monkeypatch,
                                                       capsys):
    monkeypatch.setattr(invoke, "BACKOFF_SECONDS", 0.01)
    received, script = runtime_server
    script.extend(["throttle", "throttle", 0.0])
    (tmp_path / "a.json").write_text("[[0.0]]")

    assert main(["invoke", "--endpoint", "signs", str(tmp_path / "a.json")]) == 0

    assert len(received) == 3
    assert "a.json: speed_limit_30 (class 1, p=0.8000)" in capsys.readouterr().out


def test_invoke_url_with_a_target_model_uses_the_multi_model_route(recording_server, tmp_path,
                                                                   capsys):
    url, received = recording_server
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n")
    assert main(["invoke", "--url", url, "--target-model", "signs-b", "--top-k", "2",
                 str(tmp_path / "a.png")]) == 0
    (request,) = received
    assert request["path"] == "/models/signs-b/invoke"
    assert request["headers"][invoke.TARGET_MODEL_HEADER] == "signs-b"
    assert request["headers"][invoke.CUSTOM_ATTRIBUTES_HEADER] == "top_k=2"
    assert "a.png: speed_limit_30" in capsys.readouterr().out
