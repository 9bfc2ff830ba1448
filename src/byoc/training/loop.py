"""The training loop: one code path for one host, several GPUs, or several hosts.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585: "Attempt to
convert a value (PerReplica ...) to a Tensor"), so byoc runs its own step: a `GradientTape` step
under `strategy.run`, the loss averaged over the global batch, gradients applied by the Keras
optimizer (which all-reduces them). The rest of what `fit` gives is kept: the progress bar, the
per-epoch `#metrics` lines, early stopping and checkpoints, through the same Keras callbacks.

Every worker runs the same number of steps per epoch (a collective that one worker skips would
hang the others), and every decision is taken together: a SIGTERM on any host stops every host
after the same step; early stopping is the chief's decision, given to all.

One call of the compiled train function runs `steps_per_execution` steps (as `fit` does), so the
host reads results, and the device waits for it, once per call rather than once per step. The
stop vote goes in with the call and comes back summed after its first step: a stopping call runs
that one step on every worker and returns.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from byoc.data import pipeline
from byoc.data.streaming import Stream
from byoc.errors import FrameworkError
from byoc.hyperparams import HyperParameters
from byoc.training import losses
from byoc.training.callbacks import Terminated
from byoc.training.distributed import Distributed

log = logging.getLogger("byoc.training")

# The per-step vector every replica contributes: summed over replicas, then read by name.
_TRAIN_SUMS = ("loss", "correct", "top_k_correct", "count", "stop")
_EVAL_SUMS = ("loss", "correct", "top_k_correct", "count")


@dataclass(frozen=True)
class Shape:
    """How an epoch is cut: per-replica and global batch, and steps every worker runs."""

    batch_size: int  # per replica
    global_batch: int
    steps: int


def epoch_shape(dist: Distributed, hp: HyperParameters, local_samples: int,
                sharded: bool) -> Shape:
    """Steps per epoch, the same on every worker.

    Replicated data: every host holds all of it and trains on its 1/N; the global count decides.
    Sharded data: each host holds its own part; the largest part decides, so every image is seen
    each epoch (a smaller part wraps around).
    """
    global_batch = hp.batch_size * dist.replicas
    if sharded and dist.multi_worker:
        per_worker_batch = global_batch // dist.workers
        steps = int(dist.max(math.ceil(local_samples / per_worker_batch)))
    else:
        steps = math.ceil(local_samples / global_batch)
    return Shape(batch_size=hp.batch_size, global_batch=global_batch, steps=max(steps, 1))


def calls(steps: int, per_call: int) -> list[int]:
    """The steps of each compiled call in an epoch of `steps`: `per_call` each, the rest in the
    last call, so that every worker takes the same steps whatever `per_call` is."""
    full, rest = divmod(steps, per_call)
    return [per_call] * full + ([rest] if rest else [])


def _shard(ctx: tf.distribute.InputContext) -> tuple[int, int]:
    return ctx.num_input_pipelines, ctx.input_pipeline_id


def _training_input(x: np.ndarray | Stream, y: np.ndarray, class_weight: np.ndarray,
                    hp: HyperParameters, shape: Shape, shard: bool):
    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = ctx.get_per_replica_batch_size(shape.global_batch)
        # Replicated data: each worker takes its own 1/N of the training set.
        split = shard and ctx.num_input_pipelines > 1
        if isinstance(x, Stream):
            return x.training(hp, batch, class_weight, _shard(ctx) if split else (1, 0))
        weights = class_weight[y].astype(np.float32)
        ds = tf.data.Dataset.from_tensor_slices((x, y, weights))
        if split:
            ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return pipeline.training_stream(ds, hp, batch)

    return dataset_fn


def _eval_input(x: np.ndarray | Stream, y: np.ndarray, global_batch: int):
    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = ctx.get_per_replica_batch_size(global_batch)
        if isinstance(x, Stream):
            return x.evaluation(batch, _shard(ctx))
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if ctx.num_input_pipelines > 1:
            ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return pipeline.evaluation_batches(ds, batch)

    return dataset_fn


class Loop:
    """The compiled train and eval steps of one model under one strategy."""

    def __init__(self, model: keras.Model, dist: Distributed, global_batch: int, top_k: int,
                 loss_fn: losses.Loss = losses.BYOC_LOSS, variables: list | None = None,
                 steps_per_execution: int = 1):
        """`variables`: the ones to train (default: all the model's trainable ones), a subset
        of those the optimizer was built for (byoc.training.phases). `steps_per_execution`:
        the training steps of one compiled call."""
        self.model = model
        self.steps_per_execution = steps_per_execution
        train_vars = list(model.trainable_variables) if variables is None else variables
        self.dist = dist
        self.global_batch = global_batch
        optimizer = model.optimizer

        def counts(y, probs):
            probs = tf.cast(probs, tf.float32)
            y = tf.cast(y, tf.int32)
            correct = tf.reduce_sum(tf.cast(
                tf.equal(tf.argmax(probs, axis=-1, output_type=tf.int32), y), tf.float32))
            in_top_k = tf.reduce_sum(tf.cast(tf.math.in_top_k(y, probs, top_k), tf.float32))
            return correct, in_top_k, tf.cast(tf.shape(y)[0], tf.float32)

        def train_replica(x, y, w, stop):
            with tf.GradientTape() as tape:
                probs = model(x, training=True)
                per_example = tf.cast(loss_fn(y, probs), tf.float32)
                loss = tf.nn.compute_average_loss(per_example, sample_weight=w,
                                                  global_batch_size=global_batch)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, train_vars)
            optimizer.apply_gradients(zip(grads, train_vars, strict=True))
            return tf.stack([loss, *counts(y, probs), tf.cast(stop, tf.float32)])

        def eval_replica(x, y):
            probs = model(x, training=False)
            per_example = tf.cast(loss_fn(y, probs), tf.float32)
            return tf.stack([tf.reduce_sum(per_example), *counts(y, probs)])

        strategy = dist.strategy

        def one_step(iterator, stop):
            x, y, w = next(iterator)
            # One collective carries the loss, the counts and every worker's stop vote.
            return strategy.reduce(tf.distribute.ReduceOp.SUM,
                                   strategy.run(train_replica, args=(x, y, w, stop)), axis=None)

        @tf.function
        def train_steps(iterator, stop, n):
            """`n` steps (a tensor: one trace for every `n`), their sums added up; one step only
            when a worker voted to stop."""
            totals, done = tf.zeros([len(_TRAIN_SUMS)]), tf.constant(0)
            # Autograph makes this one tf.while_loop, and the step is traced once, in its body
            # (a first step outside the loop would trace the model twice). The vote is the last
            # sum: once a step carried one, it is above zero and the loop ends.
            while done < n and totals[-1] <= 0:
                totals += one_step(iterator, stop)
                done += 1
            return totals

        @tf.function
        def eval_step(x, y):
            return strategy.reduce(tf.distribute.ReduceOp.SUM,
                                   strategy.run(eval_replica, args=(x, y)), axis=None)

        self._train_steps, self._eval_step = train_steps, eval_step

    def train_epoch(self, iterator, steps: int, stop_requested, callbacks) -> dict[str, float]:
        """Run `steps` steps, `steps_per_execution` per call; raise Terminated when any worker
        was asked to stop."""
        totals = np.zeros(len(_TRAIN_SUMS))
        step = 0
        for n in calls(steps, self.steps_per_execution):
            callbacks.on_train_batch_begin(step)
            sums = self._train_steps(iterator, tf.constant(bool(stop_requested())),
                                     tf.constant(n))
            out = dict(zip(_TRAIN_SUMS, sums.numpy(), strict=True))
            if out["stop"] > 0:
                # Every worker sees the same vote after the same step: all stop here together.
                raise Terminated(f"after step {step + 1} of {steps}")
            totals += [out[k] for k in _TRAIN_SUMS]
            step += n
            # Keras's convention with steps_per_execution: the batch index of the call's last
            # step, so the progress bar counts every step.
            callbacks.on_train_batch_end(step - 1, {"loss": totals[0] / step})
        sums = dict(zip(_TRAIN_SUMS, totals, strict=True))
        return {"loss": sums["loss"] / steps,
                "accuracy": sums["correct"] / max(sums["count"], 1),
                "top_k_accuracy": sums["top_k_correct"] / max(sums["count"], 1)}

    def evaluate(self, dataset) -> dict[str, float]:
        """Loss and accuracies over a whole distributed dataset, identical on every worker."""
        totals = np.zeros(len(_EVAL_SUMS))
        for x, y in dataset:
            totals += self._eval_step(x, y).numpy()
        sums = dict(zip(_EVAL_SUMS, totals, strict=True))
        n = max(sums["count"], 1)
        return {"loss": sums["loss"] / n, "accuracy": sums["correct"] / n,
                "top_k_accuracy": sums["top_k_correct"] / n}


def datasets(dist: Distributed, hp: HyperParameters, shape: Shape, x: np.ndarray | Stream,
             y: np.ndarray, class_weight: np.ndarray,
             val: tuple[np.ndarray | Stream, np.ndarray] | None, sharded: bool):
    """The distributed training iterator (endless: the loop takes `steps` per epoch) and the
    distributed validation set. `class_weight`: each class's loss weight."""
    strategy = dist.strategy
    train = strategy.distribute_datasets_from_function(
        _training_input(x, y, class_weight, hp, shape, shard=not sharded))
    val_ds = (strategy.distribute_datasets_from_function(_eval_input(*val, shape.global_batch))
              if val is not None else None)
    return iter(train), val_ds


_TASK = re.compile(r"task:(\d+)")
# TensorFlow's sentence for why a collective stopped, e.g. "... aborted by: recvmsg:Connection
# reset by peer".
_ABORTED = re.compile(r"aborted by:\s*([^\n]+)")


def lost_peer_error(exc: Exception, dist: Distributed) -> FrameworkError:
    """A collective failed because a host went away: say which host, and what to do."""
    text = str(exc)
    tasks = sorted({int(t) for t in _TASK.findall(text)} - {dist.index})
    names = [dist.hosts[t] for t in tasks if t < len(dist.hosts)]
    who = ", ".join(names) if names else "another host"
    found = _ABORTED.search(text)
    cause = (found.group(1) if found else text.strip().splitlines()[0]).strip()[:300]
    return FrameworkError(
        f"Lost contact with {who} of this {dist.workers}-host job (this is "
        f"{dist.hosts[dist.index]}; {type(exc).__name__}: {cause}). A host that is killed or "
        f"runs out of memory stops the job: see {who}'s log. The chief's last checkpoint "
        "resumes the job.")
