"""The multi-model registry on its own: names, urls, the memory budget and the shared directory.

The HTTP API over it, with real workers, is in tests/contract/test_multi_model.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from byoc.errors import UserError
from byoc.serving import runtime as runtimes
from byoc.serving.codecs import RequestError
from byoc.serving.registry import (
    MB,
    MEMORY_ENV,
    READY,
    MemoryBudget,
    ModelConflict,
    ModelNotFound,
    NotEnoughMemory,
    Registry,
    check_name,
    check_url,
    estimate_bytes,
    memory_available,
    memory_limit,
)
from byoc.serving.server import ServerSettings


@pytest.fixture
def registry():
    reg = Registry.create(MemoryBudget.from_env({MEMORY_ENV: "100"}))
    yield reg
    import shutil

    shutil.rmtree(reg.root)


def test_model_names_that_could_escape_their_file_are_refused():
    for good in ("signs", "model-1.tar.gz", "a_b+c=d@e:f,g~h"):
        assert check_name(good) == good
    for bad in ("", None, "a/b", "..", "a..b", "../x", ".", "x" * 201, "a b", "ä"):
        with pytest.raises(RequestError):
            check_name(bad)


def test_urls_must_stay_below_the_models_root_even_through_a_symlinked_root(tmp_path):
    real = tmp_path / "real"
    (real / "m").mkdir(parents=True)
    (real / "f").write_text("x")
    link = tmp_path / "models"
    link.symlink_to(real, target_is_directory=True)
    # Every way of naming the bundle resolves to where it is: a link cannot point elsewhere.
    for url in ("m", str(link / "m"), str(real / "m")):
        assert check_url(url, link) == (real / "m").resolve()
    for url, reason in (("../other", "outside"), ("/etc", "outside"), ("m/../../x", "outside"),
                        ("nope", "no such directory"), ("f", "is a file"), ("", "missing")):
        with pytest.raises(RequestError, match=reason):
            check_url(url, link)


def test_the_memory_estimate_grows_with_the_file_and_the_workers(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"\0" * MB)
    one, two = (estimate_bytes(tmp_path, runtimes.LITERT, w) for w in (1, 2))
    assert one > MB and two == 2 * one


def test_memory_is_read_from_the_system():
    assert 0 < memory_available() <= memory_limit()
    budget = MemoryBudget.from_env({})
    assert not budget.explicit and 0 < budget.budget_bytes < memory_limit()
    for bad in ("0", "x", "-5"):
        with pytest.raises(UserError, match=MEMORY_ENV):
            MemoryBudget.from_env({MEMORY_ENV: bad})


def test_reserve_publish_remove_with_409_404_and_507(registry, tmp_path):
    entry = registry.reserve("a", "a", tmp_path, runtimes.LITERT, 60 * MB)
    with pytest.raises(ModelConflict, match="being loaded"):
        registry.reserve("a", "a", tmp_path, runtimes.LITERT, MB)
    with pytest.raises(ModelConflict, match="being loaded"):
        registry.remove("a")
    registry.publish(entry)
    assert registry.get("a").state == READY
    with pytest.raises(ModelConflict, match="already loaded"):
        registry.reserve("a", "a", tmp_path, runtimes.LITERT, MB)
    with pytest.raises(NotEnoughMemory, match="60 MB of the 100 MB"):
        registry.reserve("b", "b", tmp_path, runtimes.LITERT, 50 * MB)
    assert registry.get("b") is None  # nothing reserved by a refused load
    registry.remove("a")
    with pytest.raises(ModelNotFound):
        registry.remove("a")
    assert registry.reserve("b", "b", tmp_path, runtimes.LITERT, 50 * MB).name == "b"
    assert [e.name for e in registry.entries()] == ["b"]


def test_holders_are_live_workers_only(registry, tmp_path):
    entry = registry.publish(registry.reserve("a", "a", tmp_path, runtimes.LITERT, MB))
    dead = _exited_pid()
    registry.hold(entry, os.getpid())
    registry.hold(entry, dead)
    assert registry.holders(entry) == {os.getpid()}
    registry.release(entry, os.getpid())
    assert registry.holders(entry) == set()


def _exited_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_multi_model_mode_is_read_from_sagemaker_multi_model():
    assert ServerSettings.from_env({"SAGEMAKER_MULTI_MODEL": "true"}).multi_model
    assert ServerSettings.from_env({"SAGEMAKER_MULTI_MODEL": "TRUE"}).multi_model
    assert not ServerSettings.from_env({}).multi_model
    assert not ServerSettings.from_env({"SAGEMAKER_MULTI_MODEL": "false"}).multi_model
