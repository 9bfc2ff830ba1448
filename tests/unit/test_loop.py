"""The training loop's steps per compiled call: how an epoch is cut into calls, and that a call of
several steps trains exactly as the same steps one by one, reports every step to the progress bar
and stops on a vote after one step. A tiny dense model on the default strategy, in process."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from byoc.errors import UserError
from byoc.hyperparams import STEPS_PER_EXECUTION, HyperParameters, parse
from byoc.training import loop
from byoc.training.callbacks import Terminated
from byoc.training.distributed import Distributed

BATCH, CLASSES = 4, 3


@pytest.mark.parametrize(("steps", "per_call", "expected"), [
    (10, 4, [4, 4, 2]),   # the last call takes the remainder
    (8, 4, [4, 4]),
    (3, 8, [3]),          # fewer steps than one call
    (1, 8, [1]),
    (5, 1, [1, 1, 1, 1, 1]),
])
def test_an_epoch_is_cut_into_calls_that_add_up_to_its_steps(steps, per_call, expected):
    assert loop.calls(steps, per_call) == expected
    assert sum(loop.calls(steps, per_call)) == steps


def test_steps_per_execution_is_validated():
    assert HyperParameters().steps_per_execution == STEPS_PER_EXECUTION
    assert parse({"steps_per_execution": "32"}).steps_per_execution == 32
    for bad in ("0", "-1", "2.5", "many", "1001"):
        with pytest.raises(UserError, match=r"'steps_per_execution'.*Accepted: a whole number "
                                            r"from 1 to 1000"):
            parse({"steps_per_execution": bad})


class _Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends: list[int] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(batch)
        self.losses.append(logs["loss"])


def _loop(per_call: int):
    """A fresh seeded model and its loop, `per_call` steps per call, over an endless iterator:
    (model, loop, iterator, callbacks, the callback that records the batches)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.2),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, CLASSES, 64)
    data = tf.data.Dataset.from_tensor_slices((x, y, np.ones(64, np.float32))).batch(BATCH)
    dist = Distributed(tf.distribute.get_strategy())
    iterator = iter(dist.strategy.experimental_distribute_dataset(data.repeat()))
    seen = _Batches()
    return (model, loop.Loop(model, dist, BATCH, top_k=2, steps_per_execution=per_call),
            iterator, keras.callbacks.CallbackList([seen], model=model), seen)


@pytest.mark.slow  # tracing two loops takes longer than the fast tier allows on a busy machine
def test_several_steps_per_call_train_as_the_same_steps_one_by_one():
    runs = {}
    for per_call in (1, 3):
        model, steps, iterator, callbacks, seen = _loop(per_call)
        logs = steps.train_epoch(iterator, 7, lambda: False, callbacks)
        runs[per_call] = model, logs, seen
    (one, logs_one, seen_one), (three, logs_three, seen_three) = runs[1], runs[3]
    assert int(one.optimizer.iterations) == int(three.optimizer.iterations) == 7
    for a, b in zip(one.get_weights(), three.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert logs_one == pytest.approx(logs_three, rel=1e-5)
    # The progress bar hears of every step: the last step of each call, the remainder last.
    assert seen_one.ends == list(range(7))
    assert seen_three.ends == [2, 5, 6]
    assert seen_three.losses[-1] == pytest.approx(logs_three["loss"])


@pytest.mark.slow
def test_a_stop_vote_ends_the_call_after_one_step():
    model, steps, iterator, callbacks, seen = _loop(per_call=4)
    votes = iter([False, True])
    with pytest.raises(Terminated, match="after step 5 of 20"):
        steps.train_epoch(iterator, 20, lambda: next(votes), callbacks)
    # The first call ran its 4 steps; the second, carrying the vote, ran one step and stopped,
    # and was not reported as done.
    assert int(model.optimizer.iterations) == 5
    assert seen.ends == [3]
