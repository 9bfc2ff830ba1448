"""SageMaker's multi-model container API, served when SAGEMAKER_MULTI_MODEL=true.

    GET    /ping                      200 from start-up, with or without models
    POST   /models                    {"model_name", "url"}: 200 loaded and warm, 409, 507, 400
    GET    /models                    {"models": [{"modelName", "modelUrl"}], "nextPageToken"}:
                                      `limit` (default and most 100) per page, and
                                      nextPageToken only while more follow (SageMaker passes
                                      it back as next_page_token, and stops without one)
    GET    /models/<name>             {"modelName", "modelUrl"} or 404
    DELETE /models/<name>             unloaded from every worker, then 200; or 404
    POST   /models/<name>/invoke      exactly /invocations of the single-model server

`WorkerModels` keeps this worker's predictors in step with the shared `Registry` (see
`byoc.serving.registry` for why it is a directory, and for the memory estimate behind 507). A model
whose archive holds code/inference.py is served through its own handlers (`byoc.serving.handlers`),
imported in each worker when it loads the model.
"""

from __future__ import annotations

import base64
import binascii
import gc
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, g, jsonify, request

from byoc.bundle import ModelSpec
from byoc.contract import DEFAULT_MAX_INSTANCES, DEFAULT_MAX_PAYLOAD_MB, TARGET_MODEL_HEADER
from byoc.echo import quote
from byoc.errors import UserError
from byoc.serving import handlers
from byoc.serving import runtime as runtimes
from byoc.serving.app import (
    MB,
    Servable,
    handle_errors,
    invoke,
    name_runtime,
    read_body,
    trim_heap,
)
from byoc.serving.codecs import RequestError
from byoc.serving.registry import (
    READY,
    Entry,
    ModelNotFound,
    Registry,
    check_name,
    check_url,
    estimate_bytes,
)

log = logging.getLogger(__name__)

# How often each worker looks for unloaded models to drop (the registry's mtime, one stat call).
SYNC_INTERVAL = 0.2
FULL_SYNC_TICKS = 25
# DELETE answers once every worker has dropped the model, or after this long (a worker stuck in a
# long request drops it when that request ends).
UNLOAD_WAIT = 10.0
# GET /models answers this many models per page unless the caller asks for fewer (`limit`).
PAGE_SIZE = 100


def _release_memory() -> None:
    """Give freed memory back to the system: a dropped model's arrays go back to glibc's heap,
    which keeps them unless asked."""
    gc.collect()
    trim_heap()


# Loads the model in a directory on a runtime (CUSTOM: through its own handlers).
Loader = Callable[[Path, str], Servable]


class WorkerModels:
    """This worker's predictors: loaded eagerly on POST /models, lazily on a first invocation
    of a model another worker loaded, and dropped when the model leaves the registry."""

    def __init__(self, registry: Registry, models_root: Path, loader: Loader):
        self.registry = registry
        self.models_root = models_root
        self._loader = loader
        self._predictors: dict[str, tuple[Entry, Servable]] = {}
        self._lock = threading.Lock()  # guards _predictors
        self._load_lock = threading.Lock()  # one load at a time in a worker: memory and CPU
        self._pid = os.getpid()
        self._seen_version = -1
        threading.Thread(target=self._sync_forever, name="byoc-model-sync", daemon=True).start()

    # --- POST /models

    def load(self, name: object, url: object, runtime: str, workers: int) -> Entry:
        name = check_name(name)
        model_dir = check_url(url, self.models_root)
        if handlers.has_own_code(model_dir):
            runtime = runtimes.CUSTOM  # its model_fn, or byoc's loader, decides when it loads
        else:
            try:
                ModelSpec.read(model_dir)
                runtime = runtimes.resolve(model_dir, runtime)
            except (UserError, ValueError) as exc:  # ValueError: byoc-model.json is not JSON
                raise RequestError(f"url {quote(url)} is not a byoc bundle this server can "
                                   f"serve: {exc}") from None
        entry = self.registry.reserve(name, url, model_dir, runtime,
                                      estimate_bytes(model_dir, runtime, workers))
        try:
            with self._load_lock:
                predictor = self._loader(model_dir, runtime)
        except BaseException as exc:
            self.registry.discard(entry)
            if isinstance(exc, UserError):
                raise RequestError(f"Cannot load {name!r} from {quote(url)}: {exc}") from None
            raise
        entry = self.registry.publish(entry)
        self._keep(entry, predictor)
        log.info("Loaded model %r from %s on %s (estimate %.0f MB for all workers)", name,
                 model_dir, runtime, entry.memory_bytes / MB)
        return entry

    # --- POST /models/<name>/invoke

    def get(self, name: str) -> tuple[Entry, Servable]:
        """The model's predictor in this worker, loaded now if another worker loaded it."""
        entry = self.ready_entry(name)
        cached = self._cached(entry)
        if cached is not None:
            return entry, cached
        with self._load_lock:
            cached = self._cached(entry)
            if cached is None:
                cached = self._loader(Path(entry.path), entry.runtime)
                log.info("Loaded model %r from %s in this worker (first invocation here)",
                         name, entry.path)
                self._keep(entry, cached)
        # Unloaded while this worker was loading it: drop it again and say so.
        current = self.registry.get(name)
        if current is None or current.generation != entry.generation:
            self._drop(entry)
            raise ModelNotFound(f"Model {name!r} was unloaded during this request.")
        return entry, cached

    def ready_entry(self, name: str) -> Entry:
        """The registry's entry for a servable model, or 404 (not loaded, or still loading)."""
        entry = self.registry.get(name)
        if entry is None or entry.state != READY:
            raise ModelNotFound(
                f"Model {name!r} is not loaded{' yet' if entry else ''}. Load it with POST /models "
                '{"model_name": ..., "url": ...} (SageMaker does this on the first InvokeEndpoint '
                "with that TargetModel).")
        return entry

    def _cached(self, entry: Entry) -> Servable | None:
        with self._lock:
            held = self._predictors.get(entry.name)
        return held[1] if held and held[0].generation == entry.generation else None

    def _keep(self, entry: Entry, predictor: Servable) -> None:
        with self._lock:
            previous = self._predictors.get(entry.name)
            self._predictors[entry.name] = (entry, predictor)
        if previous is not None and previous[0].generation != entry.generation:
            self.registry.release(previous[0], self._pid)
        self.registry.hold(entry, self._pid)

    def _drop(self, entry: Entry) -> None:
        """Forget this generation of the model (a newer one loaded since stays)."""
        with self._lock:
            held = self._predictors.get(entry.name)
            if held is None or held[0].generation != entry.generation:
                return
            del self._predictors[entry.name]
        if isinstance(held[1], handlers.HandledModel):
            held[1].close()
        del held  # in-flight requests keep their own reference until they finish
        _release_memory()
        # After the memory is given back: DELETE waits for this marker to go.
        self.registry.release(entry, self._pid)

    # --- DELETE /models/<name>

    def unload(self, name: str) -> Entry:
        entry = self.registry.remove(name)
        self.sync()
        deadline = time.monotonic() + UNLOAD_WAIT
        while (holders := self.registry.holders(entry) - {self._pid}) \
                and time.monotonic() < deadline:
            time.sleep(SYNC_INTERVAL / 2)
        if holders:
            log.warning("Model %r: worker(s) %s still hold it after %.0f s; they drop it when "
                        "their requests end.", name, sorted(holders), UNLOAD_WAIT)
        log.info("Unloaded model %r", name)
        return entry

    # --- keeping in step

    def sync(self) -> None:
        """Drop every predictor whose model left the registry (or was loaded again)."""
        self._seen_version = self.registry.version()
        with self._lock:
            held = list(self._predictors.items())
        for name, (entry, _) in held:
            current = self.registry.get(name)
            if current is None or current.generation != entry.generation:
                self._drop(entry)
                log.info("Dropped model %r from this worker (unloaded)", name)

    def _sync_forever(self) -> None:
        for tick in itertools.count(1):
            time.sleep(SYNC_INTERVAL)
            try:
                # A full pass now and then also catches a change that landed between a sync
                # and the _keep of a load racing with it.
                if self.registry.version() != self._seen_version or tick % FULL_SYNC_TICKS == 0:
                    self.sync()
            except Exception:  # never let the sync thread die; the next tick tries again
                log.exception("Keeping this worker's models in step with the registry failed")


def _page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RequestError(f"next_page_token {quote(token)} is not valid: pass back the "
                           "nextPageToken of the previous page.") from None


def create_multi_model_app(
    models: WorkerModels,
    *,
    runtime: str = runtimes.AUTO,
    workers: int = 1,
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB,
    body_timeout: float | None = None,
    max_instances: int = DEFAULT_MAX_INSTANCES,
) -> Flask:
    app = Flask(__name__, static_folder=None)  # no static route: no request names a file
    app.config["MAX_CONTENT_LENGTH"] = max_payload_mb * MB

    @app.get("/ping")
    def ping():
        return jsonify(status="healthy", models=len(models.registry.entries()))

    @app.post("/models")
    def load_model():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise RequestError('Send a JSON object {"model_name": ..., "url": ...} with '
                               "Content-Type: application/json.")
        entry = models.load(body.get("model_name"), body.get("url"), runtime, workers)
        return jsonify(status=f"Model {entry.name!r} loaded", **entry.public())

    @app.get("/models")
    def list_models():
        token = request.args.get("next_page_token") or request.args.get("nextPageToken")
        limit_text = request.args.get("limit", str(PAGE_SIZE))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_SIZE:
            raise RequestError(f"limit must be a whole number from 1 to {PAGE_SIZE}.")
        limit = int(limit_text)
        after = _after(token) if token else ""
        ready = [e for e in models.registry.entries() if e.state == READY and e.name > after]
        page = {"models": [e.public() for e in ready[:limit]]}
        if len(ready) > limit:
            page["nextPageToken"] = _page_token(ready[limit - 1].name)
        return jsonify(page)

    @app.get("/models/<name>")
    def describe_model(name: str):
        return jsonify(models.ready_entry(name).public())

    @app.delete("/models/<name>")
    def unload_model(name: str):
        entry = models.unload(name)
        return jsonify(status=f"Model {name!r} unloaded", **entry.public())

    @app.post("/models/<name>/invoke")
    def invoke_model(name: str):
        target = request.headers.get(TARGET_MODEL_HEADER)
        log.info("Invoke model %r (%s: %s)", name, TARGET_MODEL_HEADER, target or "-")
        body = read_body(max_payload_mb, body_timeout)
        _, predictor = models.get(name)
        return invoke(predictor, body, max_instances)

    @app.post("/invocations")
    def invocations():
        raise ModelNotFound("This server runs in multi-model mode (SAGEMAKER_MULTI_MODEL=true): "
                            "invoke a model with POST /models/<name>/invoke, after POST /models.")

    # A model's invocations, once the model is found, name the runtime serving it.
    name_runtime(app, lambda: g.get("runtime"))
    handle_errors(app)
    return app
