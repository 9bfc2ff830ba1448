"""Train a CNN under SageMaker's training contract: data → fit (with checkpoints) → bundle → report.

Checkpoints go to /opt/ml/checkpoints after every epoch and a restarted job (managed spot) resumes
from them. SIGTERM (StopTrainingJob, spot interruption) stops at the next batch, saves a
checkpoint and exits well inside SageMaker's 120 s grace period.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from byoc import contract, evaluation, hyperparams, metric_lines
from byoc.bundle import ModelSpec, keras_io
from byoc.contract import TEST, TRAIN, VALIDATION, Paths, TrainingEnv
from byoc.data import pipeline
from byoc.hyperparams import HyperParameters
from byoc.model import architectures
from byoc.training.callbacks import Checkpointer, MetricLogger, SigtermFlag, Terminated
from byoc.training.checkpoints import (
    BEST_WEIGHTS_FILE,
    load_checkpoint,
    new_state,
    save_checkpoint,
)
from byoc.training.splits import Splits, class_weights, load_splits

log = logging.getLogger("byoc.training")


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


def fit(splits: Splits, hp: HyperParameters, paths: Paths, sigterm: SigtermFlag):
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


def run(env: TrainingEnv, sigterm: SigtermFlag) -> dict[str, float]:
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
        keras_io.save(model, spec, env.paths.model_dir)
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
    print(metric_lines.final_line(final), flush=True)
    log.info("Evaluation written to %s", env.paths.output_data_dir)
    return summary


def main(root: str | os.PathLike | None = None) -> int:
    sigterm = SigtermFlag()
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
