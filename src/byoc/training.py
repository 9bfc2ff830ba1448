"""Train a CNN under SageMaker's training contract: data → fit (with checkpoints) → bundle → report.

Checkpoints go to /opt/ml/checkpoints after every epoch and a restarted job (managed spot) resumes
from them. SIGTERM (StopTrainingJob, spot interruption) stops at the next batch, saves a
checkpoint and exits well inside SageMaker's 120 s grace period.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from byoc import contract, evaluation, hyperparams, metrics
from byoc.bundle import ModelSpec
from byoc.contract import TEST, TRAIN, VALIDATION, Paths, TrainingEnv
from byoc.data import pipeline
from byoc.data.formats import read_channel
from byoc.errors import UserError
from byoc.hyperparams import HyperParameters
from byoc.model import architectures, export

log = logging.getLogger("byoc.training")

CHECKPOINT_FILE = "checkpoint.keras"
BEST_WEIGHTS_FILE = "best.weights.h5"
STATE_FILE = "state.json"
# A checkpoint resumes only the same configuration: every hyperparameter but these must match.
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience")


class Terminated(Exception):
    """SIGTERM arrived: stop, keep the checkpoint, exit."""


@dataclass
class Splits:
    class_names: list[str]
    x: dict[str, np.ndarray] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)


class _Sigterm(keras.callbacks.Callback):
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
        log.warning("SIGTERM received: stopping at the next batch and saving a checkpoint.")
        self.received = True

    def check(self) -> None:
        if self.received:
            raise Terminated()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.check()

    def on_test_batch_end(self, batch, logs=None) -> None:
        self.check()


# ----------------------------------------------------------------------------------------- data

def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), taking `fraction` of every class that has 2+ samples."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = int(round(len(idx) * fraction)) if len(idx) > 1 else 0
        n_val = min(n_val, len(idx) - 1)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def load_splits(env: TrainingEnv, hp: HyperParameters) -> Splits:
    unknown = sorted(set(env.channels) - set(contract.CHANNELS))
    if unknown:
        log.warning("Ignoring channel(s) %s: byoc reads train, validation and test.", unknown)
    if TRAIN not in env.channels:
        raise UserError(
            "No training data: the 'train' (or 'training') channel is missing. Pass your images "
            "as the train channel, e.g. `byoc local train --data DIR` or an S3 prefix in "
            "`byoc train --data`."
        )
    kw = {"size": hp.image_size, "channels": hp.channels}
    train = read_channel(env.channels[TRAIN], name=TRAIN, **kw)
    splits = Splits(class_names=train.class_names)
    splits.x[TRAIN], splits.y[TRAIN] = train.x, train.y
    if VALIDATION in env.channels:
        val = read_channel(env.channels[VALIDATION], class_names=train.class_names,
                           name=VALIDATION, **kw)
        splits.x[VALIDATION], splits.y[VALIDATION] = val.x, val.y
    elif hp.validation_split > 0:
        tr, va = _stratified_split(train.y, hp.validation_split, hp.seed)
        if len(va):
            log.info("No validation channel: holding out %d of %d training images (%.0f%%).",
                     len(va), len(train.y), 100 * hp.validation_split)
            splits.x[VALIDATION], splits.y[VALIDATION] = train.x[va], train.y[va]
            splits.x[TRAIN], splits.y[TRAIN] = train.x[tr], train.y[tr]
    test = None
    if TEST in env.channels:
        test = read_channel(env.channels[TEST], class_names=train.class_names, name=TEST, **kw)
    elif train.test is not None:
        test = train.test
    if test is not None:
        splits.x[TEST], splits.y[TEST] = test.x, test.y
    if len(splits.class_names) < 2:
        raise UserError(
            f"The train channel holds a single class ({splits.class_names}); a classifier needs "
            "at least two."
        )
    return splits


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-frequency ('balanced') weights, as scikit-learn computes them."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(num_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


# -------------------------------------------------------------------------------------- devices

def device_strategy(hp: HyperParameters) -> tf.distribute.Strategy:
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        log.info("Training on %d GPUs with MirroredStrategy: %s", len(gpus),
                 [g.name for g in gpus])
    else:
        strategy = tf.distribute.get_strategy()
        log.info("Training on %s", f"1 GPU: {gpus[0].name}" if gpus else "the CPU")
    if hp.mixed_precision:
        if gpus:
            keras.mixed_precision.set_global_policy("mixed_float16")
            log.info("Mixed precision: mixed_float16")
        else:
            log.warning("mixed_precision=true is ignored without a GPU (it would only slow the "
                        "CPU down).")
    return strategy


def set_determinism(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# ---------------------------------------------------------------------------------- checkpoints

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
            self.state.update(best=current, best_epoch=epoch + 1, wait=0)
            self.model.save_weights(self.directory / BEST_WEIGHTS_FILE)
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


def save_checkpoint(model: keras.Model, directory: Path, state: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{CHECKPOINT_FILE}.tmp.keras"
    model.save(tmp)
    os.replace(tmp, directory / CHECKPOINT_FILE)
    tmp_state = directory / f".{STATE_FILE}.tmp"
    tmp_state.write_text(json.dumps(state, indent=2))
    os.replace(tmp_state, directory / STATE_FILE)


def new_state(hp: HyperParameters, class_names: list[str]) -> dict:
    return {"hyperparameters": hp.as_strings(), "class_names": class_names, "epoch": 0}


def load_checkpoint(directory: Path, hp: HyperParameters,
                    class_names: list[str]) -> tuple[keras.Model, dict] | None:
    """The checkpoint in `directory` if there is one; refuse one of another configuration."""
    state_file, ckpt = directory / STATE_FILE, directory / CHECKPOINT_FILE
    if not (state_file.exists() and ckpt.exists()):
        return None
    state = json.loads(state_file.read_text())
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
    return keras.models.load_model(ckpt), state


class MetricLogger(keras.callbacks.Callback):
    """Prints the `#metrics` line each epoch that SageMaker's metric regexes read."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        values = {}
        for key, value in logs.items():
            name = key if key.startswith("val_") else f"train_{key}"
            values[name] = value
        print(metrics.epoch_line(epoch + 1, values), flush=True)


# ------------------------------------------------------------------------------------- training

def compile_model(model: keras.Model, hp: HyperParameters, top_k: int) -> None:
    optimizer = (keras.optimizers.Adam(hp.learning_rate) if hp.optimizer == "adam"
                 else keras.optimizers.SGD(hp.learning_rate, momentum=0.9, nesterov=True))
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy",
                 keras.metrics.SparseTopKCategoricalAccuracy(k=top_k, name="top_k_accuracy")],
    )


def fit(splits: Splits, hp: HyperParameters, paths: Paths, sigterm: _Sigterm):
    num_classes = len(splits.class_names)
    top_k = min(hp.top_k, num_classes)
    input_shape = (*hp.image_size, hp.channels)
    strategy = device_strategy(hp)
    set_determinism(hp.seed)
    # SageMaker creates /opt/ml/checkpoints only for jobs with a CheckpointConfig.
    paths.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with strategy.scope():  # variables made here, restored ones included, are mirrored
        resumed = load_checkpoint(paths.checkpoint_dir, hp, splits.class_names)
        if resumed:
            model, state = resumed
        else:
            model = architectures.build(hp.model, input_shape, num_classes)
            compile_model(model, hp, top_k)
            state = new_state(hp, splits.class_names)
    log.info("Model %s: %s parameters", hp.model, f"{model.count_params():,}")
    if state["epoch"] >= hp.epochs or state.get("stopped_early"):
        log.info("The checkpoint has finished training already (epoch %d); not fitting again.",
                 state["epoch"])
    else:
        has_val = VALIDATION in splits.x
        global_batch = hp.batch_size * strategy.num_replicas_in_sync
        train_ds = pipeline.training_dataset(splits.x[TRAIN], splits.y[TRAIN], hp, global_batch)
        val_ds = (pipeline.eval_dataset(splits.x[VALIDATION], splits.y[VALIDATION], global_batch)
                  if has_val else None)
        weights = (class_weights(splits.y[TRAIN], num_classes)
                   if hp.class_weights == "balanced" else None)
        try:
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=hp.epochs,
                initial_epoch=state["epoch"],
                class_weight=weights,
                shuffle=False,  # the dataset shuffles itself, deterministically
                callbacks=[sigterm, Checkpointer(paths.checkpoint_dir, hp, state, has_val),
                           MetricLogger()],
                verbose=1 if sys.stdout.isatty() else 2,
            )
        except Terminated:
            # The weights are a little past the last whole epoch; `state` counts whole epochs
            # only, so the resumed job repeats the interrupted one.
            save_checkpoint(model, paths.checkpoint_dir, state)
            raise
    best = paths.checkpoint_dir / BEST_WEIGHTS_FILE
    if best.exists() and state.get("best_epoch") and state["best_epoch"] != state["epoch"]:
        log.info("Restoring the weights of the best epoch (%d).", state["best_epoch"])
        model.load_weights(best)
    return model, state.get("history", {})


def predict_probs(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return model.predict(pipeline.eval_dataset(x, None, batch_size), verbose=0)


def run(env: TrainingEnv, sigterm: _Sigterm) -> dict[str, float]:
    hp = hyperparams.parse(env.hyperparameters)
    log.info("Hyperparameters: %s", json.dumps(hp.as_strings(), sort_keys=True))
    if len(env.hosts) > 1:
        log.warning("%d hosts given; byoc trains on each host independently (no multi-host "
                    "strategy yet), and only %s writes the model.", len(env.hosts), env.hosts[0])
    splits = load_splits(env, hp)
    sigterm.check()
    model, history = fit(splits, hp, env.paths, sigterm)
    sigterm.check()

    spec = ModelSpec(class_names=splits.class_names, height=hp.image_size[0],
                     width=hp.image_size[1], channels=hp.channels, top_k=hp.top_k,
                     architecture=hp.model)
    if env.current_host == env.hosts[0]:
        export.save(model, spec, env.paths.model_dir)
        log.info("Saved the model to %s", env.paths.model_dir)

    num_classes = len(splits.class_names)
    top_k = min(hp.top_k, num_classes)
    results = {
        name: evaluation.SplitResult(
            y_true=splits.y[name],
            probs=predict_probs(model, splits.x[name], hp.batch_size),
            images=splits.x[name],
        )
        for name in (TRAIN, VALIDATION, TEST) if name in splits.x
    }
    counts = {name: np.bincount(y, minlength=num_classes) for name, y in splits.y.items()}
    summary = evaluation.write_report(
        env.paths.output_data_dir, class_names=splits.class_names, splits=results,
        history=history, class_counts=counts, top_k=top_k,
    )
    final = {}
    for name, prefix in ((VALIDATION, "val"), (TEST, "test")):
        if name in results:
            final[f"{prefix}_loss"] = summary[f"{name}_loss"]
            final[f"{prefix}_accuracy"] = summary[f"{name}_accuracy"]
            final[f"{prefix}_top_k_accuracy"] = summary[f"{name}_top_{top_k}_accuracy"]
    print(metrics.final_line(final), flush=True)
    log.info("Evaluation written to %s", env.paths.output_data_dir)
    return summary


def main(root: str | os.PathLike | None = None) -> int:
    sigterm = _Sigterm()
    sigterm.install()
    env = TrainingEnv.read(root)
    env.log_summary()
    try:
        run(env, sigterm)
    except tf.errors.ResourceExhaustedError as exc:
        raise MemoryError(str(exc)) from exc
    except Terminated:
        log.warning("Stopped by SIGTERM; the checkpoint in %s resumes this run.",
                    env.paths.checkpoint_dir)
        return contract.EXIT_TERMINATED
    contract.write_success(env.paths)
    log.info("Training complete.")
    return 0
