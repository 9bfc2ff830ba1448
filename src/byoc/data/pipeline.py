"""The tf.data input pipeline: in-memory uint8 arrays → shuffled, batched, augmented tensors.

Everything runs as TensorFlow ops inside the graph (no per-batch Python). Pixels stay 0..255;
the model rescales them itself, as it does at serving time.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import layers

from byoc.hyperparams import HyperParameters

AUTOTUNE = tf.data.AUTOTUNE


def augmenter(seed: int) -> tf.keras.Sequential:
    """Geometric and photometric jitter. No flips: a mirrored 'turn left' sign is 'turn right'."""
    return tf.keras.Sequential([
        layers.RandomRotation(0.04, fill_mode="nearest", seed=seed),
        layers.RandomZoom(0.12, fill_mode="nearest", seed=seed + 1),
        layers.RandomTranslation(0.08, 0.08, fill_mode="nearest", seed=seed + 2),
        layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed + 3),
        layers.RandomContrast(0.25, seed=seed + 4),
    ], name="augment")


def training_dataset(x: np.ndarray, y: np.ndarray, hp: HyperParameters,
                     global_batch_size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=hp.seed, reshuffle_each_iteration=True)
    ds = ds.batch(global_batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=AUTOTUNE)
    if hp.augment:
        aug = augmenter(hp.seed)
        ds = ds.map(lambda a, b: (tf.clip_by_value(aug(a, training=True), 0.0, 255.0), b),
                    num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray | None, batch_size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(batch_size)
    if y is None:
        ds = ds.map(lambda a: tf.cast(a, tf.float32), num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
