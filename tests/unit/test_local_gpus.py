"""`--gpus` for local Docker mode: the forms `docker run --gpus` takes, the request Docker gets, the
share each host of a multi-instance run gets, and every refusal, made before anything starts.
(What the engine does with the request is in tests/container/test_local_gpus.py.)"""

from __future__ import annotations

import re

import pytest

from byoc import cli
from byoc.driver.local import gpus
from byoc.driver.local.gpus import GpuRequest
from byoc.errors import UserError


def wire(value) -> list[dict]:
    """The device requests as they go over the Engine API."""
    return [dict(r) for r in gpus.parse(value).device_requests()]


def test_all_is_what_docker_run_gpus_all_sends():
    # `docker run --gpus all` sends exactly this HostConfig.DeviceRequests entry.
    assert wire("all") == [{"Driver": "", "Count": -1, "DeviceIDs": [],
                            "Capabilities": [["gpu"]], "Options": {}}]


@pytest.mark.parametrize("value", ["2", 2, " 2 "])
def test_a_count(value):
    assert wire(value) == [{"Driver": "", "Count": 2, "DeviceIDs": [],
                            "Capabilities": [["gpu"]], "Options": {}}]


@pytest.mark.parametrize("value", ["device=0,1", '"device=0,1"', "'device=0,1'", "DEVICE=0, 1"])
def test_device_ids_with_or_without_dockers_quotes(value):
    assert wire(value) == [{"Driver": "", "Count": 0, "DeviceIDs": ["0", "1"],
                            "Capabilities": [["gpu"]], "Options": {}}]


def test_gpu_uuids_are_device_ids_too():
    request = gpus.parse("device=GPU-3a2c1f,GPU-77b0e4")
    assert request.device_ids == ("GPU-3a2c1f", "GPU-77b0e4")
    assert request.describe() == "device=GPU-3a2c1f,GPU-77b0e4"


def test_none_is_no_gpu_and_a_request_passes_through():
    assert gpus.parse(None) is None
    request = GpuRequest(count=1)
    assert gpus.parse(request) is request


@pytest.mark.parametrize(("value", "message"), [
    ("0", "at least 1; to run without a GPU, drop --gpus"),
    ("-1", "at least 1"),
    ("two", "expected one of: all; N"),
    ("", "expected one of"),
    ("all,2", "expected one of"),
    ("count=2", "'count=' is not a form byoc takes"),
    ("capabilities=compute", "'capabilities=' is not a form"),
    ("device=", "an empty device id"),
    ("device=0,,1", "an empty device id"),
    ("device=1,1", "listed twice"),
    (True, "not a bool"),
])
def test_refusals(value, message):
    with pytest.raises(UserError, match=message):
        gpus.parse(value)


def test_one_host_keeps_the_request_as_given():
    for value in ("all", "2", "device=3"):
        assert gpus.parse(value).per_host(1) == [gpus.parse(value)]


def test_a_count_is_per_instance_and_no_two_hosts_share_a_gpu():
    assert [r.device_ids for r in gpus.parse("2").per_host(3)] == [
        ("0", "1"), ("2", "3"), ("4", "5")]


def test_device_ids_are_dealt_out_in_order():
    assert [r.device_ids for r in gpus.parse("device=0,1,2,3").per_host(2)] == [
        ("0", "1"), ("2", "3")]


def test_all_is_refused_for_several_instances():
    with pytest.raises(UserError, match="cannot share a GPU.*--gpus 1"):
        gpus.parse("all").per_host(2)


def test_device_ids_must_split_evenly():
    with pytest.raises(UserError, match="3 GPU\\(s\\) for 2 instances.*multiple of 2"):
        gpus.parse("device=0,1,2").per_host(2)


def test_the_engines_refusals_become_advice():
    no_runtime = gpus.refusal('could not select device driver "" with capabilities: [[gpu]]',
                              gpus.parse("all"))
    assert "NVIDIA Container Toolkit" in str(no_runtime) and "drop --gpus" in str(no_runtime)
    missing = gpus.refusal("failed to create shim: OCI runtime create failed: ... "
                           "nvidia-container-cli: device error: 3: unknown device",
                           gpus.parse("device=3"))
    assert "nvidia-smi -L" in str(missing) and "--gpus device=3" in str(missing)
    assert gpus.refusal("no such image", gpus.parse("all")) is None


@pytest.fixture
def dataset(tmp_path):
    (tmp_path / "data" / "train" / "a").mkdir(parents=True)
    (tmp_path / "data" / "train" / "a" / "x.png").write_bytes(b"")
    return tmp_path / "data"


# No engine is asked anything in these: the flag is refused before Docker is reached and before
# the output directory is laid out.
@pytest.mark.parametrize(("flags", "message"), [
    (["--image", "byoc:cpu", "--gpus", "0"], "at least 1"),
    (["--image", "byoc:cpu", "--gpus", "some"], "expected one of"),
    (["--gpus", "all"], "--gpus needs --image.*CUDA_VISIBLE_DEVICES"),
    (["--image", "byoc:cpu", "--instance-count", "2", "--gpus", "all"], "cannot share a GPU"),
    (["--image", "byoc:cpu", "--instance-count", "2", "--gpus", "device=0,1,2"],
     "multiple of 2"),
])
def test_local_train_refuses_before_anything_starts(dataset, tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert cli.main(["local", "train", "--data", str(dataset), "--output", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --gpus")
    assert re.search(message, err, re.S), err
    assert not out.exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--image", "byoc:cpu", "--gpus", "device="], "an empty device id"),
    (["--gpus", "1"], "--gpus needs --image"),
])
def test_local_serve_refuses_before_anything_starts(tmp_path, capsys, flags, message):
    model = tmp_path / "model"
    model.mkdir()
    assert cli.main(["local", "serve", "--model", str(model), *flags]) == 2
    assert message in capsys.readouterr().err
