"""Hyperparameters: SageMaker's strings in, typed values out, clear errors for bad input."""

import pytest

from byoc import hyperparams
from byoc.errors import UserError


def test_defaults_when_empty():
    hp = hyperparams.parse({})
    assert hp == hyperparams.HyperParameters()
    assert hp.model == "lenet" and hp.image_size == (32, 32) and hp.channels == 3


def test_strings_are_parsed_to_types():
    hp = hyperparams.parse({
        "epochs": "3", "batch_size": "16", "learning_rate": "1e-2", "model": "VGG",
        "seed": "7", "validation_split": "0.25", "augment": "True", "class_weights": "balanced",
        "early_stopping_patience": "0", "top_k": "3", "image_size": "48x64", "channels": "1",
        "optimizer": "sgd", "mixed_precision": "false",
    })
    assert (hp.epochs, hp.batch_size, hp.learning_rate, hp.model) == (3, 16, 0.01, "vgg")
    assert (hp.seed, hp.validation_split) == (7, 0.25)
    assert (hp.augment, hp.class_weights) == (True, "balanced")
    assert (hp.early_stopping_patience, hp.top_k, hp.image_size, hp.channels) == (0, 3, (48, 64), 1)
    assert (hp.optimizer, hp.mixed_precision) == ("sgd", False)


def test_round_trip_through_strings():
    hp = hyperparams.parse({"image_size": "40", "augment": "yes", "learning_rate": "0.003"})
    assert hyperparams.parse(hp.as_strings()) == hp
    assert all(isinstance(v, str) for v in hp.as_strings().values())


def test_class_weights_accepts_booleans():
    assert hyperparams.parse({"class_weights": "true"}).class_weights == "balanced"
    assert hyperparams.parse({"class_weights": "False"}).class_weights == "none"


@pytest.mark.parametrize("key,value,fragment", [
    ("epochs", "ten", "whole number"),
    ("epochs", "0", ">= 1"),
    ("epochs", "2.5", "whole number"),
    ("batch_size", "-4", ">= 1"),
    ("learning_rate", "0", "> 0"),
    ("learning_rate", "nan", "finite"),
    ("model", "alexnet", "lenet, vgg, resnet"),
    ("validation_split", "1.0", "< 1"),
    ("augment", "maybe", "true or false"),
    ("class_weights", "inverse", "balanced"),
    ("image_size", "32x", "48x64"),
    ("image_size", "4", "between 8 and 1024"),
    ("channels", "2", "1 (grayscale) or 3"),
    ("top_k", "0", ">= 1"),
])
def test_bad_value_names_key_and_accepted(key, value, fragment):
    with pytest.raises(UserError) as err:
        hyperparams.parse({key: value})
    message = str(err.value)
    assert f"'{key}'" in message and f"'{value}'" in message
    assert fragment in message
    assert "Accepted:" in message


def test_unknown_key_suggests_the_close_name():
    with pytest.raises(UserError, match="Unknown hyperparameter 'learning-rate'.*'learning_rate'"):
        hyperparams.parse({"learning-rate": "0.1"})


def test_sagemaker_reserved_keys_are_ignored():
    hp = hyperparams.parse({"_tuning_objective_metric": "validation:accuracy",
                            "sagemaker_region": "us-east-1", "epochs": "2"})
    assert hp.epochs == 2


def test_model_names_match_the_architecture_registry():
    from byoc.model.architectures import ARCHITECTURES

    assert tuple(ARCHITECTURES) == hyperparams.MODEL_NAMES
