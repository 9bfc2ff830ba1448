"""Pretrained backbones from keras.applications under byoc's head, chosen by the `model`
hyperparameter, and their weights: a file in the `pretrained` channel, or Keras's ImageNet ones.

Each model takes raw pixels (0..255), as byoc's own do: the backbone's own preprocessing (Keras's
`include_preprocessing`) is inside the model, so `serve` and the LiteRT export feed the same
values. A grayscale image is repeated into the three channels the backbones expect.

A backbone that starts from pretrained weights keeps its BatchNormalization layers in inference
mode for the whole run (trainable=False: their moving statistics and scales stay as trained), as
Keras recommends for fine-tuning. Which other layers train, and when, is `byoc.training.phases`'s
business: it chooses variables and never changes a layer's `trainable`, so the checkpoint's
model and optimizer keep one shape across the switch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
from keras import layers

from byoc.bundle import keras_io
from byoc.errors import UserError

# model name → the keras.applications function; each takes input_shape, include_top, weights,
# pooling and include_preprocessing.
APPLICATIONS: dict[str, Callable[..., keras.Model]] = {
    "mobilenet_v3_small": keras.applications.MobileNetV3Small,
    "mobilenet_v3_large": keras.applications.MobileNetV3Large,
    "efficientnet_v2_b0": keras.applications.EfficientNetV2B0,
}
# The file types of the `pretrained` channel: Keras weights (a backbone's, e.g. saved with
# `backbone.save_weights`, or Keras's own "notop" .h5 files), or a whole saved model that is or
# holds the backbone (another byoc run's model.keras, say).
WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".keras")
IMAGENET = "imagenet"
# The moving statistics' momentum of a backbone trained from random weights, as byoc's own models
# (`architectures._bn`): they follow the weights within a few dozen steps.
FROM_SCRATCH_BN_MOMENTUM = 0.9


def _head(x, num_classes: int):
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)


def build(name: str, input_shape: tuple[int, int, int], num_classes: int,
          weights: str | None = None) -> keras.Model:
    """The backbone `name` (global-average pooled) under dropout and a softmax head.

    `weights`: None (random), "imagenet" (downloaded by Keras), or "pretrained": random now,
    loaded from the channel's file next (`load_pretrained`). Either pretrained kind freezes the
    backbone's BatchNormalization layers."""
    height, width, channels = input_shape
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs if channels == 3 else layers.Concatenate(name="to_rgb")([inputs] * 3)
    try:
        backbone = APPLICATIONS[name](
            input_shape=(height, width, 3), include_top=False, pooling="avg",
            include_preprocessing=True, weights=IMAGENET if weights == IMAGENET else None)
    except Exception as exc:  # a download that failed: no internet, a proxy, a full disk
        if weights != IMAGENET:
            raise
        raise UserError(
            f"Keras could not download the ImageNet weights of {name} ({type(exc).__name__}: "
            f"{str(exc)[:200]}). weights=imagenet needs a container that reaches the internet. "
            "Without it, put the weights file in the `pretrained` channel instead (e.g. "
            f"`{name}.weights.h5`) and leave weights out.") from None
    for layer in backbone.layers:
        if not isinstance(layer, layers.BatchNormalization):
            continue
        if weights:
            layer.trainable = False  # pretrained statistics and scales stay as trained
        else:
            # From random weights, the statistics must catch up with the weights within the
            # run. MobileNetV3's BatchNormalization keeps 99.9% of the old value each step:
            # after a few hundred steps the statistics are still close to their start, and the
            # model in inference mode (validation, serving, a later fine-tune) is at chance.
            layer.momentum = min(layer.momentum, FROM_SCRATCH_BN_MOMENTUM)
    x = backbone(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, _head(x, num_classes), name=name)


def backbone_of(model: keras.Model) -> keras.Model:
    """The keras.applications model nested in one that `build` made."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"{model.name} holds {len(nested)} nested models, not one backbone")
    return nested[0]


def weights_file(channel: Path) -> Path:
    """The one weights file in the `pretrained` channel."""
    found = sorted(p for p in channel.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and p.name.endswith(WEIGHTS_SUFFIXES))
    if len(found) != 1:
        listed = ", ".join(p.name for p in found[:5]) or "none"
        raise UserError(
            f"The pretrained channel ({channel}) must hold exactly one weights file ("
            f"{', '.join(WEIGHTS_SUFFIXES)}); it holds {len(found)} ({listed}). Give it the "
            "backbone's weights alone.")
    return found[0]


def load_pretrained(model: keras.Model, path: Path) -> None:
    """Load the backbone's weights from `path` into `model`'s backbone: a weights file of that
    backbone, or a saved model that is the backbone or holds it. Anything else is refused with a
    sentence that says what the file should be."""
    backbone = backbone_of(model)
    expected = (f"It must hold the weights of {backbone.name} (keras.applications, "
                f"include_top=False), as `backbone.save_weights('{model.name}.weights.h5')` "
                "writes them, or a .keras model with that backbone, such as the model.keras "
                f"of a byoc run with model={model.name}.")
    try:
        if path.name.endswith(".keras"):
            source = keras_io.load_model(path, compile=False)
            _copy_weights(_matching(source, backbone.name), backbone)
        else:
            backbone.load_weights(path)
    except UserError as exc:
        raise UserError(f"The pretrained weights {path.name} cannot be used: {exc} "
                        f"{expected}") from None
    except Exception as exc:  # Keras raises ValueError, KeyError, OSError for files that differ
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(
            f"The pretrained weights {path.name} do not fit model={model.name} "
            f"({type(exc).__name__}: {first}). {expected}") from None


def _matching(source: keras.Model, name: str) -> keras.Model:
    if source.name == name:
        return source
    for layer in source.layers:
        if isinstance(layer, keras.Model) and layer.name == name:
            return layer
    raise UserError(f"it is a model named {source.name} that holds no {name}.")


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    theirs, ours = source.get_weights(), target.weights
    if len(theirs) != len(ours) or any(t.shape != tuple(o.shape)
                                       for t, o in zip(theirs, ours, strict=True)):
        raise UserError(f"its {source.name} has other weights ({len(theirs)} arrays, "
                        f"{len(ours)} expected): another variant or width of the backbone.")
    target.set_weights(theirs)
