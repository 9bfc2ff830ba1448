"""A dataset's channels: the local directories (or S3 prefixes) that become train, validation
and test, and how the train channel is spread between a job's hosts.

Shared by the local modes and by staging to S3, so neither depends on the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from byoc import contract
from byoc.contract import CHANNEL_ALIASES, CHANNELS, TRAIN
from byoc.errors import UserError

FULLY_REPLICATED, SHARDED = contract.FULLY_REPLICATED, contract.SHARDED_BY_S3_KEY
DISTRIBUTIONS = {"replicated": FULLY_REPLICATED, "sharded": SHARDED}


def split_channel_dirs(data: str | os.PathLike) -> dict[str, Path]:
    """Map a local dataset directory to channels.

    A directory with train/ (or training/), validation/ and test/ subfolders gives those channels
    (and pretrained/, the weights a backbone starts from); any other directory is the `train`
    channel alone.
    """
    data = Path(data)
    if not data.is_dir():
        raise UserError(f"--data {data} is not a directory.")
    found = {}
    for entry in sorted(data.iterdir()):
        name = CHANNEL_ALIASES.get(entry.name, entry.name)
        if entry.is_dir() and name in CHANNELS:
            found[name] = entry
    if TRAIN in found:
        return found
    return {TRAIN: data}
