"""The loss the training loop minimises: Keras's sparse categorical cross-entropy, or the user's
`loss=MODULE:FUNCTION`, called once as `FUNCTION(num_classes, hp)`.

Either way it is a per-example loss: `loss(y_true, y_pred)` with y_true the integer labels, int32
of shape (batch,), and y_pred the model's probabilities, float32 (batch, num_classes), returns
float32 (batch,). The loop averages it over the global batch with the class weights, as it does
across hosts. A `keras.losses.Loss` is used unreduced (its `call`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from byoc.errors import UserError
from byoc.model.custom import raised

log = logging.getLogger("byoc.training")

Loss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
BYOC_LOSS: Loss = keras.losses.sparse_categorical_crossentropy


def make(function: Callable | None, reference: str, num_classes: int,
         hp: Mapping[str, object]) -> Loss:
    """byoc's loss when `function` is None, else the user's, checked on a batch of two examples
    inside a tf.function, as the loop will run it."""
    if function is None:
        return BYOC_LOSS
    try:
        loss = function(num_classes, hp)
    except UserError:
        raise
    except Exception as exc:
        raise raised(reference, exc) from None
    if isinstance(loss, keras.losses.Loss):
        loss = loss.call
    elif not callable(loss):
        raise UserError(f"{reference} returned {type(loss).__name__}, not a loss. Return a "
                        "function loss(y_true, y_pred) or a keras.losses.Loss.")
    y_true = tf.constant([0, num_classes - 1], tf.int32)
    y_pred = tf.fill([2, num_classes], 1.0 / num_classes)
    try:
        values = tf.function(loss)(y_true, y_pred)
    except Exception as exc:
        log.error("%s's loss failed on a batch:\n%s", reference, traceback.format_exc())
        raise UserError(
            f"The loss of {reference} fails on a batch of integer labels (int32, shape (2,)) and "
            f"probabilities (float32, shape (2, {num_classes})): {type(exc).__name__}: "
            f"{str(exc)[:300]}. Use keras.ops or TensorFlow operations: the loss runs inside a "
            "compiled training step.") from None
    values = np.asarray(values)
    if values.shape != (2,):
        raise UserError(
            f"The loss of {reference} returns shape {values.shape} for a batch of 2; byoc needs "
            "one value per example, shape (2,), and averages them itself (with the class "
            "weights, across hosts). Do not reduce over the batch.")
    if not np.all(np.isfinite(values)):
        raise UserError(f"The loss of {reference} is not finite on a batch of uniform "
                        f"probabilities ({values.tolist()}). Clip the probabilities before a "
                        "log, and check the data it reads.")
    return loss
