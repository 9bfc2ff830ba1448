"""Backbones with weights like pretrained ones in kind, for tests that cannot download any."""

from __future__ import annotations

import keras
import numpy as np


def calibrate(backbone: keras.Model, seed: int = 0) -> keras.Model:
    """Give `backbone`'s BatchNormalization layers the statistics of real activations (one
    batch of random pixels). A random backbone's moving statistics are 0 and 1, and its
    activations then vanish by its last layer (1e-10 in MobileNetV3), so every class would get
    the same probability and a comparison of outputs would prove nothing."""
    norms = [layer for layer in backbone.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    kept = [(layer.momentum, layer.trainable) for layer in norms]
    for layer in norms:
        # The moving statistics become this batch's; a frozen layer would not update them.
        layer.momentum, layer.trainable = 0.0, True
    height, width, channels = backbone.input_shape[1:]
    backbone(np.random.default_rng(seed).uniform(0, 255, (8, height, width, channels)),
             training=True)
    for layer, (momentum, trainable) in zip(norms, kept, strict=True):
        layer.momentum, layer.trainable = momentum, trainable
    return backbone
