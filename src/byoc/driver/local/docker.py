"""Local Docker mode: run an image's `train` and `serve` exactly as SageMaker does, on this machine.

Training lays out a SageMaker-shaped /opt/ml in the output directory (as process mode does),
bind-mounts it, runs `IMAGE train` and packs model.tar.gz and output.tar.gz next to it. Serving
mounts a model at /opt/ml/model, runs `IMAGE serve` and publishes its port on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from byoc import bundle, contract
from byoc.driver.local import layout
from byoc.driver.local.process import wait_for_ping
from byoc.errors import FrameworkError, UserError

CONTAINER_ROOT = contract.DEFAULT_BASE_DIR
# On scale-in SageMaker sends SIGTERM, then SIGKILL this many seconds later, as `docker stop` does.
STOP_TIMEOUT = contract.HOSTING_STOP_GRACE
READY_TIMEOUT = 180.0

Stream = Callable[[str], object]


def client():
    """A Docker client that has answered a ping, or a UserError that says what to do instead."""
    import docker

    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        raise UserError(
            f"No Docker engine answers ({exc}). Start Docker, or run without --image to use "
            "process mode (`byoc local train --data DIR --output DIR` runs the trainer in a "
            "process on this machine)."
        ) from None
    return engine


def _require_image(engine, image: str) -> None:
    import docker

    try:
        engine.images.get(image)
    except docker.errors.ImageNotFound:
        raise UserError(
            f"Image '{image}' is not in the local Docker engine. Build it first: `make image` "
            f"(tags byoc:cpu) or `docker build -t {image} .`"
        ) from None


def _device_requests(gpus: bool) -> list:
    import docker

    return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpus else []


def _launch(engine, image: str, command: list[str], port: int | None = None, **kwargs):
    """Create and start a container; one that cannot start is removed, not left behind."""
    import docker

    container = engine.containers.create(image, command, **kwargs)
    try:
        container.start()
    except docker.errors.APIError as exc:
        container.remove(force=True)
        if "allocated" in str(exc) or "address already in use" in str(exc):
            raise UserError(f"Port {port} is in use; pick another with --port.") from None
        raise
    return container


def _follow(container, stream: Stream) -> None:
    """Pass the container's output to `stream` line by line until it exits."""
    pending = b""
    for chunk in container.logs(stream=True, follow=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            stream(line.decode(errors="replace"))
    if pending:
        stream(pending.decode(errors="replace"))


def _give_back(engine, image: str, root: Path) -> None:
    """Files the container wrote as root become the caller's, so they can be removed later."""
    if os.getuid() == 0:
        return
    engine.containers.run(
        image, ["chown", "-R", f"{os.getuid()}:{os.getgid()}", CONTAINER_ROOT],
        volumes={str(root): {"bind": CONTAINER_ROOT, "mode": "rw"}}, remove=True,
    )


def working_root(output_dir: str | os.PathLike) -> Path:
    """Where a Docker run leaves its /opt/ml layout: the output directory itself, as in process
    mode, so that a second run resumes from its checkpoints/."""
    return Path(output_dir).resolve()


def train(
    image: str,
    data_channels: Mapping[str, str | os.PathLike],
    output_dir: str | os.PathLike,
    hyperparameters: Mapping[str, object] | None = None,
    stream: Stream = print,
    *,
    env: Mapping[str, str] | None = None,
    gpus: bool = False,
) -> int:
    """Run `IMAGE train` with `working_root(output_dir)` as /opt/ml; return its exit code.

    Then packs model.tar.gz (the contents of /opt/ml/model) and output.tar.gz (output/data,
    success or failure) into `output_dir`, as SageMaker does, whether training succeeded or not.
    """
    engine = client()
    _require_image(engine, image)
    root = working_root(output_dir)
    paths = layout.prepare(root, data_channels, hyperparameters, link=False)
    container = _launch(
        engine, image, ["train"],
        name=f"byoc-train-{uuid.uuid4().hex[:8]}",
        volumes={str(root): {"bind": CONTAINER_ROOT, "mode": "rw"}},
        environment={"TRAINING_JOB_NAME": "byoc-local", **(env or {})},
        device_requests=_device_requests(gpus),
    )
    try:
        _follow(container, stream)
        exit_code = int(container.wait()["StatusCode"])
    except KeyboardInterrupt:
        # As StopTrainingJob does: SIGTERM, so the trainer can checkpoint, then SIGKILL.
        container.stop(timeout=contract.TRAINING_STOP_GRACE)
        raise
    finally:
        container.remove(force=True)
        _give_back(engine, image, root)
    layout.package(paths, output_dir)
    return exit_code


@dataclass
class Server:
    """A running `IMAGE serve` container, reachable at `url`."""

    container: object  # docker.models.containers.Container
    url: str
    _scratch: tempfile.TemporaryDirectory = field(repr=False)
    exit_code: int | None = None
    _final_log: str = field(default="", repr=False)

    def logs(self) -> str:
        """The container's output so far; after `stop`, all of it."""
        if self.exit_code is not None:
            return self._final_log
        return self.container.logs().decode(errors="replace")

    def stop(self, timeout: int = STOP_TIMEOUT) -> int:
        """`docker stop` (SIGTERM, then SIGKILL after `timeout` s) and remove; return the exit
        code. Stopping again returns the same code."""
        if self.exit_code is None:
            try:
                self.container.stop(timeout=timeout)
                self.exit_code = int(self.container.wait()["StatusCode"])
                self._final_log = self.container.logs().decode(errors="replace")
            finally:
                self.container.remove(force=True)
                self._scratch.cleanup()
        return self.exit_code


def _published_port(container, container_port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{container_port}/tcp") or []
    if not bindings:
        raise FrameworkError(f"Docker did not publish port {container_port}; see `docker ps`.")
    return int(bindings[0]["HostPort"])


def _wait_ready(container, url: str, timeout: float) -> None:
    def alive() -> bool:
        container.reload()
        return container.status in ("created", "running")

    def log() -> str:
        return "The container's log:\n" + container.logs().decode(errors="replace")

    wait_for_ping(url, timeout, alive, log)


def start(
    image: str,
    model: str | os.PathLike,
    port: int | None = contract.DEFAULT_PORT,
    *,
    env: Mapping[str, str] | None = None,
    gpus: bool = False,
    ready_timeout: float = READY_TIMEOUT,
) -> Server:
    """Start `IMAGE serve` with `model` at /opt/ml/model; return once /ping answers 200.

    The container listens on 8080, or on `env["SAGEMAKER_BIND_TO_PORT"]`; that port is published
    on 127.0.0.1:`port` (`port=None` lets Docker choose a free one). Call `Server.stop()`.
    """
    engine = client()
    _require_image(engine, image)
    scratch = tempfile.TemporaryDirectory(prefix="byoc-model-")
    try:
        model_dir = layout.extract_model(model, scratch.name).model_dir.resolve()
        # A clear error now beats a container that never gets healthy.
        bundle.ModelSpec.read(model_dir)
        env = dict(env or {})
        container_port = int(env.get(contract.PORT_ENV, contract.DEFAULT_PORT))
        container = _launch(
            engine, image, ["serve"], port,
            name=f"byoc-serve-{uuid.uuid4().hex[:8]}",
            volumes={str(model_dir): {"bind": f"{CONTAINER_ROOT}/model", "mode": "ro"}},
            ports={f"{container_port}/tcp": ("127.0.0.1", port)},
            environment=env,
            device_requests=_device_requests(gpus),
        )
    except BaseException:
        scratch.cleanup()
        raise
    server = Server(container, "", scratch)
    try:
        server.url = f"http://127.0.0.1:{_published_port(container, container_port)}"
        _wait_ready(container, server.url, ready_timeout)
    except BaseException:
        server.stop(timeout=5)
        raise
    return server


@contextmanager
def running(image: str, model: str | os.PathLike, port: int | None = None,
            **kwargs) -> Iterator[Server]:
    """`start`, then `stop` on leaving the block: for tests and scripts."""
    server = start(image, model, port, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def serve(
    image: str,
    model: str | os.PathLike,
    port: int = contract.DEFAULT_PORT,
    stream: Stream = print,
    *,
    env: Mapping[str, str] | None = None,
    gpus: bool = False,
) -> int:
    """Serve until Ctrl-C or until the container exits, streaming its log; return its exit code."""
    server = start(image, model, port, env=env, gpus=gpus)
    stream(f"Serving {image} at {server.url} (POST {server.url}/invocations); Ctrl-C stops it.")
    stream(f"Try: curl -s {server.url}/ping && echo healthy")
    try:
        _follow(server.container, stream)
    except KeyboardInterrupt:
        stream("Stopping (SIGTERM, then SIGKILL after 30 s, as SageMaker does)...")
    return server.stop()

