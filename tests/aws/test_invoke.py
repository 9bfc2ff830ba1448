"""`byoc invoke --url`: the requests it sends to a local model server, and how it prints answers."""

from __future__ import annotations

import json
import threading
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
