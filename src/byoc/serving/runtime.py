"""Which runtime runs the forward pass: LiteRT when the bundle has model.tflite and ai-edge-litert
is installed, else TensorFlow. BYOC_SERVING_RUNTIME forces either one.

Decided once in the gunicorn master, before the workers fork, so that a bundle no runtime can serve
stops `serve` with one line. Imports neither TensorFlow nor LiteRT.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from byoc.bundle import LITERT_FILE, MODEL_FILE, litert
from byoc.errors import UserError

RUNTIME_ENV = "BYOC_SERVING_RUNTIME"
# Every /ping and /invocations response names the runtime in this header.
RUNTIME_HEADER = "X-Byoc-Runtime"
AUTO, LITERT, TENSORFLOW = "auto", "litert", "tensorflow"
RUNTIMES = (AUTO, LITERT, TENSORFLOW)
# Not a choice for BYOC_SERVING_RUNTIME: the model that the user's own model_fn loaded (see
# `byoc.serving.handlers`), run by whatever their code runs it on.
CUSTOM = "custom"


def parse(text: str) -> str:
    value = text.strip().lower() or AUTO
    if value not in RUNTIMES:
        close = difflib.get_close_matches(value, RUNTIMES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UserError(f"{RUNTIME_ENV}={text!r} is not valid.{hint} "
                        f"Accepted: {', '.join(RUNTIMES)}.")
    return value


def tensorflow_installed() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def resolve(model_dir: Path, requested: str = AUTO) -> str:
    """The runtime that will serve `model_dir`, or a UserError saying what to change."""
    has_litert_model = (model_dir / LITERT_FILE).is_file()
    has_keras_model = (model_dir / MODEL_FILE).is_file()
    no_keras = (f"No {MODEL_FILE} in {model_dir}. SageMaker extracts model.tar.gz there; it must "
                f"hold {MODEL_FILE} and byoc-model.json as written by `train`.")
    if requested == LITERT or (requested == AUTO and has_litert_model and litert.available()):
        if not has_litert_model:
            raise UserError(
                f"{RUNTIME_ENV}=litert, but {model_dir} has no {LITERT_FILE}: `train` leaves it "
                "out when the conversion fails or disagrees with Keras (see its log and "
                f"output/data/{litert.CHECK_FILE}). Unset {RUNTIME_ENV} to serve {MODEL_FILE} "
                "with TensorFlow."
            )
        if not litert.available():
            raise UserError(f"{RUNTIME_ENV}=litert, but {litert.PACKAGE} is not installed "
                            "(pip install 'byoc[serve]').")
        return LITERT
    if not tensorflow_installed():
        if requested == TENSORFLOW:
            raise UserError(f"{RUNTIME_ENV}=tensorflow, but this image has no TensorFlow (it is "
                            "the serving image). Use the full image, or unset the variable.")
        raise UserError(
            f"No {LITERT_FILE} in {model_dir}, and this image has no TensorFlow to serve "
            f"{MODEL_FILE}: the serving image serves LiteRT bundles only. Retrain with a byoc that "
            f"exports {LITERT_FILE} (output/data/{litert.CHECK_FILE} says why it was left out), "
            "or serve this bundle with the full image."
        )
    if not has_keras_model:
        raise UserError(no_keras)
    return TENSORFLOW
