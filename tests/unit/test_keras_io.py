"""The Keras model in a bundle loads in Keras's safe mode: a model file whose layers would run
arbitrary Python code when loaded is refused, with a reason a user can act on."""

from __future__ import annotations

import pytest

from byoc.bundle import MODEL_FILE, ModelSpec
from byoc.errors import UserError

keras = pytest.importorskip("keras")

from byoc.bundle import keras_io  # noqa: E402  (needs keras, skipped above)


def _bundle(model_dir, *layers):
    inputs = keras.Input((2, 2, 1))
    x = keras.layers.Flatten()(inputs)
    for layer in layers:
        x = layer(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    return keras_io.save(model, ModelSpec(class_names=["a", "b"], height=2, width=2, channels=1),
                         model_dir)


def test_a_model_with_a_lambda_layer_is_refused_on_load(tmp_path):
    # A Python lambda is stored as bytecode, which Keras would run when it loads the model.
    bundle = _bundle(tmp_path, keras.layers.Lambda(lambda x: x * 2))
    with pytest.raises(UserError, match="runs arbitrary Python code") as refused:
        keras_io.load(bundle)
    assert str(bundle / MODEL_FILE) in str(refused.value)
    assert "built-in or registered layers" in str(refused.value)


def test_a_model_of_built_in_layers_loads(tmp_path):
    model, spec = keras_io.load(_bundle(tmp_path, keras.layers.Dense(3)))
    assert spec.class_names == ["a", "b"] and model.output_shape == (None, 2)
