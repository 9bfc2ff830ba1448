"""`byoc local train` and `byoc local serve` in process mode with the user's own code, end to end:
the real `train` and `serve` run a course-style script and user inference handlers, from the
directory given with --source-dir. A user model inside byoc's trainer, trained this way, is in
tests/contract/test_user_model.py.

The driver's share (what it writes and names) is tested without the container in
tests/unit/test_local_layout.py; these tests need the container side of the user-code contract
(the training script, the user model, the handlers) as well.
"""

from __future__ import annotations

import json
import shlex
import tarfile

import pytest

from byoc import contract
from byoc.driver.local import layout
from tests.support.data import tiny_folders
from tests.support.docs import code_block
from tests.support.executables import REPO
from tests.support.local_serve import handlers_and_model, post_once

# A script that knows nothing about byoc: the toolkit's arguments and SM_* variables, a helper
# module beside it, and a model of its own in SM_MODEL_DIR.
SCRIPT = """\
import argparse
import json
import os
from pathlib import Path

import helper

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--name")
args = parser.parse_args()
train = Path(os.environ["SM_CHANNEL_TRAIN"])
Path(os.environ["SM_MODEL_DIR"], "ran.json").write_text(json.dumps({
    "epochs": args.epochs, "name": args.name, "helper": helper.VALUE,
    "channels": json.loads(os.environ["SM_CHANNELS"]),
    "entry_point": os.environ["SM_USER_ENTRY_POINT"],
    "train_images": len(list(train.rglob("*.png"))),
}))
print(f"val_acc: {args.epochs / 10}", flush=True)
"""

HANDLERS = """\
import json
from pathlib import Path


def model_fn(model_dir):
    return Path(model_dir, "greeting.txt").read_text().strip()


def input_fn(body, content_type):
    return body.decode() if isinstance(body, bytes) else body


def predict_fn(data, model):
    return f"{model}, {data}"


def output_fn(prediction, accept):
    return json.dumps({"answer": prediction}), "application/json"
"""


def test_local_train_in_process_mode_runs_the_users_script(tmp_path, capfd):
    data = tiny_folders(tmp_path / "data", classes=2, per_class=2)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    (src / "helper.py").write_text("VALUE = 7\n")
    run = tmp_path / "run"
    from byoc.cli import main

    assert main(["local", "train", "--data", str(data), "--output", str(run), "--source-dir",
                 str(src), "--entry-point", "train.py", "--hp", "epochs=3", "--hp",
                 "name=signs"]) == 0

    out, err = capfd.readouterr()
    assert "val_acc: 0.3" in out + err
    with tarfile.open(run / layout.MODEL_ARCHIVE) as tar:
        ran = json.loads(tar.extractfile("ran.json").read())
    assert ran == {"epochs": 3, "name": "signs", "helper": 7, "channels": ["train"],
                   "entry_point": "train.py", "train_images": 4}
    assert contract.Paths(run).success_file.exists()


def test_local_serve_in_process_mode_answers_with_the_users_handlers(tmp_path):
    model, src = handlers_and_model(tmp_path, HANDLERS, {"greeting.txt": "hello\n"})
    assert post_once(model, src, "--workers", "1").json() == {"answer": "hello, world"}


DOCS_PAGE, DOCS_SNIPPET = "training.md", "# Your own training script in a process"


@pytest.mark.slow
def test_the_docs_script_command_runs_as_written(tmp_path, synth_data_dir, monkeypatch):
    """The training page's "Bring your own code" command, run from the repository with two
    changes: the shared synthetic signs for demo/signs, and an output under tmp_path."""
    block = code_block(DOCS_PAGE, "bash", DOCS_SNIPPET)
    [command] = [line for line in block.replace("\\\n", " ").splitlines()
                 if line.startswith("byoc ")]
    argv = shlex.split(command)[1:]
    for old, new in (("demo/signs", str(synth_data_dir)),
                     ("demo/script-run", str(tmp_path / "run"))):
        assert argv.count(old) == 1, f"the page's command no longer has {old}"
        argv[argv.index(old)] = new
    monkeypatch.chdir(REPO)
    from byoc.cli import main

    assert main(argv) == 0
    with tarfile.open(tmp_path / "run" / layout.MODEL_ARCHIVE) as tar:
        assert {"model.keras", "classes.json"} <= set(tar.getnames())
