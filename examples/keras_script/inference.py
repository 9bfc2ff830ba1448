"""Inference handlers for the traffic-sign model that train.py saves, in the contract of SageMaker's
inference toolkit: any container that implements it (byoc's among them) serves the model with them.

train.py leaves two files in the model directory: model.keras, a Keras model that takes raw
32×32 RGB pixels (0..255) and returns class probabilities, and classes.json, the list of class
names (index = label). Requests may be:

    application/x-npy    an array of shape (N, 32, 32, 3) or (32, 32, 3), uint8 pixels
    application/json     {"instances": [...]}, each instance 32×32×3 nested lists of pixels
    image/png            one image of any size, resized to 32×32

The answer is JSON: {"predictions": [{"class": "<name>", "probability": p}, ...]}, one per image.
A request the handlers cannot read gets a 415 or a 400 (werkzeug's HTTP errors, which byoc's server
answers with their status).
"""

import io
import json
import os

import keras
import numpy as np
from PIL import Image
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

IMAGE_SIZE = (32, 32)
CHANNELS = 3


def model_fn(model_dir):
    """The Keras model and its class names. Safe mode: a model file cannot run arbitrary code."""
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"), safe_mode=True)
    with open(os.path.join(model_dir, "classes.json")) as f:
        classes = json.load(f)
    return {"model": model, "classes": classes}


def _png(data):
    image = Image.open(io.BytesIO(data)).convert("RGB").resize(IMAGE_SIZE, Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)[None]


def input_fn(input_data, content_type):
    """A batch of images, (N, 32, 32, 3) float32 pixels 0..255."""
    kind = (content_type or "").split(";")[0].strip()
    if kind == "application/x-npy":
        batch = np.load(io.BytesIO(input_data), allow_pickle=False)
    elif kind == "application/json":
        try:
            batch = np.asarray(json.loads(input_data)["instances"], dtype=np.float32)
        except (ValueError, TypeError, KeyError):
            raise BadRequest('Send {"instances": [...]} with 32x32x3 pixel arrays.') from None
    elif kind == "image/png":
        batch = _png(input_data)
    else:
        raise UnsupportedMediaType(f"Unsupported content type {content_type!r}: send "
                                   "application/x-npy, application/json or image/png.")
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[1:] != (*IMAGE_SIZE, CHANNELS):
        raise BadRequest(f"Expected images of shape (32, 32, 3), got {batch.shape}.")
    return batch.astype(np.float32)


def predict_fn(data, model):
    """Class probabilities, one row per image, with the class names for output_fn."""
    probabilities = np.asarray(model["model"].predict(data, verbose=0))
    return {"probabilities": probabilities, "classes": model["classes"]}


def output_fn(prediction, accept):
    """The most likely class of each image and its probability, as JSON."""
    probabilities, classes = prediction["probabilities"], prediction["classes"]
    predictions = [{"class": classes[int(i)], "probability": float(row[i])}
                   for row, i in zip(probabilities, probabilities.argmax(axis=1), strict=True)]
    return json.dumps({"predictions": predictions}), "application/json"
