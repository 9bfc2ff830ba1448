"""Request bodies in, responses out: decode by Content-Type into one batch, encode by Accept.

Also the request errors, each with the HTTP status it maps to. No Flask and no TensorFlow here.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Callable, Mapping

import numpy as np
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from byoc.bundle import ModelSpec
from byoc.content_types import CSV, IMAGE_TYPES, JSON, NPY
from byoc.contract import CUSTOM_ATTRIBUTES_HEADER, DEFAULT_MAX_INSTANCES, MAX_INSTANCES_ENV, MB
from byoc.data import images
from byoc.echo import quote, reason
from byoc.errors import UserError

# The PIL plugins a request body may reach: common raster formats decoded in-process. Others
# (EPS, for one, which PIL hands to Ghostscript) are refused whatever the Content-Type says.
REQUEST_IMAGE_FORMATS = ("PNG", "JPEG", "PPM", "GIF", "BMP", "TIFF", "WEBP")

# SageMaker passes InvokeEndpoint's CustomAttributes through in this header.
TOP_K_ATTRIBUTE = "top_k"


class RequestError(UserError):
    """A request the server cannot serve; `status` is the HTTP status it maps to."""

    status = 400


class UnsupportedContentType(RequestError):
    status = 415


class UnsupportedAccept(RequestError):
    status = 406


class PayloadTooLarge(RequestError):
    status = 413


class TooManyInstances(PayloadTooLarge):
    pass


class BodyTimedOut(RequestError):
    status = 408


def media_type(header: str | None) -> str:
    """`image/png; charset=x` -> `image/png`."""
    return (header or "").split(";", 1)[0].strip().lower()


# --- decoding -------------------------------------------------------------------------------


# What one request's images may come to once decoded (N×H×W×C bytes), whatever the instance
# cap: 1000 images are 3 MB at 32×32×3 and 150 MB at 224×224×3, but 3 GB at 1024×1024×3.
MAX_DECODED_MB = 256


def check_count(count: int, max_instances: int, spec: ModelSpec | None = None) -> None:
    """Refuse a request of more than `max_instances` instances, or (with the model's `spec`)
    more than MAX_DECODED_MB of decoded pixels, counted before any is decoded."""
    if count > max_instances:
        raise TooManyInstances(
            f"The request holds {count} instances; this server accepts at most {max_instances} "
            f"per request ({MAX_INSTANCES_ENV}). Split the batch into requests of at most "
            f"{max_instances} instances, or raise {MAX_INSTANCES_ENV} on the server."
        )
    if spec is None:
        return
    h, w, c = spec.input_shape
    most = max(1, MAX_DECODED_MB * MB // (h * w * c))
    if count > most:
        raise TooManyInstances(
            f"The request holds {count} instances; decoded to the model's {h}x{w}x{c} input "
            f"they would take {count * h * w * c / MB:.0f} MB, and a request may take at most "
            f"{MAX_DECODED_MB} MB ({most} instances of this size). Split the batch into "
            f"requests of at most {most} instances."
        )


def _shape_text(spec: ModelSpec) -> str:
    h, w, c = spec.input_shape
    return f"(N, {h}, {w}, {c}) or ({h}, {w}, {c})"


# What a non-numeric array holds, by numpy dtype kind, for the error message.
_NON_NUMERIC = {"U": "strings", "S": "bytes", "b": "booleans",
                "O": "nulls, mixed values or integers too large for 64 bits"}
# Pixel values, whatever the dtype. A value outside them (1e300 is finite in float64 but
# infinite once cast to the model's float32) would come back as NaN probabilities.
PIXEL_MIN, PIXEL_MAX = 0, 255


def as_batch(arr: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Check a decoded array: N×H×W×C (or one H×W×C image), numbers only, finite, not empty."""
    if arr.dtype.kind not in "iuf":
        found = _NON_NUMERIC.get(arr.dtype.kind, f"values of type {arr.dtype}")
        raise RequestError(
            f"Expected numbers (pixel values 0..255), found {found}. "
            f"Send an array of shape {_shape_text(spec)}."
        )
    if arr.shape == spec.input_shape:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != spec.input_shape:
        raise RequestError(
            f"Expected an array of shape {_shape_text(spec)}, got {tuple(arr.shape)}. "
            "Send images of the model's input size, or send encoded images (PNG/JPEG), "
            "which are resized."
        )
    if arr.shape[0] == 0:
        raise RequestError("The batch is empty: send at least one image.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise RequestError("The input holds NaN or infinite values; send pixel values 0..255.")
    if arr.dtype != np.uint8:
        low, high = arr.min(), arr.max()
        if low < PIXEL_MIN or high > PIXEL_MAX:
            raise RequestError(
                f"Pixel values must lie in {PIXEL_MIN}..{PIXEL_MAX}; the input holds values from "
                f"{low} to {high}."
            )
    return arr


def _array(data: object, spec: ModelSpec) -> np.ndarray:
    try:
        return np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise RequestError(
            f"Cannot read the input as one array ({exc}); expected shape {_shape_text(spec)}."
        ) from None


def decode_image(body: bytes, spec: ModelSpec, max_instances: int = 1) -> np.ndarray:
    """One encoded image, decoded and resized exactly as in training: 1×H×W×C uint8 (one
    instance, within any `max_instances`)."""
    return images.load(body, (spec.height, spec.width), spec.channels,
                       formats=REQUEST_IMAGE_FORMATS)[None]


def _instance(item: object, index: int, spec: ModelSpec) -> np.ndarray:
    if isinstance(item, Mapping):
        if "b64" not in item or not isinstance(item["b64"], str):
            raise RequestError(
                f"Instance {index}: an object instance must be {{\"b64\": \"<base64 image>\"}}."
            )
        try:
            data = base64.b64decode(item["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"Instance {index}: 'b64' is not valid base64.") from None
        try:
            return decode_image(data, spec)[0]
        except UserError as exc:
            raise RequestError(f"Instance {index}: {exc}") from None
    try:
        arr = _array(item, spec)
        if arr.shape != spec.input_shape:
            raise RequestError(f"expected shape {spec.input_shape}, got {arr.shape}.")
        return as_batch(arr, spec)[0]
    except RequestError as exc:
        raise RequestError(f"Instance {index}: {exc}") from None


def _depth(item: object) -> int:
    """How deep lists nest along their first elements: 3 for one H×W×C image."""
    depth = 0
    while isinstance(item, list) and item:
        depth, item = depth + 1, item[0]
    return depth


def decode_json(body: bytes, spec: ModelSpec,
                max_instances: int = DEFAULT_MAX_INSTANCES) -> np.ndarray:
    """`{"instances": [...]}` or a bare list; an instance is an H×W×C array or {"b64": ...}."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"The body is not valid JSON: {reason(exc)}.") from None
    if isinstance(payload, Mapping):
        if "instances" not in payload:
            raise RequestError(
                'Expected {"instances": [...]} (or a bare list of instances); '
                f"got an object with keys {quote(sorted(payload)[:5])}."
            )
        payload = payload["instances"]
    if not isinstance(payload, list):
        raise RequestError('"instances" must be a list of images.')
    if not payload:
        raise RequestError("The batch is empty: send at least one image.")
    one_image = _depth(payload) == len(spec.input_shape)
    check_count(1 if one_image else len(payload), max_instances, spec)
    if not any(isinstance(item, Mapping) for item in payload):
        # All numbers: one conversion of the whole batch is much faster than one per instance.
        return as_batch(_array(payload, spec), spec)
    return np.stack([_instance(item, i, spec) for i, item in enumerate(payload)])


def _check_npy_header(body: bytes, max_instances: int, spec: ModelSpec) -> None:
    """Refuse an .npy whose header declares more instances than the cap, or more data than the
    body holds, before numpy allocates what the header declares (10^12 elements would be
    terabytes)."""
    fp = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(fp)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(fp)
    except Exception:
        return  # not an .npy header: np.load gives the reason
    check_count(shape[0] if len(shape) == 4 else 1, max_instances, spec)
    if dtype.hasobject:
        raise RequestError("The .npy array holds Python objects (pickled); send a numeric "
                           "dtype such as uint8 or float32.")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = len(body) - fp.tell()
    if declared != held:
        raise RequestError(
            f"The .npy header declares shape {shape} of {dtype} ({declared} bytes) but the body "
            f"holds {held} bytes of data. Write the array with numpy.save."
        )


def decode_npy(body: bytes, spec: ModelSpec,
               max_instances: int = DEFAULT_MAX_INSTANCES) -> np.ndarray:
    """An .npy array, N×H×W×C or H×W×C. Pickled (object) arrays are refused."""
    if body.startswith(b"\x93NUMPY"):
        _check_npy_header(body, max_instances, spec)
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a malformed file
        raise RequestError(
            f"The body is not a readable .npy array ({reason(exc)}); write it with numpy.save "
            "and a numeric dtype."
        ) from None
    if not isinstance(arr, np.ndarray):
        raise RequestError("Expected one .npy array, not an .npz archive.")
    return as_batch(arr, spec)


# A CSV line that holds something: numpy skips blank ones.
_CSV_ROW = re.compile(rb"\S[^\n]*")


def decode_csv(body: bytes, spec: ModelSpec,
               max_instances: int = DEFAULT_MAX_INSTANCES) -> np.ndarray:
    """One flattened H×W×C image per line, comma separated, no header."""
    size = spec.height * spec.width * spec.channels
    check_count(sum(1 for _ in _CSV_ROW.finditer(body)), max_instances, spec)
    try:
        rows = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float32, ndmin=2,
                          comments=None, encoding="utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(
            f"Cannot read the CSV ({reason(exc)}). Expected numbers only, no header: one flattened "
            f"image of {size} values per line."
        ) from None
    if rows.shape[1] != size and rows.size:
        raise RequestError(
            f"Each CSV line must hold {size} values (a flattened {spec.height}x{spec.width}x"
            f"{spec.channels} image), got {rows.shape[1]}."
        )
    return as_batch(rows.reshape(-1, *spec.input_shape), spec)


# Each takes the body, the spec and the most instances the body may hold.
DECODERS: dict[str, Callable[[bytes, ModelSpec, int], np.ndarray]] = {
    **{t: decode_image for t in IMAGE_TYPES},
    JSON: decode_json,
    NPY: decode_npy,
    CSV: decode_csv,
}


def decode(body: bytes, content_type: str | None, spec: ModelSpec,
           max_instances: int = DEFAULT_MAX_INSTANCES) -> np.ndarray:
    """Decode a request body into one batch for the model: N×H×W×C, uint8 or float, of at most
    `max_instances` images (TooManyInstances, a 413, before decoding any of a larger batch)."""
    kind = media_type(content_type)
    decoder = DECODERS.get(kind)
    if decoder is None and kind.startswith("image/"):
        decoder = decode_image  # any other image type PIL can read
    if decoder is None:
        raise UnsupportedContentType(
            f"Unsupported Content-Type {quote(kind) if kind else '(none)'}. Send one of: "
            f"{', '.join(DECODERS)}."
        )
    if not body:
        raise RequestError("The request body is empty: send an image or a batch of images.")
    try:
        return decoder(body, spec, max_instances)
    except RequestError:
        raise
    except UserError as exc:  # from byoc.data.images: undecodable or oversized image
        raise RequestError(str(exc)) from None


# --- encoding -------------------------------------------------------------------------------


def top_k_from(attributes: str | None, default: int, num_classes: int) -> int:
    """k from SageMaker custom attributes (`top_k=3`, among other `key=value` pairs)."""
    k = default
    for pair in (attributes or "").replace(";", ",").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == TOP_K_ATTRIBUTE:
            try:
                k = int(value.strip())
            except ValueError:
                k = 0
            if k < 1:
                raise RequestError(
                    f"{CUSTOM_ATTRIBUTES_HEADER}: top_k must be a whole number >= 1, "
                    f"got {quote(value.strip())}."
                )
    return min(k, num_classes)


def _top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest probabilities per row, largest first."""
    order = np.argsort(-probs, axis=1, kind="stable")
    return order[:, :k]


def encode_json(probs: np.ndarray, spec: ModelSpec, k: int) -> bytes:
    predictions = []
    for row, ids in zip(probs, _top_k(probs, k), strict=True):
        ranked = [
            {"class_id": int(i), "label": spec.class_names[i], "probability": float(row[i])}
            for i in ids
        ]
        predictions.append({**ranked[0], "top_k": ranked})
    return json.dumps({"predictions": predictions}).encode()


def encode_csv(probs: np.ndarray, spec: ModelSpec, k: int) -> bytes:
    """One line per image: class_id,label,probability for each of the top k, best first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row, ids in zip(probs, _top_k(probs, k), strict=True):
        writer.writerow([v for i in ids for v in (int(i), spec.class_names[i], f"{row[i]:.6g}")])
    return out.getvalue().encode()


def encode_npy(probs: np.ndarray, spec: ModelSpec, k: int) -> bytes:
    """All probabilities, N×classes float32; top_k does not apply."""
    out = io.BytesIO()
    np.save(out, np.asarray(probs, dtype=np.float32), allow_pickle=False)
    return out.getvalue()


# The first entry is the default, for a missing Accept or */*.
ENCODERS: dict[str, Callable[[np.ndarray, ModelSpec, int], bytes]] = {
    JSON: encode_json,
    CSV: encode_csv,
    NPY: encode_npy,
}


def response_type(accept: str | None) -> str:
    """The media type to answer in, from an Accept header (q-values and wildcards honoured)."""
    if not accept or not accept.strip():
        return JSON
    match = parse_accept_header(accept, MIMEAccept).best_match(list(ENCODERS))
    if match is None:
        raise UnsupportedAccept(
            f"Cannot answer in {quote(accept)}. Accept one of: {', '.join(ENCODERS)} (or */*)."
        )
    return match


def encode(probs: np.ndarray, accept_type: str, spec: ModelSpec, k: int) -> bytes:
    """Encode N×classes probabilities in `accept_type` (a value from `response_type`)."""
    return ENCODERS[accept_type](probs, spec, k)
