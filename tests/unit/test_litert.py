"""LiteRT in the bundle and in `serve`: the export and its check against Keras, the runner (batches
of any size, many threads on one model), and which runtime serves a bundle.

Real conversions of a real (untrained) LeNet; no HTTP here (tests/contract/test_serve.py has it).
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from byoc.bundle import LITERT_FILE, MODEL_FILE, SPEC_FILE, ModelSpec
from byoc.errors import UserError
from byoc.serving import runtime as runtimes

pytest.importorskip("ai_edge_litert")
keras = pytest.importorskip("keras")

from byoc.bundle import keras_io, litert  # noqa: E402  (needs keras, skipped above)

CLASSES = ["stop", "yield", "priority", "no entry", "30"]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def keras_bundle(tmp_path_factory):
    """A bundle as keras_io.save writes it: model.keras and byoc-model.json, no model.tflite."""
    from byoc.model import architectures

    keras.utils.set_random_seed(0)
    model_dir = tmp_path_factory.mktemp("keras_bundle")
    keras_io.save(architectures.build("lenet", (32, 32, 3), len(CLASSES)),
                  ModelSpec(class_names=CLASSES, height=32, width=32, channels=3), model_dir)
    return model_dir


def _copy(bundle, dest):
    shutil.copytree(bundle, dest)
    return dest


@pytest.fixture(scope="module")
def exported(keras_bundle, images, tmp_path_factory):
    """The bundle after litert.export: (model_dir, check, report_dir)."""
    model_dir = _copy(keras_bundle, tmp_path_factory.mktemp("exported") / "model")
    report = tmp_path_factory.mktemp("report")
    return model_dir, litert.export(model_dir, images, report_dir=report), report


@pytest.fixture(scope="module")
def keras_probs(keras_bundle, images) -> np.ndarray:
    model, _ = keras_io.load(keras_bundle)
    return model(images.astype(np.float32), training=False).numpy()


# --- export ------------------------------------------------------------------------------------


def test_export_writes_model_tflite_and_records_its_check(exported, images):
    model_dir, outcome, report = exported
    check = outcome.check
    assert outcome.kept and "`serve` uses LiteRT" in outcome.describe()
    assert (model_dir / LITERT_FILE).stat().st_size > 10_000
    assert check.images == len(images) and check.top1_agreement == 1.0
    assert check.max_prob_diff < 1e-5 and check.within_tolerance
    spec = ModelSpec.read(model_dir)
    assert spec.litert_model == LITERT_FILE
    assert spec.litert_check == {"images": 40, "top1_agreement": 1.0,
                                 "max_prob_diff": check.max_prob_diff}
    written = json.loads((report / litert.CHECK_FILE).read_text())
    assert written["kept"] is True and written["max_prob_diff"] == check.max_prob_diff


def test_a_conversion_beyond_tolerance_is_left_out_with_a_warning(keras_bundle, images, tmp_path,
                                                                  monkeypatch, caplog):
    model_dir = _copy(keras_bundle, tmp_path / "model")
    (model_dir / LITERT_FILE).write_bytes(b"stale")  # from an earlier export: must not survive
    monkeypatch.setattr(litert, "MAX_PROB_DIFF", -1.0)  # no conversion can be that exact
    outcome = litert.export(model_dir, images[:8], report_dir=tmp_path / "report")
    assert not outcome.kept and not outcome.check.within_tolerance
    assert "beyond the tolerance" in outcome.left_out_because
    assert not (model_dir / LITERT_FILE).exists()
    assert ModelSpec.read(model_dir).litert_model is None
    assert "beyond the tolerance" in caplog.text and "use TensorFlow" in caplog.text
    assert json.loads((tmp_path / "report" / litert.CHECK_FILE).read_text())["kept"] is False


def test_a_failed_conversion_is_left_out_with_a_warning(keras_bundle, images, tmp_path, caplog):
    model_dir = _copy(keras_bundle, tmp_path / "model")
    # Two inputs: LiteRTModel takes one image tensor, so the converted model is refused.
    inputs = [keras.Input((32, 32, 3)), keras.Input((32, 32, 3))]
    two = keras.Model(inputs, keras.layers.Dense(len(CLASSES), activation="softmax")(
        keras.layers.Flatten()(keras.layers.Add()(inputs))))
    two.save(model_dir / MODEL_FILE)
    outcome = litert.export(model_dir, images[:4])
    assert not outcome.kept and outcome.check is None
    assert not (model_dir / LITERT_FILE).exists()
    assert "conversion failed" in caplog.text


@keras.saving.register_keras_serializable(package="byoc_tests")
class InverseErf(keras.layers.Layer):
    """A user's layer on an op LiteRT has no kernel for (erfinv)."""

    def call(self, x):
        return keras.ops.erfinv(x / 256.0)


def test_ops_litert_cannot_run_leave_a_tensorflow_bundle_and_say_which(images, tmp_path,
                                                                        caplog):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(InverseErf()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), activation="softmax")(x))
    model_dir = keras_io.save(model, ModelSpec(class_names=CLASSES, height=32, width=32,
                                               channels=3), tmp_path / "model")
    outcome = litert.export(model_dir, images[:4], report_dir=tmp_path / "report")
    assert not outcome.kept and not (model_dir / LITERT_FILE).exists()
    assert "no kernel for the op(s) Erfinv" in outcome.left_out_because
    assert "`serve` uses TensorFlow" in outcome.describe()
    assert "Erfinv" in caplog.text and "`serve` will use TensorFlow" in caplog.text
    written = json.loads((tmp_path / "report" / litert.CHECK_FILE).read_text())
    assert written["kept"] is False and "Erfinv" in written["reason"]
    # What `serve` decides for this bundle: TensorFlow, from model.keras.
    assert runtimes.resolve(model_dir) == runtimes.TENSORFLOW


# --- the runner --------------------------------------------------------------------------------


def test_batches_of_any_size_match_keras(exported, images, keras_probs):
    model = litert.LiteRTModel(exported[0] / LITERT_FILE)
    for n in (1, 3, 1, 40, 7, 40):  # resizing back and forth
        np.testing.assert_allclose(model.predict(images[:n]), keras_probs[:n], atol=1e-5)
    assert model.predict(images[:0]).shape == (0, len(CLASSES))


def test_one_model_serves_many_threads_at_once(exported, images):
    model = litert.LiteRTModel(exported[0] / LITERT_FILE, num_threads=2)
    sizes = (1, 2, 5, 1, 9, 1, 3)
    expected = {n: model.predict(images[:n]) for n in sizes}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: (n, model.predict(images[:n])), sizes * 30))
    for n, probs in results:
        np.testing.assert_array_equal(probs, expected[n])


@pytest.mark.parametrize("change", [{"class_names": CLASSES[:3]}, {"height": 64, "width": 64}])
def test_a_model_that_does_not_fit_its_spec_is_refused(exported, change):
    model = litert.LiteRTModel(exported[0] / LITERT_FILE)
    spec = ModelSpec(**{"class_names": CLASSES, "height": 32, "width": 32, "channels": 3,
                        **change})
    with pytest.raises(UserError, match="byoc-model.json says.*inconsistent"):
        model.check_against(spec)


@pytest.mark.parametrize("change", [{"class_names": CLASSES[:3]}, {"height": 64, "width": 64}])
def test_the_start_up_check_refuses_the_same_bundles_without_loading_the_model(exported, change):
    # What `serve` runs once in the master, before any worker loads the model.
    path = exported[0] / LITERT_FILE
    litert.check_file(path, ModelSpec(class_names=CLASSES, height=32, width=32, channels=3))
    spec = ModelSpec(**{"class_names": CLASSES, "height": 32, "width": 32, "channels": 3,
                        **change})
    with pytest.raises(UserError, match="byoc-model.json says.*inconsistent"):
        litert.check_file(path, spec)


def test_a_file_that_is_not_a_litert_model_is_refused(tmp_path):
    (tmp_path / LITERT_FILE).write_bytes(b"<html>a proxy error page, not a model</html>")
    spec = ModelSpec(class_names=CLASSES, height=32, width=32, channels=3)
    with pytest.raises(UserError, match="not a LiteRT model.*re-export it with `train`"):
        litert.check_file(tmp_path / LITERT_FILE, spec)


# --- which runtime -----------------------------------------------------------------------------


def test_auto_picks_litert_when_the_bundle_has_it(exported, keras_bundle):
    assert runtimes.resolve(exported[0]) == runtimes.LITERT
    assert runtimes.resolve(keras_bundle) == runtimes.TENSORFLOW
    assert runtimes.resolve(exported[0], runtimes.TENSORFLOW) == runtimes.TENSORFLOW


def test_forced_litert_without_model_tflite_says_why(keras_bundle):
    with pytest.raises(UserError, match=f"{runtimes.RUNTIME_ENV}=litert.*no {LITERT_FILE}"):
        runtimes.resolve(keras_bundle, runtimes.LITERT)


def test_without_tensorflow_a_bundle_without_model_tflite_is_refused(keras_bundle, monkeypatch):
    # As in the serving image, where TensorFlow is not installed.
    monkeypatch.setattr(runtimes, "tensorflow_installed", lambda: False)
    with pytest.raises(UserError, match=f"No {LITERT_FILE}.*no TensorFlow.*full image"):
        runtimes.resolve(keras_bundle)
    with pytest.raises(UserError, match="tensorflow, but this image has no TensorFlow"):
        runtimes.resolve(keras_bundle, runtimes.TENSORFLOW)


def test_without_model_keras_only_litert_serves(exported, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in (LITERT_FILE, SPEC_FILE):
        shutil.copy(exported[0] / name, model_dir)
    assert runtimes.resolve(model_dir) == runtimes.LITERT
    with pytest.raises(UserError, match=f"No {MODEL_FILE}"):
        runtimes.resolve(model_dir, runtimes.TENSORFLOW)


@pytest.mark.parametrize("text, expected", [("", "auto"), ("LiteRT", "litert"),
                                            (" tensorflow ", "tensorflow")])
def test_runtime_setting_parses(text, expected):
    assert runtimes.parse(text) == expected


def test_a_misspelt_runtime_names_the_variable_and_a_guess():
    with pytest.raises(UserError, match=f"{runtimes.RUNTIME_ENV}='tflite'.*Accepted"):
        runtimes.parse("tflite")
    with pytest.raises(UserError, match="Did you mean 'litert'"):
        runtimes.parse("litrt")
