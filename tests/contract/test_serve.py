"""The real `serve` executable (gunicorn + Flask + the trained model) over HTTP on loopback.

Nothing is mocked: the model is the one `train` wrote, the server is the `serve` script as
SageMaker runs it, and every request goes through a real socket.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import shutil
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from byoc.bundle import LITERT_FILE, SPEC_FILE, ModelSpec
from byoc.data import images
from byoc.errors import UserError
from byoc.serving import codecs
from byoc.serving import runtime as runtimes
from byoc.serving.app import create_app
from byoc.serving.predictor import Predictor
from byoc.serving.server import ServerSettings
from tests.support.serving import ServeProcess, worker_pids

MAX_PAYLOAD_MB = 1  # a small limit keeps the 413 test's body small
MAX_CONCURRENT_TRANSFORMS = 3


@pytest.fixture(scope="module")
def spec(trained_model_dir) -> ModelSpec:
    return ModelSpec.read(trained_model_dir)


@pytest.fixture(scope="module", params=[runtimes.LITERT, runtimes.TENSORFLOW])
def runtime(request) -> str:
    """Every test of the server runs on both runtimes: only the forward pass may differ."""
    return request.param


@pytest.fixture(scope="module")
def server(trained_model_dir, tmp_path_factory, runtime):
    env = {
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(MAX_PAYLOAD_MB),
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(MAX_CONCURRENT_TRANSFORMS),
        runtimes.RUNTIME_ENV: runtime,
    }
    with ServeProcess(trained_model_dir, tmp_path_factory.mktemp("serve"), env) as proc:
        yield proc


def _pixels(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _encode(arr: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr.squeeze()).save(out, fmt)
    return out.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()


def _from_npy(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def _invoke(server, body, content_type, accept=None, **headers) -> requests.Response:
    headers = {"Content-Type": content_type, **headers}
    if accept:
        headers["Accept"] = accept
    return requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=60)


def _image(spec: ModelSpec, seed=0, size=(40, 50)) -> bytes:
    """A PNG of another size than the model's input, so the server has to resize it."""
    return _encode(_pixels((*size, spec.channels), seed), "PNG")


# --- /ping, /execution-parameters, settings ----------------------------------------------------


def test_ping_answers_200_once_the_model_is_warm(server):
    assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200


def test_the_runtime_is_named_in_the_log_and_in_every_response(server, runtime, spec):
    assert requests.get(f"{server.url}/ping", timeout=5).headers[runtimes.RUNTIME_HEADER] == runtime
    assert _invoke(server, _image(spec), "image/png").headers[runtimes.RUNTIME_HEADER] == runtime
    log = server.log()
    assert f"runtime {runtime} ({runtimes.RUNTIME_ENV}={runtime})" in log
    assert ("ready on LiteRT 2." if runtime == runtimes.LITERT else "ready on TensorFlow 2.") in log


def test_ping_is_503_until_the_predictor_has_warmed_up(spec):
    # No HTTP and no TensorFlow: the app over a Predictor whose inference is plain numpy.
    def uniform(batch):
        return np.full((len(batch), spec.num_classes), 1 / spec.num_classes, np.float32)

    predictor = Predictor(uniform, spec)
    client = create_app(predictor).test_client()
    assert client.get("/ping").status_code == 503
    predictor.warm_up()
    assert client.get("/ping").status_code == 200


def test_execution_parameters_come_from_the_environment(server):
    r = requests.get(f"{server.url}/execution-parameters", timeout=5)
    assert r.status_code == 200
    assert r.json() == {
        "MaxConcurrentTransforms": MAX_CONCURRENT_TRANSFORMS,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
    }


def test_settings_defaults_follow_sagemaker():
    s = ServerSettings.from_env({})
    assert (s.port, s.timeout, s.max_payload_mb) == (8080, 60, 6)
    assert s.workers >= 1 and s.max_concurrent_transforms == s.workers
    assert ServerSettings.from_env({"SAGEMAKER_BATCH": "true"}).timeout == 600
    s = ServerSettings.from_env({
        "SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30", "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
    })
    assert (s.port, s.workers, s.timeout, s.max_payload_mb) == (9000, 3, 30, 20)
    options = s.gunicorn_options()
    assert options["bind"] == "0.0.0.0:9000"
    assert options["worker_class"] == "byoc.serving.worker.GracefulThreadWorker"


@pytest.mark.parametrize("name", ["SAGEMAKER_MODEL_SERVER_WORKERS", "SAGEMAKER_BIND_TO_PORT"])
@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_bad_settings_name_the_variable(name, value):
    with pytest.raises(UserError, match=name):
        ServerSettings.from_env({name: value})


def test_serve_without_a_model_exits_with_a_clear_error(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    proc = ServeProcess(empty, tmp_path / "ml")
    with pytest.raises(RuntimeError, match="byoc-model.json"):
        proc.start()
    assert proc.proc.returncode == 1


# --- /invocations: content types -------------------------------------------------------------


def test_png_is_preprocessed_exactly_as_in_training(server, spec):
    png = _image(spec)
    via_png = _from_npy(_invoke(server, png, "image/png", "application/x-npy").content)
    pixels = images.load(png, (spec.height, spec.width), spec.channels)
    via_npy = _from_npy(_invoke(server, _npy(pixels), "application/x-npy",
                                "application/x-npy").content)
    assert via_png.shape == (1, spec.num_classes)
    np.testing.assert_allclose(via_png.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(via_png, via_npy)


@pytest.mark.parametrize("content_type, fmt", [
    ("image/png", "PNG"),
    ("image/jpeg", "JPEG"),
    ("image/x-portable-pixmap", "PPM"),
    ("application/x-image", "BMP"),  # any image PIL reads
])
def test_image_content_types(server, spec, content_type, fmt):
    body = _encode(_pixels((24, 24, 3)), fmt)
    r = _invoke(server, body, content_type)
    assert r.status_code == 200, r.text
    [prediction] = r.json()["predictions"]
    assert prediction["label"] in spec.class_names


def test_json_response_lists_top_k_best_first(server, spec):
    r = _invoke(server, _image(spec), "image/png")
    assert r.headers["Content-Type"] == "application/json"
    [p] = r.json()["predictions"]
    ranked = p["top_k"]
    assert len(ranked) == min(spec.top_k, spec.num_classes)
    assert [x["probability"] for x in ranked] == sorted(
        (x["probability"] for x in ranked), reverse=True)
    for x in ranked:
        assert x["label"] == spec.class_names[x["class_id"]]
    assert {k: p[k] for k in ("class_id", "label", "probability")} == ranked[0]


def test_json_instances_take_arrays_and_base64_images(server, spec):
    png = _image(spec, seed=1)
    pixels = images.load(png, (spec.height, spec.width), spec.channels)
    b64 = {"b64": base64.b64encode(png).decode()}
    payloads = [
        {"instances": [pixels.tolist(), b64]},
        [pixels.tolist(), b64],  # a bare list of instances
        {"instances": [pixels.tolist(), pixels.astype(float).tolist()]},
    ]
    for payload in payloads:
        r = _invoke(server, json.dumps(payload), "application/json")
        assert r.status_code == 200, r.text
        first, second = r.json()["predictions"]
        assert first["class_id"] == second["class_id"]
        assert first["probability"] == pytest.approx(second["probability"], rel=1e-5)


def test_npy_batch_runs_and_matches_single_requests(server, spec):
    batch = _pixels((64, *spec.input_shape), seed=2)
    r = _invoke(server, _npy(batch), "application/x-npy", "application/x-npy")
    assert r.status_code == 200, r.text
    probs = _from_npy(r.content)
    assert probs.shape == (64, spec.num_classes) and probs.dtype == np.float32
    for i in (0, 63):  # a single H×W×C array is a batch of one
        single = _from_npy(_invoke(server, _npy(batch[i]), "application/x-npy",
                                   "application/x-npy").content)
        np.testing.assert_allclose(single[0], probs[i], rtol=1e-4, atol=1e-6)


def test_csv_in_and_out(server, spec):
    rows = _pixels((2, spec.height * spec.width * spec.channels), seed=3)
    body = "\n".join(",".join(map(str, row)) for row in rows) + "\n"
    r = _invoke(server, body, "text/csv", "text/csv",
                **{codecs.CUSTOM_ATTRIBUTES_HEADER: "top_k=2"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    lines = r.text.strip().split("\n")
    assert len(lines) == 2
    for line in lines:
        fields = line.split(",")
        assert len(fields) == 3 * min(2, spec.num_classes)
        assert spec.class_names[int(fields[0])] == fields[1]


@pytest.mark.parametrize("accept, expected", [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("application/x-npy", "application/x-npy"),
    ("text/html, text/csv;q=0.5", "text/csv"),
    ("text/*", "text/csv"),
])
def test_accept_picks_the_response_type(server, spec, accept, expected):
    r = _invoke(server, _image(spec), "image/png", accept)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == expected


@pytest.mark.parametrize("attributes, expected", [
    ("top_k=1", 1),
    ("trace=abc; top_k=2, other=x", 2),
    ("top_k=100000", None),  # clipped to the number of classes
    ("unrelated=1", "spec"),
])
def test_top_k_from_custom_attributes(server, spec, attributes, expected):
    r = _invoke(server, _image(spec), "image/png",
                **{codecs.CUSTOM_ATTRIBUTES_HEADER: attributes})
    want = {None: spec.num_classes, "spec": min(spec.top_k, spec.num_classes)}.get(
        expected, expected)
    assert len(r.json()["predictions"][0]["top_k"]) == min(want, spec.num_classes)


# --- /invocations: errors ----------------------------------------------------------------------


def _bomb() -> bytes:
    """A small PNG whose pixel count is above the safe decoding limit."""
    side = int(images.MAX_IMAGE_PIXELS ** 0.5) + 100
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()


def _bad_requests(spec: ModelSpec) -> list[tuple[str, str, bytes, dict, str]]:
    """(id, content type, body, extra headers, a phrase the error must contain)."""
    h, w, c = spec.input_shape
    pixels = _pixels((1, h, w, c)).astype(np.float32)
    nan = pixels.copy()
    nan[0, 0, 0, 0] = np.nan
    inf = pixels.tolist()
    inf[0][0][0][0] = float("inf")  # json.dumps writes Infinity, which Python's json reads
    words = np.full((h, w, c), "red").tolist()
    top_k = {codecs.CUSTOM_ATTRIBUTES_HEADER: "top_k=zero"}
    return [
        ("garbage-image", "image/png", b"not an image", {}, "Cannot decode"),
        ("bomb", "image/png", _bomb(), {}, "too large"),
        ("wrong-shape", "application/x-npy", _npy(_pixels((1, h + 1, w, c))), {},
         f"({h}, {w}, {c})"),
        ("nan", "application/x-npy", _npy(nan), {}, "NaN"),
        ("inf", "application/json", json.dumps({"instances": inf}).encode(), {}, "infinite"),
        ("strings", "application/json", json.dumps({"instances": [words]}).encode(), {},
         "strings"),
        ("ragged", "application/json", b'{"instances": [[1, 2], [3]]}', {}, "shape"),
        ("empty-body", "application/json", b"", {}, "empty"),
        ("empty-batch", "application/json", b'{"instances": []}', {}, "empty"),
        ("bad-json", "application/json", b'{"instances": [', {}, "not valid JSON"),
        ("deep-json", "application/json", b"[" * 100_000 + b"]" * 100_000, {}, "JSON"),
        ("no-instances", "application/json", b'{"inputs": []}', {}, "instances"),
        ("bad-b64", "application/json", b'{"instances": [{"b64": "***"}]}', {}, "base64"),
        ("pickle", "application/x-npy", _npy(np.array([{"a": 1}], dtype=object)), {}, ".npy"),
        ("csv-words", "text/csv", b"a,b,c\n", {}, "CSV"),
        ("csv-short", "text/csv", b"1,2,3\n", {}, str(h * w * c)),
        ("bad-top-k", "image/png", _encode(_pixels((8, 8, 3)), "PNG"), top_k, "top_k"),
    ]


def test_bad_input_is_400_with_a_json_error_and_no_worker_dies(server, spec, runtime):
    before = worker_pids(server.proc.pid)
    for case, content_type, body, headers, phrase in _bad_requests(spec):
        r = _invoke(server, body, content_type, **headers)
        assert r.status_code == 400, (case, r.status_code, r.text)
        assert phrase in r.json()["error"], (case, r.json())
        assert r.headers.get(runtimes.RUNTIME_HEADER) == runtime, case
    assert worker_pids(server.proc.pid) == before
    assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200


def test_unsupported_content_type_is_415(server, runtime):
    r = _invoke(server, b"hello", "text/plain")
    assert r.status_code == 415
    assert r.headers.get(runtimes.RUNTIME_HEADER) == runtime
    assert "application/json" in r.json()["error"]


def test_unsupported_accept_is_406(server, spec, runtime):
    r = _invoke(server, _image(spec), "image/png", "text/html")
    assert r.status_code == 406
    assert r.headers.get(runtimes.RUNTIME_HEADER) == runtime
    assert "text/csv" in r.json()["error"]


def test_body_over_the_payload_limit_is_413(server, runtime):
    r = _invoke(server, b"\0" * (MAX_PAYLOAD_MB * 1024 * 1024 + 1), "application/x-npy")
    assert r.status_code == 413
    assert r.headers.get(runtimes.RUNTIME_HEADER) == runtime
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" in r.json()["error"]


# --- connections and processes -----------------------------------------------------------------


def test_keep_alive_serves_two_requests_on_one_connection(server, spec):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    local_addresses = set()
    for _ in range(2):
        conn.request("POST", "/invocations", _image(spec), {"Content-Type": "image/png"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200 and not r.will_close
        # http.client reconnects silently if the server closed: a new connection, a new port.
        local_addresses.add(conn.sock.getsockname())
    conn.close()
    assert len(local_addresses) == 1


def test_a_killed_worker_is_replaced(trained_model_dir, tmp_path, spec):
    with ServeProcess(trained_model_dir, tmp_path) as proc:
        [worker] = worker_pids(proc.proc.pid)
        os.kill(worker, signal.SIGKILL)
        proc.wait_ready()  # blocks until the new worker has loaded and warmed up the model
        [replacement] = worker_pids(proc.proc.pid)
        assert replacement != worker
        assert _invoke(proc, _image(spec), "image/png").status_code == 200


def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly(trained_model_dir, tmp_path,
                                                                   spec):
    proc = ServeProcess(trained_model_dir, tmp_path).start()
    png = _image(spec)
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            f"Content-Length: {len(png)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", proc.port), timeout=60) as sock:
        # A first request on this connection proves a worker has accepted it.
        sock.sendall(head + png)
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 200")
        length = 0
        while (line := reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        reader.read(length)
        # Give the worker a moment to put the idle connection back on its poller.
        time.sleep(0.5)
        # The second request is half sent when SIGTERM arrives, and finished after it.
        sock.sendall(head + png[:10])
        proc.proc.send_signal(signal.SIGTERM)
        sock.sendall(png[10:])
        assert reader.readline().startswith(b"HTTP/1.1 200")
    assert proc.proc.wait(timeout=30) == 0  # SageMaker sends SIGKILL 30 s after SIGTERM


# --- runtimes: LiteRT by default, the same answers as TensorFlow, bad bundles refused ----------


def test_train_exports_model_tflite_checked_against_keras(trained_run, trained_model_dir, spec):
    paths, stdout = trained_run
    assert (trained_model_dir / LITERT_FILE).is_file() and spec.litert_model == LITERT_FILE
    check = spec.litert_check
    assert check["images"] > 0 and check["top1_agreement"] == 1.0
    assert 0 <= check["max_prob_diff"] < 1e-4
    assert f"Wrote {trained_model_dir / LITERT_FILE}" in stdout and "top-1 agreement" in stdout
    report = json.loads((paths.output_data_dir / "litert_check.json").read_text())
    assert report["kept"] is True and report["images"] == check["images"]


def test_litert_is_the_default_when_the_bundle_has_model_tflite(trained_model_dir, tmp_path, spec):
    with ServeProcess(trained_model_dir, tmp_path) as proc:
        r = _invoke(proc, _image(spec), "image/png")
        assert r.status_code == 200 and r.headers[runtimes.RUNTIME_HEADER] == runtimes.LITERT


def test_both_runtimes_agree_on_the_test_split(trained_model_dir, synth_data_dir, spec):
    from byoc.data import formats

    test = formats.read_channel(synth_data_dir / "test", (spec.height, spec.width), spec.channels,
                                class_names=spec.class_names, name="test")
    lite = Predictor.load(trained_model_dir, runtime=runtimes.LITERT).predict(test.x)
    tf = Predictor.load(trained_model_dir, runtime=runtimes.TENSORFLOW).predict(test.x)
    np.testing.assert_array_equal(lite.argmax(axis=1), tf.argmax(axis=1))
    np.testing.assert_allclose(lite, tf, atol=1e-4)


def test_many_threads_with_mixed_batch_sizes_get_their_own_answers(server, spec):
    # gthread workers call the model from several threads; each request must get its own rows.
    batches = [_pixels((n, *spec.input_shape), seed=n) for n in (1, 2, 1, 5, 1, 3, 1, 8)]
    expected = [_from_npy(_invoke(server, _npy(b), "application/x-npy",
                                  "application/x-npy").content) for b in batches]

    def call(i):
        return i, _from_npy(_invoke(server, _npy(batches[i % len(batches)]), "application/x-npy",
                                    "application/x-npy").content)

    with ThreadPoolExecutor(8) as pool:
        for i, probs in pool.map(call, range(6 * len(batches))):
            np.testing.assert_allclose(probs, expected[i % len(batches)], rtol=1e-5, atol=1e-7)


def _bundle_copy(trained_model_dir, dest, without=()):
    shutil.copytree(trained_model_dir, dest, ignore=shutil.ignore_patterns(*without))
    return dest


def test_forced_litert_without_model_tflite_exits_with_one_line(trained_model_dir, tmp_path):
    bundle = _bundle_copy(trained_model_dir, tmp_path / "model", without=[LITERT_FILE])
    proc = ServeProcess(bundle, tmp_path / "ml", {runtimes.RUNTIME_ENV: "litert"})
    with pytest.raises(RuntimeError, match=f"BYOC_SERVING_RUNTIME=litert, but .* no {LITERT_FILE}"):
        proc.start()
    assert proc.proc.returncode == 1


def test_model_tflite_that_does_not_fit_the_spec_is_refused_at_start(trained_model_dir, tmp_path):
    bundle = _bundle_copy(trained_model_dir, tmp_path / "model")
    data = json.loads((bundle / SPEC_FILE).read_text())
    data["class_names"] = data["class_names"][:10]
    (bundle / SPEC_FILE).write_text(json.dumps(data))
    proc = ServeProcess(bundle, tmp_path / "ml")
    with pytest.raises(RuntimeError, match="returns 43 classes, but byoc-model.json says"):
        proc.start()
    assert proc.proc.returncode == 1
    assert "Traceback" not in proc.log()


def test_a_misspelt_runtime_stops_serve_with_the_variable_named(trained_model_dir, tmp_path):
    proc = ServeProcess(trained_model_dir, tmp_path, {runtimes.RUNTIME_ENV: "tflite"})
    with pytest.raises(RuntimeError, match="BYOC_SERVING_RUNTIME='tflite' is not valid"):
        proc.start()
