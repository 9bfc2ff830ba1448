"""The trainer's data: channels read into arrays, the validation hold-out, class weights."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from byoc import contract
from byoc.contract import TEST, TRAIN, VALIDATION, TrainingEnv
from byoc.data.formats import read_channel
from byoc.errors import UserError
from byoc.hyperparams import HyperParameters

log = logging.getLogger("byoc.training")


@dataclass
class Splits:
    class_names: list[str]
    x: dict[str, np.ndarray] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)


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


def load_splits(env: TrainingEnv, hp: HyperParameters,
                agree: Callable[[list[str]], list[str]] | None = None) -> Splits:
    """Read the channels. `agree` turns the train channel's class list into the job's (several
    hosts holding different files must use one list); labels follow the agreed list."""
    unknown = sorted(set(env.channels) - set(contract.CHANNELS))
    if unknown:
        log.warning("Ignoring channel(s) %s: byoc reads train, validation and test.", unknown)
    if TRAIN not in env.channels:
        raise UserError(
            "No training data: the 'train' (or 'training') channel is missing. Pass your images "
            "as the train channel, e.g. `byoc local train --data DIR` or an S3 prefix in "
            "`byoc train --data`."
        )
    kw = {"size": hp.image_size, "channels": hp.channels}
    train = read_channel(env.channels[TRAIN], name=TRAIN, **kw)
    if agree is not None:
        names = agree(train.class_names)
        if names != train.class_names:
            position = {n: i for i, n in enumerate(names)}
            mapping = np.asarray([position[n] for n in train.class_names], dtype=np.int64)
            train.y = mapping[train.y]
            if train.test is not None:
                train.test.y = mapping[train.test.y]
            train.class_names = names
    splits = Splits(class_names=train.class_names)
    splits.x[TRAIN], splits.y[TRAIN] = train.x, train.y
    if VALIDATION in env.channels:
        val = read_channel(env.channels[VALIDATION], class_names=train.class_names,
                           name=VALIDATION, **kw)
        splits.x[VALIDATION], splits.y[VALIDATION] = val.x, val.y
    elif hp.validation_split > 0:
        tr, va = _stratified_split(train.y, hp.validation_split, hp.seed)
        if len(va):
            log.info("No validation channel: holding out %d of %d training images (%.0f%%).",
                     len(va), len(train.y), 100 * hp.validation_split)
            splits.x[VALIDATION], splits.y[VALIDATION] = train.x[va], train.y[va]
            splits.x[TRAIN], splits.y[TRAIN] = train.x[tr], train.y[tr]
    test = None
    if TEST in env.channels:
        test = read_channel(env.channels[TEST], class_names=train.class_names, name=TEST, **kw)
    elif train.test is not None:
        test = train.test
    if test is not None:
        splits.x[TEST], splits.y[TEST] = test.x, test.y
    if len(splits.class_names) < 2:
        raise UserError(
            f"The train channel holds a single class ({splits.class_names}); a classifier needs "
            "at least two."
        )
    return splits


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse-frequency ('balanced') weights from per-class counts, as scikit-learn computes
    them; a class without images gets 1."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.ones(len(counts))
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights
