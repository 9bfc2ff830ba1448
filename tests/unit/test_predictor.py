"""How `Predictor` splits a batch into forward passes: by the input values of a chunk, so that a
large input runs in fewer images a pass. No TensorFlow: the inference is plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

from byoc.bundle import ModelSpec
from byoc.serving.predictor import MAX_CHUNK, Predictor, chunk_size


@pytest.mark.parametrize("shape, expected", [
    ((32, 32, 3), MAX_CHUNK), ((79, 79, 3), MAX_CHUNK), ((80, 80, 3), 62), ((96, 96, 3), 43),
    ((224, 224, 3), 8), ((224, 224, 1), 24), ((448, 448, 3), 2), ((449, 449, 3), 1),
    ((4096, 4096, 3), 1),
])
def test_a_chunk_holds_fewer_images_as_they_grow(shape, expected):
    assert chunk_size(shape) == expected


def _recording(side: int, classes: int = 3):
    """A Predictor whose inference records each pass's size and returns, for every image, its
    first pixel in every column: the output says which image each row came from."""
    spec = ModelSpec(class_names=[str(i) for i in range(classes)], height=side, width=side,
                     channels=3)
    passes: list[int] = []

    def infer(batch: np.ndarray) -> np.ndarray:
        passes.append(len(batch))
        return np.repeat(batch[:, :1, 0, 0], classes, axis=1).astype(np.float32)

    return Predictor(infer, spec), passes


@pytest.mark.parametrize("side, count, expected", [
    (32, 130, [64, 64, 2]), (224, 20, [8, 8, 4]), (224, 8, [8]), (32, 1, [1]),
])
def test_a_batch_runs_in_chunks_and_comes_back_in_order(side, count, expected):
    predictor, passes = _recording(side)
    batch = np.zeros((count, side, side, 3), np.uint8)
    batch[:, 0, 0, 0] = np.arange(count) % 256
    probs = predictor.predict(batch)
    assert passes == expected
    np.testing.assert_array_equal(probs[:, 0], np.arange(count) % 256)


@pytest.mark.parametrize("side, expected", [(32, [1, 8, 64]), (224, [1, 8]), (448, [1, 2])])
def test_warm_up_runs_one_image_eight_and_a_whole_chunk(side, expected):
    predictor, passes = _recording(side)
    assert not predictor.ready
    predictor.warm_up()
    assert passes == expected and predictor.ready
