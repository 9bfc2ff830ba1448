"""The multi-model server's shared registry, without a server: a load whose worker died."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from byoc.serving import codecs
from byoc.serving.registry import LOADING, MemoryBudget, Registry

MB = 1 << 20


@pytest.fixture
def registry():
    registry = Registry.create(MemoryBudget(budget_bytes=10 * MB, reserve_bytes=0, explicit=True))
    yield registry
    import shutil

    shutil.rmtree(registry.root, ignore_errors=True)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def _reserve_in_a_child_that_dies(registry: Registry, name: str) -> int:
    """A real process reserves `name` and exits without cleaning up, as a worker SIGKILLed
    mid-load does; it is left a zombie (not reaped) for the caller."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: reserve, say so, and vanish without any cleanup
        try:
            registry.reserve(name, name, Path("/x"), "litert", 8 * MB)
            os.write(write_end, b"1")
        finally:
            os._exit(0)
    os.close(write_end)
    assert os.read(read_end, 1) == b"1"
    os.close(read_end)
    while _state(pid) != "Z":  # exited, not yet reaped: what the master sees for a moment
        pass
    return pid


def test_a_reader_clears_a_load_whose_worker_died_even_before_it_is_reaped(registry):
    pid = _reserve_in_a_child_that_dies(registry, "m")
    try:
        assert (registry.root / "models" / "m.json").exists()
        assert registry.get("m") is None
        assert registry.reserved_bytes() == 0
        entry = registry.reserve("m", "m", Path("/x"), "litert", 8 * MB)  # fits the budget again
        assert entry.state == LOADING and entry.loader == os.getpid()
    finally:
        os.waitpid(pid, 0)


def test_the_master_hook_clears_the_loads_of_an_exited_worker(registry):
    pid = _reserve_in_a_child_that_dies(registry, "m")
    os.waitpid(pid, 0)
    registry.abandon_loads_of(pid)
    assert not (registry.root / "models" / "m.json").exists()


@pytest.mark.parametrize("name", ["a" * 201, "a\x00b", "..", "a/b", ".x"])
def test_every_registry_lookup_checks_the_name(registry, name):
    for call in (registry.get, registry.remove):
        with pytest.raises(codecs.RequestError, match="is not valid") as info:
            call(name)
        assert info.value.status == 400 and len(str(info.value)) < 300
