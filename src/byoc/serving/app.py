"""The Flask app SageMaker talks to: /ping, /invocations, /execution-parameters (one model; the
multi-model routes are in `byoc.serving.multi_model` and answer invocations with `invoke`).

A thin shell over a `Predictor` and the codecs, or over the user's handlers (`HandledModel`); every
error becomes a JSON body and a status here, whichever code raised it.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from byoc.contract import CUSTOM_ATTRIBUTES_HEADER, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_PAYLOAD_MB
from byoc.serving import codecs
from byoc.serving.handlers import HandledModel
from byoc.serving.predictor import Predictor
from byoc.serving.runtime import RUNTIME_HEADER

log = logging.getLogger(__name__)

MB = codecs.MB
# An over-limit body up to this many times the limit is read and dropped, so that the 413 goes
# out on a connection that stays usable; a larger one ends with the connection closed.
DISCARD_FACTOR = 4
# After a request whose images took at least this much memory, freed memory goes back to the
# system: glibc keeps freed blocks in each thread's heap, so a few large requests on a worker's
# threads would hold their peak for good.
TRIM_AFTER_BYTES = 4 * MB


def trim_heap() -> None:
    """Give the heap's free memory back to the system (glibc's malloc_trim; a no-op elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _discard(length: int, limit: int) -> None:
    if length > limit:
        return
    stream = request.environ["wsgi.input"]
    try:
        while length > 0 and (chunk := stream.read(min(length, 64 * 1024))):
            length -= len(chunk)
    except OSError:  # the client went away or stalled: nothing left to keep alive
        pass


# What the app serves: byoc's predictor alone, or the user's handlers over a model.
Servable = Predictor | HandledModel


def create_app(
    predictor: Servable,
    *,
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB,
    max_concurrent_transforms: int = 1,
    body_timeout: float | None = None,
    max_instances: int = DEFAULT_MAX_INSTANCES,
) -> Flask:
    """`body_timeout`: seconds a request body may stall before the request gets a 408;
    `max_instances`: the most images one request may hold (more: a 413)."""
    # No static route: no request names a file on disk.
    app = Flask(__name__, static_folder=None)
    # Werkzeug enforces the limit while reading, also for chunked bodies without a length.
    app.config["MAX_CONTENT_LENGTH"] = max_payload_mb * MB
    runtime = {RUNTIME_HEADER: predictor.runtime}

    @app.get("/ping")
    def ping():
        if not predictor.ready:
            return jsonify(status="loading"), 503, runtime
        return Response(status=200, headers=runtime)

    @app.post("/invocations")
    def invocations():
        return invoke(predictor, read_body(max_payload_mb, body_timeout), max_instances)

    @app.get("/execution-parameters")
    def execution_parameters():
        return jsonify(
            MaxConcurrentTransforms=max_concurrent_transforms,
            BatchStrategy="MULTI_RECORD",
            MaxPayloadInMB=max_payload_mb,
        )

    name_runtime(app, lambda: predictor.runtime if request.path == "/invocations" else None)
    handle_errors(app)
    return app


def read_body(max_payload_mb: int, body_timeout: float | None = None) -> bytes:
    """The current request's body, read before any header is judged: gunicorn drains at most
    64 KB of an unread body, then closes a connection it announced as keep-alive, and the
    client's next request on it fails."""
    # gunicorn reads a body with no deadline: a client whose Content-Length promises more than
    # it sends would hold this thread for as long as it keeps the connection open.
    sock = request.environ.get("gunicorn.socket")
    if sock is not None and body_timeout:
        sock.settimeout(body_timeout)
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        _discard(request.content_length or 0, limit=DISCARD_FACTOR * max_payload_mb * MB)
        raise codecs.PayloadTooLarge(
            f"The request body is over the {max_payload_mb} MB limit "
            "(SAGEMAKER_MAX_PAYLOAD_IN_MB). Split the batch into smaller requests."
        ) from None
    except ClientDisconnected as exc:
        # werkzeug turns the socket's TimeoutError into ClientDisconnected (a 400).
        if not isinstance(exc.__context__, TimeoutError):
            raise
        raise codecs.BodyTimedOut(
            f"No body data for {body_timeout:g} s: the body is shorter than its "
            "Content-Length. Send exactly Content-Length bytes."
        ) from None


def invoke(predictor: Servable, body: bytes, max_instances: int = DEFAULT_MAX_INSTANCES
           ) -> Response:
    """Answer the current request, whose `body` was read with `read_body`, with `predictor`:
    /invocations, and each model's /invoke in multi-model mode, so both have the same codecs,
    headers and errors."""
    g.runtime = predictor.runtime  # for `name_runtime`: refusals name it too
    if isinstance(predictor, HandledModel):
        encoded, content_type = predictor.invoke(body, request.headers, max_instances)
        # What the user's code held is unknown: the bodies' sizes stand for it.
        if max(len(body), len(encoded)) >= TRIM_AFTER_BYTES:
            trim_heap()
        return Response(encoded, content_type=content_type)
    accept = codecs.response_type(request.headers.get("Accept"))
    k = codecs.top_k_from(
        request.headers.get(CUSTOM_ATTRIBUTES_HEADER),
        predictor.spec.top_k,
        predictor.spec.num_classes,
    )
    batch = codecs.decode(body, request.content_type, predictor.spec, max_instances)
    large = batch.nbytes >= TRIM_AFTER_BYTES
    probs = predictor.predict(batch)
    del batch  # freed before the trim
    encoded = codecs.encode(probs, accept, predictor.spec, k)
    if large:
        trim_heap()
    return Response(encoded, mimetype=accept)


def name_runtime(app: Flask, runtime_of: Callable[[], str | None]) -> None:
    """Every response for which `runtime_of()` names a runtime carries it in RUNTIME_HEADER,
    here only: answers and refusals (400, 406, 408, 413, 415, 500) alike."""

    @app.after_request
    def add_runtime_header(response: Response) -> Response:
        runtime = runtime_of()
        if runtime:
            response.headers.setdefault(RUNTIME_HEADER, runtime)
        return response


def handle_errors(app: Flask) -> None:
    """Every error becomes a JSON body {"error": "..."} and its status, here only: a user's
    handler refuses a request with a RequestError or a werkzeug HTTPException; anything else is a
    500 that names the exception's type (its message may hold what the client must not see)."""

    @app.errorhandler(codecs.RequestError)
    def request_error(exc: codecs.RequestError):
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description), exc.code

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("Unexpected error while serving %s %s", request.method, request.path)
        return jsonify(error=f"Internal error: {type(exc).__name__}. See the server log."), 500
