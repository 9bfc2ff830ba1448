"""The servable model: load the bundle once per worker, on LiteRT or TensorFlow, and warm it up.

`Predictor.predict` takes a batch of raw pixels (N×H×W×C, uint8 or float, 0..255) and returns
softmax probabilities (N×classes). On LiteRT it runs model.tflite (see `byoc.bundle.litert`); on
TensorFlow it calls a traced `tf.function` with a fixed input signature, never `Model.predict`,
whose per-call setup costs tens of milliseconds.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from byoc.bundle import LITERT_FILE, MODEL_FILE, ModelSpec
from byoc.errors import UserError
from byoc.serving import runtime as runtimes

log = logging.getLogger(__name__)

# What one forward pass takes: a larger batch runs in chunks, so that no runtime buffer (LiteRT's
# tensor arena, TensorFlow's activations) grows past what a chunk needs, and a worker's memory
# stays what it was after the largest request. Activations grow with the pixels, so a chunk is
# counted in input values: 64 images at 32×32, where fewer calls are faster on TensorFlow, and 8
# at 224×224, where 64 a pass nearly triples a LiteRT worker's memory for no speed
# (`python -m benchmarks.serving_chunks`; its table is in docs/benchmarks.md).
MAX_CHUNK = 64
CHUNK_VALUES = 8 * 224 * 224 * 3


def chunk_size(input_shape: Sequence[int]) -> int:
    """How many images of `input_shape` (H, W, C) one forward pass takes: at most MAX_CHUNK, and
    at most CHUNK_VALUES input values, but always one."""
    return max(1, min(MAX_CHUNK, CHUNK_VALUES // max(1, math.prod(input_shape))))


RUNTIME_MODULES = {runtimes.LITERT: "ai_edge_litert.interpreter",
                   runtimes.TENSORFLOW: "tensorflow"}


def configure_threads(intra_op: int, inter_op: int = 1) -> None:
    """Size TensorFlow's thread pools; call before the first TensorFlow op in this process.

    Several workers share few cores: each gets its share instead of one thread per core, which
    would oversubscribe the CPU and make every request wait on context switches.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # TensorFlow already ran an op in this process: keep its pools
        log.warning("TensorFlow is already initialized; its thread pools keep their sizes.")


class Predictor:
    """A model behind one inference function, the spec that describes its input, and the name of
    the runtime that runs it."""

    def __init__(self, infer: Callable[[np.ndarray], np.ndarray], spec: ModelSpec,
                 runtime: str = runtimes.CUSTOM):
        self._infer = infer
        self.spec = spec
        self.chunk = chunk_size(spec.input_shape)
        self.runtime = runtime
        self.ready = False

    @classmethod
    def load(cls, model_dir: str | os.PathLike, intra_op_threads: int | None = None,
             runtime: str = runtimes.AUTO) -> Predictor:
        """Load the bundle in `model_dir` on `runtime` (auto: see `byoc.serving.runtime`) and
        warm it up."""
        model_dir = Path(model_dir)
        runtime = runtimes.resolve(model_dir, runtime)
        spec = ModelSpec.read(model_dir)
        # The three start-up times go to the log: benchmarks/cold_start.py reads them.
        start = time.perf_counter()
        importlib.import_module(RUNTIME_MODULES[runtime])
        imported = time.perf_counter()
        if runtime == runtimes.LITERT:
            infer, detail = _litert_infer(model_dir, spec, intra_op_threads or 1)
        else:
            infer, detail = _tensorflow_infer(model_dir, intra_op_threads)
        predictor = cls(infer, spec, runtime)
        loaded = time.perf_counter()
        predictor.warm_up()
        log.info("Model in %s ready on %s: input %s, %d classes (runtime import %.3f s, model "
                 "load %.3f s, warm-up %.3f s)", model_dir, detail, spec.input_shape,
                 spec.num_classes, imported - start, loaded - imported,
                 time.perf_counter() - loaded)
        return predictor

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities N×classes for raw pixels N×H×W×C (0..255, uint8 or float), in passes of
        at most `self.chunk` images (see `chunk_size`)."""
        n = self.chunk
        if len(batch) <= n:
            return self._infer(np.asarray(batch, dtype=np.float32))
        return np.concatenate([self._infer(np.asarray(batch[i:i + n], dtype=np.float32))
                               for i in range(0, len(batch), n)])

    def warm_up(self, batch_sizes: Sequence[int] | None = None) -> None:
        """Run each batch size once to set up kernels and buffers; then the predictor is ready.
        By default: one image, eight (or a chunk, if smaller) and a whole chunk, so that the
        first requests of those sizes are not slow."""
        if batch_sizes is None:
            batch_sizes = sorted({1, min(8, self.chunk), self.chunk})
        for n in batch_sizes:
            probs = self.predict(np.zeros((n, *self.spec.input_shape), dtype=np.uint8))
            if probs.shape != (n, self.spec.num_classes):
                raise UserError(
                    f"The model returned shape {probs.shape} for {n} images; byoc-model.json "
                    f"lists {self.spec.num_classes} classes. The bundle does not match its spec."
                )
        self.ready = True


def _litert_infer(model_dir: Path, spec: ModelSpec,
                  threads: int) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    from byoc.bundle import litert

    model = litert.LiteRTModel(model_dir / LITERT_FILE, num_threads=threads)
    model.check_against(spec)
    return model.predict, (f"LiteRT {litert.version()} ({LITERT_FILE}, "
                           f"{threads} thread{'s' if threads > 1 else ''})")


def _tensorflow_infer(model_dir: Path, intra_op_threads: int | None
                      ) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    if intra_op_threads:
        configure_threads(intra_op_threads)
    import tensorflow as tf

    from byoc import gpu
    from byoc.bundle import keras_io

    gpu.check_tensorflow()  # a GPU host that TensorFlow cannot use refuses to serve
    model, spec = keras_io.load(model_dir)

    def forward(x):
        # The cast keeps float32 out even from a mixed-precision model.
        return tf.cast(model(x, training=False), tf.float32)

    def compile_for(batch_size: int | None, jit: bool):
        # Calling the concrete function skips tf.function's argument matching: half the
        # cost of a one-image call.
        signature = [tf.TensorSpec([batch_size, *spec.input_shape], tf.float32)]
        return tf.function(forward, input_signature=signature,
                           jit_compile=jit).get_concrete_function()

    # One image per request is the common case: XLA fuses its kernels (about a third less
    # time per call). XLA compiles per shape, so any other batch size takes the generic path.
    single, batched = compile_for(1, jit=True), compile_for(None, jit=False)

    def infer(batch: np.ndarray) -> np.ndarray:
        fn = single if len(batch) == 1 else batched
        return fn(tf.convert_to_tensor(batch)).numpy()

    return infer, f"TensorFlow {tf.__version__} ({MODEL_FILE}, XLA for one image)"
