"""The models a multi-model server has loaded, shared by all its gunicorn workers as a directory.

SageMaker sends `POST /models` to one worker, then spreads invocations over all of them. So the
list of loaded models cannot live in one worker's memory: it lives in a directory that the
gunicorn master creates before it forks (on /dev/shm when there is one), and that every worker
reads. The worker that received the load loads and warms the model at once; every other worker
loads it from the same url on its first invocation of that model, and drops it as soon as the
entry disappears. Layout:

    lock                          flock-ed around every change, so that two loads cannot race
    models/<name>.json            one entry: modelName, modelUrl, runtime, memory_bytes,
                                  generation, state ("loading" until warmed, then "ready"),
                                  loader (the pid of the worker loading it)
    held/<name>/<generation>/<pid>  worker <pid> holds that model in memory

A generation (a random id per load) keeps a model loaded again under the same name apart from the
one just unloaded. A worker killed while loading (SIGKILL, the OOM killer) cannot clean up: the
master's `child_exit` hook clears its loads (`abandon_loads_of`), and any reader that finds a
loading entry whose loader is dead clears it too. No Flask and no TensorFlow here.

Memory (507): a load is refused *before* anything is loaded when its estimate does not fit. The
estimate of one model is, for every worker (each holds its own copy once it has served it):
the served file's size (model.tflite or model.keras) times `SIZE_FACTOR` plus the runtime's
`OVERHEAD_BYTES`; for a model served by its own handlers, whose files byoc cannot read, all the
files of its directory stand for the served file, at TensorFlow's factors. A load is refused if
the sum of the estimates of the loaded models plus the new one exceeds the budget
(`BYOC_MODEL_MEMORY_MB`, or `BUDGET_SHARE` of the container's memory limit), or if the new
estimate exceeds the memory available right now minus `RESERVE_SHARE` of the limit. SageMaker then
unloads models it has not used lately and retries.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from byoc.bundle import LITERT_FILE, MODEL_FILE
from byoc.contract import MB
from byoc.echo import quote
from byoc.errors import UserError
from byoc.serving import runtime as runtimes
from byoc.serving.codecs import RequestError

log = logging.getLogger(__name__)

MEMORY_ENV = "BYOC_MODEL_MEMORY_MB"
# Without BYOC_MODEL_MEMORY_MB, loaded models may take this share of the memory limit: the rest
# is for Python, the runtimes themselves and request buffers.
BUDGET_SHARE = 0.7
# A load must also leave this share of the limit free, measured at the time of the load.
RESERVE_SHARE = 0.1
# Measured on byoc bundles (README, "Multi-model endpoints": 3 to 8 MB of RSS per loaded model of
# 0.25 MB model.tflite / 0.8 MB model.keras, on either runtime): a LiteRT model holds the
# flatbuffer, two interpreters and the tensor arena of the largest batch warmed up; Keras holds the
# weights, the traced graphs and XLA's one-image kernel. TensorFlow itself (hundreds of MB, once
# per worker) is not in the estimate: the live check sees it.
SIZE_FACTOR = {runtimes.LITERT: 3, runtimes.TENSORFLOW: 6, runtimes.CUSTOM: 6}
OVERHEAD_BYTES = {runtimes.LITERT: 8 << 20, runtimes.TENSORFLOW: 16 << 20,
                  runtimes.CUSTOM: 16 << 20}

LOADING, READY = "loading", "ready"
# A model name becomes a file name: no separators, no dot-dot, nothing unprintable.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@:,~-]{0,199}")


class ModelNotFound(RequestError):
    status = 404


class ModelConflict(RequestError):
    status = 409


class NotEnoughMemory(RequestError):
    status = 507


@dataclass(frozen=True)
class Entry:
    """One loaded (or loading) model, as every worker sees it."""

    name: str
    url: str  # as SageMaker sent it, and as the list shows it
    path: str  # the bundle directory it names
    runtime: str
    memory_bytes: int
    generation: str
    state: str = LOADING
    loader: int = 0  # the pid of the worker loading it (0: unknown)

    def public(self) -> dict[str, str]:
        """The shape SageMaker's list and describe calls expect."""
        return {"modelName": self.name, "modelUrl": self.url}

    @property
    def abandoned(self) -> bool:
        """Still loading, by a worker that no longer runs."""
        return self.state == LOADING and self.loader > 0 and not _alive(self.loader)


# --- names, urls and the memory estimate -------------------------------------------------------


def check_name(name: object) -> str:
    """The one check of a model name, wherever it comes from (POST /models, or a route's path):
    it becomes a file name in the registry."""
    if not isinstance(name, str) or not name:
        raise RequestError('"model_name" is missing: send {"model_name": ..., "url": ...}.')
    if "/" in name or ".." in name or not _NAME.fullmatch(name):
        raise RequestError(
            f"Model name {quote(name)} is not valid: use 1 to 200 letters, digits and "
            ". _ - + = @ : , ~ (first a letter, digit or _), without '/' or '..'."
        )
    return name


def check_url(url: object, models_root: Path) -> Path:
    """The bundle directory `url` names, which must lie under `models_root` (SageMaker extracts
    each model.tar.gz below /opt/ml/models). A relative url is taken from the root. Symlinks are
    resolved before the check (in the url and in the root, which `byoc local serve` makes a
    symlink): one inside the root that points elsewhere is outside."""
    if not isinstance(url, str) or not url.strip():
        raise RequestError('"url" is missing: send {"model_name": ..., "url": "<bundle dir>"}.')
    root = Path(os.path.realpath(models_root))
    try:
        path = Path(os.path.realpath(root / url))  # an absolute url replaces the root
    except ValueError:  # a NUL in the url
        raise RequestError(f"url {quote(url)} is not a valid path.") from None
    if path != root and root not in path.parents:
        raise RequestError(f"url {quote(url)} is outside the models root {root}: models are "
                           "loaded from the directories SageMaker extracts them to, below that "
                           "root (symlinks resolved).")
    if not path.exists():
        raise RequestError(f"url {quote(url)}: no such directory. It must hold an extracted byoc "
                           "bundle (the contents of model.tar.gz).")
    if not path.is_dir():
        raise RequestError(f"url {quote(url)} is a file; it must be the directory holding the "
                           "extracted bundle (extract model.tar.gz there).")
    return path


def served_file(model_dir: Path, runtime: str) -> Path:
    return model_dir / (LITERT_FILE if runtime == runtimes.LITERT else MODEL_FILE)


def estimate_bytes(model_dir: Path, runtime: str, workers: int) -> int:
    """What the model will take in memory once every worker holds it (see the module doc)."""
    if runtime == runtimes.CUSTOM:
        size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    else:
        size = served_file(model_dir, runtime).stat().st_size
    return workers * (size * SIZE_FACTOR[runtime] + OVERHEAD_BYTES[runtime])


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def _meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise FileNotFoundError(key)


def memory_limit() -> int:
    """The container's memory limit (cgroup v2 or v1), or the machine's memory without one."""
    total = _meminfo("MemTotal")
    limit = _read_int("/sys/fs/cgroup/memory.max") or _read_int(
        "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    return min(total, limit) if limit else total


def memory_available() -> int:
    """Memory that can still be used now: the machine's MemAvailable, within the cgroup's room."""
    available = _meminfo("MemAvailable")
    limit = _read_int("/sys/fs/cgroup/memory.max")
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit and used is not None:
        available = min(available, limit - used)
    return available


@dataclass(frozen=True)
class MemoryBudget:
    """How much the loaded models may take together, decided once at start-up."""

    budget_bytes: int
    reserve_bytes: int
    explicit: bool  # set by BYOC_MODEL_MEMORY_MB: the live check is off, tests rely on the number

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MemoryBudget:
        text = environ.get(MEMORY_ENV, "").strip()
        limit = memory_limit()
        if text:
            try:
                mb = int(text)
            except ValueError:
                mb = 0
            if mb < 1:
                raise UserError(f"{MEMORY_ENV}={text!r} is not valid: expected a whole number of "
                                "MB >= 1 for all loaded models together.")
            return cls(mb * MB, 0, True)
        return cls(int(limit * BUDGET_SHARE), int(limit * RESERVE_SHARE), False)

    def check(self, needed: int, reserved: int, name: str) -> None:
        """Raise NotEnoughMemory (507) if `needed` more bytes do not fit."""
        if reserved + needed > self.budget_bytes:
            raise NotEnoughMemory(
                f"Not enough memory to load {name!r}: it needs about {needed / MB:.0f} MB, "
                f"{reserved / MB:.0f} MB of the {self.budget_bytes / MB:.0f} MB model budget are "
                f"taken. Unload a model (DELETE /models/<name>) or raise {MEMORY_ENV}.")
        if not self.explicit:
            free = memory_available() - self.reserve_bytes
            if needed > free:
                raise NotEnoughMemory(
                    f"Not enough memory to load {name!r}: it needs about {needed / MB:.0f} MB, "
                    f"{max(free, 0) / MB:.0f} MB are free. Unload a model first.")


# --- the shared directory ----------------------------------------------------------------------


class Registry:
    """The shared directory; every method may be called from any worker and any thread."""

    def __init__(self, root: str | os.PathLike, budget: MemoryBudget):
        self.root = Path(root)
        self.budget = budget
        self._models = self.root / "models"
        self._held = self.root / "held"
        self.owner_pid = os.getpid()  # the gunicorn master removes the directory at exit

    @classmethod
    def create(cls, budget: MemoryBudget) -> Registry:
        """A new, empty registry (in the gunicorn master, before the workers fork)."""
        parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        registry = cls(tempfile.mkdtemp(prefix="byoc-models-", dir=parent), budget)
        registry._models.mkdir()
        registry._held.mkdir()
        (registry.root / "lock").touch()
        return registry

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / "lock", "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _path(self, name: str) -> Path:
        return self._models / f"{check_name(name)}.json"

    def _write(self, entry: Entry) -> None:
        # Written aside, then renamed: a reader sees the old entry or the new one, never half.
        tmp = self._models / f".{entry.name}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(asdict(entry)))
        tmp.replace(self._path(entry.name))

    def _read(self, name: str) -> Entry | None:
        try:
            return Entry(**json.loads(self._path(name).read_text()))
        except FileNotFoundError:
            return None

    def get(self, name: str) -> Entry | None:
        entry = self._read(name)
        if entry is not None and entry.abandoned:
            with self._locked():
                entry = self._current(name)
        return entry

    def _current(self, name: str) -> Entry | None:
        """The entry, with the lock held: an abandoned load is cleared first."""
        entry = self._read(name)
        if entry is not None and entry.abandoned:
            self._clear(entry)
            return None
        return entry

    def _clear(self, entry: Entry) -> None:
        self._path(entry.name).unlink(missing_ok=True)
        log.warning("Model %r: worker %d died while loading it (killed, perhaps out of memory); "
                    "its reservation of %.0f MB is released and the name can be loaded again.",
                    entry.name, entry.loader, entry.memory_bytes / MB)

    def abandon_loads_of(self, pid: int) -> None:
        """Clear the loads worker `pid` had under way (the master calls this when it exits)."""
        with self._locked():
            for path in self._models.glob("*.json"):
                entry = self._read(path.name[:-5])
                if entry is not None and entry.state == LOADING and entry.loader == pid:
                    self._clear(entry)

    def entries(self) -> list[Entry]:
        found = (self.get(p.name[:-5]) for p in self._models.glob("*.json"))
        return sorted((e for e in found if e is not None), key=lambda e: e.name)

    def version(self) -> int:
        """Changes whenever an entry is added, published or removed (cheap to poll)."""
        return self._models.stat().st_mtime_ns

    def reserved_bytes(self) -> int:
        return sum(e.memory_bytes for e in self.entries())

    def reserve(self, name: str, url: str, path: Path, runtime: str, memory_bytes: int) -> Entry:
        """Claim `name` for a load: 409 if it is taken, 507 if the estimate does not fit."""
        with self._locked():
            current = self._current(name)
            if current is not None:
                what = "is being loaded" if current.state == LOADING else "is already loaded"
                raise ModelConflict(f"Model {name!r} {what} (from {current.url}). Unload it "
                                    "first (DELETE /models/<name>) to load it again.")
            self.budget.check(memory_bytes, self.reserved_bytes(), name)
            entry = Entry(name, url, str(path), runtime, memory_bytes, uuid.uuid4().hex,
                          loader=os.getpid())
            self._write(entry)
            return entry

    def publish(self, entry: Entry) -> Entry:
        """The model is warm and servable: every worker may now load it."""
        ready = replace(entry, state=READY)
        with self._locked():
            self._write(ready)
        return ready

    def discard(self, entry: Entry) -> None:
        """Forget a reservation whose load failed."""
        with self._locked():
            current = self._read(entry.name)
            if current is not None and current.generation == entry.generation:
                self._path(entry.name).unlink()

    def remove(self, name: str) -> Entry:
        """Unregister a ready model: 404 if it is not loaded, 409 while it is being loaded."""
        with self._locked():
            entry = self._current(name)
            if entry is None:
                raise ModelNotFound(f"Model {name!r} is not loaded.")
            if entry.state == LOADING:
                raise ModelConflict(f"Model {name!r} is being loaded; unload it once POST /models "
                                    "has answered.")
            self._path(name).unlink()
            return entry

    # Which workers hold which model: DELETE waits for the holders to let go.

    def _held_dir(self, entry: Entry) -> Path:
        return self._held / entry.name / entry.generation

    def hold(self, entry: Entry, pid: int) -> None:
        path = self._held_dir(entry)
        path.mkdir(parents=True, exist_ok=True)
        (path / str(pid)).touch()

    def release(self, entry: Entry, pid: int) -> None:
        (self._held_dir(entry) / str(pid)).unlink(missing_ok=True)
        for path in (self._held_dir(entry), self._held / entry.name):
            try:
                path.rmdir()
            except OSError:  # not empty, or gone already
                pass

    def holders(self, entry: Entry) -> set[int]:
        """Live worker pids that hold this generation of the model."""
        try:
            pids = {int(p.name) for p in self._held_dir(entry).iterdir()}
        except FileNotFoundError:
            return set()
        return {pid for pid in pids if _alive(pid)}


def _alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie (killed, not yet reaped by the master) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state follows the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
