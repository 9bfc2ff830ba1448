"""What `train` leaves in /opt/ml/model for `serve`: the Keras model, its LiteRT conversion when it
passed its check, and a small JSON spec.

The spec holds the class names and the input (height, width, channels): enough to preprocess a
request exactly as training did. A model built by the user's own code (`model=MODULE:FUNCTION`)
carries that code in `code/`, and the spec names the modules to import before loading it
(`byoc.bundle.user_modules`). This package root imports no TensorFlow, so the driver may read
a bundle's spec; `byoc.bundle.keras_io` writes and loads the Keras model and is for the container
(train and serve) only; `byoc.bundle.litert` converts (with TensorFlow) and runs (without) the
LiteRT model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from byoc.atomic import write_atomically
from byoc.errors import UserError

MODEL_FILE = "model.keras"
LITERT_FILE = "model.tflite"
SPEC_FILE = "byoc-model.json"
CODE_DIR = "code"
# The newest format this byoc reads. A bundle is written as version 1 unless it needs the user's
# code to load (version 2): a byoc that cannot import that code then says to upgrade.
FORMAT_VERSION = 2
BASE_FORMAT_VERSION, CODE_FORMAT_VERSION = 1, 2


@dataclass(frozen=True)
class ModelSpec:
    class_names: list[str]
    height: int
    width: int
    channels: int
    top_k: int = 5
    architecture: str = "lenet"
    # Inputs are raw pixel values 0..255 (uint8 or float); the model rescales them itself.
    input_range: str = "0-255"
    format_version: int = BASE_FORMAT_VERSION
    # LITERT_FILE when train wrote it (absent when conversion failed or disagreed with Keras), and
    # its check against Keras: images, top1_agreement, max_prob_diff.
    litert_model: str | None = None
    litert_check: dict[str, float] | None = None
    # The loss it was trained with: byoc's, or the user's MODULE:FUNCTION (None: not recorded).
    loss: str | None = None
    # The modules in CODE_DIR to import before loading model.keras: they register the user's
    # layers with Keras. None or empty: the model is made of Keras's own layers.
    code_modules: list[str] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    def write(self, model_dir: str | Path) -> Path:
        data = asdict(self)
        data["format_version"] = CODE_FORMAT_VERSION if self.code_modules else \
            BASE_FORMAT_VERSION
        text = json.dumps(data, indent=2)
        return write_atomically(Path(model_dir) / SPEC_FILE, lambda tmp: tmp.write_text(text))

    @classmethod
    def read(cls, model_dir: str | Path) -> ModelSpec:
        path = Path(model_dir) / SPEC_FILE
        if not path.exists():
            raise UserError(
                f"No {SPEC_FILE} in {model_dir}: this is not a model directory written by "
                "`train`. Point at the model/ directory (or model.tar.gz) of a training run."
            )
        try:
            data = json.loads(path.read_text())
        except (ValueError, OSError) as exc:  # not JSON, not UTF-8, unreadable
            raise UserError(f"{path} is not valid JSON ({exc}): the bundle is corrupt or "
                            "truncated. Copy the model directory again from its training run.") \
                from None
        if not isinstance(data, dict):
            raise UserError(f"{path} must hold a JSON object; the bundle is corrupt.")
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise UserError(
                f"{path} has format version {data['format_version']}; this byoc reads up to "
                f"{FORMAT_VERSION}. Upgrade byoc."
            )
        known = cls.__dataclass_fields__
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # a required field is missing
            raise UserError(f"{path} is incomplete ({exc}): the bundle is corrupt. Copy the "
                            "model directory again from its training run.") from None
