"""The training cluster of a SageMaker job, from resourceconfig.json: who the hosts are, which one
this is, and the `TF_CONFIG` that MultiWorkerMirroredStrategy reads.

SageMaker starts the same image on every host of a job (`algo-1 … algo-N`; the SDK's local mode
names them `algo-1-abcde`), each with its own resourceconfig.json. The hosts are sorted as
SageMaker sorts them, the task index is this host's position, and `hosts[0]` is the chief: the
only host that writes the model, the report, the checkpoints and the `#metrics` lines.

No TensorFlow here: the rules are plain data, tested without a cluster.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from byoc.errors import UserError

log = logging.getLogger("byoc.training")

# The port MultiWorkerMirroredStrategy's workers listen on, the same on every host. SageMaker
# leaves every port open between the hosts of a job; change it when 2222 is taken.
PORT_ENV = "BYOC_WORKER_PORT"
DEFAULT_PORT = 2222
# How long to wait for every peer's name to resolve: hosts of a job join over a few minutes.
PEER_TIMEOUT_ENV = "BYOC_PEER_TIMEOUT"
DEFAULT_PEER_TIMEOUT = 300.0
TF_CONFIG_ENV = "TF_CONFIG"


def _host_key(host: str) -> tuple:
    """Sort `algo-2` before `algo-10`, as SageMaker numbers its hosts."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", host))


@dataclass(frozen=True)
class Cluster:
    """The hosts of one training job, seen from one of them."""

    hosts: tuple[str, ...]
    current_host: str
    port: int = DEFAULT_PORT

    @classmethod
    def from_resource_config(cls, config: dict, environ: dict[str, str] | None = None) -> Cluster:
        """Read resourceconfig.json's `hosts` and `current_host`; reject what cannot be a job."""
        environ = os.environ if environ is None else environ
        current = config.get("current_host", "algo-1")
        hosts = config.get("hosts") or [current]
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise UserError(f"resourceconfig.json: 'hosts' must be a list of host names, got "
                            f"{hosts!r}.")
        duplicates = sorted({h for h in hosts if hosts.count(h) > 1})
        if duplicates:
            raise UserError(f"resourceconfig.json names host(s) {', '.join(duplicates)} more "
                            "than once; every host of a job needs its own name.")
        if current not in hosts:
            raise UserError(f"resourceconfig.json: current_host '{current}' is not one of the "
                            f"hosts {hosts}. Each host's file must name itself among them.")
        return cls(hosts=tuple(sorted(hosts, key=_host_key)), current_host=current,
                   port=_port(environ))

    @property
    def size(self) -> int:
        return len(self.hosts)

    @property
    def index(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def chief(self) -> str:
        return self.hosts[0]

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(h for h in self.hosts if h != self.current_host)

    def tf_config(self) -> dict:
        """The `TF_CONFIG` of this host, as SageMaker's TensorFlow toolkit builds it for MWMS."""
        return {"cluster": {"worker": [f"{h}:{self.port}" for h in self.hosts]},
                "task": {"type": "worker", "index": self.index}}


def _port(environ: dict[str, str]) -> int:
    text = environ.get(PORT_ENV, str(DEFAULT_PORT))
    if not text.isdigit() or not 1024 <= int(text) <= 65535:
        raise UserError(f"{PORT_ENV}={text!r}: use a port number from 1024 to 65535, the same "
                        "on every host.")
    return int(text)


def peer_timeout(environ: dict[str, str] | None = None) -> float:
    environ = os.environ if environ is None else environ
    text = environ.get(PEER_TIMEOUT_ENV, str(DEFAULT_PEER_TIMEOUT))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"{PEER_TIMEOUT_ENV}={text!r}: use a number of seconds above 0.")
    return value


def resolve_peers(peers: Sequence[str], timeout: float, *, me: str,
                  resolve: Callable[[str], object] = socket.gethostbyname,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until every peer's name resolves, with backoff, as SageMaker's toolkits do.

    Hosts of a job start at different times and their names appear in DNS as they do. A peer
    that has not resolved by the deadline fails the job, and the reason names it.
    """
    deadline = clock() + timeout
    pending = list(peers)
    pause = 1.0
    while pending:
        pending = [h for h in pending if not _resolves(h, resolve)]
        if not pending:
            break
        if clock() >= deadline:
            raise UserError(
                f"Host(s) {', '.join(pending)} of this job did not resolve within {timeout:.0f} s "
                f"(this is {me}). The instance did not start, or the hosts "
                f"cannot reach each other; raise {PEER_TIMEOUT_ENV} if they start slowly.")
        log.info("Waiting for host(s) %s to resolve...", ", ".join(pending))
        sleep(min(pause, max(deadline - clock(), 0.0)))
        pause = min(pause * 2, 15.0)


def _resolves(host: str, resolve: Callable[[str], object]) -> bool:
    try:
        resolve(host)
    except OSError:
        return False
    return True


def worker_addresses(tf_config: dict) -> tuple[list[tuple[str, int]], int]:
    """The (host, port) of every worker in a TF_CONFIG, and this task's index among them."""
    workers = tf_config.get("cluster", {}).get("worker", [])
    addresses = []
    for worker in workers:
        host, _, port = str(worker).rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"{TF_CONFIG_ENV}: worker '{worker}' is not HOST:PORT.")
        addresses.append((host, int(port)))
    task = tf_config.get("task", {})
    index = int(task.get("index", 0))
    if task.get("type", "worker") != "worker" or not 0 <= index < len(addresses):
        raise UserError(f"{TF_CONFIG_ENV}: byoc trains with workers only (no chief, ps or "
                        f"evaluator tasks), and task {task} is not one of its "
                        f"{len(addresses)} workers.")
    return addresses, index


def configure(cluster: Cluster, environ: dict[str, str] | None = None) -> dict:
    """Set `TF_CONFIG` for MultiWorkerMirroredStrategy, unless the user set one: theirs wins."""
    environ = os.environ if environ is None else environ
    if environ.get(TF_CONFIG_ENV):
        try:
            given = json.loads(environ[TF_CONFIG_ENV])
        except json.JSONDecodeError as exc:
            raise UserError(f"{TF_CONFIG_ENV} is set but is not JSON ({exc}). Unset it to let "
                            "byoc derive it from resourceconfig.json.") from None
        log.info("%s is set in the environment; using it instead of the one derived from "
                 "resourceconfig.json: %s", TF_CONFIG_ENV, environ[TF_CONFIG_ENV])
        return given
    config = cluster.tf_config()
    environ[TF_CONFIG_ENV] = json.dumps(config)
    log.info("%s: %s", TF_CONFIG_ENV, environ[TF_CONFIG_ENV])
    return config


def check_port_free(port: int) -> None:
    """Fail with the port's name before TensorFlow does with a gRPC error nobody can read."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As gRPC binds: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            raise UserError(f"Port {port} is already in use on this host, so the workers cannot "
                            f"meet on it. Set {PORT_ENV} to a free port (the same on every "
                            "host).") from None
