"""Start gunicorn with the Flask app, configured from SageMaker's hosting environment variables.

The master binds the port at once (so connections are accepted while workers load), picks the
runtime (`byoc.serving.runtime`) and never imports TensorFlow; each worker loads the model, warms
it up, and only then accepts requests. With SAGEMAKER_PROGRAM set, the master also installs and
imports the user's handlers module (`byoc.serving.handlers`), which may import what it likes; each
worker then runs its model_fn. With SAGEMAKER_MULTI_MODEL=true the workers start with no model and
serve SageMaker's multi-model API instead (`byoc.serving.multi_model`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import struct
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from byoc.bundle import LITERT_FILE, MODEL_FILE, ModelSpec
from byoc.contract import (
    BATCH_ENV,
    BIND_HOST_ENV,
    DEFAULT_HOST,
    DEFAULT_MAX_INSTANCES,
    DEFAULT_MAX_PAYLOAD_MB,
    DEFAULT_PORT,
    MAX_CONCURRENT_TRANSFORMS_ENV,
    MAX_INSTANCES_ENV,
    MAX_PAYLOAD_ENV,
    MULTI_MODEL_ENV,
    PORT_ENV,
    TIMEOUT_ENV,
    WORKERS_ENV,
    Paths,
    available_cpus,
    base_dir,
)
from byoc.errors import UserError
from byoc.serving import codecs, handlers
from byoc.serving import runtime as runtimes
from byoc.user_code.source import PROGRAM_ENV, SUBMIT_DIR_ENV, decoded_str

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60
BATCH_TIMEOUT = 600  # batch transform allows this long per invocation
# Threads per worker: enough that /ping is answered while other threads compute.
THREADS_PER_WORKER = 4
# SageMaker sends SIGKILL 30 s after SIGTERM; in-flight requests get most of that to finish.
GRACEFUL_TIMEOUT = 20
# Idle keep-alive connections cost a file descriptor, not a thread, in gthread workers; on
# SIGTERM byoc's worker (serving.worker) closes them at once.
KEEPALIVE = 5
# HTTP parsing limits, set on purpose rather than inherited. The request line holds only the
# method and a short path (/invocations, /models/<name>/invoke); headers are few and short
# (SageMaker's CustomAttributes header is at most 1024 characters). A request over a limit
# gets a 400 from gunicorn before the app sees it.
LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"{name}={text!r} is not valid: expected a whole number >= 1.")
    return value


@dataclass(frozen=True)
class ServerSettings:
    """How the server runs, parsed once from the environment."""

    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    workers: int = 1
    timeout: int = DEFAULT_TIMEOUT
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB
    max_concurrent_transforms: int = 1
    max_instances: int = DEFAULT_MAX_INSTANCES
    runtime: str = runtimes.AUTO
    multi_model: bool = False
    # The user's handlers module (SAGEMAKER_PROGRAM; empty: byoc's own), where it is, and the
    # type to answer in when a request names none.
    program: str = ""
    submit_directory: str = ""
    default_accept: str = codecs.JSON

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if environ is None else environ
        workers = _positive_int(env, WORKERS_ENV, available_cpus())
        batch = bool(env.get(BATCH_ENV, "").strip())
        return cls(
            port=_positive_int(env, PORT_ENV, DEFAULT_PORT),
            host=env.get(BIND_HOST_ENV, "").strip() or DEFAULT_HOST,
            workers=workers,
            timeout=_positive_int(env, TIMEOUT_ENV, BATCH_TIMEOUT if batch else DEFAULT_TIMEOUT),
            max_payload_mb=_positive_int(env, MAX_PAYLOAD_ENV, DEFAULT_MAX_PAYLOAD_MB),
            max_concurrent_transforms=_positive_int(env, MAX_CONCURRENT_TRANSFORMS_ENV, workers),
            max_instances=_positive_int(env, MAX_INSTANCES_ENV, DEFAULT_MAX_INSTANCES),
            runtime=runtimes.parse(env.get(runtimes.RUNTIME_ENV, "")),
            multi_model=env.get(MULTI_MODEL_ENV, "").strip().lower() == "true",
            program=(decoded_str(env.get(PROGRAM_ENV, "").strip()) or "").strip(),
            submit_directory=(decoded_str(env.get(SUBMIT_DIR_ENV, "").strip()) or "").strip(),
            default_accept=env.get(handlers.DEFAULT_ACCEPT_ENV, "").strip() or codecs.JSON,
        )

    @property
    def intra_op_threads(self) -> int:
        """Each worker's share of the CPUs for the runtime's op-level parallelism."""
        return max(1, available_cpus() // self.workers)

    def gunicorn_options(self) -> dict[str, object]:
        return {
            "bind": f"{self.host}:{self.port}",
            "workers": self.workers,
            "worker_class": "byoc.serving.worker.GracefulThreadWorker",
            "threads": THREADS_PER_WORKER,
            # With gthread workers this is the heartbeat deadline: a worker whose main loop is
            # stuck (or still loading the model) that long is replaced.
            "timeout": self.timeout,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "keepalive": KEEPALIVE,
            "backlog": 2048,
            "limit_request_line": LIMIT_REQUEST_LINE,
            "limit_request_fields": LIMIT_REQUEST_FIELDS,
            "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
            # The heartbeat file lives on a tmpfs: an overlay filesystem can stall it.
            "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
            "errorlog": "-",
            "loglevel": "info",
            "control_socket_disable": True,
        }


def check_model_dir(model_dir: Path, requested: str = runtimes.AUTO) -> tuple[ModelSpec, str]:
    """Fail before forking workers if no runtime can serve the bundle: one clear line, not N
    tracebacks. Returns the spec and the runtime that will serve it."""
    spec = ModelSpec.read(model_dir)
    runtime = runtimes.resolve(model_dir, requested)
    if runtime == runtimes.LITERT:
        # Reading the flatbuffer's tensor shapes takes milliseconds and no TensorFlow.
        from byoc.bundle import litert

        litert.check_file(model_dir / LITERT_FILE, spec)
    else:
        _check_keras_archive(model_dir / MODEL_FILE)
    return spec, runtime


def _check_keras_archive(path: Path) -> None:
    """A .keras file is a zip archive: check every member's CRC (one read, no TensorFlow) so
    that a truncated or corrupt file stops `serve` here, not in each worker after it loaded
    TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        bad_reason = str(exc)
    else:
        bad_reason = f"member {bad} is corrupt" if bad else ""
    if bad_reason:
        raise UserError(f"{path} is not a readable Keras archive ({bad_reason}): the bundle is "
                        "corrupt or truncated. Copy the model directory again from its training "
                        "run.")


def _stalled_reads_time_out(timeout: int):
    """A gunicorn `when_ready` hook: every connection's reads time out after `timeout` seconds.

    gunicorn reads a request line and headers with no deadline once the first bytes arrived, so
    a client that stops half-way holds a worker thread until it disconnects. SO_RCVTIMEO on the
    listening sockets is inherited by each accepted connection, and the read then fails.
    """
    value = struct.pack("ll", timeout, 0)

    def one_line(record: logging.LogRecord) -> bool:
        # gunicorn logs the failed read as "Socket error" with a traceback; one line will do.
        if record.exc_info and isinstance(record.exc_info[1], BlockingIOError):
            record.msg, record.args = "Closed a connection that stalled for %d s.", (timeout,)
            record.exc_info, record.exc_text = None, None
        return True

    def when_ready(arbiter) -> None:
        for listener in arbiter.LISTENERS:
            listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        logging.getLogger("gunicorn.error").addFilter(one_line)

    return when_ready


def _application(settings: ServerSettings, create_app,
                 hooks: Mapping[str, Callable[..., None]] | None = None):
    """gunicorn running `create_app()` in each worker, after the fork: TensorFlow never starts
    in the master. `hooks`: gunicorn server hooks by setting name (they run in the master)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.gunicorn_options().items():
                if value is not None and key in self.cfg.settings:  # older gunicorn lacks some
                    self.cfg.set(key, value)
            self.cfg.set("when_ready", _stalled_reads_time_out(settings.timeout))
            for key, hook in (hooks or {}).items():
                self.cfg.set(key, hook)

        def load(self):
            try:
                return create_app()
            except UserError as exc:  # one line, then gunicorn halts: "App failed to load"
                from gunicorn.errors import AppImportError

                raise AppImportError(f"Cannot start the model server: {exc}") from None

    return Server()


def _single_model_app(model_dir: Path, settings: ServerSettings, runtime: str,
                      user: handlers.UserHandlers | None = None):
    from byoc.serving.app import create_app
    from byoc.serving.predictor import Predictor

    def load(directory: Path) -> Predictor:
        return Predictor.load(directory, intra_op_threads=settings.intra_op_threads,
                              runtime=runtime)

    predictor = load(model_dir) if user is None else handlers.HandledModel.load(
        user, model_dir, load, intra_op_threads=settings.intra_op_threads,
        default_accept=settings.default_accept)
    return create_app(
        predictor,
        max_payload_mb=settings.max_payload_mb,
        max_concurrent_transforms=settings.max_concurrent_transforms,
        body_timeout=settings.timeout,
        max_instances=settings.max_instances,
    )


def _multi_model_app(registry, models_root: Path, settings: ServerSettings):
    from byoc.serving.multi_model import WorkerModels, create_multi_model_app
    from byoc.serving.predictor import Predictor

    tensorflow_started = False

    def threads_for(uses_tensorflow: bool) -> int | None:
        # TensorFlow's thread pools are sized once per process, before its first op.
        nonlocal tensorflow_started
        threads = settings.intra_op_threads
        if uses_tensorflow:
            threads, tensorflow_started = (None if tensorflow_started else threads), True
        return threads

    def load(model_dir: Path, runtime: str) -> Predictor | handlers.HandledModel:
        if runtime == runtimes.CUSTOM:  # the model's own code/inference.py
            user = handlers.load_for_model(model_dir)
            return handlers.HandledModel.load(
                user, model_dir, lambda d: load(d, runtimes.resolve(d, settings.runtime)),
                # Whether the module brought TensorFlow shows once it is imported; without
                # model_fn, byoc's loader sizes the pools.
                intra_op_threads=threads_for(user.model_fn is not None
                                             and "tensorflow" in sys.modules),
                default_accept=settings.default_accept)
        return Predictor.load(model_dir, runtime=runtime,
                              intra_op_threads=threads_for(runtime == runtimes.TENSORFLOW))

    return create_multi_model_app(
        WorkerModels(registry, models_root, load),
        runtime=settings.runtime,
        workers=settings.workers,
        max_payload_mb=settings.max_payload_mb,
        body_timeout=settings.timeout,
        max_instances=settings.max_instances,
    )


def serve_multi_model(models_root: str | os.PathLike, settings: ServerSettings,
                      environ: Mapping[str, str] | None = None) -> int:
    """SageMaker's multi-model API over the bundles below `models_root` (see
    `byoc.serving.multi_model`); starts with no model loaded."""
    from byoc.serving.registry import MemoryBudget, Registry

    if settings.program:
        log.warning("%s is ignored in multi-model mode: each model is served with its own "
                    "%s/%s when its archive holds one.", PROGRAM_ENV, handlers.MODEL_CODE_DIR,
                    handlers.MODEL_PROGRAM)
    budget = MemoryBudget.from_env(os.environ if environ is None else environ)
    registry = Registry.create(budget)
    models_root = Path(models_root)
    log.info(
        "Serving multi-model (%s=true): models below %s, on %s:%d with %d worker(s), timeout "
        "%d s, max payload %d MB, at most %d instances per request, model memory budget %d MB, "
        "runtime %s=%s, registry %s",
        MULTI_MODEL_ENV, models_root, settings.host, settings.port, settings.workers,
        settings.timeout, settings.max_payload_mb, settings.max_instances,
        budget.budget_bytes >> 20, runtimes.RUNTIME_ENV, settings.runtime, registry.root,
    )
    try:
        # A worker killed mid-load (SIGKILL: no cleanup of its own) leaves its entry loading.
        _application(settings, lambda: _multi_model_app(registry, models_root, settings), {
            "child_exit": lambda _arbiter, worker: registry.abandon_loads_of(worker.pid),
        }).run()
    finally:
        if os.getpid() == registry.owner_pid:  # not in a worker gunicorn forked
            shutil.rmtree(registry.root, ignore_errors=True)
    return 0


def serve(model_dir: str | os.PathLike, settings: ServerSettings,
          paths: Paths | None = None) -> int:
    """Run gunicorn in this process until it is stopped (SIGTERM drains in-flight requests).

    `paths`: the container's /opt/ml, where an archived handlers module unpacks (code/) and what
    /opt/ml in SAGEMAKER_SUBMIT_DIRECTORY stands for; without it, a temporary directory.
    gunicorn ends the process itself (SystemExit with its status) when it halts.
    """
    model_dir = Path(model_dir)
    owner = os.getpid()
    code_dir = paths.code_dir if paths else Path(tempfile.gettempdir()) / f"byoc-code-{owner}"
    try:
        user = None
        if settings.program:
            user = handlers.load(settings.program, settings.submit_directory, model_dir,
                                 code_dir, paths.root if paths else None)
        if user is None or user.model_fn is None:
            spec, runtime = check_model_dir(model_dir, settings.runtime)
            what = f"{model_dir} ({spec.num_classes} classes)"
        else:
            user.check_fallbacks(model_dir)
            runtime, what = runtimes.CUSTOM, f"{model_dir} (model_fn of {user.where})"
        log.info(
            "Serving %s on %s:%d with %d worker(s), timeout %d s, max payload %d MB, at most %d "
            "instances per request (%s), runtime %s (%s=%s)", what, settings.host, settings.port,
            settings.workers, settings.timeout, settings.max_payload_mb, settings.max_instances,
            MAX_INSTANCES_ENV, runtime, runtimes.RUNTIME_ENV, settings.runtime,
        )
        _application(settings, lambda: _single_model_app(model_dir, settings, runtime,
                                                         user)).run()
    finally:
        if paths is None and os.getpid() == owner:  # not in a worker gunicorn forked
            shutil.rmtree(code_dir, ignore_errors=True)
    return 0


def run(
    model_dir: str | os.PathLike,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    host: str = "127.0.0.1",
) -> int:
    """Serve a model directory outside a container (`byoc local serve --model DIR`)."""
    env = {**os.environ, PORT_ENV: str(port), WORKERS_ENV: str(workers)}
    return serve(model_dir, dataclasses.replace(ServerSettings.from_env(env), host=host))


def main() -> int:
    """`serve` in the container: the model in /opt/ml/model, settings from the environment."""
    try:
        settings = ServerSettings.from_env()
        paths = Paths(base_dir())
        if settings.multi_model:
            return serve_multi_model(paths.models_dir, settings)
        return serve(paths.model_dir, settings, paths)
    except UserError as exc:
        log.error("Cannot start the model server: %s", exc)
        return 1
