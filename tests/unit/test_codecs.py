"""Decoding request bodies and encoding responses, without HTTP and without TensorFlow."""

from __future__ import annotations

import base64
import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from byoc import content_types
from byoc.bundle import ModelSpec
from byoc.contract import DEFAULT_MAX_INSTANCES
from byoc.data import images
from byoc.serving import codecs
from tests.support.fuzz import fuzz
from tests.support.payloads import npy_bytes, png_bytes

SPEC = ModelSpec(class_names=["stop", "yield", "limit, 30"], height=4, width=5, channels=3,
                 top_k=2)


def _pixels(n=None, seed=0) -> np.ndarray:
    shape = SPEC.input_shape if n is None else (n, *SPEC.input_shape)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --- decode ------------------------------------------------------------------------------------


def test_image_is_resized_as_in_training():
    big = np.random.default_rng(1).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    batch = codecs.decode(png_bytes(big), "image/png", SPEC)
    assert batch.shape == (1, *SPEC.input_shape) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[0], images.load(png_bytes(big), (4, 5), 3))


def test_other_image_types_go_to_pil():
    out = io.BytesIO()
    Image.fromarray(_pixels()).save(out, "GIF")
    assert codecs.decode(out.getvalue(), "image/gif", SPEC).shape == (1, 4, 5, 3)


def test_content_type_parameters_are_ignored():
    body = json.dumps([_pixels().tolist()])
    assert codecs.decode(body.encode(), "Application/JSON; charset=utf-8", SPEC).shape[0] == 1


def test_json_instances_arrays_and_b64_stack_into_one_batch():
    pixels = _pixels()
    b64 = base64.b64encode(png_bytes(pixels)).decode()
    for payload in ({"instances": [pixels.tolist(), {"b64": b64}]},
                    [pixels.tolist(), {"b64": b64}]):
        batch = codecs.decode(json.dumps(payload).encode(), codecs.JSON, SPEC)
        assert batch.shape == (2, *SPEC.input_shape)
        np.testing.assert_array_equal(batch[0], batch[1])


def test_json_numeric_batch_and_single_image():
    batch = _pixels(3)
    out = codecs.decode(json.dumps({"instances": batch.tolist()}).encode(), codecs.JSON, SPEC)
    np.testing.assert_array_equal(out, batch)
    single = codecs.decode(json.dumps(batch[0].tolist()).encode(), codecs.JSON, SPEC)
    assert single.shape == (1, *SPEC.input_shape)


def test_npy_batch_and_single_image_without_copying_dtype():
    batch = _pixels(3)
    out = codecs.decode(npy_bytes(batch), codecs.NPY, SPEC)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, batch)
    assert codecs.decode(npy_bytes(batch[0]), codecs.NPY, SPEC).shape == (1, *SPEC.input_shape)


def test_csv_one_flattened_image_per_line():
    batch = _pixels(2)
    body = "\n".join(",".join(map(str, img.ravel())) for img in batch) + "\n\n"
    np.testing.assert_array_equal(codecs.decode(body.encode(), codecs.CSV, SPEC), batch)


@pytest.mark.parametrize("content_type, body, phrase", [
    ("image/png", b"nope", "Cannot decode"),
    ("image/png", b"", "empty"),
    (codecs.JSON, b"{", "not valid JSON"),
    (codecs.JSON, b"[" * 50_000 + b"]" * 50_000, "JSON"),
    (codecs.JSON, b'{"data": []}', "instances"),
    (codecs.JSON, b'{"instances": 3}', "list"),
    (codecs.JSON, b"[]", "empty"),
    (codecs.JSON, b'[[1, 2], [3]]', "shape"),
    (codecs.JSON, json.dumps([np.full((4, 5, 3), "x").tolist()]).encode(), "strings"),
    (codecs.JSON, json.dumps([np.full((4, 5, 3), True).tolist()]).encode(), "booleans"),
    (codecs.JSON, json.dumps([np.full((4, 5, 3), None).tolist()]).encode(), "nulls"),
    (codecs.JSON, json.dumps([np.full((4, 5, 3), float("nan")).tolist()]).encode(), "NaN"),
    (codecs.JSON, b'[{"b64": "@@"}]', "base64"),
    (codecs.JSON, b'[{"image": "x"}]', "b64"),
    (codecs.JSON, json.dumps([_pixels().tolist(), np.zeros((2, 2)).tolist()]).encode(), "shape"),
    (codecs.NPY, b"\x93NUMPY garbage", ".npy"),
    (codecs.NPY, npy_bytes(np.array([None, 1], dtype=object)), ".npy"),
    (codecs.NPY, npy_bytes(np.zeros((2, 5, 4, 3))), "(N, 4, 5, 3)"),
    (codecs.NPY, npy_bytes(np.zeros((0, 4, 5, 3))), "empty"),
    (codecs.NPY, npy_bytes(np.full((4, 5, 3), np.inf)), "infinite"),
    (codecs.CSV, b"r,g,b\n", "CSV"),
    (codecs.CSV, b"1,2,3\n", "60 values"),
    (codecs.CSV, b"1,2\n1\n", "CSV"),
])
def test_bad_bodies_are_request_errors_with_a_hint(content_type, body, phrase):
    with pytest.raises(codecs.RequestError) as info:
        codecs.decode(body, content_type, SPEC)
    assert info.value.status == 400
    assert phrase in str(info.value)


def test_image_too_large_to_decode_safely_is_400():
    side = int(images.MAX_IMAGE_PIXELS ** 0.5) + 100
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    with pytest.raises(codecs.RequestError, match="too large"):
        codecs.decode(out.getvalue(), "image/png", SPEC)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml"])
def test_unsupported_content_type_is_415_and_lists_the_accepted(content_type):
    with pytest.raises(codecs.UnsupportedContentType, match="application/x-npy") as info:
        codecs.decode(b"x", content_type, SPEC)
    assert info.value.status == 415


def test_the_light_list_of_types_is_what_the_codecs_decode_and_encode():
    """The driver registers a model with byoc.content_types (it cannot import this module): the
    lists must be the codecs' own, in their order, the default answer first."""
    assert tuple(codecs.DECODERS) == content_types.REQUEST_TYPES
    assert tuple(codecs.ENCODERS) == content_types.RESPONSE_TYPES
    assert codecs.response_type(None) == content_types.RESPONSE_TYPES[0]


# --- encode ------------------------------------------------------------------------------------

PROBS = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], dtype=np.float32)


def test_json_predictions_with_top_k():
    out = json.loads(codecs.encode(PROBS, codecs.JSON, SPEC, 2))["predictions"]
    assert [p["class_id"] for p in out] == [1, 0]
    assert out[0]["label"] == "yield" and out[0]["probability"] == pytest.approx(0.7)
    assert [x["class_id"] for x in out[0]["top_k"]] == [1, 2]
    assert [x["label"] for x in out[1]["top_k"]] == ["stop", "limit, 30"]


def test_csv_rows_quote_labels_with_commas():
    rows = list(csv.reader(io.StringIO(codecs.encode(PROBS, codecs.CSV, SPEC, 2).decode())))
    assert rows[0] == ["1", "yield", "0.7", "2", "limit, 30", "0.2"]
    assert rows[1][:3] == ["0", "stop", "0.5"]


@fuzz(100)
@given(probs=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                        elements=st.floats(0, 1, width=32)),
       data=st.data())
def test_the_three_encodings_agree_on_classes_and_probabilities(probs, data):
    """JSON and CSV rank the same top k, each with its probability to 6 significant digits
    (CSV's `.6g`); NPY is every probability, exact."""
    names = [f"class {i}" for i in range(probs.shape[1])]
    spec = ModelSpec(class_names=names, height=4, width=5, channels=3)
    k = data.draw(st.integers(1, probs.shape[1]))
    as_json = json.loads(codecs.encode(probs, codecs.JSON, spec, k))["predictions"]
    as_csv = list(csv.reader(io.StringIO(codecs.encode(probs, codecs.CSV, spec, k).decode())))
    as_npy = np.load(io.BytesIO(codecs.encode(probs, codecs.NPY, spec, k)), allow_pickle=False)
    np.testing.assert_array_equal(as_npy, probs)
    assert len(as_json) == len(as_csv) == len(probs)
    for row, ranked, line in zip(probs, as_json, as_csv, strict=True):
        ids = [x["class_id"] for x in ranked["top_k"]]
        assert ids == [int(v) for v in line[0::3]] and len(ids) == k
        assert [names[i] for i in ids] == line[1::3]
        assert np.all(np.diff(row[ids]) <= 0), "not best first"
        assert row[ids[0]] == row.max()
        for i, x, text in zip(ids, ranked["top_k"], line[2::3], strict=True):
            assert x["probability"] == pytest.approx(float(row[i]), rel=1e-6, abs=0)
            assert float(text) == pytest.approx(float(row[i]), rel=1e-5, abs=0)


def test_npy_is_all_probabilities():
    out = np.load(io.BytesIO(codecs.encode(PROBS, codecs.NPY, SPEC, 1)), allow_pickle=False)
    np.testing.assert_array_equal(out, PROBS)


@pytest.mark.parametrize("accept, expected", [
    (None, codecs.JSON),
    ("", codecs.JSON),
    ("*/*", codecs.JSON),
    ("application/*", codecs.JSON),
    ("text/csv", codecs.CSV),
    ("text/html;q=1, application/x-npy;q=0.9, */*;q=0.1", codecs.NPY),
    ("application/json;q=0.2, text/csv;q=0.8", codecs.CSV),
])
def test_response_type(accept, expected):
    assert codecs.response_type(accept) == expected


@pytest.mark.parametrize("accept", ["text/html", "image/png", "application/xml;q=1"])
def test_unsupported_accept_is_406(accept):
    with pytest.raises(codecs.UnsupportedAccept) as info:
        codecs.response_type(accept)
    assert info.value.status == 406


@pytest.mark.parametrize("attributes, expected", [
    (None, 2),
    ("", 2),
    ("top_k=1", 1),
    ("a=b;top_k=3,c", 3),
    (" top_k = 2 ", 2),
    ("top_k=99", 3),  # clipped to the number of classes
    ("mytop_k=1", 2),
])
def test_top_k_from_custom_attributes(attributes, expected):
    assert codecs.top_k_from(attributes, SPEC.top_k, SPEC.num_classes) == expected


@pytest.mark.parametrize("attributes", ["top_k=0", "top_k=-2", "top_k=two", "top_k=", "top_k=1.5"])
def test_bad_top_k_is_400(attributes):
    with pytest.raises(codecs.RequestError, match="top_k") as info:
        codecs.top_k_from(attributes, SPEC.top_k, SPEC.num_classes)
    assert info.value.status == 400


# --- the input sizes of the pretrained backbones -------------------------------------------------

def test_a_224_model_gets_its_images_resized_and_the_instance_cap_holds():
    spec = ModelSpec(class_names=["a", "b"], height=224, width=224, channels=3)
    photo = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    batch = codecs.decode(png_bytes(photo), "image/png", spec)
    assert batch.shape == (1, 224, 224, 3) and batch.dtype == np.uint8
    # As in training: the same resize of the same file.
    assert np.array_equal(batch[0], images.load(png_bytes(photo), (224, 224), 3))
    small = {"b64": base64.b64encode(png_bytes(photo[:8, :8])).decode()}
    body = json.dumps({"instances": [small] * 3}).encode()
    assert codecs.decode(body, content_types.JSON, spec, max_instances=3).shape == \
        (3, 224, 224, 3)
    # One over the cap is refused before any is decoded (and resized to 224×224).
    with pytest.raises(codecs.TooManyInstances, match="holds 4 instances; .* at most 3"):
        codecs.decode(json.dumps({"instances": [small] * 4}).encode(), content_types.JSON,
                      spec, max_instances=3)


def test_a_large_input_size_caps_a_request_by_its_decoded_bytes():
    # 1024×1024×3: 3 MB an image once decoded, so 85 fit in MAX_DECODED_MB = 256, far below the
    # instance cap; tiny PNGs would otherwise let a 100 KB body decode to gigabytes.
    spec = ModelSpec(class_names=["a", "b"], height=1024, width=1024, channels=3)
    most = codecs.MAX_DECODED_MB * codecs.MB // (1024 * 1024 * 3)
    assert most == 85
    tiny = {"b64": base64.b64encode(png_bytes(np.zeros((4, 4, 3), np.uint8))).decode()}
    body = json.dumps({"instances": [tiny] * (most + 1)}).encode()
    assert len(body) < 100_000
    with pytest.raises(codecs.TooManyInstances,
                       match=r"holds 86 instances; decoded to the model's 1024x1024x3 input they "
                             r"would take 258 MB.*at most 256 MB \(85 instances of this size\)"
                       ) as info:
        codecs.decode(body, content_types.JSON, spec)
    assert info.value.status == 413
    assert codecs.decode(json.dumps({"instances": [tiny] * 2}).encode(), content_types.JSON,
                         spec).shape == (2, 1024, 1024, 3)
    # The same cap for a .npy header and CSV rows, before anything is allocated.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (most + 1, 1024, 1024, 3)})
    with pytest.raises(codecs.TooManyInstances, match="at most 256 MB"):
        codecs.decode(header.getvalue(), content_types.NPY, spec)
    # At the sizes the classic models use, the instance cap binds first.
    small = ModelSpec(class_names=["a", "b"], height=224, width=224, channels=3)
    codecs.check_count(DEFAULT_MAX_INSTANCES, DEFAULT_MAX_INSTANCES, small)
