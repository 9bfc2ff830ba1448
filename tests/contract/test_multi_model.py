"""The real `serve` with SAGEMAKER_MULTI_MODEL=true, under real gunicorn on loopback.

Two bundles come from the real `train` on two different class sets (3 colour classes; the 43
synthetic signs), and a third is a copy of the first under another name. Predictions are checked
against the single-model server on the same bundles; nothing is mocked.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from byoc.bundle import SPEC_FILE, ModelSpec, litert
from byoc.contract import CUSTOM_ATTRIBUTES_HEADER, TARGET_MODEL_HEADER
from byoc.serving import runtime as runtimes
from byoc.serving.registry import LOADING, MEMORY_ENV, estimate_bytes
from tests.support.executables import exe_env
from tests.support.serving import (
    Output,
    ServeProcess,
    as_at_a_terminal,
    fill_models_root,
    free_port,
    worker_pids,
)

WORKERS = 2  # a load reaches one worker; the others must answer for the model too


@pytest.fixture(scope="module")
def models_root(tmp_path_factory, trained_model_dir, three_class_model_dir) -> Path:
    """/opt/ml/models as SageMaker fills it: one extracted bundle per directory. "signs" is the
    session's 43-class model, "three" a 3-class one, "three-copy" its copy."""
    return fill_models_root(tmp_path_factory.mktemp("mme") / "models", trained_model_dir,
                            three_class_model_dir)


def _mme(models_root: Path, base: Path, **env: str) -> ServeProcess:
    return ServeProcess(models_root, base, {
        "SAGEMAKER_MULTI_MODEL": "true",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS),
        runtimes.RUNTIME_ENV: runtimes.LITERT,
        **env,
    }, link="models")


@pytest.fixture(scope="module")
def server(models_root, tmp_path_factory):
    with _mme(models_root, tmp_path_factory.mktemp("serve")) as proc:
        yield proc


@pytest.fixture(scope="module")
def single(models_root, tmp_path_factory):
    """The single-model server on each trained bundle: the reference for predictions."""
    servers = {}
    try:
        for name in ("three", "signs"):
            servers[name] = ServeProcess(models_root / name, tmp_path_factory.mktemp(name), {
                runtimes.RUNTIME_ENV: runtimes.LITERT}).start()
        yield servers
    finally:
        for proc in servers.values():
            proc.stop()


def _load(server, name: str, url: str) -> requests.Response:
    return requests.post(f"{server.url}/models", json={"model_name": name, "url": url},
                         timeout=120)


def _npy(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()


def _batch(seed: int = 0, n: int = 5) -> bytes:
    return _npy(np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))


def _post(url: str, body: bytes = b"", **headers: str) -> requests.Response:
    return requests.post(url, data=body, timeout=60, headers={
        "Content-Type": "application/x-npy", "Accept": "application/x-npy", **headers})


def _invoke(server, name: str, body: bytes = b"", **headers: str) -> requests.Response:
    return _post(f"{server.url}/models/{name}/invoke", body or _batch(), **headers)


def _registry_dir(server) -> Path:
    return Path(re.search(r"registry (\S+)", server.log()).group(1))


def _held(server) -> list[str]:
    """The registry's markers: which worker holds which model in memory."""
    held = _registry_dir(server) / "held"
    return sorted(str(p.relative_to(held)) for p in held.rglob("*") if p.is_file())


def _cleanup(server, *names: str) -> None:
    for name in names:
        requests.delete(f"{server.url}/models/{name}", timeout=30)


# --- start-up --------------------------------------------------------------------------------


def test_ping_and_list_answer_with_no_model_loaded(server):
    assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200
    listing = requests.get(f"{server.url}/models", timeout=5)
    assert listing.status_code == 200 and listing.json() == {"models": []}
    refused = _post(f"{server.url}/invocations", _batch())
    assert refused.status_code == 404 and "/models/<name>/invoke" in refused.json()["error"]


# --- load, invoke, list, delete ----------------------------------------------------------------


def test_three_bundles_predict_as_the_single_model_server(server, single, models_root):
    for name in ("three", "signs", "three-copy"):
        loaded = _load(server, name, str(models_root / name))
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["modelName"] == name
    try:
        for name, reference in (("three", "three"), ("signs", "signs"), ("three-copy", "three")):
            body = _batch(seed=len(name))
            # Many requests, so that both workers answer, each loading from the registry.
            for _ in range(3 * WORKERS):
                got = _invoke(server, name, body, **{TARGET_MODEL_HEADER: f"{name}.tar.gz"})
                want = _post(f"{single[reference].url}/invocations", body)
                assert got.status_code == 200, got.text
                np.testing.assert_array_equal(np.load(io.BytesIO(got.content)),
                                              np.load(io.BytesIO(want.content)))
            # The other codecs and headers behave as /invocations does.
            headers = {"Accept": "text/csv", CUSTOM_ATTRIBUTES_HEADER: "top_k=2"}
            got = _invoke(server, name, body, **headers)
            want = _post(f"{single[reference].url}/invocations", body, **headers)
            assert got.content == want.content
            assert got.headers["Content-Type"].startswith("text/csv")
            assert got.headers[runtimes.RUNTIME_HEADER] == runtimes.LITERT
            bad = _invoke(server, name, body, **{CUSTOM_ATTRIBUTES_HEADER: "top_k=0"})
            assert bad.status_code == 400
            assert bad.json() == _post(f"{single[reference].url}/invocations", body,
                                       **{CUSTOM_ATTRIBUTES_HEADER: "top_k=0"}).json()
            unsupported = _invoke(server, name, b"x", **{"Content-Type": "text/plain"})
            assert unsupported.status_code == 415
            for refused in (bad, unsupported):
                assert refused.headers[runtimes.RUNTIME_HEADER] == runtimes.LITERT
        labels = {name: _invoke(server, name, Accept="application/json").json()
                  ["predictions"][0]["label"] for name in ("three", "signs")}
        assert labels["three"] in ModelSpec.read(models_root / "three").class_names
        assert labels["signs"] in ModelSpec.read(models_root / "signs").class_names
        assert f"{TARGET_MODEL_HEADER}: three-copy.tar.gz" in server.log()
        # Every worker serves every model: each loads it, eagerly or from the registry. Which
        # worker accepts a connection is the kernel's choice, so keep asking until both have.
        for _ in range(100):
            if len(_held(server)) == 3 * WORKERS:
                break
            for name in ("three", "signs", "three-copy"):
                assert _invoke(server, name).status_code == 200
        assert len(_held(server)) == 3 * WORKERS, _held(server)
    finally:
        _cleanup(server, "three", "signs", "three-copy")


def test_409_404_pagination_and_delete(server, models_root):
    for name in ("three", "signs", "three-copy"):
        assert _load(server, name, name).status_code == 200  # a url relative to the root
    try:
        again = _load(server, "three", "three")
        assert again.status_code == 409 and "already loaded" in again.json()["error"]
        assert requests.get(f"{server.url}/models/three", timeout=5).json() == {
            "modelName": "three", "modelUrl": "three"}
        for method in ("get", "delete"):
            missing = requests.request(method, f"{server.url}/models/nope", timeout=5)
            assert missing.status_code == 404 and "'nope' is not loaded" in missing.json()["error"]
        assert _invoke(server, "nope").status_code == 404

        first = requests.get(f"{server.url}/models", params={"limit": 2}, timeout=5).json()
        assert [m["modelName"] for m in first["models"]] == ["signs", "three"]
        second = requests.get(f"{server.url}/models", timeout=5, params={
            "limit": 2, "next_page_token": first["nextPageToken"]}).json()
        assert second == {"models": [{"modelName": "three-copy", "modelUrl": "three-copy"}]}
        everything = requests.get(f"{server.url}/models", timeout=5).json()
        assert len(everything["models"]) == 3 and "nextPageToken" not in everything
        # SageMaker's walk: no token first, then each page's nextPageToken until none comes.
        walked, params = [], {"limit": 1}
        while True:
            page = requests.get(f"{server.url}/models", params=params, timeout=5).json()
            walked += [m["modelName"] for m in page["models"]]
            if "nextPageToken" not in page:
                break
            params["next_page_token"] = page["nextPageToken"]
        assert walked == ["signs", "three", "three-copy"]
        assert requests.get(f"{server.url}/models", params={"next_page_token": "%%%"},
                            timeout=5).status_code == 400

        for _ in range(2 * WORKERS):  # let more than one worker hold it
            assert _invoke(server, "three-copy").status_code == 200
        gone = requests.delete(f"{server.url}/models/three-copy", timeout=30)
        assert gone.status_code == 200
        # Every worker let go of it before DELETE answered.
        assert not [h for h in _held(server) if h.startswith("three-copy/")]
        assert requests.get(f"{server.url}/models/three-copy", timeout=5).status_code == 404
        after = _invoke(server, "three-copy")
        assert after.status_code == 404 and "not loaded" in after.json()["error"]
        assert _invoke(server, "three").status_code == 200  # the original is untouched
        # Loaded again under the same name after the delete.
        assert _load(server, "three-copy", "three-copy").status_code == 200
        assert _invoke(server, "three-copy").status_code == 200
    finally:
        _cleanup(server, "three", "signs", "three-copy")


def test_bad_loads_are_refused_with_a_reason(server, models_root, tmp_path):
    (models_root / "empty").mkdir(exist_ok=True)
    # Regression: the check was textual (normpath), so a symlink inside the root loaded a bundle
    # from anywhere.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(models_root / "three", elsewhere)
    escape = models_root / "escape"
    if not escape.is_symlink():
        escape.symlink_to(elsewhere, target_is_directory=True)
    future = models_root / "future"
    if not future.exists():
        shutil.copytree(models_root / "three", future)
        spec = json.loads((future / SPEC_FILE).read_text())
        (future / SPEC_FILE).write_text(json.dumps({**spec, "format_version": 99}))
    cases = [
        ({"model_name": "a"}, '"url" is missing'),
        ({"url": "three"}, '"model_name" is missing'),
        ({"model_name": "a/b", "url": "three"}, "without '/' or '..'"),
        ({"model_name": "..", "url": "three"}, "without '/' or '..'"),
        ({"model_name": "a", "url": "../../etc"}, "outside the models root"),
        ({"model_name": "a", "url": str(tmp_path)}, "outside the models root"),
        ({"model_name": "a", "url": "escape"}, "outside the models root"),
        ({"model_name": "a", "url": "escape/../three"}, "outside the models root"),
        ({"model_name": "a", "url": "missing"}, "no such directory"),
        ({"model_name": "a", "url": "empty"}, "not a byoc bundle"),
        ({"model_name": "a", "url": "future"}, "format version 99"),
    ]
    for body, reason in cases:
        got = requests.post(f"{server.url}/models", json=body, timeout=30)
        assert got.status_code == 400 and reason in got.json()["error"], (body, got.text)
    not_json = requests.post(f"{server.url}/models", data="x", timeout=5)
    assert not_json.status_code == 400 and "JSON object" in not_json.json()["error"]
    assert requests.get(f"{server.url}/models", timeout=5).json() == {"models": []}


# --- traffic during loads and unloads -----------------------------------------------------------


def test_loads_and_unloads_during_traffic_fail_no_request(server):
    assert _load(server, "three", "three").status_code == 200
    assert _load(server, "signs", "signs").status_code == 200
    stop = threading.Event()
    statuses: dict[str, list[int]] = {"three": [], "signs": [], "three-copy": []}

    def hammer(name: str) -> None:
        while not stop.is_set():
            got = _post(f"{server.url}/models/{name}/invoke", _batch(n=1))
            if got.status_code == 404:  # the model that comes and goes: a clear 404
                assert "not loaded" in got.json()["error"] or "unloaded" in got.json()["error"]
            statuses[name].append(got.status_code)

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(hammer, n) for n in ("three", "signs", "signs", "three-copy")]
            for _ in range(3):
                assert _load(server, "three-copy", "three-copy").status_code == 200
                assert _invoke(server, "three-copy").status_code == 200
                assert requests.delete(f"{server.url}/models/three-copy",
                                       timeout=30).status_code == 200
            stop.set()
            for future in futures:
                future.result()
    finally:
        stop.set()
        _cleanup(server, "three", "signs", "three-copy")
    assert statuses["three"] and set(statuses["three"]) == {200}
    assert statuses["signs"] and set(statuses["signs"]) == {200}
    assert set(statuses["three-copy"]) <= {200, 404}  # never a 5xx while it is deleted


# --- memory (507) and the TensorFlow runtime -----------------------------------------------------


def test_507_before_the_budget_is_exceeded_and_memory_returns_after_delete(
        models_root, single, tmp_path):
    """TensorFlow serves here (one worker); a budget that fits two of the models but not three
    forces the 507, and a delete gives the room back."""
    if not runtimes.tensorflow_installed():
        pytest.skip("TensorFlow is not installed")
    need = {name: estimate_bytes(models_root / name, runtimes.TENSORFLOW, workers=1)
            for name in ("three", "signs")}
    # Room for "three" and "signs", not for a second "three" as well.
    budget_mb = (need["three"] + need["signs"] + need["three"] // 2) // 2**20
    with _mme(models_root, tmp_path / "serve", **{
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1", runtimes.RUNTIME_ENV: runtimes.TENSORFLOW,
            MEMORY_ENV: str(budget_mb)}) as proc:
        assert _load(proc, "three", "three").status_code == 200
        assert _load(proc, "three-copy", "three-copy").status_code == 200
        full = _load(proc, "signs", "signs")
        assert full.status_code == 507, full.text
        assert "Not enough memory" in full.json()["error"] and MEMORY_ENV in full.json()["error"]
        assert requests.get(f"{proc.url}/models/signs", timeout=5).status_code == 404
        assert "Loaded model 'signs'" not in proc.log()  # refused before loading anything

        body = _batch(seed=3)
        got = _invoke(proc, "three", body)
        assert got.headers[runtimes.RUNTIME_HEADER] == runtimes.TENSORFLOW
        want = _post(f"{single['three'].url}/invocations", body)  # LiteRT
        np.testing.assert_allclose(np.load(io.BytesIO(got.content)),
                                   np.load(io.BytesIO(want.content)), atol=litert.MAX_PROB_DIFF)

        rss_loaded = _rss_mb(_worker_pid(proc))
        assert requests.delete(f"{proc.url}/models/three-copy", timeout=30).status_code == 200
        # The worker gave the model's memory back to the system before DELETE answered.
        rss_unloaded = _rss_mb(_worker_pid(proc))
        assert rss_unloaded < rss_loaded, (rss_loaded, rss_unloaded)
        assert _held(proc) == [f"three/{_generation(proc, 'three')}/{_worker_pid(proc)}"]
        fits = _load(proc, "signs", "signs")
        assert fits.status_code == 200, fits.text
        assert _invoke(proc, "signs").status_code == 200


# Regression: a worker killed (SIGKILL, as the OOM killer does) while loading a model left its
# entry in `loading` for good: POST /models and DELETE answered 409 for that name, and its
# memory estimate held the budget until the server restarted.
def test_regression_a_worker_killed_while_loading_frees_the_name_and_the_budget(
        models_root, tmp_path):
    if not runtimes.tensorflow_installed():
        pytest.skip("TensorFlow is not installed")
    need = estimate_bytes(models_root / "three", runtimes.TENSORFLOW, workers=1)
    with _mme(models_root, tmp_path / "serve", **{
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1", runtimes.RUNTIME_ENV: runtimes.TENSORFLOW,
            MEMORY_ENV: str(need * 3 // 2 // 2**20)}) as proc:  # room for one of the two
        entry_file = _registry_dir(proc) / "models" / "three.json"
        with ThreadPoolExecutor(1) as pool:
            # A worker's first TensorFlow load imports TensorFlow: seconds, a window to kill it.
            pending = pool.submit(_load, proc, "three", "three")
            loader = None
            while loader is None and not pending.done():
                try:
                    entry = json.loads(entry_file.read_text())
                    loader = entry["loader"] if entry["state"] == LOADING else None
                except (FileNotFoundError, ValueError):
                    pass
            assert loader is not None, "the load finished before it could be interrupted"
            os.kill(loader, signal.SIGKILL)
            with pytest.raises(requests.RequestException):
                pending.result()
        # The master starts a new worker; the other model fits the budget once the dead load's
        # estimate is released. Poll: the worker is replaced in its own time.
        answers = []
        for _ in range(120):
            try:
                answers.append(_load(proc, "three-copy", "three-copy").status_code)
            except requests.RequestException:
                answers.append(None)
            if answers[-1] == 200:
                break
            threading.Event().wait(0.5)
        assert answers[-1] == 200, (answers, proc.log()[-3000:])
        assert requests.get(f"{proc.url}/models/three", timeout=5).status_code == 404
        assert requests.delete(f"{proc.url}/models/three-copy", timeout=30).status_code == 200
        again = _load(proc, "three", "three")
        assert again.status_code == 200, again.text
        assert "died while loading" in proc.log()


def _generation(server, name: str) -> str:
    entry = json.loads((_registry_dir(server) / "models" / f"{name}.json").read_text())
    return entry["generation"]


def _worker_pid(server) -> int:
    (pid,) = worker_pids(server.proc.pid)
    return pid


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


# --- byoc local serve --multi-model ---------------------------------------------------------------


def test_local_serve_multi_model_in_process_mode(models_root, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "byoc.cli", "local", "serve", "--multi-model", "--model-dir",
         str(models_root), "--port", str(port), "--workers", "1"],
        env=exe_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=as_at_a_terminal)
    url, output = f"http://127.0.0.1:{port}", Output(proc)
    try:
        output.wait_for("Load:    curl")  # printed once the CLI's own /ping succeeded
        loaded = requests.post(f"{url}/models", json={"model_name": "s", "url": "signs"},
                               timeout=60)
        assert loaded.status_code == 200, loaded.text
        got = requests.post(f"{url}/models/s/invoke", data=_batch(), timeout=60,
                            headers={"Content-Type": "application/x-npy"})
        assert got.status_code == 200 and len(got.json()["predictions"]) == 5
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the CLI stops the server with SIGTERM
        out = output.finish()
    assert "no model loaded" in out, out[-3000:]
    assert "Stopping the server" in out


def test_local_serve_needs_one_model_or_a_model_dir(models_root, capsys):
    from byoc.cli import main

    for args in (["--multi-model"], ["--model-dir", str(models_root)],
                 ["--multi-model", "--model", str(models_root / "three"), "--model-dir", "x"], []):
        assert main(["local", "serve", *args]) == 2
        assert "--multi-model --model-dir DIR" in capsys.readouterr().err
