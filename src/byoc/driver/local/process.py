"""Process mode: the `train` and `serve` entrypoints on this machine, without Docker.

The working directory gets the same /opt/ml layout SageMaker creates, and the entrypoint runs
with SAGEMAKER_BASE_DIR pointing at it. Ctrl-C becomes SIGTERM for the child, so training
checkpoints and the server drains, exactly as on SageMaker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from byoc import contract
from byoc.driver.local import layout
from byoc.errors import FrameworkError

ENTRYPOINT = [sys.executable, "-m", "byoc.entrypoints"]


def _stop(proc: subprocess.Popen, grace: float) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds: what SageMaker does to a container."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own keeps the terminal's Ctrl-C away from the child; we send SIGTERM.
    return subprocess.Popen(ENTRYPOINT + args, env=env, start_new_session=True)


def _run(args: list[str], env: dict[str, str]) -> int:
    proc = _start(args, env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print("\nStopping (SIGTERM, as SageMaker sends it)...", file=sys.stderr)
        return _stop(proc, grace=contract.TRAINING_STOP_GRACE)


def train(channels: dict[str, Path], output_dir: Path, hyperparameters: dict[str, str],
          env: dict[str, str] | None = None) -> int:
    """Lay out `output_dir` like /opt/ml, run `train` there (with `env` added to this process's
    environment) and pack model.tar.gz and output.tar.gz beside it, as SageMaker does; returns
    the exit code of `train`. A finished run already there is kept aside first
    (`layout.keep_finished_run`)."""
    layout.keep_finished_run(output_dir)
    paths = layout.prepare(output_dir, channels, hyperparameters, link=True)
    env = dict(os.environ, **(env or {}), **{contract.BASE_DIR_ENV: str(paths.root.resolve())})
    code = _run(["train"], env)
    layout.package(paths, output_dir)
    return code


def wait_for_ping(url: str, timeout: float, alive: Callable[[], bool],
                  log: Callable[[], str] = lambda: "See its log above.") -> None:
    """Poll `url`/ping until it answers 200; fail with the server's log if it dies or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise FrameworkError(f"The model server exited before answering /ping. {log()}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise FrameworkError(f"{url}/ping did not answer 200 within {timeout:.0f} s. {log()}")


def serve(model: Path, root: Path, port: int, workers: int | None = None,
          host: str = contract.LOCAL_HOST, env: dict[str, str] | None = None) -> int:
    """Serve a model dir or model.tar.gz on `host`:`port` until Ctrl-C, with `env` added to
    this process's environment (the handlers' SAGEMAKER_PROGRAM, say). The default host is
    loopback: nothing else on the network reaches a server started for a local test."""
    layout.extract_model(model, root)
    env = dict(os.environ, **(env or {}), **{contract.BASE_DIR_ENV: str(root.resolve()),
                                             contract.PORT_ENV: str(port),
                                             contract.BIND_HOST_ENV: host})
    if workers:
        env[contract.WORKERS_ENV] = str(workers)
    return _serve_until_stopped(env, _url(host, port), lambda url: (
        f"Serving {model} at {url} (POST {url}/invocations). Ctrl-C stops it."))


def _url(host: str, port: int) -> str:
    """Where this machine reaches a server bound to `host`."""
    return f"http://{contract.LOCAL_HOST if host in ('0.0.0.0', '::') else host}:{port}"


def _serve_until_stopped(env: dict[str, str], url: str, hint: Callable[[str], str]) -> int:
    proc = _start(["serve"], env)
    try:
        try:
            wait_for_ping(url, timeout=120, alive=lambda: proc.poll() is None)
        except FrameworkError:
            _stop(proc, grace=contract.HOSTING_STOP_GRACE)
            raise
        print(f"\n{hint(url)}", file=sys.stderr)
        return proc.wait()
    except KeyboardInterrupt:
        print("\nStopping the server (SIGTERM)...", file=sys.stderr)
        return _stop(proc, grace=contract.HOSTING_STOP_GRACE)


def serve_multi_model(models: Path, root: Path, port: int, workers: int | None = None,
                      host: str = contract.LOCAL_HOST, env: dict[str, str] | None = None) -> int:
    """SageMaker's multi-model API over the bundles in `models` on `host`:`port`, until
    Ctrl-C, with `env` added to this process's environment."""
    layout.link_models(models, root)
    env = dict(os.environ, **(env or {}), **{contract.BASE_DIR_ENV: str(root.resolve()),
                              contract.PORT_ENV: str(port), contract.MULTI_MODEL_ENV: "true",
                              contract.BIND_HOST_ENV: host})
    if workers:
        env[contract.WORKERS_ENV] = str(workers)
    return _serve_until_stopped(env, _url(host, port),
                                lambda url: layout.multi_model_hint(url, models))
