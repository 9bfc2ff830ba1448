"""`--gpus` against the real Docker engine: the device request reaches each container's HostConfig
(read from the engine's own inspect, between create and start), and an engine without the NVIDIA
runtime gives a byoc error that says what to do, with nothing left behind.

This machine has no GPU and no NVIDIA Container Toolkit, which is what lets the refusal be tested
for real. What a GPU would add (the container seeing /dev/nvidiaN) cannot be tested here; the
image's driver check (tests/unit/test_gpu.py) covers what the container does with it.
"""

from __future__ import annotations

import os
import shutil

import pytest

from byoc.driver.local import docker as docker_mode
from byoc.driver.local import layout
from byoc.errors import UserError

# Any small local image will do: no container here gets as far as running its command.
TINY_IMAGE = os.environ.get("BASE_IMAGE", "local/debian:bookworm")


@pytest.fixture
def created(engine, monkeypatch):
    """{container name: HostConfig.DeviceRequests} for every container byoc creates, as the
    real engine reports it before the container starts. The engine does the work; this only
    reads what it was given."""
    import docker

    if "nvidia" in engine.info().get("Runtimes", {}) or shutil.which(
            "nvidia-container-runtime-hook"):
        pytest.skip("this engine has the NVIDIA runtime: it would hand out GPUs, not refuse")
    try:
        engine.images.get(TINY_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"no {TINY_IMAGE} image; set BASE_IMAGE to a local image")
    seen: dict[str, list | None] = {}
    real_create = docker.models.containers.ContainerCollection.create

    def create(self, *args, **kwargs):
        container = real_create(self, *args, **kwargs)
        container.reload()
        seen[container.name] = container.attrs["HostConfig"]["DeviceRequests"]
        return container

    monkeypatch.setattr(docker.models.containers.ContainerCollection, "create", create)
    monkeypatch.setattr(docker_mode, "client", lambda: engine)
    yield seen
    left = [name for name in seen
            if engine.containers.list(all=True, filters={"name": f"^/{name}$"})]
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def channels(tmp_path):
    train = tmp_path / "data" / "train" / "a"
    train.mkdir(parents=True)
    (train / "x.png").write_bytes(b"")
    return {"train": tmp_path / "data" / "train"}


def _requests(seen: dict, prefix: str) -> dict[str, list]:
    return {name: value for name, value in seen.items() if name.startswith(prefix)}


def test_train_asks_for_every_gpu_and_says_to_install_the_toolkit(created, channels, tmp_path):
    with pytest.raises(UserError) as refused:
        docker_mode.train(TINY_IMAGE, channels, tmp_path / "run", {}, gpus="all")
    message = str(refused.value)
    assert "could not select device driver" in message  # the engine's own words
    assert "NVIDIA Container Toolkit" in message and "drop --gpus" in message
    [request] = _requests(created, "byoc-train-").values()
    assert request == [{"Driver": "", "Count": -1, "DeviceIDs": [],
                        "Capabilities": [["gpu"]], "Options": {}}]


def test_serve_asks_for_the_listed_devices(created, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    code = tmp_path / "code"  # with handlers of its own, the model needs no byoc bundle
    code.mkdir()
    with pytest.raises(UserError, match="NVIDIA Container Toolkit"):
        docker_mode.start(TINY_IMAGE, model, None, gpus="device=0,1", code_dir=code)
    [request] = _requests(created, "byoc-serve-").values()
    assert request == [{"Driver": "", "Count": 0, "DeviceIDs": ["0", "1"],
                        "Capabilities": [["gpu"]], "Options": {}}]


def test_each_host_of_a_cluster_gets_gpus_of_its_own(created, engine, channels, tmp_path):
    networks = {n.name for n in engine.networks.list()}
    with pytest.raises(UserError, match="NVIDIA Container Toolkit"):
        docker_mode.train(TINY_IMAGE, channels, tmp_path / "run", {}, gpus=1,
                          instance_count=2)
    hosts = _requests(created, "byoc-train-")
    by_host = {name.split("-", 3)[-1]: value for name, value in hosts.items()}
    assert sorted(by_host) == list(layout.host_names(2))
    assert [by_host[h][0]["DeviceIDs"] for h in layout.host_names(2)] == [["0"], ["1"]]
    assert {n.name for n in engine.networks.list()} == networks  # the job's network is gone
