"""A traffic-sign network of our own for byoc's trainer: `model=model:build_model`.

byoc calls build_model(input_shape, num_classes, hp) and trains what it returns with its own loop,
checkpoints, multi-host strategy, evaluation report and LiteRT export. The ConvBlock layer is
registered with Keras, so the trained model loads in safe mode wherever the bundle goes: byoc
copies this directory into model.tar.gz (code/) and imports this module before it loads the model.
"""

import keras
from keras import layers

# Our own hyperparameters, with their defaults: `--hp dropout=0.5` is accepted and typed as a
# float, `--hp filters=48` as an int. byoc reads this dict without running the module, so it
# must be written out like this.
HYPERPARAMETERS = {"dropout": 0.3, "filters": 32}


@keras.saving.register_keras_serializable(package="cost_sensitive")
class ConvBlock(layers.Layer):
    """Two 3×3 convolutions with batch norm and ReLU, then 2×2 max pooling."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.convs = [layers.Conv2D(filters, 3, padding="same", use_bias=False) for _ in range(2)]
        # A short memory (Keras's default is 0.99): the statistics must keep up in few steps.
        self.norms = [layers.BatchNormalization(momentum=0.9) for _ in range(2)]
        self.pool = layers.MaxPooling2D()

    def build(self, input_shape):
        shape = input_shape
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)

    def call(self, x, training=None):
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = keras.ops.relu(norm(conv(x), training=training))
        return self.pool(x)

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape((*input_shape[:-1], self.filters))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def build_model(input_shape, num_classes, hp):
    """Raw pixels (0..255) in, one probability per class out; uncompiled (byoc compiles it)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = ConvBlock(hp["filters"])(x)
    x = ConvBlock(hp["filters"] * 2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(hp["dropout"])(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32",
                           name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cost_sensitive_cnn")
