"""The device strategy of a run, one host or several, and the few things the hosts must agree on.

One host: the default strategy (one device), or MirroredStrategy over the GPUs of that host. Several
hosts: MultiWorkerMirroredStrategy over every device of every host, with `TF_CONFIG` from
resourceconfig.json (see `cluster`). Either way the training loop is the same code; here are the
collective helpers it needs so that every worker takes every decision together: stop now, resume
from which epoch, with which weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from byoc.errors import UserError
from byoc.hyperparams import HyperParameters
from byoc.training import cluster as cluster_lib
from byoc.training.cluster import Cluster

log = logging.getLogger("byoc.training")

# A host that stops sending heartbeats for this long is declared lost, and every other host's
# pending collective fails with an error that names it (instead of hanging until MaxRuntime).
HEARTBEAT_TIMEOUT_SECONDS = 60
DONE_KEY = "byoc/chief_done"
ACK_KEY = "byoc/worker_done"


@dataclass
class Distributed:
    """The strategy, and who this worker is in it."""

    strategy: tf.distribute.Strategy
    workers: int = 1
    index: int = 0
    hosts: tuple[str, ...] = ("algo-1",)
    _reducers: dict = field(default_factory=dict, repr=False)

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def multi_worker(self) -> bool:
        return self.workers > 1

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    @property
    def chief(self) -> str:
        return self.hosts[0]

    def reduce(self, values, op: str = "sum") -> np.ndarray:
        """All-reduce a float vector over the workers, each worker counted once: "sum" or
        "max"."""
        vector = np.asarray(values, dtype=np.float64).reshape(-1)
        if not self.multi_worker:
            return vector
        fn = self._reducers.get(op)
        if fn is None:
            fn = self._reducers[op] = self._reducer(op)
        result = self.strategy.run(fn, args=(tf.constant(vector),))
        return self.strategy.experimental_local_results(result)[0].numpy()

    def _reducer(self, op: str):
        per_worker = max(self.replicas // self.workers, 1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def reduce(vector):
            ctx = tf.distribute.get_replica_context()
            if op == "max":
                return tf.reduce_max(ctx.all_gather(vector[tf.newaxis], axis=0), axis=0)
            # Only each worker's first device contributes: a worker counts once, whatever its
            # number of GPUs.
            first = tf.equal(ctx.replica_id_in_sync_group % per_worker, 0)
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                  tf.where(first, vector, tf.zeros_like(vector)))

        return reduce

    def max(self, value: float) -> float:
        return float(self.reduce([value], "max")[0])

    def from_chief(self, values) -> np.ndarray:
        """The chief's values, on every worker."""
        values = np.asarray(values, dtype=np.float64)
        return self.reduce(values if self.is_chief else np.zeros_like(values))

    def sync_from_chief(self, variables: list) -> None:
        """Give every worker the chief's values of `variables` (weights and optimizer state), in
        one collective."""
        if not self.multi_worker:
            return
        flat = self.from_chief(np.concatenate(
            [np.asarray(v.numpy(), dtype=np.float64).reshape(-1) for v in variables]))
        offset = 0
        for var in variables:
            size = int(np.prod(var.shape))
            value = flat[offset:offset + size].reshape(var.shape)
            var.assign(value.astype(np.dtype(getattr(var.dtype, "as_numpy_dtype", var.dtype))))
            offset += size

    def exchange(self, name: str, value) -> list:
        """Every worker's `value` (JSON-able), in worker order, through the coordination
        service's key-value store."""
        import json

        from tensorflow.python.eager import context

        ctx = context.context()
        ctx.set_config_key_value(f"byoc/{name}/{self.index}", json.dumps(value))
        return [json.loads(ctx.get_config_key_value(f"byoc/{name}/{i}"))
                for i in range(self.workers)]

    def chief_finished(self, reason: str = "") -> None:
        """The chief tells the workers it has written everything (or why it failed), then waits
        until each has heard it: the key-value store lives in the chief's process and goes away
        with it."""
        if not (self.multi_worker and self.is_chief):
            return
        from tensorflow.python.eager import context

        ctx = context.context()
        ctx.set_config_key_value(DONE_KEY, reason or "ok")
        for index in range(1, self.workers):
            try:
                ctx.get_config_key_value(f"{ACK_KEY}/{index}")
            except tf.errors.OpError as exc:
                log.warning("%s did not confirm the end of the job (%s); its own log and "
                            "failure file say why.", self.hosts[index], type(exc).__name__)
                return

    def wait_for_chief(self) -> str:
        """A worker waits until the chief has written the model and the report: the SDK's local
        mode stops every container as soon as the first one exits, and the chief must not be cut
        off. Returns the chief's word: "ok", or why it failed."""
        from tensorflow.python.eager import context

        log.info("Waiting for the chief (%s) to write the model and the report.", self.chief)
        ctx = context.context()
        try:
            word = ctx.get_config_key_value(DONE_KEY)
        except tf.errors.OpError as exc:
            from byoc.errors import FrameworkError

            raise FrameworkError(
                f"The chief ({self.chief}) went away before it finished writing the model and "
                f"the report ({type(exc).__name__}); see its log and failure file.") from exc
        ctx.set_config_key_value(f"{ACK_KEY}/{self.index}", "ok")
        return word


def _configure_coordination(size: int, join_timeout: float) -> None:
    """Heartbeats between the hosts, so that a lost host fails the others instead of hanging, and
    a deadline for every host to join.

    Must run before TensorFlow's context starts, i.e. before the strategy is made.
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader="/job:worker/replica:0/task:0",
        heartbeat_timeout_in_ms=HEARTBEAT_TIMEOUT_SECONDS * 1000,
        cluster_register_timeout_in_ms=int(join_timeout * 1000),
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name="worker", num_tasks=size)],
    )
    # Without the barrier, worker 0 waits forever for a host that resolves but never starts
    # (the timeout alone reaches only the other workers). No public API sets it.
    config = getattr(context.context(), "_coordination_service_config", None)
    if config is not None and hasattr(config, "cluster_register_with_barrier"):
        config.cluster_register_with_barrier = True


def make(hp: HyperParameters, cluster: Cluster) -> Distributed:
    """The strategy for this host: MWMS across hosts, else Mirrored across GPUs, else default."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if cluster.size > 1:
        workers, index = cluster_lib.worker_addresses(cluster_lib.configure(cluster))
        cluster_lib.check_port_free(workers[index][1])
        timeout = cluster_lib.peer_timeout()
        cluster_lib.resolve_peers([h for i, (h, _) in enumerate(workers) if i != index],
                                  timeout, me=cluster.current_host)
        _configure_coordination(len(workers), timeout)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except tf.errors.DeadlineExceededError as exc:
            raise UserError(
                f"Not every host of this job joined within {timeout:.0f} s (this is "
                f"{cluster.current_host}; hosts {', '.join(h for h, _ in workers)}): an "
                f"instance did not start its training container. Raise "
                f"{cluster_lib.PEER_TIMEOUT_ENV} if they start slowly.") from exc
        hosts = cluster.hosts if len(workers) == cluster.size else tuple(h for h, _ in workers)
        dist = Distributed(strategy, workers=len(workers), index=index, hosts=hosts)
        log.info("Training on %d hosts with MultiWorkerMirroredStrategy: %s (this is %s, worker "
                 "%d%s); %d replica(s) in sync", dist.workers, ", ".join(hosts),
                 hosts[index], index, ", the chief" if dist.is_chief else "",
                 dist.replicas)
    elif len(gpus) > 1:
        dist = Distributed(tf.distribute.MirroredStrategy())
        log.info("Training on %d GPUs with MirroredStrategy: %s", len(gpus),
                 [g.name for g in gpus])
    else:
        dist = Distributed(tf.distribute.get_strategy())
        log.info("Training on %s", f"1 GPU: {gpus[0].name}" if gpus else "the CPU")
    if hp.mixed_precision:
        if gpus:
            keras.mixed_precision.set_global_policy("mixed_float16")
            log.info("Mixed precision: mixed_float16")
        else:
            log.warning("mixed_precision=true is ignored without a GPU (it would only slow the "
                        "CPU down).")
    return dist
