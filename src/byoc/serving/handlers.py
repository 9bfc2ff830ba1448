"""The user's inference handlers, under the contract of SageMaker's inference toolkit, inside byoc's
server: byoc's own loader, codecs, predictor and encoders stand in for every handler left out.

    model_fn(model_dir)                   else byoc's bundle loader (`Predictor.load`, warmed up)
    input_fn(input_data, content_type)    else byoc's decoders (`codecs.decode`, by the bundle spec)
    predict_fn(data, model)               else byoc's predictor, on `data` as a batch of pixels
    output_fn(prediction, accept)         else byoc's encoders (labels, top_k) for N×classes
                                          probabilities; the toolkit's JSON, CSV or NPY otherwise
    transform_fn(model, input_data, content_type, accept)   alone, instead of the three above

Each handler may take one more argument last, a `Context`, as the toolkit passes its own. `load`
finds and imports the module in the gunicorn master, before the workers fork; `HandledModel` runs
it in a worker. No Flask here: `byoc.serving.app` turns errors into responses.
"""

from __future__ import annotations

import inspect
import io
import itertools
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from urllib.parse import urlparse

import numpy as np
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from byoc.bundle import SPEC_FILE, ModelSpec
from byoc.contract import CUSTOM_ATTRIBUTES_HEADER, DEFAULT_BASE_DIR, DEFAULT_MAX_INSTANCES
from byoc.errors import UserError
from byoc.serving import codecs
from byoc.serving import runtime as runtimes
from byoc.serving.predictor import Predictor, configure_threads
from byoc.user_code import modules, source
from byoc.user_code.source import PROGRAM_ENV, SUBMIT_DIR_ENV

log = logging.getLogger(__name__)

# The inference toolkit answers in this type when the request has no Accept, or */*.
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
# Where the SDK's repack puts the code inside model.tar.gz, and the module a multi-model model
# is served with when its archive holds one (the toolkit's default module name).
MODEL_CODE_DIR = "code"
MODEL_PROGRAM = "inference.py"
WHAT = "the inference handlers module"

# Each handler's arguments, in the order the toolkit passes them (a context may follow).
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "model_fn": ("model_dir",),
    "input_fn": ("input_data", "content_type"),
    "predict_fn": ("data", "model"),
    "output_fn": ("prediction", "accept"),
    "transform_fn": ("model", "input_data", "content_type", "accept"),
}
PIPELINE = ("input_fn", "predict_fn", "output_fn")
# The toolkit hands a handler these bodies as text (UTF-8), every other body as bytes.
TEXT_TYPES = (codecs.JSON, codecs.CSV)


@dataclass(frozen=True)
class Context:
    """The optional last argument of every handler, where the toolkit passes its model server's
    context: the model directory and, during a request, the request's headers."""

    model_dir: str
    request_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def system_properties(self) -> dict[str, str]:
        """As the toolkit's context names it: `context.system_properties["model_dir"]`."""
        return {"model_dir": self.model_dir}

    @property
    def custom_attributes(self) -> str | None:
        """InvokeEndpoint's CustomAttributes, as SageMaker passes them through."""
        return self.request_headers.get(CUSTOM_ATTRIBUTES_HEADER)


@dataclass(frozen=True)
class Handler:
    """One of the user's functions, and whether it takes the context argument."""

    name: str
    function: Callable[..., object]
    takes_context: bool

    def __call__(self, *args: object, context: Context) -> object:
        return self.function(*args, context) if self.takes_context else self.function(*args)


def _handler(module: ModuleType, name: str, where: str) -> Handler | None:
    function = getattr(module, name, None)
    if function is None:
        return None
    if not callable(function):
        raise UserError(f"{where} defines {name} as a {type(function).__name__}; it must be a "
                        f"function {name}({', '.join(ARGUMENTS[name])}).")
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: called as the contract says
        return Handler(name, function, False)
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return Handler(name, function, False)
    # The toolkit's rule: one argument more than the contract's is the context.
    count = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
    expected = len(ARGUMENTS[name])
    if count not in (expected, expected + 1):
        raise UserError(f"{where}: {name} takes {count} argument(s); it is called as "
                        f"{name}({', '.join(ARGUMENTS[name])}), with an optional context last, as "
                        "SageMaker's inference toolkit calls it.")
    return Handler(name, function, count == expected + 1)


@dataclass(frozen=True)
class UserHandlers:
    """The handlers a module defines (None: byoc's own), checked against the contract."""

    where: str  # "inference.py in /opt/ml/code", for messages
    module: str  # its name in sys.modules
    model_fn: Handler | None = None
    input_fn: Handler | None = None
    predict_fn: Handler | None = None
    output_fn: Handler | None = None
    transform_fn: Handler | None = None

    @classmethod
    def from_module(cls, module: ModuleType, where: str) -> UserHandlers:
        found = {name: _handler(module, name, where) for name in ARGUMENTS}
        mixed = [name for name in PIPELINE if found[name]]
        if found["transform_fn"] and mixed:
            raise UserError(
                f"{where} defines transform_fn together with {', '.join(mixed)}. transform_fn "
                "replaces input_fn, predict_fn and output_fn (SageMaker's inference toolkit "
                f"refuses this mix too): keep transform_fn alone, or {', '.join(mixed)} "
                "without it.")
        handlers = cls(where, module.__name__, **found)
        defined = handlers.defined()
        if not defined:
            log.warning("%s defines none of %s: byoc's own handlers serve the model.", where,
                        ", ".join(ARGUMENTS))
        else:
            own = [n for n in ARGUMENTS if n not in defined and n != "transform_fn"
                   and not (handlers.transform_fn and n in PIPELINE)]
            log.info("Inference handlers from %s: %s%s", where, ", ".join(defined),
                     f"; byoc's own {', '.join(own)}" if own else "")
        return handlers

    def defined(self) -> list[str]:
        return [name for name in ARGUMENTS if getattr(self, name) is not None]

    @property
    def handles_requests(self) -> bool:
        """Whether any of the user's code runs per request (not only model_fn)."""
        return any(getattr(self, name) for name in (*PIPELINE, "transform_fn"))

    def check_fallbacks(self, model_dir: Path) -> None:
        """What byoc's own handlers need from the model directory, checked before any model
        loads (byoc's own model_fn needs a byoc bundle: `server.check_model_dir` checks that)."""
        if (self.model_fn and not self.transform_fn and not self.input_fn
                and not (model_dir / SPEC_FILE).is_file()):
            raise UserError(
                f"{self.where} leaves input_fn out, so byoc's decoders read the requests; they "
                f"take the input size from {SPEC_FILE}, and {model_dir} has none (it is not a "
                "model directory `train` wrote). Define input_fn(input_data, content_type).")


# --- finding the module ------------------------------------------------------------------------


def _rebased(location: str, root: Path | None) -> str:
    """`location` with /opt/ml replaced by the container's actual base directory
    (SAGEMAKER_BASE_DIR), as the SDK names /opt/ml/model/code and /opt/ml/code."""
    if root is None or location.startswith("s3://"):
        return location
    path = PurePosixPath(urlparse(location).path if location.startswith("file://") else location)
    try:
        relative = path.relative_to(DEFAULT_BASE_DIR)
    except ValueError:
        return location
    return str(root / relative)


def source_dir(submit_directory: str, model_dir: Path, code_dir: Path,
               root: Path | None = None) -> Path:
    """The directory that holds the handlers module: SAGEMAKER_SUBMIT_DIRECTORY (an s3:// or
    local archive is unpacked into `code_dir`), else `<model_dir>/code`, where the SDK's repack
    puts it. `root`: the container's base directory, which stands for /opt/ml in the location."""
    if submit_directory:
        return source.fetch(_rebased(submit_directory, root), code_dir)
    code = model_dir / MODEL_CODE_DIR
    if not code.is_dir():
        raise UserError(
            f"{PROGRAM_ENV} is set, but {SUBMIT_DIR_ENV} is not, and {model_dir} has no "
            f"{MODEL_CODE_DIR}/ directory. Put the handlers into model.tar.gz under "
            f"{MODEL_CODE_DIR}/ (the SDK's repack does), or set {SUBMIT_DIR_ENV} to where they "
            "are.")
    return code


def _check_program(program: str) -> None:
    if PurePosixPath(program).suffix not in ("", ".py"):
        raise UserError(f"{PROGRAM_ENV}={program!r} is not a Python module: name the handlers "
                        "file, such as inference.py.")


def load(program: str, submit_directory: str, model_dir: Path, code_dir: Path,
         root: Path | None = None) -> UserHandlers:
    """Find the handlers module `program` (SAGEMAKER_PROGRAM), install the requirements.txt
    beside it, and import it: once, in the gunicorn master before the workers fork, so that a
    module that cannot be imported stops `serve` with one line. See `source_dir` for the rest."""
    _check_program(program)
    directory = source_dir(submit_directory, model_dir, code_dir, root)
    source.install_requirements(directory)
    module = modules.import_module(directory, program, what=WHAT)
    return UserHandlers.from_module(module, f"{program} in {directory}")


def has_own_code(model_dir: Path) -> bool:
    """Whether a multi-model model brings its own handlers: code/inference.py in its archive."""
    return (model_dir / MODEL_CODE_DIR / MODEL_PROGRAM).is_file()


_unique = itertools.count(1)


def load_for_model(model_dir: Path) -> UserHandlers:
    """Import a multi-model model's code/inference.py under a name of its own, so that two
    models' inference.py do not replace each other (the code directory goes on sys.path for its
    own imports, where modules of the same name in two models do clash)."""
    path = model_dir / MODEL_CODE_DIR / MODEL_PROGRAM
    if (path.parent / source.REQUIREMENTS).is_file():
        log.warning("%s is not installed in multi-model mode (installing while serving would "
                    "stall the other models): install those packages in the image.",
                    path.parent / source.REQUIREMENTS)
    slug = re.sub(r"\W", "_", model_dir.name)[:40]
    module = modules.import_file(path, f"byoc_model_{next(_unique)}_{slug}", what=WHAT)
    return UserHandlers.from_module(module, str(path))


# --- serving -----------------------------------------------------------------------------------


def _text(body: bytes, content_type: str | None) -> bytes | str:
    """The body as the toolkit hands it to a handler: text for JSON and CSV, else bytes."""
    if codecs.media_type(content_type) not in TEXT_TYPES:
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise codecs.RequestError(f"The body is not UTF-8 text, which Content-Type "
                                  f"{codecs.media_type(content_type)} requires.") from None


def _content_type_for(accept: str) -> str:
    """The type a body-only answer goes out as: the Accept type, as the toolkit sends it (the
    first concrete one of a list)."""
    for value, _ in parse_accept_header(accept, MIMEAccept):
        if "*" not in value:
            return value
    return accept


def _body(result: object, accept: str, where: str) -> tuple[bytes, str]:
    """What output_fn or transform_fn returned: a body, or (body, content_type)."""
    if isinstance(result, tuple):
        if len(result) != 2 or not isinstance(result[1], str) or not result[1].strip():
            raise TypeError(f"The handlers of {where} returned a tuple that is not "
                            "(body, content_type).")
        body, content_type = result
    else:
        body, content_type = result, _content_type_for(accept)
    if isinstance(body, str):
        return body.encode("utf-8"), content_type
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), content_type
    raise TypeError(f"The handlers of {where} returned a {type(body).__name__} as the response "
                    "body: return bytes or str, or (body, content_type).")


def _encode_json(prediction: object) -> bytes:
    def plain(value: object) -> object:
        if hasattr(value, "tolist"):  # numpy arrays and scalars
            return value.tolist()
        raise TypeError(f"a {type(value).__name__} is not JSON serializable")

    return json.dumps(prediction, default=plain).encode()


def _encode_csv(prediction: object) -> bytes:
    out = io.StringIO()
    np.savetxt(out, prediction, delimiter=",", fmt="%s")
    return out.getvalue().encode()


def _encode_npy(prediction: object) -> bytes:
    out = io.BytesIO()
    np.save(out, np.asarray(prediction), allow_pickle=False)
    return out.getvalue()


# The inference toolkit's default encoders, for predictions that are not class probabilities.
GENERIC_ENCODERS: dict[str, Callable[[object], bytes]] = {
    codecs.JSON: _encode_json,
    codecs.CSV: _encode_csv,
    codecs.NPY: _encode_npy,
}


class HandledModel:
    """A model loaded by the user's model_fn (or byoc's loader), served through the user's
    handlers with byoc's own in every gap; one per worker (per model in multi-model mode).

    Requests go through the user's handlers one at a time per worker, as the toolkit's model
    server runs them: user code need not be thread-safe. /ping does not wait for them.
    """

    def __init__(self, handlers: UserHandlers, model: object, model_dir: Path,
                 spec: ModelSpec | None, default_accept: str = codecs.JSON):
        self.handlers = handlers
        self.model = model
        self.model_dir = model_dir
        self.spec = spec
        self.default_accept = default_accept
        self.runtime = model.runtime if isinstance(model, Predictor) else runtimes.CUSTOM
        self._lock = threading.Lock() if handlers.handles_requests else None
        self.ready = True  # built only once model_fn returned and byoc's predictor warmed up

    @classmethod
    def load(cls, handlers: UserHandlers, model_dir: Path,
             load_predictor: Callable[[Path], Predictor], *,
             intra_op_threads: int | None = None,
             default_accept: str = codecs.JSON) -> HandledModel:
        """Run model_fn (or `load_predictor`, byoc's loader) and check that byoc's handlers
        standing in for the missing ones can serve what it returned."""
        handlers.check_fallbacks(model_dir)
        if handlers.model_fn is None:
            model: object = load_predictor(model_dir)
        else:
            if intra_op_threads and "tensorflow" in sys.modules:
                # The user's module brought TensorFlow: size its pools for this worker's share.
                configure_threads(intra_op_threads)
            model = _run_model_fn(handlers, model_dir)
        if (not handlers.predict_fn and not handlers.transform_fn
                and not isinstance(model, Predictor)):
            raise UserError(
                f"model_fn in {handlers.where} returned a {type(model).__name__}, and predict_fn "
                "is left out: byoc's predictor runs only the model byoc's own loader returns. "
                "Define predict_fn(data, model).")
        spec = model.spec if isinstance(model, Predictor) else _spec_if_any(model_dir)
        return cls(handlers, model, model_dir, spec, default_accept)

    def close(self) -> None:
        """Forget the module of a multi-model model that is dropped (it was imported for it)."""
        sys.modules.pop(self.handlers.module, None)

    def invoke(self, body: bytes, headers: Mapping[str, str],
               max_instances: int = DEFAULT_MAX_INSTANCES) -> tuple[bytes, str]:
        """Answer one request: its body and headers in, the response body and type out."""
        if self._lock is None:
            return self._invoke(body, headers, max_instances)
        with self._lock:
            return self._invoke(body, headers, max_instances)

    def _invoke(self, body: bytes, headers: Mapping[str, str],
                max_instances: int) -> tuple[bytes, str]:
        h = self.handlers
        content_type = headers.get("Content-Type")
        accept = (headers.get("Accept") or "").strip()
        if not accept or accept == "*/*":
            accept = self.default_accept
        context = Context(str(self.model_dir), headers)
        if h.transform_fn:
            result = h.transform_fn(self.model, _text(body, content_type), content_type, accept,
                                    context=context)
            return _body(result, accept, h.where)
        kind, k = "", 0
        if not h.output_fn:  # an Accept or top_k byoc cannot answer fails before the model runs
            kind = codecs.response_type(accept)
            if self.spec:
                k = codecs.top_k_from(context.custom_attributes, self.spec.top_k,
                                      self.spec.num_classes)
        if h.input_fn:
            data = h.input_fn(_text(body, content_type), content_type, context=context)
        else:
            data = codecs.decode(body, content_type, self.spec, max_instances)
        if h.predict_fn:
            prediction = h.predict_fn(data, self.model, context=context)
        else:
            if h.input_fn:
                data = self._as_batch(data, max_instances)
            prediction = self.model.predict(data)
        del data
        if h.output_fn:
            return _body(h.output_fn(prediction, accept, context=context), accept, h.where)
        return self._encode(prediction, kind, k), kind

    def _as_batch(self, data: object, max_instances: int) -> np.ndarray:
        """What the user's input_fn returned, checked as byoc's decoders check a batch."""
        try:
            array = data if isinstance(data, np.ndarray) else np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise codecs.RequestError(
                f"The request does not make one batch of images ({exc}): byoc's predictor takes "
                f"shape (N, {', '.join(map(str, self.spec.input_shape))}).") from None
        batch = codecs.as_batch(array, self.spec)
        codecs.check_count(len(batch), max_instances, self.spec)
        return batch

    def _encode(self, prediction: object, kind: str, k: int) -> bytes:
        spec = self.spec
        if (spec is not None and isinstance(prediction, np.ndarray) and prediction.ndim == 2
                and prediction.shape[1] == spec.num_classes and prediction.dtype.kind == "f"):
            return codecs.encode(prediction, kind, spec, k)
        try:
            return GENERIC_ENCODERS[kind](prediction)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"byoc's output_fn cannot encode a {type(prediction).__name__} as "
                            f"{kind} ({exc}): define output_fn(prediction, accept) in "
                            f"{self.handlers.where}.") from exc


def _run_model_fn(handlers: UserHandlers, model_dir: Path) -> object:
    assert handlers.model_fn is not None
    try:
        return handlers.model_fn(str(model_dir), context=Context(str(model_dir)))
    except UserError:
        raise
    except Exception as exc:  # the user's code failed: one line up, the traceback in the log
        log.error("model_fn in %s failed:\n%s", handlers.where, traceback.format_exc())
        raise UserError(f"model_fn in {handlers.where} failed: {type(exc).__name__}: {exc}. The "
                        "log has the traceback.") from None


def _spec_if_any(model_dir: Path) -> ModelSpec | None:
    return ModelSpec.read(model_dir) if (model_dir / SPEC_FILE).is_file() else None

