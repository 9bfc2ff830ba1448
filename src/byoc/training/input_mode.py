"""In memory or streamed: how `train` reads its channels.

Decoded arrays pay while they are small: every epoch reads them at memory speed. Past a share of
the instance's memory they would crowd out the model and the pipeline, or not fit at all, so the
channels are streamed instead (`byoc.data.streaming`). The array formats (pickle, .npz) are arrays
already and are always read whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from byoc.contract import available_memory
from byoc.hyperparams import INPUT_MODES

log = logging.getLogger("byoc.training")

AUTO, MEMORY, STREAM = INPUT_MODES
# Decoded data up to this share of the memory available to the container is read into memory.
MEMORY_SHARE = 0.25


@dataclass(frozen=True)
class Choice:
    mode: str  # MEMORY or STREAM
    reason: str

    @property
    def stream(self) -> bool:
        return self.mode == STREAM


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
