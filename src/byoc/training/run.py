"""Train a CNN under SageMaker's training contract: data → fit (with checkpoints) → bundle → report.

The network is one of byoc's architectures or the user's own (`model=MODULE:FUNCTION`), the loss
byoc's or the user's (`loss=MODULE:FUNCTION`); the user's code then travels in the bundle.

Checkpoints go to /opt/ml/checkpoints after every epoch and a restarted job (managed spot) resumes
from them. SIGTERM (StopTrainingJob, spot interruption) stops after the steps under way, saves a
checkpoint and exits well inside SageMaker's 120 s grace period.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from byoc import contract, evaluation, metric_lines
from byoc.bundle import ModelSpec, keras_io, litert, user_modules
from byoc.contract import TEST, TRAIN, VALIDATION, Paths, TrainingEnv
from byoc.data import pipeline
from byoc.data.streaming import LazyImages
from byoc.errors import UserError
from byoc.hyperparams import HyperParameters
from byoc.model import architectures, backbones, custom
from byoc.training import distributed, loop, losses
from byoc.training.callbacks import Checkpointer, MetricLogger, SigtermFlag, Terminated
from byoc.training.checkpoints import (
    best_weights_path,
    load_checkpoint,
    new_state,
    save_checkpoint,
)
from byoc.training.cluster import Cluster
from byoc.training.distributed import Distributed
from byoc.training.mlflow_run import Tracker
from byoc.training.phases import Phases
from byoc.training.splits import Splits, class_weights, load_splits
from byoc.user_code import trainer
from byoc.user_code.trainer import Imported

log = logging.getLogger("byoc.training")

# Images of a streamed split the LiteRT export is checked on (an in-memory split: all of them).
LITERT_CHECK_IMAGES = 2048


def set_determinism(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, hp: HyperParameters, top_k: int) -> None:
    # The loop minimises the run's own loss (byoc.training.losses); the compiled one is byoc's
    # always, so that a checkpoint, which records it, loads without the user's loss code.
    optimizer = (keras.optimizers.Adam(hp.learning_rate) if hp.optimizer == "adam"
                 else keras.optimizers.SGD(hp.learning_rate, momentum=0.9, nesterov=True))
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy",
                 keras.metrics.SparseTopKCategoricalAccuracy(k=top_k, name="top_k_accuracy")],
    )


def _new_model(hp: HyperParameters, num_classes: int, top_k: int,
               user: Imported | None, weights: str | None = None) -> keras.Model:
    shape = (*hp.image_size, hp.channels)
    if user and "model" in user.functions:
        model = custom.build(user.functions["model"], hp.model, shape, num_classes,
                             hp.as_mapping())
    else:
        model = architectures.build(hp.model, shape, num_classes, weights)
    compile_model(model, hp, top_k)
    # The optimizer's slots are made now, in the strategy's scope, not inside the first step.
    model.optimizer.build(model.trainable_variables)
    return model


def _restore(model: keras.Model, saved: keras.Model) -> None:
    """Copy a loaded checkpoint's weights and optimizer state into the (mirrored) model."""
    pairs = [(model.weights, saved.weights),
             (model.optimizer.variables, saved.optimizer.variables)]
    for ours, theirs in pairs:
        if len(ours) != len(theirs):
            raise UserError("The checkpoint does not match the model it should resume (its "
                            "variables differ). Delete it, or use another checkpoint location.")
        for var, value in zip(ours, theirs, strict=True):
            var.assign(value.numpy())


def _agree_on_classes(dist: Distributed, names: list[str]) -> list[str]:
    """The job's class list when hosts hold different files (ShardedByS3Key): every host's
    folders together. Hosts whose lists cannot be merged fail with both lists in the reason."""
    if not dist.multi_worker:
        return names
    lists = dist.exchange("classes", names)
    if all(other == names for other in lists):
        return names
    union = set().union(*lists)
    # Class ids as folder names sort as numbers, the way the format readers order them.
    key = int if all(n.isdigit() for n in union) else str
    union = sorted(union, key=key)
    mergeable = set.intersection(*map(set, lists)) and all(
        sorted(other, key=key) == other for other in lists)
    if not mergeable:
        described = "; ".join(f"{dist.hosts[i]}: {len(lst)} classes ({', '.join(lst[:4])}"
                              f"{', ...' if len(lst) > 4 else ''})" for i, lst in enumerate(lists))
        raise UserError(
            "The hosts of this job found different class lists in their train channels, and "
            f"they cannot be merged: {described}. With ShardedByS3Key a labels file "
            "(signnames.csv, labels.csv) reaches one host only: put a copy in every host's "
            "share, name classes by folder, or use FullyReplicated.")
    log.info("The hosts hold different classes (sharded data); training on all %d of them.",
             len(union))
    return union


def _weights_source(hp: HyperParameters, pretrained: Path | None) -> str | None:
    """Where the backbone's weights come from: "imagenet", "pretrained" (the channel's file) or
    None (random)."""
    if pretrained is not None and not hp.backbone:
        raise UserError(
            f"The {contract.PRETRAINED} channel holds a backbone's weights, but model={hp.model} "
            "has no pretrained backbone. Choose one as `model` ("
            f"{', '.join(backbones.APPLICATIONS)}), or leave the channel out.")
    if pretrained is not None and hp.weights == backbones.IMAGENET:
        raise UserError(
            f"weights=imagenet and the {contract.PRETRAINED} channel both give the backbone's "
            "weights: leave one of them out.")
    if hp.weights == backbones.IMAGENET:
        return backbones.IMAGENET
    return contract.PRETRAINED if pretrained is not None else None


def fit(splits: Splits, hp: HyperParameters, paths: Paths, sigterm: SigtermFlag,
        dist: Distributed, sharded: bool, tracker: Tracker | None = None,
        user: Imported | None = None, pretrained: Path | None = None):
    """Build the model and train it. `pretrained`: the weights file a backbone starts from (on
    the chief; on the other hosts, the channel, whose weights come from the chief)."""
    num_classes = len(splits.class_names)
    top_k = min(hp.top_k, num_classes)
    weights = _weights_source(hp, pretrained)
    with dist.strategy.scope():  # variables made here are mirrored on every replica
        model = _new_model(hp, num_classes, top_k, user, weights)
    phases = Phases.of(model, hp, pretrained=weights is not None)
    if user and "model" in user.functions:
        custom.check_saves(model, hp.model)
    loss_fn = losses.make(user.functions.get("loss") if user else None, hp.loss, num_classes,
                          hp.as_mapping())
    state = new_state(hp, splits.class_names)
    if dist.is_chief:
        # SageMaker creates /opt/ml/checkpoints only for jobs with a CheckpointConfig.
        paths.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        resumed = load_checkpoint(paths.checkpoint_dir, hp, splits.class_names)
        if resumed:
            saved, state = resumed
            _restore(model, saved)
        elif pretrained is not None:
            backbones.load_pretrained(model, pretrained)
            log.info("The backbone starts from the weights in %s.", pretrained)
    # The chief's checkpoint decides for every host: where to start, with which weights.
    start, finished = (int(v) for v in dist.from_chief(
        [state["epoch"], bool(state.get("stopped_early"))]))
    if start or weights:
        dist.sync_from_chief(model.weights + model.optimizer.variables)
    log.info("Model %s: %s parameters", hp.model, f"{model.count_params():,}")
    if start >= hp.epochs or finished:
        log.info("The checkpoint has finished training already (epoch %d); not fitting again.",
                 start)
    else:
        _train(model, splits, hp, paths, sigterm, dist, sharded, state, start, loss_fn,
               tracker, phases)
    best = best_weights_path(paths.checkpoint_dir, state)
    if dist.is_chief and best.exists() and state.get("best_epoch") and \
            state["best_epoch"] != state["epoch"]:
        log.info("Restoring the weights of the best epoch (%d).", state["best_epoch"])
        model.load_weights(best)
    return model, state.get("history", {})


def _train(model: keras.Model, splits: Splits, hp: HyperParameters, paths: Paths,
           sigterm: SigtermFlag, dist: Distributed, sharded: bool, state: dict,
           start: int, loss_fn: losses.Loss, tracker: Tracker | None = None,
           phases: Phases | None = None) -> None:
    num_classes = len(splits.class_names)
    x, y = splits.x[TRAIN], splits.y[TRAIN]
    shape = loop.epoch_shape(dist, hp, len(y), sharded)
    log.info("Batch size %d per replica, %d global (%d replica(s)); %d steps per epoch%s, "
             "up to %d per call", shape.batch_size, shape.global_batch, dist.replicas,
             shape.steps, f" on each of {dist.workers} hosts" if dist.multi_worker else "",
             hp.steps_per_execution)
    weights = np.ones(num_classes, dtype=np.float32)
    if hp.class_weights == "balanced":
        counts = np.bincount(y, minlength=num_classes)
        if sharded:  # every host weighs classes by the whole job's counts
            counts = dist.reduce(counts)
        weights = class_weights(counts).astype(np.float32)
    has_val = VALIDATION in splits.x
    val = (splits.x[VALIDATION], splits.y[VALIDATION]) if has_val else None
    iterator, val_ds = loop.datasets(dist, hp, shape, x, y, weights, val, sharded)
    phases = phases or Phases.of(model, hp, pretrained=False)

    def steps_for(epoch: int) -> loop.Loop:  # a phase's own compiled steps, over its variables
        return loop.Loop(model, dist, shape.global_batch, min(hp.top_k, num_classes), loss_fn,
                         phases.enter(epoch), hp.steps_per_execution)

    steps = steps_for(start)
    # Only the chief writes checkpoints and `#metrics` lines; every host shows its progress. The
    # tracker sends an epoch before its `#metrics` line is printed, so a line seen means sent.
    chosen = [Checkpointer(paths.checkpoint_dir, hp, state, has_val)] if dist.is_chief else []
    chosen += [tracker] if tracker else []
    chosen += [MetricLogger()] if dist.is_chief else []
    verbose = 1 if sys.stdout.isatty() else 2
    # The progress bar ends its epoch line first, so a `#metrics` line never shares it (the SDK's
    # local mode gives containers a terminal).
    callbacks = keras.callbacks.CallbackList([keras.callbacks.ProgbarLogger(), *chosen],
                                             model=model, verbose=verbose, epochs=hp.epochs,
                                             steps=shape.steps)
    callbacks.on_train_begin()
    try:
        for epoch in range(start, hp.epochs):
            model.stop_training = False
            if phases.switches_at(epoch) and epoch != start:
                steps = steps_for(epoch)
            callbacks.on_epoch_begin(epoch)
            logs = steps.train_epoch(iterator, shape.steps, lambda: sigterm.received, callbacks)
            if val_ds is not None:
                logs.update({f"val_{k}": v for k, v in steps.evaluate(val_ds).items()})
            callbacks.on_epoch_end(epoch, logs)
            # Early stopping is the chief's call (it holds the history); every host follows it.
            if dist.from_chief([model.stop_training])[0]:
                break
    except Terminated as stopped:
        if str(stopped):
            log.info("Stopped %s of epoch %d.", stopped, epoch + 1)
        if dist.is_chief:
            # The weights are a little past the last whole epoch; `state` counts whole epochs
            # only, so the resumed job repeats the interrupted one.
            save_checkpoint(model, paths.checkpoint_dir, state)
        raise
    except tf.errors.OpError as exc:
        if dist.multi_worker and not isinstance(exc, tf.errors.ResourceExhaustedError):
            raise loop.lost_peer_error(exc, dist) from exc
        raise
    callbacks.on_train_end()


def predict_probs(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return model.predict(pipeline.eval_dataset(x, None, batch_size), verbose=0)


def _evaluated(model: keras.Model, splits: Splits, name: str,
               batch_size: int) -> evaluation.SplitResult:
    """One split's labels, probabilities and images for the report: a streamed split is read
    once, every readable example exactly once, and its images are read again only for the few
    the report shows."""
    x, y = splits.x[name], splits.y[name]
    if isinstance(x, np.ndarray):
        return evaluation.SplitResult(y_true=y, probs=predict_probs(model, x, batch_size),
                                      images=x)
    probs, positions = [], []
    for images, _, where in x.evaluation(batch_size, positions=True):
        probs.append(np.asarray(model.predict_on_batch(images)))
        positions.append(where.numpy())
    x.report_skipped(f"evaluating the {name} split")
    num_classes = len(splits.class_names)
    positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    return evaluation.SplitResult(
        y_true=y[positions],
        probs=np.concatenate(probs) if probs else np.zeros((0, num_classes)),
        images=LazyImages(x, positions))


def _train_channel_sharded(env: TrainingEnv) -> bool:
    """Whether the train channel is ShardedByS3Key: each host holds its own part of the files."""
    return env.distribution(TRAIN) == contract.SHARDED_BY_S3_KEY


def run(env: TrainingEnv, hp: HyperParameters, sigterm: SigtermFlag) -> dict[str, float]:
    log.info("Hyperparameters: %s", json.dumps(hp.as_strings(), sort_keys=True))
    set_determinism(hp.seed)
    dist = distributed.make(hp, Cluster.from_resource_config(env.resource_config))
    # TensorFlow's coordination service installs a SIGTERM handler of its own (its preemption
    # notifier), which would swallow StopTrainingJob's signal: take it back.
    sigterm.install()
    # After the strategy: the user's modules may make tensors when imported, and TensorFlow's
    # context must not start before a multi-host strategy configures it.
    user = trainer.import_functions(env.hyperparameters, env.paths.code_dir)
    sharded = dist.multi_worker and _train_channel_sharded(env)
    # The weights file is found before the data is read, so a wrong channel fails at once. Only
    # the chief reads it (the others get its weights): theirs may be empty (ShardedByS3Key).
    pretrained = env.channels.get(contract.PRETRAINED)
    if pretrained is not None and dist.is_chief:
        pretrained = backbones.weights_file(pretrained)
    splits = load_splits(env, hp, agree=lambda names: _agree_on_classes(dist, names))
    sigterm.check()
    tracker = Tracker.start(env, hp) if dist.is_chief else None  # None unless MLflow is asked
    model, history = fit(splits, hp, env.paths, sigterm, dist, sharded, tracker, user,
                         pretrained)
    sigterm.check()
    if not dist.is_chief:
        word = dist.wait_for_chief()
        if word != "ok":
            raise UserError(f"The chief ({dist.chief}) failed, so this host fails too: {word}")
        log.info("The chief (%s) wrote the model and the report; this host is done.", dist.chief)
        return {}
    try:
        summary = _export_and_report(env, hp, splits, model, history, sigterm, tracker, user)
    except BaseException as exc:
        dist.chief_finished(f"{type(exc).__name__}: {exc}" or "stopped")
        raise
    dist.chief_finished()
    return summary


def _export_and_report(env: TrainingEnv, hp: HyperParameters, splits: Splits,
                       model: keras.Model, history: dict,
                       sigterm: SigtermFlag, tracker: Tracker | None = None,
                       user: Imported | None = None) -> dict[str, float]:
    """The chief's work after training: the bundle in /opt/ml/model, then the evaluation of that
    bundle, reloaded as `serve` will load it (outside the strategy, so no other host is needed).

    SIGTERM is honoured between the steps: the checkpoint holds every epoch already, so a
    resumed job goes straight back to this export."""
    notes = []
    if user:  # the code goes in before the spec that names it
        files = user_modules.copy(user.source_dir, env.paths.model_dir)
        notes.append(f"Your code ({', '.join(f'{k}={v}' for k, v in user.references.items())}) "
                     f"travels in the bundle's code/ directory ({len(files)} files): `serve` and "
                     "batch transform import it from there.")
        if "loss" in user.functions:
            notes.append(f"The model was trained to minimise {hp.loss}. The loss columns of "
                         "this report are cross-entropy, comparable across models.")
    spec = ModelSpec(class_names=splits.class_names, height=hp.image_size[0],
                     width=hp.image_size[1], channels=hp.channels, top_k=hp.top_k,
                     architecture=hp.model, loss=hp.loss,
                     code_modules=[user.module("model")] if user and "model" in
                     user.functions else None)
    keras_io.save(model, spec, env.paths.model_dir)
    log.info("Saved the model to %s", env.paths.model_dir)
    sigterm.check()
    exported = litert.export(
        env.paths.model_dir, splits.sample(VALIDATION if VALIDATION in splits.x else TRAIN,
                                           LITERT_CHECK_IMAGES),
        report_dir=env.paths.output_data_dir)
    notes.append(exported.describe())
    sigterm.check()
    served, _ = keras_io.load(env.paths.model_dir)

    num_classes = len(splits.class_names)
    top_k = min(hp.top_k, num_classes)
    results = {name: _evaluated(served, splits, name, hp.batch_size)
               for name in (TRAIN, VALIDATION, TEST) if name in splits.x}
    sigterm.check()
    counts = {name: np.bincount(y, minlength=num_classes) for name, y in splits.y.items()}
    try:
        summary = evaluation.write_report(
            env.paths.output_data_dir, class_names=splits.class_names, splits=results,
            history=history, class_counts=counts, top_k=top_k, notes=notes,
        )
    except OSError as exc:  # a failed write() names no file: name the report's directory
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(env.paths.output_data_dir)) from exc
    final = {}
    for name, prefix in ((VALIDATION, "val"), (TEST, "test")):
        if name in results:
            final[f"{prefix}_loss"] = summary[f"{name}_loss"]
            final[f"{prefix}_accuracy"] = summary[f"{name}_accuracy"]
            final[f"{prefix}_top_k_accuracy"] = summary[f"{name}_top_{top_k}_accuracy"]
    print(metric_lines.final_line(final), flush=True)
    log.info("Evaluation written to %s", env.paths.output_data_dir)
    if tracker:
        tracker.finish(final, env.paths.output_data_dir, served, splits.sample(TRAIN, 4)[:4])
    return summary


def main(env: TrainingEnv, hp: HyperParameters) -> int:
    """Train as `env` and `hp` say (read and checked by the entrypoint before TensorFlow
    loaded)."""
    sigterm = SigtermFlag()
    sigterm.install()
    env.log_summary()
    try:
        run(env, hp, sigterm)
    except tf.errors.ResourceExhaustedError as exc:
        raise MemoryError(str(exc)) from exc
    except Terminated:
        log.warning("Stopped by SIGTERM; the checkpoint in %s resumes this run.",
                    env.paths.checkpoint_dir)
        return contract.EXIT_TERMINATED
    contract.write_success(env.paths)
    log.info("Training complete.")
    return 0
