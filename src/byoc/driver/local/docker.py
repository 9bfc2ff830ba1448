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
from urllib.parse import urlparse

from byoc import bundle, contract, tracking_config
from byoc.driver import sourcedir
from byoc.driver.local import gpus as local_gpus
from byoc.driver.local import layout
from byoc.driver.local.gpus import GpuRequest
from byoc.driver.local.process import wait_for_ping
from byoc.errors import FrameworkError, UserError

CONTAINER_ROOT = contract.DEFAULT_BASE_DIR
CONTAINER_CODE_DIR = sourcedir.CONTAINER_CODE_DIR
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


def _device_requests(gpus: GpuRequest | None) -> list:
    return gpus.device_requests() if gpus else []


def _start(container, port: int | None = None, gpus: GpuRequest | None = None) -> None:
    """Start a created container; one that cannot start is removed, not left behind, and an
    engine's refusal we can explain (a port in use, no GPU runtime) becomes a UserError."""
    import docker

    try:
        container.start()
    except docker.errors.APIError as exc:
        container.remove(force=True)
        text = str(exc.explanation or exc)
        if "allocated" in text or "address already in use" in text:
            raise UserError(f"Port {port} is in use; pick another with --port.") from None
        refusal = gpus and local_gpus.refusal(text, gpus)
        if refusal:
            raise refusal from None
        raise


def _launch(engine, image: str, command: list[str], port: int | None = None,
            gpus: GpuRequest | None = None, **kwargs):
    """Create and start a container, with `gpus` as `docker run --gpus` gives them."""
    container = engine.containers.create(image, command, device_requests=_device_requests(gpus),
                                         **kwargs)
    _start(container, port, gpus)
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
    gpus: GpuRequest | str | int | None = None,
    instance_count: int = 1,
    cpus: float | None = None,
    memory: str | int | None = None,
    distribution: str = layout.FULLY_REPLICATED,
    volumes: Mapping[str, dict] | None = None,
    network_mode: str | None = None,
    code_dir: str | os.PathLike | None = None,
) -> int:
    """Run `IMAGE train` with `working_root(output_dir)` as /opt/ml; return its exit code.

    Then packs model.tar.gz (the contents of /opt/ml/model) and output.tar.gz (output/data,
    success or failure) into `output_dir`, as SageMaker does, whether training succeeded or not;
    a finished run's archives already there are kept aside first (`layout.keep_finished_run`).
    With `instance_count` > 1 the job runs on that many containers, as `train_cluster` says.
    `cpus` caps each container's CPU share (Docker's --cpus), like the size of an instance;
    `memory` its memory (Docker's --memory: bytes, or "512m", "2g"). `train` sees that limit
    and streams data that would not fit; a container killed for exceeding it gets a failure
    reason saying so, as SageMaker gives one.
    `code_dir`, the user's source directory, is mounted read-only at /opt/ml/code, as SDK
    local mode mounts it (the hyperparameters name it there). `gpus` are handed to the
    container as `docker run --gpus` does (with several instances, each gets its own share:
    `GpuRequest.per_host`).
    """
    gpus = local_gpus.parse(gpus)
    if instance_count > 1:
        return train_cluster(image, data_channels, output_dir, hyperparameters, stream,
                             env=env, gpus=gpus, instance_count=instance_count, cpus=cpus,
                             memory=memory, distribution=distribution, code_dir=code_dir)
    if distribution != layout.FULLY_REPLICATED:
        raise UserError("--distribution sharded splits the data between instances; with one "
                        "instance every file goes to it. Drop the flag, or add --instance-count.")
    limits = {**_cpu_limit(cpus), **_memory_limit(memory)}
    engine = client()
    _require_image(engine, image)
    root = working_root(output_dir)
    layout.keep_finished_run(root)
    paths = layout.prepare(root, data_channels, hyperparameters, link=False)
    container = _launch(
        engine, image, ["train"],
        name=f"byoc-train-{uuid.uuid4().hex[:8]}",
        volumes={str(root): {"bind": CONTAINER_ROOT, "mode": "rw"}, **(volumes or {}),
                 **_code_volume(code_dir)},
        environment={"TRAINING_JOB_NAME": layout.LOCAL_JOB_NAME, **(env or {})},
        gpus=gpus,
        **({"network_mode": network_mode} if network_mode else {}),
        **limits,
    )
    try:
        _follow(container, stream)
        exit_code = int(container.wait()["StatusCode"])
        _explain_out_of_memory(container, paths, memory)
    except KeyboardInterrupt:
        # As StopTrainingJob does: SIGTERM, so the trainer can checkpoint, then SIGKILL.
        container.stop(timeout=contract.TRAINING_STOP_GRACE)
        raise
    finally:
        container.remove(force=True)
        _give_back(engine, image, root)
    layout.package(paths, output_dir)
    return exit_code


def _code_volume(code_dir: str | os.PathLike | None) -> dict:
    """The user's source directory at /opt/ml/code, read-only: the container must not write
    into it (files it made would be root's in the user's directory)."""
    if code_dir is None:
        return {}
    return {str(Path(code_dir).resolve()): {"bind": CONTAINER_CODE_DIR, "mode": "ro"}}


def _memory_limit(memory: str | int | None) -> dict:
    if memory is None:
        return {}
    # No swap beyond the limit: an instance has none, so the limit is the memory `train` has.
    size = contract.memory_bytes(str(memory), "--memory-per-instance")
    return {"mem_limit": size, "memswap_limit": size}


def _explain_out_of_memory(container, paths: contract.Paths, memory: str | int | None) -> None:
    """A container the kernel killed for its memory limit wrote no failure reason: write one,
    as SageMaker reports an out-of-memory job."""
    container.reload()
    if not container.attrs.get("State", {}).get("OOMKilled") or paths.failure_file.exists():
        return
    limit = f"its --memory-per-instance limit ({memory})" if memory else "the memory it had"
    contract.write_failure(paths, (
        f"OutOfMemoryError: the training container used more than {limit} and was killed. "
        "Raise --memory-per-instance, lower batch_size, or set input_mode=stream so that the "
        "images are read from disk as they are needed."))


def _cpu_limit(cpus: float | None) -> dict:
    if cpus is None:
        return {}
    if not cpus > 0:
        raise UserError(f"--cpus-per-instance must be above 0, got {cpus:g}.")
    return {"nano_cpus": int(cpus * 1e9)}


# How long the other hosts of a job get to notice a lost peer and fail on their own, before the
# run stops them: they detect it themselves within about two minutes (see training.cluster).
PEER_LOSS_GRACE = 240.0


def cluster_roots(output_dir: str | os.PathLike, instance_count: int) -> dict[str, Path]:
    """Each host's /opt/ml in a multi-instance run: `OUTPUT/algo-1`, `OUTPUT/algo-2`, ..."""
    root = working_root(output_dir)
    return {host: root / host for host in layout.host_names(instance_count)}


def shared_checkpoints(output_dir: str | os.PathLike) -> Path:
    """The checkpoint folder every host of a local multi-instance run sees at
    /opt/ml/checkpoints, as SageMaker syncs every host's with the one S3 prefix."""
    return working_root(output_dir) / "checkpoints"


def tracking_options(track: Mapping[str, str], instance_count: int) -> dict:
    """`train`'s extra arguments for an MLflow-tracked run (`track` is its environment): a local
    store is mounted at its own path, so the run's artifact paths hold on this machine too; a
    server on this machine's loopback is reached through the host's network."""
    if not track:
        return {}
    uri = track[tracking_config.TRACKING_URI_ENV]
    store = tracking_config.store_directory(uri)
    local = store is not None or urlparse(uri).hostname in tracking_config.LOOPBACK
    if local and instance_count > 1:
        raise UserError(
            f"--track {tracking_config.redact(uri)}: the containers of a multi-instance run have a "
            "network of their own and cannot reach this machine's files or loopback. Start the "
            "server on an address they reach (mlflow server --host 0.0.0.0) and pass "
            "http://HOST-IP:PORT.")
    options: dict = {"env": dict(track)}
    if store is not None:
        options["volumes"] = {str(store): {"bind": str(store), "mode": "rw"}}
    elif local:
        options["network_mode"] = "host"
    return options


def train_cluster(
    image: str,
    data_channels: Mapping[str, str | os.PathLike],
    output_dir: str | os.PathLike,
    hyperparameters: Mapping[str, object] | None = None,
    stream: Stream = print,
    *,
    instance_count: int,
    env: Mapping[str, str] | None = None,
    gpus: GpuRequest | str | int | None = None,
    cpus: float | None = None,
    memory: str | int | None = None,
    distribution: str = layout.FULLY_REPLICATED,
    code_dir: str | os.PathLike | None = None,
) -> int:
    """Run a training job on `instance_count` containers, the way SageMaker runs its hosts.

    Each container is a host (`algo-1 … algo-N`) on a Docker network of its own, reachable
    under its host name, with its own /opt/ml (`OUTPUT/algo-i`) and resourceconfig.json. They
    share `OUTPUT/checkpoints`, as SageMaker syncs every host's checkpoints with one S3 prefix.
    The run waits for every host, then merges their model/ and output/data into model.tar.gz
    and output.tar.gz in OUTPUT. Ctrl-C stops every host with SIGTERM, as StopTrainingJob does.
    Returns 0 when every host succeeded, else the exit code of the first host that did not.
    """
    import docker

    gpus = local_gpus.parse(gpus)
    host_gpus = gpus.per_host(instance_count) if gpus else [None] * instance_count
    limits = {**_cpu_limit(cpus), **_memory_limit(memory)}
    engine = client()
    _require_image(engine, image)
    root = working_root(output_dir)
    if (root / "input" / "config").is_dir():
        raise UserError(f"{root} holds a single-instance run; a multi-instance run keeps one "
                        "/opt/ml per host in it. Choose a new or empty --output directory.")
    roots = cluster_roots(root, instance_count)
    hosts = list(roots)
    shares = dict(zip(hosts, host_gpus, strict=True))
    ours = {*hosts, "checkpoints", layout.MODEL_ARCHIVE, layout.OUTPUT_ARCHIVE,
            layout.PREVIOUS_RUNS}
    others = sorted(p.name for p in root.iterdir() if p.name not in ours) if root.is_dir() else []
    if others:
        raise UserError(f"{root} holds {', '.join(others)}, which a {instance_count}-instance "
                        "run did not lay out. Choose a new or empty --output directory.")
    layout.keep_finished_run(root)
    all_paths = [
        layout.prepare(roots[h], data_channels, hyperparameters, link=False, current_host=h,
                       hosts=hosts, train_distribution=distribution)
        for h in hosts
    ]
    checkpoints = shared_checkpoints(root)
    checkpoints.mkdir(parents=True, exist_ok=True)
    job = uuid.uuid4().hex[:8]
    network = engine.networks.create(f"byoc-train-{job}", driver="bridge")
    containers: dict[str, object] = {}
    try:
        for host in hosts:
            container = engine.containers.create(
                image, ["train"], name=f"byoc-train-{job}-{host}", hostname=host,
                network=network.name,
                volumes={str(roots[host]): {"bind": CONTAINER_ROOT, "mode": "rw"},
                         str(checkpoints): {"bind": f"{CONTAINER_ROOT}/checkpoints",
                                            "mode": "rw"},
                         **_code_volume(code_dir)},
                environment={"TRAINING_JOB_NAME": layout.LOCAL_JOB_NAME, **(env or {})},
                device_requests=_device_requests(shares[host]),
                **limits,
            )
            # Every host reaches the others under their SageMaker names.
            network.disconnect(container)
            network.connect(container, aliases=[host])
            containers[host] = container
        for host, container in containers.items():
            _start(container, gpus=shares[host])
        codes = _wait_all(containers, stream)
        for host, paths in zip(hosts, all_paths, strict=True):
            _explain_out_of_memory(containers[host], paths, memory)
    except KeyboardInterrupt:
        stream("Stopping every host (SIGTERM, then SIGKILL after 120 s, as StopTrainingJob "
               "does)...")
        _stop_all(containers, contract.TRAINING_STOP_GRACE)
        raise
    finally:
        for container in containers.values():
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        network.remove()
        _give_back(engine, image, root)
    layout.package(all_paths, output_dir)
    failed = [codes[h] for h in hosts if codes[h] != 0]
    return failed[0] if failed else 0


def _wait_all(containers: Mapping[str, object], stream: Stream) -> dict[str, int]:
    """Stream every host's log, prefixed with its name, until all have exited; stop the rest
    `PEER_LOSS_GRACE` seconds after the first failure."""
    import threading
    import time

    lock = threading.Lock()

    def prefixed(host: str) -> Stream:
        def emit(line: str) -> None:
            with lock:
                stream(f"{host} | {line}")
        return emit

    followers = [threading.Thread(target=_follow, args=(c, prefixed(h)), daemon=True)
                 for h, c in containers.items()]
    for thread in followers:
        thread.start()
    codes: dict[str, int] = {}
    first_failure: float | None = None
    while len(codes) < len(containers):
        for host, container in containers.items():
            if host in codes:
                continue
            container.reload()
            if container.status in ("exited", "dead"):
                codes[host] = int(container.wait()["StatusCode"])
                if codes[host] != 0 and first_failure is None:
                    first_failure = time.monotonic()
        if first_failure is not None and time.monotonic() - first_failure > PEER_LOSS_GRACE:
            running = {h: c for h, c in containers.items() if h not in codes}
            stream(f"Stopping {', '.join(running)}: a host failed {PEER_LOSS_GRACE:.0f} s ago.")
            _stop_all(running, contract.TRAINING_STOP_GRACE)
            first_failure = None
        time.sleep(0.5)
    for thread in followers:
        thread.join(timeout=10)
    return codes


def _stop_all(containers: Mapping[str, object], timeout: int) -> None:
    """`docker stop` every container at once: they all get SIGTERM together, as on SageMaker."""
    import threading

    threads = [threading.Thread(target=c.stop, kwargs={"timeout": timeout})
               for c in containers.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


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
    gpus: GpuRequest | str | int | None = None,
    ready_timeout: float = READY_TIMEOUT,
    multi_model: bool = False,
    code_dir: str | os.PathLike | None = None,
) -> Server:
    """Start `IMAGE serve` with `model` at /opt/ml/model; return once /ping answers 200.

    With `multi_model`, `model` is a directory of extracted bundles, mounted at /opt/ml/models,
    and the server starts with none loaded (SAGEMAKER_MULTI_MODEL=true).
    The container listens on 8080, or on `env["SAGEMAKER_BIND_TO_PORT"]`; that port is published
    on 127.0.0.1:`port` (`port=None` lets Docker choose a free one). `code_dir`, the handlers'
    source directory, is mounted read-only at /opt/ml/code (`env` names it). `gpus` (`all`, a
    count or `device=0,1`) are given to the container as `docker run --gpus` does. Call
    `Server.stop()`.
    """
    gpus = local_gpus.parse(gpus)
    engine = client()
    _require_image(engine, image)
    scratch = tempfile.TemporaryDirectory(prefix="byoc-model-")
    try:
        env = dict(env or {})
        if multi_model:
            mount = (layout.models_dir(model), f"{CONTAINER_ROOT}/models")
            env[contract.MULTI_MODEL_ENV] = "true"
        else:
            model_dir = layout.extract_model(model, scratch.name).model_dir.resolve()
            # A clear error now beats a container that never gets healthy; the user's
            # model_fn loads a model of any form.
            if code_dir is None:
                bundle.ModelSpec.read(model_dir)
            mount = (model_dir, f"{CONTAINER_ROOT}/model")
        container_port = int(env.get(contract.PORT_ENV, contract.DEFAULT_PORT))
        container = _launch(
            engine, image, ["serve"], port,
            name=f"byoc-serve-{uuid.uuid4().hex[:8]}",
            volumes={str(mount[0]): {"bind": mount[1], "mode": "ro"}, **_code_volume(code_dir)},
            ports={f"{container_port}/tcp": ("127.0.0.1", port)},
            environment=env,
            gpus=gpus,
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
    gpus: GpuRequest | str | int | None = None,
    multi_model: bool = False,
    code_dir: str | os.PathLike | None = None,
) -> int:
    """Serve until Ctrl-C or until the container exits, streaming its log; return its exit code."""
    server = start(image, model, port, env=env, gpus=gpus, multi_model=multi_model,
                   code_dir=code_dir)
    if multi_model:
        stream(layout.multi_model_hint(server.url, model))
    else:
        stream(f"Serving {image} at {server.url} (POST {server.url}/invocations); Ctrl-C stops "
               "it.")
        stream(f"Try: curl -s {server.url}/ping && echo healthy")
    try:
        _follow(server.container, stream)
    except KeyboardInterrupt:
        stream("Stopping (SIGTERM, then SIGKILL after 30 s, as SageMaker does)...")
    return server.stop()

