"""The Keras model in a bundle loads in Keras's safe mode: a model file whose layers would run
arbitrary Python code when loaded is refused, with a reason a user can act on; a model of the
user's registered layers loads through the code the bundle carries."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import pytest

from byoc.bundle import MODEL_FILE, SPEC_FILE, ModelSpec, user_modules
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


# --- the user's code in the bundle -------------------------------------------------------------

LAYERS_PY = '''
import keras


@keras.saving.register_keras_serializable(package="byoc_bundle_test")
class Doubling(keras.layers.Layer):
    def call(self, x):
        return x * 2.0
'''


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_copy_takes_the_code_and_leaves_caches_links_and_old_copies(tmp_path):
    source = tmp_path / "src"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "model.py").write_text("x = 1\n")
    (source / "pkg" / "nets.py").write_text("y = 2\n")
    (source / "pkg" / "__pycache__" / "nets.cpython-311.pyc").write_bytes(b"\0")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref\n")
    (source / "outside").symlink_to(tmp_path, target_is_directory=True)  # would loop
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "code" / "stale.py").write_text("")
    assert sorted(user_modules.copy(source, model_dir)) == ["model.py", "pkg/nets.py"]
    assert (model_dir / "code" / "pkg" / "nets.py").read_text() == "y = 2\n"
    assert not (model_dir / "code" / "stale.py").exists()


def test_copy_refuses_a_source_directory_the_size_of_data(tmp_path, monkeypatch):
    monkeypatch.setattr(user_modules, "MAX_CODE_BYTES", 1000)  # not 100 MB of test files
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text("x = 1\n")
    (tmp_path / "src" / "images.npy").write_bytes(b"\0" * 2000)
    with pytest.raises(UserError, match=r"holds 0 MB \(the largest file: images.npy\).*pass "
                                        "data as a channel"):
        user_modules.copy(tmp_path / "src", tmp_path / "model")
    assert not (tmp_path / "model" / "code").exists()


@pytest.mark.slow  # a new interpreter loads TensorFlow: about 10 s
def test_a_bundle_of_registered_layers_loads_through_its_own_code(tmp_path):
    """In a new interpreter, as `serve` loads it: nothing but the bundle's code/ registers the
    layer."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "bundle_test_layers.py").write_text(LAYERS_PY)
    from byoc.user_code import modules

    layers = modules.import_module(source, "bundle_test_layers", what="a test module")
    model_dir = tmp_path / "model"
    user_modules.copy(source, model_dir)
    _bundle(model_dir, layers.Doubling())
    spec = ModelSpec.read(model_dir)
    (model_dir / SPEC_FILE).unlink()
    dataclasses.replace(spec, code_modules=["bundle_test_layers"]).write(model_dir)
    shutil.rmtree(source)
    code = ("import sys; from byoc.bundle import keras_io; "
            "model, spec = keras_io.load(sys.argv[1]); "
            "print(type(model.layers[2]).__name__, spec.format_version)")
    done = subprocess.run([sys.executable, "-c", code, str(model_dir)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["Doubling", "2"]
    shutil.rmtree(model_dir / "code")
    with pytest.raises(UserError, match="its code/ directory is missing: copy the whole"):
        keras_io.load(model_dir)


def test_a_layer_keras_cannot_find_is_refused_with_how_to_register_it(tmp_path):
    bundle = _bundle(tmp_path, Unregistered())
    with pytest.raises(UserError, match="holds a layer Keras cannot find: Unregistered. "
                                        "Register your layers with.*serializable"):
        keras_io.load(bundle)
