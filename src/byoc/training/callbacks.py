"""The trainer's Keras callbacks: SIGTERM as a flag, checkpoints with early stopping, metric lines.

Each one says what it saves or prints. byoc keeps its own checkpointer rather than Keras's
BackupAndRestore, which saves only the weights and the epoch: a resumed job here also needs the
optimizer, the early-stopping state and the history for the report.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
from pathlib import Path

import keras
import numpy as np

from byoc import metric_lines
from byoc.atomic import write_atomically
from byoc.hyperparams import HyperParameters
from byoc.training.checkpoints import BEST_WEIGHTS_KEY, best_weights_name, save_checkpoint

log = logging.getLogger("byoc.training")


class Terminated(Exception):
    """SIGTERM arrived: stop, keep the checkpoint, exit."""


class SigtermFlag(keras.callbacks.Callback):
    """Turns SIGTERM into a flag, checked after every batch and between the phases of a run.

    Raising out of the batch (rather than setting `stop_training`) matters: Keras would finish
    the epoch's validation pass and report a half-done epoch as complete.
    """

    def __init__(self) -> None:
        super().__init__()
        self.received = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        log.warning("SIGTERM received: stopping after the steps under way and saving a checkpoint.")
        self.received = True

    def check(self) -> None:
        if self.received:
            raise Terminated()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.check()

    def on_test_batch_end(self, batch, logs=None) -> None:
        self.check()


class Checkpointer(keras.callbacks.Callback):
    """Saves a resumable checkpoint each epoch and does early stopping on validation loss.

    The early-stopping state lives in the checkpoint, so a resumed job keeps its patience count
    and its best weights.
    """

    def __init__(self, directory: Path, hp: HyperParameters, state: dict,
                 monitor_validation: bool) -> None:
        super().__init__()
        self.directory = directory
        self.hp = hp
        self.state = state
        self.monitor = "val_loss" if monitor_validation else "loss"

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        history = self.state.setdefault("history", {})
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        current = float(logs.get(self.monitor, np.inf))
        if current < self.state.get("best", np.inf):
            # A new file, which the state names from the next save on (see checkpoints).
            name = best_weights_name(epoch + 1)
            _save_weights(self.model, self.directory / name)
            self.state.update({"best": current, "best_epoch": epoch + 1, "wait": 0,
                               BEST_WEIGHTS_KEY: name})
        else:
            self.state["wait"] = self.state.get("wait", 0) + 1
        self.state["epoch"] = epoch + 1
        patience = self.hp.early_stopping_patience
        if patience and self.state["wait"] >= patience:
            log.info("Early stopping: %s has not improved for %d epoch(s); best was epoch %d.",
                     self.monitor, patience, self.state["best_epoch"])
            self.state["stopped_early"] = True
            self.model.stop_training = True
        save_checkpoint(self.model, self.directory, self.state)


def _save_weights(model: keras.Model, path: Path) -> None:
    """HDF5 crashes the process (SIGSEGV) when its own write hits a full disk: write the weights
    in the system's temporary directory, then copy them into place, where a full disk is a
    plain OSError naming `path`."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / path.name
        model.save_weights(staged)
        write_atomically(path, lambda target: shutil.copyfile(staged, target))


class MetricLogger(keras.callbacks.Callback):
    """Prints the `#metrics` line each epoch that SageMaker's metric regexes read."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        values = {}
        for key, value in logs.items():
            name = key if key.startswith("val_") else f"train_{key}"
            values[name] = value
        print(metric_lines.epoch_line(epoch + 1, values), flush=True)
