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


@pytest.mark.parametrize("text, value", [
    *[(t, True) for t in ("true", "1", "yes", "on", "True", " YES ")],
    *[(t, False) for t in ("false", "0", "no", "off", "False", " Off ")],
])
def test_every_spelling_of_a_boolean_means_what_it_says(text, value):
    assert hyperparams.parse({"augment": text}).augment is value
    assert hyperparams.parse({"augment": text, "mixed_precision": text}).mixed_precision is value


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

    assert tuple(ARCHITECTURES) == hyperparams.ARCHITECTURE_NAMES


# --- the user's code: model and loss as MODULE:FUNCTION, and the modules' own hyperparameters ---

MODEL_PY = '''
import keras

HYPERPARAMETERS = {"dropout": 0.3, "units": 64, "residual": False, "activation": "relu"}


def build_model(input_shape, num_classes, hp):
    raise AssertionError("parsing must not run the module")
'''
LOSS_PY = '''
HYPERPARAMETERS = {"cost_weight": 1.0}


def cost_sensitive_loss(num_classes, hp):
    raise AssertionError("parsing must not run the module")
'''


@pytest.fixture
def source(tmp_path):
    (tmp_path / "model.py").write_text(MODEL_PY)
    (tmp_path / "loss.py").write_text(LOSS_PY)
    return tmp_path


def test_model_and_loss_name_the_users_functions(source):
    hp = hyperparams.parse({"model": "model:build_model", "loss": "loss:cost_sensitive_loss"},
                           source=source)
    assert (hp.model, hp.loss) == ("model:build_model", "loss:cost_sensitive_loss")
    assert hyperparams.parse({}).loss == "sparse_categorical_crossentropy"


def test_declared_hyperparameters_are_typed_from_their_defaults(source):
    raw = {"model": "model:build_model", "loss": "loss:cost_sensitive_loss", "dropout": "0.5",
           "units": "128", "residual": "true", "activation": "gelu", "epochs": "3"}
    hp = hyperparams.parse(raw, source=source)
    mapping = hp.as_mapping()
    assert (mapping["dropout"], mapping["units"], mapping["residual"]) == (0.5, 128, True)
    assert (mapping["activation"], mapping["cost_weight"]) == ("gelu", 1.0)  # a default kept
    assert mapping["epochs"] == 3 and mapping["image_size"] == (32, 32)  # byoc's, typed
    with pytest.raises(TypeError):
        mapping["dropout"] = 0.1  # read-only: what the user's functions receive
    assert hp.as_strings()["residual"] == "true"
    assert hyperparams.parse(hp.as_strings(), source=source) == hp


@pytest.mark.parametrize("key,value,fragment", [
    ("dropout", "lots", "a number (default 0.3)"),
    ("units", "2.5", "a whole number (default 64)"),
    ("residual", "maybe", "true or false (default false)"),
])
def test_a_bad_value_for_a_declared_hyperparameter_says_its_type(source, key, value, fragment):
    with pytest.raises(UserError, match=f"'{key}' has the value '{value}'") as err:
        hyperparams.parse({"model": "model:build_model", key: value}, source=source)
    assert f"Accepted: {fragment}." in str(err.value)


def test_an_unknown_key_is_still_refused_with_a_hint_among_the_declared_ones(source):
    with pytest.raises(UserError, match="Unknown hyperparameter 'dropuot'. Did you mean "
                                        "'dropout'?.*HYPERPARAMETERS: dropout, units"):
        hyperparams.parse({"model": "model:build_model", "dropuot": "0.1"}, source=source)
    # Declared keys count only when a reference names their module.
    with pytest.raises(UserError, match="Unknown hyperparameter 'dropout'"):
        hyperparams.parse({"dropout": "0.1"}, source=source)


def test_values_json_encoded_by_the_sdk_are_read_as_strings(source):
    hp = hyperparams.parse({"model": '"model:build_model"', "optimizer": '"sgd"'},
                           source=source)
    assert (hp.model, hp.optimizer) == ("model:build_model", "sgd")


@pytest.mark.parametrize("declaration,fragment", [
    ('["dropout"]', "is a list; it must be a dict"),
    ("dict(dropout=0.3)", "must be written out as a dict"),
    ('{"dropout": DEFAULT}', "must be written out as a dict"),
    ('{"dropout": [0.3]}', "a default is a bool, int, float or str"),
    ('{"epochs": 3}', "'epochs', which is byoc's own hyperparameter"),
    ('{"sagemaker_x": 1}', "a name SageMaker reserves"),
    ('{"not a name": 1}', "keys are hyperparameter names"),
    ("{}\nfrom config import HYPERPARAMETERS", "write the dict out in this module itself"),
])
def test_a_bad_hyperparameters_declaration_says_what_to_write(tmp_path, declaration, fragment):
    (tmp_path / "model.py").write_text(f"DEFAULT = 0.3\nHYPERPARAMETERS = {declaration}\n\n"
                                       "def build_model(input_shape, num_classes, hp):\n"
                                       "    pass\n")
    with pytest.raises(UserError, match="HYPERPARAMETERS") as err:
        hyperparams.parse({"model": "model:build_model"}, source=tmp_path)
    assert fragment in str(err.value)


def test_two_modules_that_disagree_on_a_default_are_refused(source):
    (source / "loss.py").write_text(LOSS_PY.replace('"cost_weight": 1.0', '"dropout": 0.5'))
    with pytest.raises(UserError, match="Both model.py and loss.py declare .*'dropout'.*0.3 and "
                                        "0.5"):
        hyperparams.parse({"model": "model:build_model", "loss": "loss:cost_sensitive_loss"},
                          source=source)


@pytest.mark.parametrize("reference,fragment", [
    ("models:build_model", "The module 'models' .* is not in the source directory"),
    ("model:bild_model", "model.py in .* has no function 'bild_model'.*Did you mean "
                         "'build_model'"),
    ("broken:build_model", "broken.py .* is not valid Python: .*line 1"),
])
def test_a_reference_that_cannot_work_is_refused_before_anything_runs(source, reference,
                                                                      fragment):
    (source / "broken.py").write_text("def build_model(:\n")
    with pytest.raises(UserError, match=fragment):
        hyperparams.parse({"model": reference}, source=source)


def test_functions_bound_by_imports_or_in_packages_are_found(source):
    (source / "pkg").mkdir()
    (source / "pkg" / "__init__.py").write_text("")
    (source / "pkg" / "nets.py").write_text("try:\n    from model import build_model as net\n"
                                            "except ImportError:\n    net = None\n")
    assert hyperparams.parse({"model": "pkg.nets:net"}, source=source).model == "pkg.nets:net"


def test_a_reference_needs_a_source_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))  # no code/ there
    with pytest.raises(UserError, match="model=model:build_model names a function in your "
                                        "source directory, but this job has none"):
        hyperparams.parse({"model": "model:build_model"})
    with pytest.raises(UserError, match="give --source-dir DIR"):
        hyperparams.parse_hp_flags(["model=model:build_model"])


def test_the_job_source_directory_is_found_as_the_sdk_gives_it(source, tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "nowhere"))
    raw = {"model": "model:build_model", "dropout": "0.1",
           "sagemaker_submit_directory": f'"file://{source}"'}
    assert hyperparams.parse(raw).as_mapping()["dropout"] == 0.1
    assert hyperparams.parse_hp_flags(["model=model:build_model", "units=3"], source=source) \
        == {"model": "model:build_model", "units": "3"}


# --- the pretrained backbones and their fine-tuning ---

def test_backbones_and_their_fine_tuning_hyperparameters_parse():
    hp = hyperparams.parse({"model": "efficientnet_v2_b0", "image_size": "224",
                            "weights": "imagenet", "freeze_epochs": "3",
                            "unfreeze_from": "0.5", "learning_rate": "0.01"})
    assert hp.backbone and hp.weights == "imagenet" and hp.freeze_epochs == 3
    assert hp.unfreeze_from == 0.5 and hp.fine_tuning_rate == pytest.approx(0.001)
    assert hyperparams.parse({"model": "mobilenet_v3_large", "learning_rate": "0.01",
                              "fine_tune_learning_rate": "0.0001"}).fine_tuning_rate == 0.0001


@pytest.mark.parametrize("raw, message", [
    ({"freeze_epochs": "2"}, r"freeze_epochs applies to the pretrained backbones "
                             r"\(mobilenet_v3_small, .*\); model=lenet has none"),
    ({"model": "vgg", "weights": "imagenet", "unfreeze_from": "0.5"},
     "weights, unfreeze_from apply to the pretrained backbones"),
    ({"model": "mobilenet_v3_small", "image_size": "28"},
     "model=mobilenet_v3_small needs images of at least 32x32; image_size is 28x28"),
    ({"model": "mobilenet_v3_small", "fine_tune_learning_rate": "0.01"},
     r"fine_tune_learning_rate \(0.01\) is above learning_rate \(0.001\)"),
    ({"model": "mobilenet_v3_small", "unfreeze_from": "1"},
     r"'unfreeze_from' has the value '1': must be < 1. Accepted: a number >= 0 and < 1"),
    ({"model": "mobilenet_v3_small", "weights": "coco"},
     "'weights' has the value 'coco': expected one of none, imagenet"),
    ({"model": "mobilenet_v3_small", "freeze_epochs": "-1"}, "'freeze_epochs' has the value"),
])
def test_backbone_hyperparameters_are_refused_with_a_reason(raw, message):
    with pytest.raises(UserError, match=message):
        hyperparams.parse(raw)
