"""The user's model and loss functions, called and checked as byoc's trainer does before the
first step: what they return must be a model of probabilities that saves and loads in safe mode,
and a loss of one value per example."""

from __future__ import annotations

import pytest

from byoc.errors import UserError

keras = pytest.importorskip("keras")

from byoc.model import custom  # noqa: E402  (needs keras, skipped above)
from byoc.training import losses  # noqa: E402

SHAPE, CLASSES = (8, 8, 3), 4
HP = {"dropout": 0.3}


def _net(activation="softmax", classes=CLASSES, *extra):
    def build(input_shape, num_classes, hp):
        inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(inputs)
        for layer in extra:
            x = layer(x)
        return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x))

    return build


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x


def test_a_model_of_probabilities_is_built_with_the_arguments_byoc_promises():
    seen = {}

    def build(input_shape, num_classes, hp):
        seen.update(input_shape=input_shape, num_classes=num_classes, hp=hp)
        return _net()(input_shape, num_classes, hp)

    model = custom.build(build, "model:build", SHAPE, CLASSES, HP)
    assert model.output_shape == (None, CLASSES)
    assert seen == {"input_shape": SHAPE, "num_classes": CLASSES, "hp": HP}
    custom.check_saves(model, "model:build")


@pytest.mark.parametrize("function,fragment", [
    (lambda s, n, hp: "a model", "model:f returned str, not a keras.Model"),
    (lambda s, n, hp: 1 / 0, "model:f raised ZeroDivisionError: division by zero. Fix the"),
    (_net(classes=CLASSES + 1), r"returns shape \(5,\) per image; byoc needs \(4,\)"),
    (_net(activation=None), "does not return probabilities"),
    (lambda s, n, hp: _net()((3, 3, 1), n, hp), "cannot take a batch of images of shape "
                                                 r"\(batch, 8, 8, 3\)"),
])
def test_a_model_function_that_breaks_byocs_promises_is_refused(function, fragment):
    with pytest.raises(UserError, match=fragment):
        custom.build(function, "model:f", SHAPE, CLASSES, HP)


def test_a_model_that_would_not_load_back_is_refused_before_training(tmp_path):
    model = custom.build(_net("softmax", CLASSES, Unregistered()), "model:f", SHAPE, CLASSES,
                         HP)
    with pytest.raises(UserError, match=r"cannot be saved and loaded back \(Keras cannot find "
                                        r"the layer Unregistered\).*register_keras_serializable"):
        custom.check_saves(model, "model:f")


def test_byocs_loss_unless_the_user_gives_one():
    assert losses.make(None, "sparse_categorical_crossentropy", CLASSES, HP) is losses.BYOC_LOSS


def test_a_user_loss_gives_one_value_per_example_and_a_keras_loss_is_used_unreduced():
    y, probs = [0, 3, 1], [[0.7, 0.1, 0.1, 0.1]] * 3
    per_example = losses.make(lambda n, hp: keras.losses.SparseCategoricalCrossentropy(),
                              "loss:f", CLASSES, HP)
    assert tuple(per_example(keras.ops.convert_to_tensor(y),
                             keras.ops.convert_to_tensor(probs)).shape) == (3,)


@pytest.mark.parametrize("function,fragment", [
    (lambda n, hp: "mse", "loss:f returned str, not a loss"),
    (lambda n, hp: (lambda y, p: keras.ops.mean(p)), r"returns shape \(\) for a batch of 2.*"
                                                     "Do not reduce"),
    (lambda n, hp: (lambda y, p: keras.ops.log(p[:, 0] * 0)), "is not finite"),
    (lambda n, hp: (lambda y, p: y.numpy()), "Use keras.ops or TensorFlow operations"),
    (lambda n, hp: open("/nonexistent/cost_matrix.csv"), "loss:f raised FileNotFoundError"),
])
def test_a_loss_that_the_loop_could_not_use_is_refused(function, fragment):
    with pytest.raises(UserError, match=fragment):
        losses.make(function, "loss:f", CLASSES, HP)
