"""The media types `serve` reads (Content-Type) and answers in (Accept), named once with no
imports, so that the driver can list them (a registered model's InferenceSpecification) without
loading the server's codecs."""

from __future__ import annotations

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
X_IMAGE = "application/x-image"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/x-portable-pixmap", X_IMAGE)

# byoc.serving.codecs keys its decoders and its encoders by these, in this order (a test holds
# it to them). The first response type is the default, for a missing Accept or */*.
REQUEST_TYPES = (*IMAGE_TYPES, JSON, NPY, CSV)
RESPONSE_TYPES = (JSON, CSV, NPY)
