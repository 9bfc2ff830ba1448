"""The pretrained backbones (byoc.model.backbones) and their two-phase fine-tuning
(byoc.training.phases), on models built small, with weights the tests write themselves."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from byoc import hyperparams
from byoc.bundle import keras_io, litert
from byoc.errors import UserError
from byoc.model import architectures, backbones
from byoc.training.phases import FINE_TUNING, FROZEN, WHOLE, Phases
from tests.support.backbones import calibrate

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def small() -> keras.Model:
    """mobilenet_v3_small as byoc builds it for pretrained weights, compiled as the trainer
    compiles it, its optimizer built for every trainable variable."""
    model = architectures.build("mobilenet_v3_small", SHAPE, 3, weights="pretrained")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> tuple:
    """A backbone's weights, saved as `backbone.save_weights` writes them, and the backbone."""
    keras.utils.set_random_seed(7)
    backbone = keras.applications.MobileNetV3Small(input_shape=SHAPE, include_top=False,
                                                   weights=None, pooling="avg")
    path = tmp_path_factory.mktemp("pretrained") / "mobilenet_v3_small.weights.h5"
    backbone.save_weights(path)
    return path, backbone


@pytest.mark.parametrize("name, shape", [("mobilenet_v3_small", (224, 224, 1)),
                                         ("mobilenet_v3_large", (32, 32, 3)),
                                         ("efficientnet_v2_b0", (96, 128, 3))])
def test_each_backbone_takes_raw_pixels_and_returns_probabilities(name, shape):
    model = architectures.build(name, shape, 4)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    probs = np.asarray(model(pixels, training=False))
    assert probs.shape == (2, 4) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # Its own preprocessing is inside (raw 0..255 in, as serve sends them), before any weights.
    backbone = backbones.backbone_of(model)
    assert isinstance(backbone.layers[1], keras.layers.Rescaling)
    # Without pretrained weights its BatchNormalization learns as usual, with statistics that
    # keep up with the weights (MobileNetV3's own momentum, 0.999, would lag for thousands of
    # steps).
    assert all(layer.trainable for layer in backbone.layers)
    norms = [layer for layer in backbone.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum <= backbones.FROM_SCRATCH_BN_MOMENTUM for layer in norms)


@pytest.mark.slow
def test_efficientnet_converts_to_litert_within_the_check():
    """MobileNetV3 goes through the real `train` and its LiteRT check
    (tests/contract/test_train_backbone.py; Large is Small's ops, deeper). EfficientNetV2 has
    ops of its own (swish, a Normalization layer), checked here as `train` checks them."""
    # A random backbone's outputs depend on its draw: some draws give logits so large that
    # float32 rounding alone moves a probability by 1e-3 (seen: 3 of 5 draws within 1e-7, 2 at
    # 2e-3 and 8e-2). The draw is fixed so the test judges the conversion, not the draw.
    keras.utils.set_random_seed(0)
    model = architectures.build("efficientnet_v2_b0", SHAPE, 4, weights="pretrained")
    calibrate(backbones.backbone_of(model))
    pixels = np.random.default_rng(2).uniform(0, 255, (16, *SHAPE)).astype("float32")
    expected = np.asarray(model(pixels, training=False))
    assert expected.std(axis=1).min() > 1e-4  # not the same probability for every class
    check = litert.compare(expected, litert.LiteRTModel(litert.convert(model)).predict(pixels))
    assert check.within_tolerance, check.describe()


def test_imagenet_weights_that_cannot_be_downloaded_say_what_to_do(monkeypatch):
    def offline(**kwargs):
        assert kwargs["weights"] == "imagenet"
        raise OSError("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setitem(backbones.APPLICATIONS, "mobilenet_v3_small", offline)
    with pytest.raises(UserError, match=r"could not download the ImageNet weights of "
                       r"mobilenet_v3_small \(OSError: URL fetch failure.*\)\. weights=imagenet "
                       "needs a container that reaches the internet. Without it, put the weights "
                       "file in the `pretrained` channel"):
        architectures.build("mobilenet_v3_small", SHAPE, 3, weights="imagenet")


def test_a_backbone_model_saves_and_loads_in_safe_mode(small, tmp_path):
    small.save(tmp_path / "m.keras")
    loaded = keras_io.load_model(tmp_path / "m.keras", compile=False)
    image = np.full((1, *SHAPE), 128, np.float32)
    assert np.allclose(loaded(image), small(image), atol=1e-6)
    norms = [layer for layer in backbones.backbone_of(loaded).layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)


def test_a_weights_file_is_loaded_into_the_backbone(weights_file):
    path, source = weights_file
    model = architectures.build("mobilenet_v3_small", (48, 48, 3), 5, weights="pretrained")
    backbones.load_pretrained(model, path)
    loaded = backbones.backbone_of(model).get_weights()
    assert len(loaded) == len(source.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(loaded, source.get_weights(), strict=True))


def test_a_keras_notop_h5_file_is_loaded_too(weights_file, tmp_path):
    """Keras's own ImageNet "notop" files are in the legacy HDF5 format, matched by layer name:
    a user without the internet may copy one into the pretrained channel."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    _, source = weights_file
    with h5py.File(tmp_path / "notop.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    model = architectures.build("mobilenet_v3_small", SHAPE, 2, weights="pretrained")
    backbones.load_pretrained(model, tmp_path / "notop.h5")
    assert all(np.array_equal(a, b) for a, b in zip(
        backbones.backbone_of(model).get_weights(), source.get_weights(), strict=True))


def test_another_runs_model_keras_gives_its_backbone(small, tmp_path):
    small.save(tmp_path / "model.keras")
    model = architectures.build("mobilenet_v3_small", SHAPE, 7, weights="pretrained")
    backbones.load_pretrained(model, tmp_path / "model.keras")
    assert all(np.array_equal(a, b) for a, b in zip(
        backbones.backbone_of(model).get_weights(), backbones.backbone_of(small).get_weights(),
        strict=True))


def test_a_wrong_weights_file_is_refused_in_a_sentence(small, tmp_path):
    large = keras.applications.MobileNetV3Large(input_shape=SHAPE, include_top=False,
                                                weights=None, pooling="avg")
    large.save_weights(tmp_path / "large.weights.h5")
    with pytest.raises(UserError, match=r"large\.weights\.h5 do not fit "
                       r"model=mobilenet_v3_small .*MobileNetV3Small"):
        backbones.load_pretrained(small, tmp_path / "large.weights.h5")
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="junk.weights.h5 do not fit"):
        backbones.load_pretrained(small, tmp_path / "junk.weights.h5")
    large.save(tmp_path / "large.keras")
    with pytest.raises(UserError, match="large.keras cannot be used: it is a model named "
                       "MobileNetV3Large that holds no MobileNetV3Small"):
        backbones.load_pretrained(small, tmp_path / "large.keras")


def test_the_pretrained_channel_holds_one_weights_file(tmp_path):
    with pytest.raises(UserError, match=r"exactly one weights file .* holds 0 \(none\)"):
        backbones.weights_file(tmp_path)
    (tmp_path / "a.weights.h5").write_bytes(b"")
    (tmp_path / "README.txt").write_text("ignored")
    assert backbones.weights_file(tmp_path) == tmp_path / "a.weights.h5"
    (tmp_path / "b.keras").write_bytes(b"")
    with pytest.raises(UserError, match=r"holds 2 \(a.weights.h5, b.keras\)"):
        backbones.weights_file(tmp_path)


# ------------------------------------------------------------------------------- the two phases

def _hp(**values: str) -> hyperparams.HyperParameters:
    return hyperparams.parse({"model": "mobilenet_v3_small", "learning_rate": "0.01", **values})


def test_the_frozen_phase_trains_the_head_only(small):
    phases = Phases.of(small, _hp(freeze_epochs="2"), pretrained=True)
    assert [phases.name(e) for e in range(4)] == [FROZEN, FROZEN, FINE_TUNING, FINE_TUNING]
    assert [phases.switches_at(e) for e in range(4)] == [False, False, True, False]
    head = small.get_layer("probabilities").trainable_variables
    assert [id(v) for v in phases.variables(0)] == [id(v) for v in head]
    assert phases.enter(0) and float(small.optimizer.learning_rate) == pytest.approx(0.01)
    # The whole backbone, but its BatchNormalization, at a tenth of the rate.
    assert len(phases.enter(2)) == len(small.trainable_variables)
    assert float(small.optimizer.learning_rate) == pytest.approx(0.001)


def test_fine_tuning_unfreezes_from_the_chosen_depth(small):
    phases = Phases.of(small, _hp(freeze_epochs="1", unfreeze_from="0.75",
                                  fine_tune_learning_rate="0.0005"), pretrained=True)
    backbone = backbones.backbone_of(small)
    top = backbone.layers[int(0.75 * len(backbone.layers)):]
    expected = {id(v) for layer in top for v in layer.trainable_variables}
    expected |= {id(v) for v in small.get_layer("probabilities").trainable_variables}
    assert {id(v) for v in phases.variables(1)} == expected
    assert 0 < len(expected) < len(small.trainable_variables)
    assert phases.learning_rate(1) == 0.0005


def test_a_backbone_without_pretrained_weights_trains_whole_and_cannot_be_frozen(small):
    phases = Phases.of(small, _hp(), pretrained=False)
    assert phases.name(0) == WHOLE and not phases.switches_at(1)
    assert len(phases.variables(0)) == len(small.trainable_variables)
    with pytest.raises(UserError, match="freeze_epochs=2 freezes a backbone that has no "
                       "pretrained weights"):
        Phases.of(small, _hp(freeze_epochs="2"), pretrained=False)


def test_a_subset_step_leaves_the_frozen_backbone_and_its_statistics_alone(small):
    phases = Phases.of(small, _hp(freeze_epochs="1"), pretrained=True)
    before = [w.copy() for w in backbones.backbone_of(small).get_weights()]
    head = [v.numpy().copy() for v in small.get_layer("probabilities").weights]
    variables = phases.enter(0)
    pixels = np.random.default_rng(1).uniform(0, 255, (4, *SHAPE)).astype("float32")
    with tf.GradientTape() as tape:
        probs = small(pixels, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            np.array([0, 1, 2, 0]), probs))
    small.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables,
                                        strict=True))
    after = backbones.backbone_of(small).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not np.array_equal(head[0], small.get_layer("probabilities").weights[0].numpy())


def test_the_pretrained_channel_needs_a_backbone_and_is_one_source_of_weights(tmp_path):
    from byoc.training.run import _weights_source

    file = tmp_path / "b.weights.h5"
    assert _weights_source(_hp(), file) == "pretrained"
    assert _weights_source(_hp(weights="imagenet"), None) == "imagenet"
    assert _weights_source(_hp(), None) is None
    with pytest.raises(UserError, match="The pretrained channel holds a backbone's weights, but "
                       "model=lenet has no pretrained backbone"):
        _weights_source(hyperparams.parse({}), file)
    with pytest.raises(UserError, match="weights=imagenet and the pretrained channel both"):
        _weights_source(_hp(weights="imagenet"), file)
