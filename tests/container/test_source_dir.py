"""`byoc local train --image` with the user's own script: the source directory mounted read-only
at /opt/ml/code and named there, as SDK local mode does, and the script run by the image's
`train` (this needs the container side of the user-code contract)."""

from __future__ import annotations

import json
import tarfile

import pytest

from byoc import contract
from byoc.driver.local import layout
from tests.support.data import tiny_folders

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCRIPT = """\
import json
import os
import sys
from pathlib import Path

import helper

Path(os.environ["SM_MODEL_DIR"], "ran.json").write_text(json.dumps({
    "argv": sys.argv[1:], "helper": helper.VALUE, "module_dir": os.environ["SM_MODULE_DIR"],
}))
"""


def test_local_train_in_docker_runs_the_script_from_a_read_only_mount(image, tmp_path, capfd):
    from byoc.cli import main

    data = tiny_folders(tmp_path / "data", classes=2, per_class=2)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    (src / "helper.py").write_text("VALUE = 7\n")
    before = sorted(p.name for p in src.iterdir())
    run = tmp_path / "run"

    assert main(["local", "train", "--image", image, "--data", str(data), "--output", str(run),
                 "--source-dir", str(src), "--entry-point", "train.py", "--hp",
                 "epochs=2"]) == 0, capfd.readouterr().out[-3000:]

    hps = json.loads(contract.Paths(run).hyperparameters_file.read_text())
    assert hps["sagemaker_submit_directory"] == '"/opt/ml/code"'
    assert hps["sagemaker_program"] == '"train.py"'
    with tarfile.open(run / layout.MODEL_ARCHIVE) as tar:
        ran = json.loads(tar.extractfile("ran.json").read())
    assert ran["argv"] == ["--epochs", "2"] and ran["helper"] == 7
    assert ran["module_dir"] == "/opt/ml/code"
    # Read-only: the container left nothing in the user's directory (no root-owned caches).
    assert sorted(p.name for p in src.iterdir()) == before
