"""The user's inference handlers (SAGEMAKER_PROGRAM) in the real `serve`, under real gunicorn on
loopback.

Most handler modules here load a model of a few numbers with model_fn, so no TensorFlow starts and
the tests stay fast; the tests of byoc's own handlers standing in for missing ones run over the
bundle the real `train` made. S3 is moto's real server. Nothing of byoc is mocked.
"""

from __future__ import annotations

import io
import json
import subprocess
import sysconfig
import tarfile
import textwrap
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
import requests
from PIL import Image

from byoc.bundle import ModelSpec
from byoc.contract import CUSTOM_ATTRIBUTES_HEADER
from byoc.serving import runtime as runtimes
from byoc.serving.handlers import DEFAULT_ACCEPT_ENV
from byoc.serving.predictor import Predictor
from byoc.user_code.source import PROGRAM_ENV, SUBMIT_DIR_ENV
from tests.support import venv
from tests.support.executables import SERVE_EXE, exe_env
from tests.support.net import free_port
from tests.support.serving import ServeProcess, worker_pids

MAX_PAYLOAD_MB = 1

# A model of one number, read from the model directory by model_fn; every handler of the
# contract, each telling the tests what it received.
FULL_SET = """
    import json

    import numpy as np
    from werkzeug.exceptions import UnprocessableEntity

    from byoc.serving.codecs import RequestError


    def model_fn(model_dir):
        with open(f"{model_dir}/scale.json") as f:
            return json.load(f)["scale"]


    def input_fn(input_data, content_type):
        if content_type == "application/json":
            return np.asarray(json.loads(input_data)["x"], dtype=float)
        if content_type == "application/octet-stream":
            return np.frombuffer(input_data, dtype=np.uint8).astype(float)
        if content_type == "application/x-refuse":
            raise RequestError("Send x as JSON.")
        if content_type == "application/x-unprocessable":
            raise UnprocessableEntity("x must be a list of numbers.")
        raise ValueError("secret: the database password is hunter2")


    def predict_fn(data, model):
        return data * model


    def output_fn(prediction, accept, context):
        body = json.dumps({"y": prediction.tolist(), "accept": accept,
                           "attributes": context.custom_attributes})
        if accept == "application/x-pair":
            return body.encode(), "application/vnd.test+json"
        return body
"""

TRANSFORM_ONLY = """
    import json


    def model_fn(model_dir):
        return "tiny"


    def transform_fn(model, input_data, content_type, accept, context):
        return json.dumps({"model": model, "input": type(input_data).__name__,
                           "content_type": content_type, "accept": accept,
                           "model_dir": context.system_properties["model_dir"],
                           "file": __file__})
"""

# No output_fn: byoc's encoders answer, with the toolkit's JSON, CSV or NPY for predictions that
# are not class probabilities.
NO_OUTPUT_FN = """
    import json

    import numpy as np


    def model_fn(model_dir):
        return 2


    def input_fn(input_data, content_type):
        return json.loads(input_data)


    def predict_fn(data, model):
        if isinstance(data, dict):
            return {"total": np.float32(sum(data["x"]) * model)}
        return np.asarray(data, dtype=np.float32) * model
"""


def _write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():  # "pkg__file.py" is pkg/file.py
        path = directory / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return directory


def _scale_model(directory: Path, scale: float = 3) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scale.json").write_text(json.dumps({"scale": scale}))
    return directory


def _handlers_env(code: Path | str | None, program: str = "inference.py", **extra: str
                  ) -> dict[str, str]:
    env = {PROGRAM_ENV: program, **extra}
    if code is not None:
        env[SUBMIT_DIR_ENV] = code if isinstance(code, str) else f"file://{code}"
    return env


# gunicorn's graceful stop waits out the whole grace period for a connection that served a
# request, even one the client has closed since; asking to close it keeps each server's stop short.
CLOSE = {"Connection": "close"}


def _post(server, body, content_type, accept=None, **headers) -> requests.Response:
    headers = {"Content-Type": content_type, **CLOSE, **headers}
    if accept:
        headers["Accept"] = accept
    return requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=60)


def _serve_to_the_end(base: Path, env: dict[str, str], timeout: float = 120
                      ) -> tuple[int, str]:
    """Run `serve` over `base` (a SageMaker-shaped /opt/ml) until it exits by itself."""
    result = subprocess.run([str(SERVE_EXE)], capture_output=True, text=True, timeout=timeout,
                            env=exe_env(SAGEMAKER_BASE_DIR=str(base),
                                        SAGEMAKER_BIND_TO_PORT=str(free_port()),
                                        SAGEMAKER_MODEL_SERVER_WORKERS="1", **env))
    return result.returncode, result.stdout + result.stderr


def _start_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Cannot start the model server" in line]


# --- the full handler set ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_set(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("full_set")
    code = _write(tmp / "code", **{"inference.py": FULL_SET})
    env = _handlers_env(code, **{"SAGEMAKER_MAX_PAYLOAD_IN_MB": str(MAX_PAYLOAD_MB),
                                 "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
                                 DEFAULT_ACCEPT_ENV: "text/csv"})
    with ServeProcess(_scale_model(tmp / "model"), tmp / "ml", env) as proc:
        yield proc


def test_every_handler_of_the_module_serves_the_request(full_set):
    answer = _post(full_set, json.dumps({"x": [1, 2]}), "application/json", "application/x-pair",
                   **{CUSTOM_ATTRIBUTES_HEADER: "trace=7"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"y": [3.0, 6.0], "accept": "application/x-pair",
                             "attributes": "trace=7"}
    assert answer.headers["Content-Type"] == "application/vnd.test+json"
    assert answer.headers[runtimes.RUNTIME_HEADER] == runtimes.CUSTOM
    # input_fn gets bytes for a type that is not text, as the toolkit hands them over.
    raw = _post(full_set, bytes([1, 2]), "application/octet-stream", "application/x-pair")
    assert raw.json()["y"] == [3.0, 6.0]
    log = full_set.log()
    assert "Inference handlers from inference.py in " in log
    assert "model_fn, input_fn, predict_fn, output_fn" in log


def test_a_body_alone_goes_out_as_the_accept_type(full_set):
    body = json.dumps({"x": [1]})
    plain = _post(full_set, body, "application/json", "text/plain")
    assert plain.status_code == 200 and plain.json()["accept"] == "text/plain"
    assert plain.headers["Content-Type"] == "text/plain"
    # No Accept, or */*: the default, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, as the toolkit does.
    for accept in (None, "*/*"):
        answer = _post(full_set, body, "application/json", accept)
        assert answer.json()["accept"] == "text/csv"
        assert answer.headers["Content-Type"] == "text/csv"
    several = _post(full_set, body, "application/json", "*/*;q=0.1, application/xml")
    assert several.headers["Content-Type"] == "application/xml"


def test_a_handler_refuses_a_request_with_a_4xx(full_set):
    refused = _post(full_set, b"x", "application/x-refuse")
    assert refused.status_code == 400 and refused.json() == {"error": "Send x as JSON."}
    unprocessable = _post(full_set, b"x", "application/x-unprocessable")
    assert unprocessable.status_code == 422
    assert unprocessable.json() == {"error": "x must be a list of numbers."}
    # JSON and CSV bodies reach the handlers as text: one that is not UTF-8 is the client's error.
    not_text = _post(full_set, b"\xff\xfe", "application/json")
    assert not_text.status_code == 400 and "not UTF-8" in not_text.json()["error"]


def test_any_other_exception_is_a_500_that_hides_its_message(full_set):
    workers = worker_pids(full_set.proc.pid)
    failed = _post(full_set, b"x", "application/x-crash")
    assert failed.status_code == 500
    assert failed.json() == {"error": "Internal error: ValueError. See the server log."}
    assert "hunter2" not in failed.text
    log = full_set.log()
    assert "Traceback" in log and "ValueError: secret: the database password is hunter2" in log
    # The worker survives and serves the next request.
    assert _post(full_set, json.dumps({"x": [2]}), "application/json").json()["y"] == [6.0]
    assert worker_pids(full_set.proc.pid) == workers


def test_payload_limits_and_execution_parameters_hold_as_before(full_set):
    too_large = _post(full_set, b"0" * (MAX_PAYLOAD_MB * 1024 * 1024 + 1), "application/json")
    assert too_large.status_code == 413 and "SAGEMAKER_MAX_PAYLOAD_IN_MB" in too_large.text
    parameters = requests.get(f"{full_set.url}/execution-parameters", timeout=5, headers=CLOSE)
    assert parameters.json() == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD",
                                 "MaxPayloadInMB": MAX_PAYLOAD_MB}
    ping = requests.get(f"{full_set.url}/ping", timeout=5, headers=CLOSE)
    assert ping.status_code == 200 and ping.headers[runtimes.RUNTIME_HEADER] == runtimes.CUSTOM


# --- transform_fn, byoc's encoders --------------------------------------------------------------


def test_transform_fn_alone_answers_with_the_context(tmp_path):
    code = _write(tmp_path / "code", **{"inference.py": TRANSFORM_ONLY})
    model_dir = _scale_model(tmp_path / "model")
    with ServeProcess(model_dir, tmp_path / "ml", _handlers_env(code)) as server:
        answer = _post(server, "[1]", "application/json; charset=utf-8", "text/csv")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "text/csv"
        got = answer.json()
        assert got == {"model": "tiny", "input": "str", "accept": "text/csv",
                       "content_type": "application/json; charset=utf-8",
                       "model_dir": str(tmp_path / "ml" / "model"),
                       "file": str(code / "inference.py")}
        assert _post(server, b"\x00", "image/png").json()["input"] == "bytes"
        assert "byoc's own" not in server.log()  # transform_fn leaves nothing to byoc


def test_byoc_encodes_what_predict_fn_returned_when_output_fn_is_left_out(tmp_path):
    code = _write(tmp_path / "code", **{"inference.py": NO_OUTPUT_FN})
    with ServeProcess(_scale_model(tmp_path / "model"), tmp_path / "ml",
                      _handlers_env(code)) as server:
        batch = json.dumps([[1, 2, 3], [4, 5, 6]])
        as_json = _post(server, batch, "application/json")
        assert as_json.status_code == 200, as_json.text
        assert as_json.json() == [[2, 4, 6], [8, 10, 12]]
        assert as_json.headers["Content-Type"] == "application/json"
        as_csv = _post(server, batch, "application/json", "text/csv")
        assert as_csv.text == "2.0,4.0,6.0\n8.0,10.0,12.0\n"
        assert as_csv.headers["Content-Type"].startswith("text/csv")
        as_npy = _post(server, batch, "application/json", "application/x-npy")
        np.testing.assert_array_equal(np.load(io.BytesIO(as_npy.content)),
                                      [[2, 4, 6], [8, 10, 12]])
        total = _post(server, json.dumps({"x": [1, 2]}), "application/json")
        assert total.json() == {"total": 6.0}
        refused = _post(server, batch, "application/json", "image/png")
        assert refused.status_code == 406 and "application/json" in refused.json()["error"]
        assert "byoc's own output_fn" in server.log()


# --- start-up ----------------------------------------------------------------------------------


def test_ping_is_200_only_once_model_fn_returned(tmp_path):
    gate, entered = tmp_path / "gate", tmp_path / "entered"
    code = _write(tmp_path / "code", **{"inference.py": f"""
        import pathlib
        import time


        def model_fn(model_dir):
            pathlib.Path({str(entered)!r}).touch()
            while not pathlib.Path({str(gate)!r}).exists():
                time.sleep(0.05)
            return 1


        def transform_fn(model, input_data, content_type, accept):
            return "ok"
    """})
    server = ServeProcess(_scale_model(tmp_path / "model"), tmp_path / "ml", _handlers_env(code))
    with open(server.log_path, "wb") as log:
        server.proc = subprocess.Popen([str(SERVE_EXE)], env=server.env, stdout=log,
                                       stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            if entered.exists() or server.proc.poll() is not None:
                break
            time.sleep(0.1)
        assert entered.exists(), server.log()
        # The port is bound, the worker is in model_fn: no 200 until it returns.
        try:
            status = requests.get(f"{server.url}/ping", timeout=2).status_code
        except requests.RequestException:
            status = None
        assert status != 200
        gate.touch()
        server.wait_ready()
        assert _post(server, b"x", "text/plain").text == "ok"
    finally:
        gate.touch()
        server.stop()


def _start_case(tmp: Path, case: str) -> dict[str, str]:
    """Lay out /opt/ml under `tmp` for one way of getting the handlers wrong; the environment."""
    model_dir = _scale_model(tmp / "ml" / "model")
    code = tmp / "code"
    module = {
        "import-raises": "raise RuntimeError('no GPU on this host')\n",
        "syntax-error": "def model_fn(:\n",
        "needs-a-package": "import package_nobody_installed\n",
        "transform-and-input": "def transform_fn(m, d, c, a):\n    pass\n"
                               "def input_fn(d, c):\n    pass\n",
        "wrong-arity": "def input_fn(data):\n    pass\n",
        "no-spec-for-byoc-decoders": "def model_fn(model_dir):\n    return 1\n"
                                     "def predict_fn(data, model):\n    return data\n",
    }.get(case)
    if module is not None:
        _write(code, **{"inference.py": module})
        return _handlers_env(code)
    if case == "missing-module":
        _write(code, **{"inference.py": "def model_fn(model_dir):\n    return 1\n"})
        return _handlers_env(code, program="handlers.py")
    if case == "not-python":
        _write(code, **{"serve.sh": "echo hello\n"})
        return _handlers_env(code, program="serve.sh")
    if case == "no-code-in-the-model":
        assert not (model_dir / "code").exists()
        return _handlers_env(None)
    assert case == "missing-directory"
    return _handlers_env(f"file://{tmp / 'nowhere'}")


@pytest.mark.parametrize("case, says", [
    ("import-raises", "Importing the inference handlers module 'inference' failed: RuntimeError: "
                      "no GPU on this host"),
    ("syntax-error", "failed: SyntaxError"),
    ("needs-a-package", "ModuleNotFoundError: No module named 'package_nobody_installed'"),
    ("missing-module", "'handlers' is not in "),
    ("not-python", "SAGEMAKER_PROGRAM='serve.sh' is not a Python module"),
    ("no-code-in-the-model", "has no code/ directory"),
    ("missing-directory", "nowhere does not exist"),
    ("transform-and-input", "defines transform_fn together with input_fn"),
    ("wrong-arity", "input_fn takes 1 argument(s); it is called as input_fn(input_data, "
                    "content_type)"),
    ("no-spec-for-byoc-decoders", "leaves input_fn out"),
])
def test_handlers_that_cannot_serve_stop_serve_at_start_with_one_line(tmp_path, case, says):
    """In the master, before any worker forks: not a worker crash loop."""
    returncode, log = _serve_to_the_end(tmp_path / "ml", _start_case(tmp_path, case))
    errors = _start_errors(log)
    assert returncode == 1, log
    assert "Booting worker" not in log, log
    assert len(errors) == 1 and says in errors[0], log


@pytest.mark.parametrize("model_fn, says", [
    ("raise OSError('weights.bin is missing')",
     "model_fn in inference.py in {code} failed: OSError: weights.bin is missing"),
    ("return object()", "model_fn in inference.py in {code} returned a object, and predict_fn is "
                        "left out"),
])
def test_a_model_fn_that_fails_stops_serve(tmp_path, model_fn, says):
    """model_fn runs in the worker (the model is loaded after the fork): gunicorn halts at its
    first failure instead of booting workers again and again."""
    code = _write(tmp_path / "code", **{"inference.py": f"""
        def model_fn(model_dir):
            {model_fn}


        def input_fn(input_data, content_type):
            return input_data
    """})
    _scale_model(tmp_path / "ml" / "model")
    returncode, log = _serve_to_the_end(tmp_path / "ml", _handlers_env(code))
    assert returncode != 0, log
    assert log.count("Booting worker") == 1, log
    errors = _start_errors(log)
    assert len(errors) == 1 and says.format(code=code) in errors[0], log


# --- where the code comes from ----------------------------------------------------------------


WHERE_AM_I = """
    def model_fn(model_dir):
        return model_dir


    def transform_fn(model, input_data, content_type, accept):
        return __file__
"""


def _tarball(source: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


@pytest.mark.parametrize("where", ["model-code", "model-code-named-by-the-sdk", "opt-ml-code",
                                   "file-url", "file-archive"])
def test_the_module_is_found_where_the_sdk_puts_it(tmp_path, where):
    base = tmp_path / "ml"
    model_dir = _scale_model(tmp_path / "model")
    expected = {
        # The SDK's repack: code/ inside model.tar.gz, with or without SAGEMAKER_SUBMIT_DIRECTORY.
        "model-code": (model_dir / "code", None),
        "model-code-named-by-the-sdk": (model_dir / "code", "/opt/ml/model/code"),
        # SDK local mode mounts source_dir at /opt/ml/code.
        "opt-ml-code": (base / "code", "/opt/ml/code"),
        "file-url": (tmp_path / "src", f"file://{tmp_path / 'src'}"),
        "file-archive": (tmp_path / "src", f"file://{tmp_path / 'sourcedir.tar.gz'}"),
    }
    directory, submit = expected[where]
    _write(directory, **{"inference.py": WHERE_AM_I})
    if where == "file-archive":
        _tarball(directory, tmp_path / "sourcedir.tar.gz")
        directory = base / "code"  # unpacked where an S3 archive goes
    with ServeProcess(model_dir, base, _handlers_env(submit)) as server:
        answer = _post(server, b"x", "text/plain")
        assert answer.status_code == 200, answer.text
        # /opt/ml/model is a link to the model directory; the paths agree once resolved.
        assert Path(answer.text).resolve() == (directory / "inference.py").resolve()


def test_an_s3_source_archive_is_downloaded_and_unpacked(tmp_path, moto_endpoint):
    archive = _tarball(_write(tmp_path / "src", **{"inference.py": WHERE_AM_I}),
                       tmp_path / "sourcedir.tar.gz")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="handlers")
    s3.upload_file(str(archive), "handlers", "job/source/sourcedir.tar.gz")
    base = tmp_path / "ml"
    env = _handlers_env("s3://handlers/job/source/sourcedir.tar.gz")
    with ServeProcess(_scale_model(tmp_path / "model"), base, env) as server:
        answer = _post(server, b"x", "text/plain")
        assert Path(answer.text).resolve() == (base / "code" / "inference.py").resolve()
    missing = _handlers_env("s3://handlers/job/source/nothing.tar.gz")
    returncode, log = _serve_to_the_end(tmp_path / "ml2", missing)
    errors = _start_errors(log)
    assert returncode == 1 and len(errors) == 1, log
    assert "Cannot download the source directory s3://handlers/job/source/nothing.tar.gz" \
        in errors[0]


def test_requirements_are_installed_once_at_start(tmp_path):
    """In a throwaway virtualenv that sees the test's packages: pip installs a package from a
    local directory (nothing is downloaded), once, in the master, before two workers fork."""
    bin_dir = venv.make(tmp_path / "venv")
    site_packages = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    code = _write(tmp_path / "code", **{
        "requirements.txt": "./tinypkg\n",
        "tinypkg__pyproject.toml": """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "byoc-test-tinypkg"
            version = "1.0"

            [tool.setuptools]
            py-modules = ["byoc_test_tinypkg"]
        """,
        "tinypkg__byoc_test_tinypkg.py": "ANSWER = 'from the requirements'\n",
        "inference.py": """
            import byoc_test_tinypkg


            def model_fn(model_dir):
                return byoc_test_tinypkg.ANSWER


            def transform_fn(model, input_data, content_type, accept):
                return model
        """,
    })
    env = venv.env(bin_dir, exe_env(**_handlers_env(code, SAGEMAKER_MODEL_SERVER_WORKERS="2")))
    with ServeProcess(_scale_model(tmp_path / "model"), tmp_path / "ml", env) as server:
        for _ in range(4):
            assert _post(server, b"x", "text/plain").text == "from the requirements"
        log = server.log()
    assert log.count(f"Installing {code / 'requirements.txt'}") == 1, log
    assert log.index("Successfully installed byoc-test-tinypkg") < log.index("Booting worker")
    assert list(site_packages.glob("byoc_test_tinypkg*"))
    assert not list(Path(sysconfig.get_paths()["purelib"]).glob("byoc_test_tinypkg*"))


# --- byoc's own handlers over byoc's model ------------------------------------------------------


INPUT_FN_ONLY = """
    import json

    import numpy as np


    def input_fn(input_data, content_type):
        return np.asarray(json.loads(input_data)["pixels"], dtype=np.uint8)
"""

OUTPUT_FN_ONLY = """
    import json


    def output_fn(prediction, accept):
        return json.dumps({"shape": list(prediction.shape),
                           "best": prediction.argmax(axis=1).tolist(),
                           "sums": prediction.sum(axis=1).tolist()}), "application/json"
"""


@pytest.fixture(scope="module")
def reference(trained_model_dir) -> Predictor:
    """byoc's predictor on the same bundle, in this process: what the server must agree with."""
    return Predictor.load(trained_model_dir, runtime=runtimes.LITERT)


def _pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_input_fn_alone_feeds_byocs_predictor_and_encoders(trained_model_dir, reference,
                                                           tmp_path):
    code = _write(tmp_path / "code", **{"inference.py": INPUT_FN_ONLY})
    env = _handlers_env(code, **{runtimes.RUNTIME_ENV: runtimes.LITERT,
                                 "BYOC_MAX_INSTANCES_PER_REQUEST": "4"})
    spec = ModelSpec.read(trained_model_dir)
    pixels = _pixels(3)
    with ServeProcess(trained_model_dir, tmp_path / "ml", env) as server:
        answer = _post(server, json.dumps({"pixels": pixels.tolist()}), "application/json",
                       **{CUSTOM_ATTRIBUTES_HEADER: "top_k=2"})
        assert answer.status_code == 200, answer.text
        assert answer.headers[runtimes.RUNTIME_HEADER] == runtimes.LITERT
        predictions = answer.json()["predictions"]
        expected = reference.predict(pixels).argmax(axis=1)
        assert [p["class_id"] for p in predictions] == expected.tolist()
        assert [p["label"] for p in predictions] == [spec.class_names[i] for i in expected]
        assert all(len(p["top_k"]) == 2 for p in predictions)
        # What input_fn returned is checked as byoc's decoders check a batch.
        wrong = _post(server, json.dumps({"pixels": _pixels(1)[:, :16].tolist()}),
                      "application/json")
        assert wrong.status_code == 400 and "Expected an array of shape" in wrong.json()["error"]
        too_many = _post(server, json.dumps({"pixels": _pixels(5).tolist()}), "application/json")
        assert too_many.status_code == 413 and "at most 4" in too_many.json()["error"]
        assert "byoc's own model_fn, predict_fn, output_fn" in server.log()


def test_output_fn_alone_gets_byocs_probabilities(trained_model_dir, reference, tmp_path):
    code = _write(tmp_path / "code", **{"inference.py": OUTPUT_FN_ONLY})
    env = _handlers_env(code, **{runtimes.RUNTIME_ENV: runtimes.LITERT})
    image = _pixels(1, seed=4)[0]
    png = io.BytesIO()
    Image.fromarray(image).save(png, "PNG")
    with ServeProcess(trained_model_dir, tmp_path / "ml", env) as server:
        answer = _post(server, png.getvalue(), "image/png", "text/plain")
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["shape"] == [1, ModelSpec.read(trained_model_dir).num_classes]
        assert got["best"] == reference.predict(image[None]).argmax(axis=1).tolist()
        assert got["sums"][0] == pytest.approx(1, abs=1e-3)
        # byoc's decoders refuse what they cannot read, before any handler runs.
        assert _post(server, b"x", "text/plain").status_code == 415


# --- multi-model -------------------------------------------------------------------------------


MODEL_OWN_CODE = """
    import json


    def model_fn(model_dir):
        with open(f"{model_dir}/scale.json") as f:
            return json.load(f)["scale"]


    def transform_fn(model, input_data, content_type, accept):
        return json.dumps({"scaled": [model * x for x in json.loads(input_data)],
                           "module": __name__})
"""


def test_each_multi_model_model_is_served_with_its_own_handlers(tmp_path):
    root = tmp_path / "models"
    for name, scale in (("alpha", 2), ("beta", 10)):
        _write(_scale_model(root / name, scale) / "code", **{"inference.py": MODEL_OWN_CODE})
    _write(_scale_model(root / "broken") / "code",
           **{"inference.py": "raise RuntimeError('broken on purpose')\n"})
    env = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    with ServeProcess(root, tmp_path / "ml", env, link="models") as server:
        def invoke(name: str) -> requests.Response:
            return requests.post(f"{server.url}/models/{name}/invoke", data="[1, 2]", timeout=60,
                                 headers={"Content-Type": "application/json", **CLOSE})

        for name in ("alpha", "beta"):
            loaded = requests.post(f"{server.url}/models", timeout=60, headers=CLOSE,
                                   json={"model_name": name, "url": name})
            assert loaded.status_code == 200, loaded.text
        modules = {}
        # Both workers answer in turn, the second importing each model's code on first use.
        for _ in range(8):
            for name, want in (("alpha", [2, 4]), ("beta", [10, 20])):
                answer = invoke(name)
                assert answer.status_code == 200, answer.text
                assert answer.json()["scaled"] == want
                assert answer.headers[runtimes.RUNTIME_HEADER] == runtimes.CUSTOM
                modules.setdefault(name, set()).add(answer.json()["module"])
        assert not modules["alpha"] & modules["beta"]  # two inference.py, two module names
        broken = requests.post(f"{server.url}/models", timeout=60, headers=CLOSE,
                               json={"model_name": "broken", "url": "broken"})
        assert broken.status_code == 400
        assert "RuntimeError: broken on purpose" in broken.json()["error"]
        listed = requests.get(f"{server.url}/models", timeout=5, headers=CLOSE).json()["models"]
        assert [m["modelName"] for m in listed] == ["alpha", "beta"]
        unloaded = requests.delete(f"{server.url}/models/alpha", timeout=30, headers=CLOSE)
        assert unloaded.status_code == 200
        assert invoke("alpha").status_code == 404
        assert invoke("beta").json()["scaled"] == [10, 20]
