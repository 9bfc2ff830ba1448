"""A run of the CPU image's `train`, beside the process-mode run it is compared with."""

from __future__ import annotations

import json

import pytest

from byoc.driver.local import layout


@pytest.fixture(scope="session")
def container_run(image, trained_run, synth_data_dir, tmp_path_factory):
    """`IMAGE train` with the data and hyperparameters of the shared process-mode run
    (`trained_run`), so the two can be compared: (output dir, exit code, log lines)."""
    from byoc.driver.local import docker

    hps = json.loads(trained_run[0].hyperparameters_file.read_text())
    out = tmp_path_factory.mktemp("docker_train")
    lines: list[str] = []
    code = docker.train(image, layout.split_channel_dirs(synth_data_dir), out, hps,
                        stream=lines.append)
    return out, code, lines
