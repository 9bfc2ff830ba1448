"""Resumable training state in /opt/ml/checkpoints: the model with its optimizer, and a JSON state
(epoch, early stopping, history, the configuration it belongs to).

A checkpoint resumes only the configuration that wrote it; another one is refused, never
overwritten.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras

from byoc.errors import UserError
from byoc.files import write_atomically
from byoc.hyperparams import HyperParameters

log = logging.getLogger("byoc.training")

CHECKPOINT_FILE = "checkpoint.keras"
BEST_WEIGHTS_FILE = "best.weights.h5"
STATE_FILE = "state.json"
# A checkpoint resumes only the same configuration: every hyperparameter but these must match.
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience")


def save_checkpoint(model: keras.Model, directory: Path, state: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / CHECKPOINT_FILE, model.save)
    text = json.dumps(state, indent=2)
    write_atomically(directory / STATE_FILE, lambda tmp: tmp.write_text(text))


def new_state(hp: HyperParameters, class_names: list[str]) -> dict:
    return {"hyperparameters": hp.as_strings(), "class_names": class_names, "epoch": 0}


def load_checkpoint(directory: Path, hp: HyperParameters,
                    class_names: list[str]) -> tuple[keras.Model, dict] | None:
    """The checkpoint in `directory` if there is one; refuse one of another configuration."""
    state_file, ckpt = directory / STATE_FILE, directory / CHECKPOINT_FILE
    if not (state_file.exists() and ckpt.exists()):
        return None
    fresh = (f"Delete {ckpt.name} and {state_file.name} in {directory} (or use another "
             "checkpoint location: a new output dir, a new job or --checkpoint-s3) to start "
             "fresh.")
    try:
        state = json.loads(state_file.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
            raise ValueError("no epoch number")
    except ValueError as exc:
        raise UserError(f"The checkpoint state {state_file} is corrupt ({exc}). {fresh}") \
            from None
    expected = new_state(hp, class_names)
    saved, current = state.get("hyperparameters", {}), expected["hyperparameters"]
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
        saved = keras.models.load_model(ckpt)
    except Exception as exc:  # Keras raises several types for a truncated or corrupt archive
        raise UserError(f"The checkpoint {ckpt} cannot be loaded ({type(exc).__name__}: "
                        f"{str(exc)[:200]}): it is corrupt or truncated. {fresh}") from None
    return saved, state
