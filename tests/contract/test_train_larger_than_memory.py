"""`train` on an image set larger than the memory it may use: `input_mode=auto` streams it, the
run finishes with its memory flat, and the report covers every test image.

The set is cheap to make at any size (hard links to a few small PNGs, `linked_channels`): what
it costs `train` is what it decodes, every file resized to `image_size`. In process mode nothing
can limit this machine's memory for one test, so `BYOC_MEMORY_LIMIT` tells `train` how much it
may count on, and the test compares the peak RSS the kernel recorded for a small and a large
set: flat means the 5,500 more images do not show in it. In Docker the container gets a real
memory limit (`--memory-per-instance`), which kills it if it goes over.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from byoc import contract
from byoc.driver.local import docker, layout
from tests.support.data import linked_channels, tiny_folders
from tests.support.executables import TRAIN_EXE, exe_env

pytestmark = pytest.mark.slow

SIZE = 224
DECODED = SIZE * SIZE * 3  # bytes per image once decoded at the training size
MIB = 2**20
# A network that costs about one operation per pixel: what is measured is the input pipeline's
# memory, and a convolution over every pixel would make each image cost seconds here.
MODEL_PY = """
import keras


def build_model(input_shape, num_classes, hp):
    return keras.Sequential([keras.Input(input_shape), keras.layers.AveragePooling2D(16),
                             keras.layers.Flatten(),
                             keras.layers.Dense(num_classes, activation="softmax")])
"""
HPS = {"epochs": 1, "batch_size": 32, "image_size": SIZE, "model": "model:build_model",
       "seed": 3, "input_mode": "auto"}
# Runs the real `train` as its child and prints the child's peak RSS (kB, as the kernel keeps it).
PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.py").write_text(MODEL_PY)
    return source


def _test_count(out: Path) -> int:
    """How many test images the report counts: the support column of per_class_test.csv."""
    with open(out / "per_class_test.csv") as f:
        return sum(int(row["support"]) for row in csv.DictReader(f))


def _images(counts: dict[str, int]) -> int:
    return sum(counts.values())


def _process_run(tmp_path: Path, name: str, counts: dict[str, int], limit: int) -> int:
    """`train` over a linked set under BYOC_MEMORY_LIMIT; return its peak RSS in bytes."""
    channels = linked_channels(tmp_path / name / "data", counts)
    root = tmp_path / name / "opt_ml"
    layout.prepare(root, channels, {**HPS, "sagemaker_submit_directory": _source(tmp_path / name)})
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(TRAIN_EXE)], capture_output=True, text=True,
        env=exe_env(SAGEMAKER_BASE_DIR=str(root), **{contract.MEMORY_LIMIT_ENV: str(limit)}),
        timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert (f"Streaming the channels: {_images(counts)} images decode to "
            f"{_images(counts) * DECODED / 1e9:.2f} GB, more than 25% of the "
            f"{limit / 1e9:.2f} GB of memory available") in log
    assert _test_count(contract.Paths(root).output_data_dir) == counts["test"]
    return int(result.stdout.strip().splitlines()[-1]) * 1024


def test_process_mode_streams_a_set_larger_than_its_memory_with_flat_rss(tmp_path):
    limit = 256 * MIB
    small = {"train": 128, "validation": 32, "test": 500}
    large = {**small, "test": 6000}
    assert _images(large) * DECODED > 3 * limit  # 0.93 GB decoded against 0.27 GB
    peaks = [_process_run(tmp_path, name, counts, limit)
             for name, counts in (("small", small), ("large", large))]
    # In memory, the 5,500 more images would add 0.83 GB of arrays (and tf.data's copy of them).
    added = (_images(large) - _images(small)) * DECODED
    grew = peaks[1] - peaks[0]
    assert grew < added / 4, f"peak RSS {peaks[0] / MIB:.0f} -> {peaks[1] / MIB:.0f} MiB"


@pytest.mark.docker
def test_docker_mode_streams_a_set_larger_than_the_container_memory(image, tmp_path):
    limit = "1g"
    counts = {"train": 128, "validation": 32, "test": 8000}
    assert _images(counts) * DECODED > 1.1 * 2**30  # 1.23 GB decoded in a 1 GiB container
    channels = linked_channels(tmp_path / "data", counts)
    lines: list[str] = []
    code = docker.train(image, channels, tmp_path / "out",
                        {**HPS, "sagemaker_submit_directory": docker.CONTAINER_CODE_DIR},
                        stream=lines.append, memory=limit, code_dir=_source(tmp_path))
    log = "\n".join(lines)
    assert code == 0, log[-4000:]
    assert (f"Streaming the channels: {_images(counts)} images decode to 1.23 GB, more than 25% "
            "of the 1.07 GB of memory available") in log  # the container's limit, seen inside
    assert _test_count(contract.Paths(tmp_path / "out").output_data_dir) == counts["test"]


@pytest.mark.docker
def test_a_container_over_its_memory_limit_fails_with_a_reason(image, tmp_path):
    # TensorFlow alone needs more than 200 MB: the kernel kills `train`, which can write nothing.
    data = tiny_folders(tmp_path / "data", classes=2, per_class=4)
    code = docker.train(image, {"train": data}, tmp_path / "out", {"epochs": 1},
                        stream=lambda line: None, memory="200m")
    assert code == 137  # SIGKILL
    reason = contract.Paths(tmp_path / "out").failure_file.read_text()
    assert reason.startswith("OutOfMemoryError: the training container used more than its "
                             "--memory-per-instance limit (200m) and was killed.")
    assert "input_mode=stream" in reason
    with tarfile.open(tmp_path / "out" / layout.OUTPUT_ARCHIVE) as tar:
        assert "failure" in tar.getnames()
