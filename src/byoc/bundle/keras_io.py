"""Write and load the servable bundle in /opt/ml/model: the Keras model plus its ModelSpec.

Needs TensorFlow: `train` and `serve` use it, the driver never does (it reads `byoc.bundle`).
"""

from __future__ import annotations

from pathlib import Path

import keras

from byoc.bundle import MODEL_FILE, ModelSpec
from byoc.files import write_atomically


def save(model: keras.Model, spec: ModelSpec, model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    # Serving never trains: drop the optimizer state, which would only slow loading down.
    write_atomically(model_dir / MODEL_FILE, lambda tmp: model.save(tmp, include_optimizer=False))
    spec.write(model_dir)
    return model_dir


def load(model_dir: str | Path) -> tuple[keras.Model, ModelSpec]:
    spec = ModelSpec.read(model_dir)
    model = keras.models.load_model(Path(model_dir) / MODEL_FILE, compile=False)
    return model, spec
