"""CNN architectures, one short function each, chosen by the `model` hyperparameter.

Every model takes raw pixels (0..255) and rescales them itself, so training and serving feed the
same values. Each ends in a float32 softmax, which keeps mixed precision numerically safe.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from byoc.hyperparams import ARCHITECTURE_NAMES, BACKBONE_NAMES
from byoc.model import backbones


def _bn():
    # Keras's default momentum (0.99) needs thousands of steps before the moving statistics
    # match the weights; on a few thousand images that ruins validation for many epochs.
    return layers.BatchNormalization(momentum=0.9)


def _head(x, num_classes: int):
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)


def lenet(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """LeNet-5 as in the classic traffic-sign project: Conv → Pool → Conv → Pool → Flatten → FC."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(6, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu")(x)
    x = layers.Dense(84, activation="relu")(x)
    return keras.Model(inputs, _head(x, num_classes), name="lenet")


def vgg(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A small VGG: three blocks of two 3×3 convs with batch norm, then dropout and FC."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = _bn()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    return keras.Model(inputs, _head(x, num_classes), name="vgg")


def _residual(x, filters: int, stride: int):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = _bn()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = _bn()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = _bn()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def resnet(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A small ResNet: a stem and three stages of two residual blocks (32, 64, 128 filters)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = _bn()(x)
    x = layers.ReLU()(x)
    for i, filters in enumerate((32, 64, 128)):
        x = _residual(x, filters, stride=1 if i == 0 else 2)
        x = _residual(x, filters, stride=1)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, _head(x, num_classes), name="resnet")


# The registry: each of byoc's own names that the `model` hyperparameter accepts is the name of a
# function above. A new architecture is one function here and its name in
# byoc.hyperparams.ARCHITECTURE_NAMES (the driver validates names without TensorFlow); the
# pretrained backbones are byoc.model.backbones's.
ARCHITECTURES: dict[str, Callable[[tuple[int, int, int], int], keras.Model]] = {
    name: globals()[name] for name in ARCHITECTURE_NAMES
}
assert set(backbones.APPLICATIONS) == set(BACKBONE_NAMES)


def build(name: str, input_shape: tuple[int, int, int], num_classes: int,
          weights: str | None = None) -> keras.Model:
    """byoc's network `name`; `weights` (a backbone's only) as `backbones.build` takes them."""
    if name in backbones.APPLICATIONS:
        return backbones.build(name, input_shape, num_classes, weights)
    return ARCHITECTURES[name](input_shape, num_classes)
