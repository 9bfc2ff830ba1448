"""Start the real `serve` executable on a free loopback port and wait until it answers /ping.

Used by the contract tests and by the serving benchmarks.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests

from tests.support.executables import SERVE_EXE, exe_env
from tests.support.net import free_port

# Loading TensorFlow and warming up takes seconds per worker on two shared cores.
READY_TIMEOUT = 180


def worker_pids(master_pid: int) -> set[int]:
    """The gunicorn master's child processes (Linux /proc)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    return {int(pid) for pid in children.split()}


def all_workers(master_pid: int, count: int, timeout: float = READY_TIMEOUT) -> set[int]:
    """The master's `count` workers, once all have started: the first /ping can be answered by
    the first worker while gunicorn is still forking the others."""
    deadline = time.monotonic() + timeout
    while len(pids := worker_pids(master_pid)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} workers expected, {len(pids)} started: {pids}")
        time.sleep(0.2)
    return pids


def as_at_a_terminal() -> None:
    """`preexec_fn` for a child the test stops with Ctrl-C (SIGINT): a suite started as a
    background job ignores SIGINT, and its children inherit that, so the signal would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Output:
    """Collects a child process's stdout on a thread, so a test can wait for a line the CLI prints
    (the CLI prints its hint only after its own /ping succeeded, which can be a moment after the
    test's)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.lines = proc, []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in "".join(self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._reader.join(timeout=5)
                raise AssertionError(f"{text!r} never printed:\n{''.join(self.lines)[-3000:]}")
            time.sleep(0.1)

    def finish(self, timeout: float = 60) -> str:
        """Everything printed, once the process has exited."""
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return "".join(self.lines)


class ServeProcess:
    """`serve` as SageMaker runs it: /opt/ml under a temporary base dir, settings from env."""

    def __init__(self, model_dir: Path, base_dir: Path, env: dict[str, str] | None = None,
                 link: str = "model"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base_dir.mkdir(parents=True, exist_ok=True)
        # /opt/ml/model, or /opt/ml/models for a multi-model server.
        (base_dir / link).symlink_to(Path(model_dir).resolve(), target_is_directory=True)
        self.log_path = base_dir / "serve.log"
        self.env = exe_env(**{
            "SAGEMAKER_BASE_DIR": str(base_dir),
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            **(env or {}),
        })
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServeProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(SERVE_EXE)], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_ready()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll /ping until it answers 200; fail with the server log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/ping", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"serve was not ready after {timeout} s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, as SageMaker sends on scale-in; SIGKILL only if it outlives SageMaker's 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def fill_models_root(root: Path, signs: Path, three: Path) -> Path:
    """/opt/ml/models as SageMaker fills it for the multi-model tests: one extracted bundle per
    directory; "three-copy" is "three" under another name."""
    from byoc.bundle import LITERT_FILE

    root.mkdir(parents=True)
    for name, bundle in (("signs", signs), ("three", three), ("three-copy", three)):
        shutil.copytree(bundle, root / name)
        assert (root / name / LITERT_FILE).is_file()
    return root
