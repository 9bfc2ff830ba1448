"""model.tflite: convert the bundle's Keras model for LiteRT, check it against Keras, and run it.

`export` (train) needs TensorFlow and imports it itself; `LiteRTModel` (serve) needs only
ai-edge-litert, so the serving image runs it without TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from byoc.atomic import write_atomically
from byoc.bundle import LITERT_FILE, ModelSpec
from byoc.errors import UserError

log = logging.getLogger("byoc.bundle")

PACKAGE = "ai-edge-litert"
# The conversion is kept only within these bounds of Keras's own output on the check images.
# Float32 conversions differ by about 1e-6; more than MAX_PROB_DIFF means a wrong conversion.
MAX_PROB_DIFF = 1e-3
MIN_TOP1_AGREEMENT = 0.99
CHECK_FILE = "litert_check.json"  # in /opt/ml/output/data, beside the evaluation report


def available() -> bool:
    """Whether ai-edge-litert is installed (without importing it)."""
    return importlib.util.find_spec("ai_edge_litert") is not None


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version(PACKAGE)
    except PackageNotFoundError:
        return "unknown"


class LiteRTModel:
    """A .tflite classifier that takes raw pixels N×H×W×C (float32) and returns N×classes.

    A LiteRT interpreter is not thread-safe, and gunicorn's gthread workers call from several
    threads: each interpreter has its own lock. One interpreter stays at batch size 1, the common
    request, so it never reallocates; the other is resized to any other batch size on demand, and
    keeps the tensors of the last size it ran: callers bound the batch (the server passes chunks
    of at most `byoc.serving.predictor.chunk_size` images).
    """

    def __init__(self, model: bytes | str | Path, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        source = {"model_content": model} if isinstance(model, bytes) else {
            "model_path": str(model)}
        self._single, self._batched = (Interpreter(**source, num_threads=num_threads)
                                       for _ in range(2))
        self._locks = {id(self._single): threading.Lock(), id(self._batched): threading.Lock()}
        self._single.allocate_tensors()
        details = self._single.get_input_details()
        if len(details) != 1 or len(self._single.get_output_details()) != 1:
            raise UserError(f"{LITERT_FILE} must have one input and one output; it has "
                            f"{len(details)} and {len(self._single.get_output_details())}.")
        self._input = details[0]["index"]
        self._output = self._single.get_output_details()[0]["index"]
        self.input_shape = tuple(int(d) for d in details[0]["shape_signature"][1:])
        self.input_dtype = np.dtype(details[0]["dtype"])
        self.num_classes = int(self._single.get_output_details()[0]["shape"][-1])
        self._batch_size = 0  # of self._batched; 0: not allocated yet

    def check_against(self, spec: ModelSpec) -> None:
        """Refuse a model.tflite that does not fit the bundle's byoc-model.json, in one line."""
        _check_fits(self.input_dtype, self.input_shape, self.num_classes, spec)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        n = len(batch)
        if n == 0:
            return np.zeros((0, self.num_classes), np.float32)
        interpreter = self._single if n == 1 else self._batched
        with self._locks[id(interpreter)]:
            if n != 1 and n != self._batch_size:
                interpreter.resize_tensor_input(self._input, [n, *self.input_shape])
                interpreter.allocate_tensors()
                self._batch_size = n
            interpreter.set_tensor(self._input, batch)
            interpreter.invoke()
            # get_tensor copies: the buffer is reused by the next call.
            return interpreter.get_tensor(self._output)


def _check_fits(dtype: np.dtype, input_shape: tuple[int, ...], num_classes: int,
                spec: ModelSpec) -> None:
    if input_shape != spec.input_shape or num_classes != spec.num_classes \
            or dtype != np.float32:
        raise UserError(
            f"{LITERT_FILE} takes {dtype.name} {input_shape} and returns {num_classes} classes, "
            f"but byoc-model.json says float32 {spec.input_shape} and {spec.num_classes} "
            "classes: the bundle is inconsistent. Re-export it with `train`, or serve it with "
            "TensorFlow."
        )


def check_file(path: str | Path, spec: ModelSpec) -> None:
    """Refuse a model.tflite that does not fit `spec` (one UserError line), before any worker
    loads it. Reads the tensor shapes only: no delegate, no tensor allocation (about 0.1 s less
    than a `LiteRTModel` at `serve`'s start)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (ValueError, RuntimeError) as exc:  # not a flatbuffer LiteRT can read
        raise UserError(f"{path} cannot be read by LiteRT ({str(exc)[:200]}): the bundle is "
                        "corrupt, truncated or not a LiteRT model. Copy the model directory "
                        "again from its training run, re-export it with `train`, or serve it "
                        "with TensorFlow.") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{LITERT_FILE} must have one input and one output; it has "
                        f"{len(inputs)} and {len(outputs)}.")
    _check_fits(np.dtype(inputs[0]["dtype"]),
                tuple(int(d) for d in inputs[0]["shape_signature"][1:]),
                int(outputs[0]["shape"][-1]), spec)


@dataclass(frozen=True)
class Check:
    """LiteRT against Keras on the same images."""

    images: int
    top1_agreement: float
    max_prob_diff: float

    @property
    def within_tolerance(self) -> bool:
        return self.max_prob_diff <= MAX_PROB_DIFF and self.top1_agreement >= MIN_TOP1_AGREEMENT

    def describe(self) -> str:
        return (f"top-1 agreement with Keras {self.top1_agreement:.2%} on {self.images} images, "
                f"largest probability difference {self.max_prob_diff:.1e}")


def compare(keras_probs: np.ndarray, litert_probs: np.ndarray) -> Check:
    if not len(keras_probs):
        return Check(0, 1.0, 0.0)
    agree = np.mean(keras_probs.argmax(axis=1) == litert_probs.argmax(axis=1))
    return Check(len(keras_probs), float(agree), float(np.abs(keras_probs - litert_probs).max()))


def _in_batches(fn, images: np.ndarray, batch_size: int, num_classes: int) -> np.ndarray:
    out = [np.asarray(fn(np.asarray(images[i:i + batch_size], np.float32)), np.float32)
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, num_classes), np.float32)


def convert(model) -> bytes:
    """The Keras model as a float32 .tflite flatbuffer with a dynamic batch dimension."""
    import tensorflow as tf

    # The converter goes through a SavedModel export that prints its signature to stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@dataclass(frozen=True)
class Export:
    """What `export` did: the check of the conversion against Keras (None when there was nothing
    to check), and why model.tflite was left out (empty when it was kept)."""

    check: Check | None
    left_out_because: str = ""

    @property
    def kept(self) -> bool:
        return not self.left_out_because

    def describe(self) -> str:
        """One sentence on the runtime `serve` will use, for the log and the report."""
        if self.kept:
            return f"`serve` uses LiteRT ({LITERT_FILE}: {self.check.describe()})."
        return (f"`serve` uses TensorFlow: no {LITERT_FILE} in the bundle, because "
                f"{self.left_out_because}. The serving image (LiteRT only) cannot serve this "
                "bundle; the full image can.")


_CUSTOM_OPS = re.compile(r"Custom ops: ([^\n]+)")


def _why_not_converted(exc: Exception) -> str:
    """The converter's reason in a sentence: the ops LiteRT has no kernel for, when it says."""
    found = _CUSTOM_OPS.search(str(exc))
    if found:
        return (f"the LiteRT conversion failed: LiteRT has no kernel for the op(s) "
                f"{found.group(1).strip()}, which the model uses")
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"the LiteRT conversion failed ({type(exc).__name__}: {first[:300]})"


def export(model_dir: str | Path, images: np.ndarray, report_dir: str | Path | None = None,
           batch_size: int = 256) -> Export:
    """Convert the bundle's model.keras to model.tflite, check it on `images` against Keras, and
    record it in byoc-model.json; the check, or why there is no model.tflite, also goes to the
    log and to `report_dir`.

    A conversion that fails or disagrees beyond MAX_PROB_DIFF / MIN_TOP1_AGREEMENT is left out
    with a warning: the bundle stays servable by TensorFlow.
    """
    from byoc.bundle import keras_io

    model_dir = Path(model_dir)
    target = model_dir / LITERT_FILE
    target.unlink(missing_ok=True)
    if not available():
        return _left_out(None, f"{PACKAGE} is not installed (pip install 'byoc[train]')",
                         report_dir)
    model, spec = keras_io.load(model_dir)
    try:
        content = convert(model)
        runner = LiteRTModel(content)
        runner.check_against(spec)
        check = compare(*(
            _in_batches(fn, images, batch_size, spec.num_classes)
            for fn in (lambda x: model(x, training=False).numpy(), runner.predict)
        ))
    except Exception as exc:  # any converter or runtime failure: the TensorFlow bundle stands
        return _left_out(None, _why_not_converted(exc), report_dir)
    if not check.within_tolerance:
        return _left_out(check, f"LiteRT's {check.describe()}, beyond the tolerance "
                         f"(difference at most {MAX_PROB_DIFF:.0e}, agreement at least "
                         f"{100 * MIN_TOP1_AGREEMENT:.0f}%)", report_dir)
    _record(Export(check), report_dir)
    write_atomically(target, lambda tmp: tmp.write_bytes(content))
    dataclasses.replace(spec, litert_model=LITERT_FILE,
                        litert_check=dataclasses.asdict(check)).write(model_dir)
    log.info("Wrote %s (%d KB): %s.", target, len(content) // 1024, check.describe())
    return Export(check)


def _left_out(check: Check | None, reason: str, report_dir: str | Path | None) -> Export:
    outcome = Export(check, reason)
    log.warning("No %s in the bundle: %s. `serve` will use TensorFlow.", LITERT_FILE, reason)
    _record(outcome, report_dir)
    return outcome


def _record(outcome: Export, report_dir: str | Path | None) -> None:
    """litert_check.json beside the evaluation report: the check, whether model.tflite was kept,
    and why not."""
    if report_dir is None:
        return
    Path(report_dir).mkdir(parents=True, exist_ok=True)
    check = dataclasses.asdict(outcome.check) if outcome.check else {}
    reason = {} if outcome.kept else {"reason": outcome.left_out_because}
    (Path(report_dir) / CHECK_FILE).write_text(json.dumps(
        {**check, "kept": outcome.kept, **reason, "max_prob_diff_allowed": MAX_PROB_DIFF,
         "min_top1_agreement": MIN_TOP1_AGREEMENT}, indent=2) + "\n")
