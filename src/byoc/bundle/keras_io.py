"""Write and load the servable bundle in /opt/ml/model: the Keras model plus its ModelSpec.

Every Keras model file (bundle or checkpoint) loads in Keras's safe mode, said explicitly: a
layer that would run arbitrary Python code when loaded (a Lambda holding Python bytecode) is
refused. A model of the user's own layers loads through their registration: `load` imports the
bundle's code modules first (byoc.bundle.user_modules). Needs TensorFlow: `train` and `serve`
use it, the driver never does (it reads `byoc.bundle`).
"""

from __future__ import annotations

import re
from pathlib import Path

import keras

from byoc.atomic import write_atomically
from byoc.bundle import MODEL_FILE, ModelSpec, user_modules
from byoc.errors import UserError


def save(model: keras.Model, spec: ModelSpec, model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    # Serving never trains: drop the optimizer state, which would only slow loading down.
    write_atomically(model_dir / MODEL_FILE, lambda tmp: model.save(tmp, include_optimizer=False))
    spec.write(model_dir)
    return model_dir


def load(model_dir: str | Path) -> tuple[keras.Model, ModelSpec]:
    spec = ModelSpec.read(model_dir)
    user_modules.import_for(Path(model_dir), spec)
    return load_model(Path(model_dir) / MODEL_FILE, compile=False), spec


def load_model(path: Path, compile: bool = True) -> keras.Model:
    """The Keras model file at `path`, loaded in safe mode; a model that safe mode refuses is a
    UserError that says why (Keras's own message suggests turning safe mode off)."""
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" not in str(exc):
            raise
        raise UserError(
            f"{path} holds a layer that runs arbitrary Python code when it is loaded (Keras: "
            f"{str(exc).split('. ')[0][:300]}). byoc loads models in Keras's safe mode only: "
            "build the model from built-in or registered layers and save it again.") from None
    except TypeError as exc:
        missing = missing_class(exc)
        if not missing:
            raise
        raise UserError(
            f"{path} holds a layer Keras cannot find: {missing}. Register your layers "
            "with @keras.saving.register_keras_serializable() at the top level of a module "
            "that the model's code imports, and train again.") from None


# Keras names the class it could not find deep inside a long message.
_NOT_FOUND = re.compile(r"Could not locate (?:class|function) '([^']+)'")


def missing_class(exc: Exception) -> str | None:
    """The class or function a failed Keras deserialization could not find, if that was why."""
    found = _NOT_FOUND.search(str(exc))
    return found.group(1) if found else None
