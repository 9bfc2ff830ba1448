"""The trainer's data: channels listed, then read into arrays or streamed (`input_mode`), the
validation hold-out, class weights."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from byoc import contract
from byoc.contract import TEST, TRAIN, VALIDATION, TrainingEnv
from byoc.data.formats import check_not_empty, read_channel
from byoc.errors import UserError
from byoc.hyperparams import HyperParameters
from byoc.training import input_mode

if TYPE_CHECKING:
    from byoc.data.streaming import Stream

log = logging.getLogger("byoc.training")


@dataclass
class Splits:
    """Each split's images (an array, or a `Stream` that decodes them as it is read) and its
    labels."""

    class_names: list[str]
    x: dict[str, np.ndarray | Stream] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)

    def streamed(self, name: str) -> bool:
        return not isinstance(self.x[name], np.ndarray)

    def sample(self, name: str, n: int) -> np.ndarray:
        """Up to `n` of the split's images as an array (all of them when in memory)."""
        x = self.x[name]
        return x if isinstance(x, np.ndarray) else x.sample(n)


# ----------------------------------------------------------------------------------------- data

def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), taking `fraction` of every class that has 2+ samples."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = int(round(len(idx) * fraction)) if len(idx) > 1 else 0
        n_val = min(n_val, len(idx) - 1)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _agreed(names: list[str], agree: Callable[[list[str]], list[str]] | None
            ) -> tuple[list[str], np.ndarray | None]:
    """The job's class list, and how this host's labels map onto it (None: unchanged)."""
    if agree is None:
        return names, None
    agreed = agree(names)
    if agreed == names:
        return names, None
    position = {n: i for i, n in enumerate(agreed)}
    return agreed, np.asarray([position[n] for n in names], dtype=np.int64)


def check_channels(env: TrainingEnv) -> None:
    """The train channel, checked before TensorFlow loads where the host allows (`train`'s
    entry point) and again before reading: a job without it, or with an empty one, fails at
    once."""
    if TRAIN not in env.channels:
        raise UserError(
            "No training data: the 'train' (or 'training') channel is missing. Pass your images "
            "as the train channel, e.g. `byoc local train --data DIR` or an S3 prefix in "
            "`byoc train --data`."
        )
    check_not_empty(env.channels[TRAIN], TRAIN)


def load_splits(env: TrainingEnv, hp: HyperParameters,
                agree: Callable[[list[str]], list[str]] | None = None) -> Splits:
    """Read the channels. `agree` turns the train channel's class list into the job's (several
    hosts holding different files must use one list); labels follow the agreed list.

    Image channels are listed first (labels, classes and the hold-out come from the listing);
    then `input_mode` decides whether their images are decoded into memory or streamed."""
    check_channels(env)
    unknown = sorted(set(env.channels) - set(contract.CHANNELS))
    if unknown:  # left alone, and said once
        log.warning("Ignoring channel(s) %s: byoc reads train, validation and test.", unknown)
    from byoc.data import streaming

    kw = {"size": hp.image_size, "channels": hp.channels}
    opened = streaming.open_channel(env.channels[TRAIN], name=TRAIN, **kw)
    if opened is None:
        input_mode.log_choice(input_mode.Choice(input_mode.MEMORY, "the train channel holds "
                                                "arrays (pickle or .npz) already"))
        splits = _arrays(env, hp, agree)
    else:
        splits = _listed(env, hp, agree, *opened)
    if len(splits.class_names) < 2:
        raise UserError(
            f"The train channel holds a single class ({splits.class_names}); a classifier needs "
            "at least two."
        )
    return splits


def _listed(env: TrainingEnv, hp: HyperParameters,
            agree: Callable[[list[str]], list[str]] | None,
            train: Stream, inner_test: Stream | None) -> Splits:
    """A train channel of image files or TFRecords: streams first, decoded into memory after if
    `input_mode` says so."""
    from byoc.data import streaming

    kw = {"size": hp.image_size, "channels": hp.channels}
    names, mapping = _agreed(train.class_names, agree)
    for stream in (train, inner_test):
        if stream is not None:
            stream.class_names = names
            if mapping is not None:
                stream.y = mapping[stream.y]

    def other(path: Path, name: str) -> Stream | tuple[np.ndarray, np.ndarray]:
        opened = streaming.open_channel(path, class_names=names, name=name, **kw)
        if opened is not None:
            return opened[0]
        data = read_channel(path, class_names=names, name=name, **kw)
        return data.x, data.y

    parts: dict[str, Stream | tuple[np.ndarray, np.ndarray]] = {TRAIN: train}
    if VALIDATION in env.channels:
        parts[VALIDATION] = other(env.channels[VALIDATION], VALIDATION)
    if TEST in env.channels:
        parts[TEST] = other(env.channels[TEST], TEST)
    elif inner_test is not None:
        parts[TEST] = inner_test

    listed = sum(len(p) for p in parts.values() if not isinstance(p, tuple))
    choice = input_mode.choose(hp.input_mode, listed, hp.image_size, hp.channels)
    input_mode.log_choice(choice)
    splits = Splits(class_names=names)
    for name, part in parts.items():
        if isinstance(part, tuple):
            splits.x[name], splits.y[name] = part
        elif choice.stream:
            splits.x[name], splits.y[name] = part, part.y
        else:
            splits.x[name], splits.y[name] = part.load()
            if name == TRAIN and not len(splits.y[name]):
                raise UserError(f"Channel 'train' ({env.channels[TRAIN]}): none of its "
                                f"{len(part)} image files could be read.")
    if VALIDATION not in splits.x:
        _hold_out(splits, hp)
    return splits


def _hold_out(splits: Splits, hp: HyperParameters) -> None:
    """Without a validation channel: a stratified share of train, from the labels alone."""
    if hp.validation_split <= 0:
        return
    x, y = splits.x[TRAIN], splits.y[TRAIN]
    tr, va = _stratified_split(y, hp.validation_split, hp.seed)
    if not len(va):
        return
    log.info("No validation channel: holding out %d of %d training images (%.0f%%).",
             len(va), len(y), 100 * hp.validation_split)
    if isinstance(x, np.ndarray):
        splits.x[VALIDATION], splits.x[TRAIN] = x[va], x[tr]
    else:
        splits.x[VALIDATION], splits.x[TRAIN] = x.subset(va), x.subset(tr)
    splits.y[VALIDATION], splits.y[TRAIN] = y[va], y[tr]


def _arrays(env: TrainingEnv, hp: HyperParameters,
            agree: Callable[[list[str]], list[str]] | None) -> Splits:
    """A train channel of arrays (pickle, .npz): every channel read whole."""
    kw = {"size": hp.image_size, "channels": hp.channels}
    train = read_channel(env.channels[TRAIN], name=TRAIN, **kw)
    names, mapping = _agreed(train.class_names, agree)
    if mapping is not None:
        train.y = mapping[train.y]
        if train.test is not None:
            train.test.y = mapping[train.test.y]
    splits = Splits(class_names=names)
    splits.x[TRAIN], splits.y[TRAIN] = train.x, train.y
    if VALIDATION in env.channels:
        val = read_channel(env.channels[VALIDATION], class_names=names, name=VALIDATION, **kw)
        splits.x[VALIDATION], splits.y[VALIDATION] = val.x, val.y
    else:
        _hold_out(splits, hp)
    test = None
    if TEST in env.channels:
        test = read_channel(env.channels[TEST], class_names=names, name=TEST, **kw)
    elif train.test is not None:
        test = train.test
    if test is not None:
        splits.x[TEST], splits.y[TEST] = test.x, test.y
    return splits


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse-frequency ('balanced') weights from per-class counts, as scikit-learn computes
    them; a class without images gets 1."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.ones(len(counts))
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights
