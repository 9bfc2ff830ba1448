"""Resumable training state in /opt/ml/checkpoints: the model with its optimizer, and a JSON state
(epoch, early stopping, history, the configuration it belongs to).

The model and the best epoch's weights go to files of new names; state.json, written last, names
them. Writing state.json (a rename) is what commits a save: a kill before it leaves the previous
state with the files it names, a kill after it the new pair. The files no state names are
removed after the commit.

A checkpoint resumes only the configuration that wrote it (the user's own hyperparameters
included); another one is refused, never overwritten. A model of the user's layers loads because
the trainer has imported the user's modules before it resumes.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import keras

from byoc.atomic import write_atomically
from byoc.bundle import keras_io
from byoc.errors import UserError
from byoc.hyperparams import HyperParameters

log = logging.getLogger("byoc.training")

STATE_FILE = "state.json"
# The keys of state.json that name the model's file and the best epoch's weights file.
CHECKPOINT_KEY = "checkpoint_file"
BEST_WEIGHTS_KEY = "best_weights_file"
# The fixed names of checkpoints written before state.json named its files; still resumed.
CHECKPOINT_FILE = "checkpoint.keras"
BEST_WEIGHTS_FILE = "best.weights.h5"
_CHECKPOINT_PATTERN, _BEST_WEIGHTS_PATTERN = "checkpoint-*.keras", "best-*.weights.h5"
# A checkpoint resumes only the same configuration: every hyperparameter but these must match.
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience")


def best_weights_name(epoch: int) -> str:
    """A new file name for the best weights of `epoch`, for state[BEST_WEIGHTS_KEY]."""
    return f"best-{epoch:04d}-{secrets.token_hex(4)}.weights.h5"


def best_weights_path(directory: Path, state: dict) -> Path:
    """The best epoch's weights file of the checkpoint `state` belongs to."""
    return directory / state.get(BEST_WEIGHTS_KEY, BEST_WEIGHTS_FILE)


def save_checkpoint(model: keras.Model, directory: Path, state: dict) -> None:
    """Write the model to a new file, then state.json naming it; then remove what no longer
    belongs to the checkpoint. A new name for every save (SIGTERM saves twice in an epoch)
    means no save ever writes over a file the current state.json names."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"checkpoint-{state['epoch']:04d}-{secrets.token_hex(4)}.keras"
    write_atomically(directory / name, model.save)
    text = json.dumps({**state, CHECKPOINT_KEY: name}, indent=2)
    write_atomically(directory / STATE_FILE, lambda tmp: tmp.write_text(text))
    keep = {name, best_weights_path(directory, state).name}
    for pattern in (_CHECKPOINT_PATTERN, _BEST_WEIGHTS_PATTERN, CHECKPOINT_FILE,
                    BEST_WEIGHTS_FILE):
        for stale in directory.glob(pattern):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)


def new_state(hp: HyperParameters, class_names: list[str]) -> dict:
    return {"hyperparameters": hp.as_strings(), "class_names": class_names, "epoch": 0}


def load_checkpoint(directory: Path, hp: HyperParameters,
                    class_names: list[str]) -> tuple[keras.Model, dict] | None:
    """The checkpoint in `directory` if there is one; refuse one of another configuration."""
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return None
    fresh = (f"Delete {directory}'s files (or use another checkpoint location: a new output "
             "dir, a new job or --checkpoint-s3) to start fresh.")
    try:
        state = json.loads(state_file.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
            raise ValueError("no epoch number")
        named = [state.get(key) for key in (CHECKPOINT_KEY, BEST_WEIGHTS_KEY) if key in state]
        if not all(isinstance(n, str) and Path(n).name == n for n in named):
            raise ValueError("a file name that is not one in its directory")
    except ValueError as exc:
        raise UserError(f"The checkpoint state {state_file} is corrupt ({exc}). {fresh}") \
            from None
    legacy = CHECKPOINT_KEY not in state  # written before state.json named its model
    ckpt = directory / state.pop(CHECKPOINT_KEY, CHECKPOINT_FILE)
    if not ckpt.exists():
        if legacy:  # as such checkpoints always were: a state alone is no checkpoint
            return None
        raise UserError(f"The checkpoint state {state_file} names {ckpt.name}, which is not "
                        f"there: the checkpoint is corrupt or was copied in part. {fresh}")
    expected = new_state(hp, class_names)
    saved, current = state.get("hyperparameters", {}), expected["hyperparameters"]
    # A hyperparameter byoc added after the checkpoint was written had its default then.
    saved = {**HyperParameters().as_strings(), **saved}
    mismatch = [f"{k}={saved.get(k)} there, {v} now" for k, v in current.items()
                if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if state.get("class_names") != class_names:
        mismatch.append("other classes in the data")
    if mismatch:
        raise UserError(
            f"{directory} holds a checkpoint of a different configuration ("
            + ", ".join(mismatch)
            + "). Use another checkpoint location (a new output dir, a new job or "
            "--checkpoint-s3), or delete it to start over."
        )
    log.info("Resuming from the checkpoint of epoch %d in %s", state["epoch"], directory)
    state["hyperparameters"] = current
    try:
        saved = keras_io.load_model(ckpt)
    except UserError:
        raise
    except Exception as exc:  # Keras raises several types for a truncated or corrupt archive
        raise UserError(f"The checkpoint {ckpt} cannot be loaded ({type(exc).__name__}: "
                        f"{str(exc)[:200]}): it is corrupt or truncated. {fresh}") from None
    return saved, state
