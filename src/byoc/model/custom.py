"""The user's network in byoc's trainer: `model=MODULE:FUNCTION`, called as
`FUNCTION(input_shape, num_classes, hp)`, checked before training starts.

What would otherwise fail late (in the first step, at the first checkpoint after an epoch, or in
`serve`) fails here, in one sentence: not a Keras model, the wrong output, outputs that are not
probabilities, or layers that cannot be saved and loaded back in Keras's safe mode.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping

import keras
import numpy as np

from byoc.bundle import keras_io
from byoc.errors import UserError

log = logging.getLogger("byoc.model")

# Softmax rows sum to 1 up to float32 rounding (and float16, under mixed precision).
PROBABILITY_TOLERANCE = 1e-2
HEAD = 'layers.Dense(num_classes, activation="softmax", dtype="float32")'


def raised(reference: str, exc: Exception) -> UserError:
    """The user's function raised: their error, with the traceback in the log."""
    log.error("%s raised:\n%s", reference, traceback.format_exc())
    return UserError(f"{reference} raised {type(exc).__name__}: {str(exc)[:300]}. Fix the "
                     "function (the log has the traceback).")


def build(function: Callable, reference: str, input_shape: tuple[int, int, int],
          num_classes: int, hp: Mapping[str, object]) -> keras.Model:
    """Call the user's model function and check what it returns on a batch of two images. Call it
    in the strategy's scope: a subclassed model makes its variables in that first call."""
    try:
        model = function(input_shape, num_classes, hp)
    except UserError:
        raise
    except Exception as exc:
        raise raised(reference, exc) from None
    if not isinstance(model, keras.Model):
        raise UserError(
            f"{reference} returned {type(model).__name__}, not a keras.Model. Return the "
            "uncompiled model, e.g. keras.Model(inputs, outputs); byoc compiles and trains it.")
    images = np.zeros((2, *input_shape), np.float32)
    try:
        probs = np.asarray(model(images, training=False), np.float32)
    except Exception as exc:
        log.error("%s's model failed on a batch of images:\n%s", reference,
                  traceback.format_exc())
        raise UserError(
            f"The model of {reference} cannot take a batch of images of shape "
            f"(batch, {', '.join(map(str, input_shape))}) ({type(exc).__name__}: "
            f"{str(exc)[:300]}). Build it for `input_shape` as given: raw pixels 0..255, "
            "height, width, channels.") from None
    if probs.shape != (2, num_classes):
        raise UserError(
            f"The model of {reference} returns shape {probs.shape[1:]} per image; byoc needs "
            f"({num_classes},), one probability per class. End it with {HEAD}.")
    sums = probs.sum(axis=1)
    if not (np.all(probs >= 0) and np.allclose(sums, 1, atol=PROBABILITY_TOLERANCE)):
        raise UserError(
            f"The model of {reference} does not return probabilities (its outputs for one "
            f"image sum to {sums[0]:.3g}). End it with {HEAD}: byoc's loss, metrics, report "
            "and `serve` read softmax probabilities.")
    return model


def check_saves(model: keras.Model, reference: str) -> None:
    """Save the model's configuration and load it back as `serve` and a resumed job will, in
    safe mode: an unregistered layer, a layer without get_config(), or a Python lambda fails
    now, not at the first checkpoint. Call it outside a multi-host strategy's scope (the copy's
    variables are local)."""
    try:
        config = keras.saving.serialize_keras_object(model)
        keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as exc:
        log.error("%s's model cannot be saved and loaded back:\n%s", reference,
                  traceback.format_exc())
        missing = keras_io.missing_class(exc)
        why = (f"Keras cannot find the layer {missing}" if missing
               else f"{type(exc).__name__}: {str(exc)[:300]}")
        raise UserError(
            f"The model of {reference} cannot be saved and loaded back ({why}). Build it "
            "from Keras layers and your own layers registered with "
            "@keras.saving.register_keras_serializable() at the top level of a module, each "
            "with a get_config() that returns its constructor's arguments; no Lambda layers "
            "of Python functions.") from None
