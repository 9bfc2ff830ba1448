"""`--gpus` for local Docker mode: which GPUs a container gets, parsed once as `docker run --gpus`
reads them (`all`, a count, or `device=ID,ID`) and handed to the engine as a device request.
"""

from __future__ import annotations

from dataclasses import dataclass

from byoc.errors import UserError

ALL = -1  # Docker's count for every GPU
FORMS = ("all", "N (a count, e.g. 2)", "device=ID[,ID...] (indices or GPU UUIDs, e.g. device=0,1)")
TOOLKIT_URL = ("https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/"
               "install-guide.html")


@dataclass(frozen=True)
class GpuRequest:
    """The GPUs one container asks for: `count` of them (`ALL` for every one), or `device_ids`."""

    count: int = 0
    device_ids: tuple[str, ...] = ()

    def device_requests(self) -> list:
        """What docker-py's `containers.create(device_requests=...)` takes, as `--gpus` sends."""
        import docker

        if self.device_ids:
            return [docker.types.DeviceRequest(device_ids=list(self.device_ids),
                                               capabilities=[["gpu"]])]
        return [docker.types.DeviceRequest(count=self.count, capabilities=[["gpu"]])]

    def describe(self) -> str:
        if self.device_ids:
            return f"device={','.join(self.device_ids)}"
        return "all" if self.count == ALL else str(self.count)

    def per_host(self, hosts: int) -> list[GpuRequest]:
        """One request per host of a multi-instance job, with no GPU given to two hosts.

        On SageMaker every instance has GPUs of its own, and two workers of one job on the same
        GPU fail in NCCL ("Duplicate GPU detected") or run out of its memory. So `N` is N GPUs
        per host (algo-1 gets 0..N-1, algo-2 N..2N-1, ...), `device=` ids are dealt out in
        order in equal shares, and `all`, which would give every host every GPU, is refused.
        """
        if hosts == 1:
            return [self]
        if self.device_ids:
            if len(self.device_ids) % hosts:
                raise UserError(
                    f"--gpus {self.describe()} lists {len(self.device_ids)} GPU(s) for "
                    f"{hosts} instances: each instance gets an equal share of its own, so list a "
                    f"multiple of {hosts}, or give a count per instance (--gpus 1).")
            share = len(self.device_ids) // hosts
            return [GpuRequest(device_ids=self.device_ids[i * share:(i + 1) * share])
                    for i in range(hosts)]
        if self.count == ALL:
            raise UserError(
                f"--gpus all would give each of the {hosts} instances every GPU, and two hosts "
                "of one job cannot share a GPU (as on SageMaker, each instance has its own). "
                "Give a count per instance (--gpus 1: algo-1 gets GPU 0, algo-2 GPU 1, ...) or "
                f"list them (--gpus device=0,1,...: dealt out in order, {hosts} equal shares).")
        return [GpuRequest(device_ids=tuple(str(i) for i in
                                            range(h * self.count, (h + 1) * self.count)))
                for h in range(hosts)]


def parse(value: str | int | GpuRequest | None) -> GpuRequest | None:
    """`all`, a positive count, or `device=ID,ID` as a GpuRequest; None (no GPU) for None.

    docker's own quoting, `'"device=0,1"'`, is accepted too. Raises UserError for anything else,
    before any container starts.

    >>> parse("all"), parse(2), parse("device=0,1")
    (GpuRequest(count=-1, device_ids=()), GpuRequest(count=2, device_ids=()), \
GpuRequest(count=0, device_ids=('0', '1')))
    """
    if value is None or isinstance(value, GpuRequest):
        return value
    if isinstance(value, bool):  # True is an int too, and "1 GPU" is not what it says
        raise UserError(f"gpus={value!r}: pass 'all', a count or 'device=0,1', not a bool.")
    text = str(value).strip().strip("\"'").strip()
    forms = "; ".join(FORMS)
    if text.lower() == "all":
        return GpuRequest(count=ALL)
    key, sep, ids = text.partition("=")
    if sep:
        if key.strip().lower() != "device":
            raise UserError(f"--gpus {value}: '{key}=' is not a form byoc takes; use one of: "
                            f"{forms}.")
        devices = tuple(i.strip() for i in ids.split(","))
        if not all(devices):
            raise UserError(f"--gpus {value}: an empty device id; list them as device=0,1 (no "
                            "spaces or empty entries).")
        if len(set(devices)) != len(devices):
            raise UserError(f"--gpus {value}: a device is listed twice.")
        return GpuRequest(device_ids=devices)
    try:
        count = int(text)
    except ValueError:
        raise UserError(f"--gpus {value}: expected one of: {forms}.") from None
    if count < 1:
        raise UserError(f"--gpus {value}: the count must be at least 1; to run without a GPU, "
                        "drop --gpus.")
    return GpuRequest(count=count)


def refusal(explanation: str, request: GpuRequest) -> UserError | None:
    """The engine's error on starting a container with `request`, as a UserError that says what
    to do, or None when the error has nothing to do with GPUs."""
    text = explanation.lower()
    if "could not select device driver" in text:
        return UserError(
            f"Docker cannot give this container GPUs (--gpus {request.describe()}): "
            f"{explanation.strip()}. The engine has no GPU device driver: install the NVIDIA "
            f"Container Toolkit on the Docker host ({TOOLKIT_URL}), restart Docker, and check "
            "that `docker run --rm --gpus all IMAGE nvidia-smi` works; or drop --gpus to run on "
            "the CPU.")
    if "nvidia-container-cli" in text:
        return UserError(
            f"The NVIDIA runtime refused --gpus {request.describe()}: {explanation.strip()}. "
            "Check which GPUs the host has (`nvidia-smi -L`) and that its driver is loaded; a "
            "count or device id beyond them fails like this.")
    return None
