"""In memory or streamed: how `train` reads its channels.

Decoded arrays pay while they are small: every epoch reads them at memory speed. Past a share of
the instance's memory they would crowd out the model and the pipeline, or not fit at all, so the
channels are streamed instead (`byoc.data.streaming`). The array formats (pickle, .npz) are arrays
already and are always read whole.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from byoc.contract import MEMORY_LIMIT_ENV, memory_bytes
from byoc.hyperparams import INPUT_MODES

log = logging.getLogger("byoc.training")

AUTO, MEMORY, STREAM = INPUT_MODES
# Decoded data up to this share of the memory available to the container is read into memory.
MEMORY_SHARE = 0.25
# cgroup v2, then v1: a container's limit, which /proc/meminfo does not show.
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),
                 Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


@dataclass(frozen=True)
class Choice:
    mode: str  # MEMORY or STREAM
    reason: str

    @property
    def stream(self) -> bool:
        return self.mode == STREAM


def available_memory() -> int:
    """Bytes of memory this container may use: the machine's, or its cgroup's limit if lower,
    or `BYOC_MEMORY_LIMIT` if lower still."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    budget = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if budget:
        total = min(total, memory_bytes(budget, MEMORY_LIMIT_ENV))
    for path in CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))  # v1 writes a huge number for "no limit"
    return total


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def choose(requested: str, examples: int, size: tuple[int, int], channels: int,
           memory: int | None = None) -> Choice:
    """Decide for `examples` images of `size` × `channels` (every channel together)."""
    decoded = examples * size[0] * size[1] * channels
    if requested == MEMORY:
        return Choice(MEMORY, f"input_mode=memory ({examples} images, {_gb(decoded)} decoded)")
    if requested == STREAM:
        return Choice(STREAM, f"input_mode=stream ({examples} images, {_gb(decoded)} decoded)")
    memory = available_memory() if memory is None else memory
    limit = MEMORY_SHARE * memory
    relation = "within" if decoded <= limit else "more than"
    why = (f"{examples} images decode to {_gb(decoded)}, {relation} {MEMORY_SHARE:.0%} of the "
           f"{_gb(memory)} of memory available")
    return Choice(MEMORY if decoded <= limit else STREAM, why)


def log_choice(choice: Choice) -> None:
    verb = "Streaming the channels" if choice.stream else "Reading the channels into memory"
    log.info("%s: %s.", verb, choice.reason)
