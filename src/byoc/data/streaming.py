"""A split read as a stream: a list of image files, or TFRecord shards, decoded inside tf.data.

Parallel reads and decodes, interleaved across files, with prefetch: memory holds a few batches,
not the data. Decoding goes through Pillow (`formats.decode`, in a `tf.numpy_function`), so a
streamed image has exactly the pixels `read_channel` gives it, `.ppm` files and ROI crops
included.

Every element carries its position in the split, which is what the shards split on (worker i of
n takes the positions p with p % n == i: no example twice per epoch) and what the evaluation
report uses to find the images it shows. An unreadable file is dropped from the stream, with one
warning that counts them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from byoc.data import formats, pipeline, tfrecords
from byoc.data.formats import ChannelListing
from byoc.data.tfrecords import RecordFiles
from byoc.hyperparams import HyperParameters

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
# Encoded records held for shuffling (TFRecord shards are read in order within a file).
RECORD_SHUFFLE_BUFFER = 4096
# TFRecord files read at once.
RECORD_CYCLE = 4
NO_ROI = (-1, -1, -1, -1)
# Images decoded per Python call.
DECODE_CHUNK = 16

Shard = tuple[int, int]  # (workers, this worker's index)


class Stream:
    """One split's examples, listed but not decoded: labels known, pixels read when needed."""

    def __init__(self, y: np.ndarray, class_names: list[str], size: tuple[int, int],
                 channels: int):
        self.y = np.asarray(y, dtype=np.int64)
        self.class_names = class_names
        self.size = tuple(size)
        self.channels = channels
        self._lock = threading.Lock()
        self._skipped = 0
        self._reported = 0

    def __len__(self) -> int:
        return len(self.y)

    @property
    def format(self) -> str:
        raise NotImplementedError

    def subset(self, positions: np.ndarray) -> Stream:
        """The examples at `positions` (sorted), as a stream of their own."""
        raise NotImplementedError

    def _encoded(self, shard: Shard, seed: int | None) -> tf.data.Dataset:
        """(source, roi, position): a path or encoded bytes per example, in the shard."""
        raise NotImplementedError

    # --- decoding -----------------------------------------------------------------------

    def _decode_one(self, source: bytes, roi: np.ndarray) -> tuple[np.ndarray, bool]:
        box = None if roi[0] < 0 else tuple(int(v) for v in roi)
        try:
            return formats.decode(self._source(source), box, self.size, self.channels), True
        except Exception as exc:  # an unreadable file is dropped, as read_channel skips it
            with self._lock:
                self._skipped += 1
                first = self._skipped == 1
            if first:
                log.warning("Skipping an unreadable image (%s: %s); further ones are counted "
                            "at the end of the pass.", self._name(source), exc)
            return np.zeros((*self.size, self.channels), np.uint8), False

    def _decode_many(self, sources: np.ndarray, rois: np.ndarray):
        decoded = [self._decode_one(s, r) for s, r in zip(sources, rois, strict=True)]
        images = np.stack([d[0] for d in decoded]) if decoded else \
            np.zeros((0, *self.size, self.channels), np.uint8)
        return images, np.array([d[1] for d in decoded], dtype=bool)

    def _source(self, source: bytes):
        return source

    def _name(self, source: bytes) -> str:
        return "a record"

    def _decoded(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """(source, roi, position) → (image uint8, label, position), unreadable ones left out.

        Decoded DECODE_CHUNK at a time, in parallel: one Python call per image would cost more
        than decoding a small one."""
        labels = tf.constant(self.y)
        h, w = self.size

        def decode(sources, rois, positions):
            images, ok = tf.numpy_function(self._decode_many, [sources, rois],
                                           [tf.uint8, tf.bool], stateful=False)
            images.set_shape((None, h, w, self.channels))
            ok.set_shape((None,))
            return images, tf.gather(labels, positions), positions, ok

        ds = ds.batch(DECODE_CHUNK).map(decode, num_parallel_calls=AUTOTUNE).unbatch()
        return ds.filter(lambda *e: e[3]).map(lambda image, label, position, ok:
                                             (image, label, position))

    @property
    def skipped(self) -> int:
        """Unreadable examples met so far (summed over passes)."""
        return self._skipped

    # --- the datasets the loop and the report use ---------------------------------------

    def examples(self, shard: Shard = (1, 0), seed: int | None = None) -> tf.data.Dataset:
        """One pass: (image uint8, label, position), shuffled from `seed` when given."""
        return self._decoded(self._encoded(shard, seed))

    def training(self, hp: HyperParameters, batch_size: int, class_weights: np.ndarray,
                 shard: Shard = (1, 0)) -> tf.data.Dataset:
        """An endless stream of full, shuffled, augmented (image, label, weight) batches; the
        order changes with every pass, from `hp.seed`."""
        weights = tf.constant(np.asarray(class_weights, np.float32))
        ds = self._encoded(shard, hp.seed).repeat()
        ds = self._decoded(ds).map(lambda image, label, _: (image, label,
                                                            tf.gather(weights, label)))
        return pipeline.training_batches(ds, hp, batch_size)

    def evaluation(self, batch_size: int, shard: Shard = (1, 0),
                   positions: bool = False) -> tf.data.Dataset:
        """Float batches of (image, label) (and the positions), each example once."""
        ds = self.examples(shard)
        if not positions:
            ds = ds.map(lambda image, label, _: (image, label))
        return pipeline.evaluation_batches(ds, batch_size)

    def read(self, positions: Sequence[int]) -> np.ndarray:
        """The images at `positions`, decoded (an unreadable one is black)."""
        wanted = np.asarray(positions, dtype=np.int64)
        out = np.zeros((len(wanted), *self.size, self.channels), np.uint8)
        if not len(wanted):
            return out
        unique = np.unique(wanted)
        found = {}
        for image, _, position in self.subset(unique).examples().as_numpy_iterator():
            found[int(unique[position])] = image
        for i, p in enumerate(wanted):
            if int(p) in found:
                out[i] = found[int(p)]
        return out

    def sample(self, n: int) -> np.ndarray:
        """Up to `n` images spread evenly over the split (for the LiteRT check and MLflow)."""
        picks = np.unique(np.linspace(0, len(self) - 1, min(n, len(self))).astype(np.int64))
        return self.read(picks)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Every readable image decoded into memory, and their labels."""
        xs, ys = [], []
        for image, label, _ in self.examples().batch(1024).as_numpy_iterator():
            xs.append(image)
            ys.append(label)
        self.report_skipped("loading")
        if not xs:
            return np.zeros((0, *self.size, self.channels), np.uint8), np.zeros(0, np.int64)
        return np.concatenate(xs), np.concatenate(ys)

    def report_skipped(self, what: str) -> None:
        """Log the unreadable images met since the last report."""
        with self._lock:
            new, self._reported = self._skipped - self._reported, self._skipped
        if new:
            log.warning("%s split: skipped %d unreadable image file(s) while %s.",
                        self.format, new, what)


class FileStream(Stream):
    """Image files (class folders, the GTSRB layout, a listing CSV): one file per example."""

    def __init__(self, paths: Sequence[str | Path], rois: Sequence[formats.Roi | None],
                 y: np.ndarray, class_names: list[str], size: tuple[int, int], channels: int,
                 fmt: str = "folders"):
        super().__init__(y, class_names, size, channels)
        self.paths = np.asarray([str(p) for p in paths], dtype=object)
        self.rois = np.asarray([NO_ROI if r is None else r for r in rois],
                               dtype=np.int64).reshape(-1, 4)
        self._format = fmt

    @classmethod
    def from_listing(cls, listing: ChannelListing, size: tuple[int, int],
                     channels: int) -> FileStream:
        return cls(listing.paths, listing.rois, listing.y, listing.class_names, size, channels,
                   listing.format)

    @property
    def format(self) -> str:
        return self._format

    def subset(self, positions: np.ndarray) -> FileStream:
        positions = np.asarray(positions, dtype=np.int64)
        return FileStream(self.paths[positions], [tuple(r) if r[0] >= 0 else None
                                                  for r in self.rois[positions]],
                          self.y[positions], self.class_names, self.size, self.channels,
                          self._format)

    def _source(self, source: bytes):
        return Path(source.decode())

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        # In memory, the reader `read_channel` uses: the same pixels, without tf.data's cost
        # per element.
        x, ok, _ = formats.decode_files(
            [Path(p) for p in self.paths],
            [None if r[0] < 0 else tuple(int(v) for v in r) for r in self.rois],
            self.size, self.channels, f"{self.format} split")
        return x, self.y[ok]

    def _name(self, source: bytes) -> str:
        return source.decode()

    def _encoded(self, shard: Shard, seed: int | None) -> tf.data.Dataset:
        workers, index = shard
        mine = np.arange(len(self.y), dtype=np.int64)[index::workers]
        ds = tf.data.Dataset.from_tensor_slices(mine)
        if seed is not None:
            # Only the file list is shuffled: a full shuffle that costs no pixels.
            ds = ds.shuffle(max(len(mine), 1), seed=seed, reshuffle_each_iteration=True)
        paths = tf.constant(self.paths.astype(str) if len(self.paths) else np.zeros(0, str))
        rois = tf.constant(self.rois)
        return ds.map(lambda p: (tf.gather(paths, p), tf.gather(rois, p), p))


class RecordStream(Stream):
    """TFRecord shards, read natively by tf.data; `selected` are the record numbers (in file
    order over all files) that make this split."""

    def __init__(self, records: RecordFiles, size: tuple[int, int], channels: int,
                 selected: np.ndarray | None = None, y: np.ndarray | None = None,
                 class_names: list[str] | None = None):
        total = sum(records.counts)
        selected = np.arange(total) if selected is None else np.asarray(selected, np.int64)
        super().__init__(records.y[selected] if y is None else y,
                         class_names or records.class_names, size, channels)
        self.records = records
        self.selected = selected

    @property
    def format(self) -> str:
        return "tfrecord"

    def subset(self, positions: np.ndarray) -> RecordStream:
        positions = np.asarray(positions, dtype=np.int64)
        return RecordStream(self.records, self.size, self.channels, self.selected[positions],
                            self.y[positions], self.class_names)

    def _encoded(self, shard: Shard, seed: int | None) -> tf.data.Dataset:
        workers, index = shard
        counts = np.asarray(self.records.counts, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        # The record number → its position in this split (-1: not in it).
        position_of = np.full(int(counts.sum()), -1, dtype=np.int64)
        position_of[self.selected] = np.arange(len(self.selected))
        # Only the files that hold records of this split (and of this shard) are opened.
        keep = np.zeros(len(counts), dtype=bool)
        mine = np.arange(len(self.selected))[index::workers]
        keep[np.searchsorted(offsets, self.selected[mine], side="right") - 1] = True
        files = np.asarray(self.records.files)[keep]
        table = tf.constant(position_of)
        compression = self.records.compression
        spec = tfrecords.feature_spec()

        def read(file, offset):
            return tf.data.TFRecordDataset(file, compression_type=compression).enumerate().map(
                lambda i, record: (tf.gather(table, offset + i), record))

        ds = tf.data.Dataset.from_tensor_slices((files.astype(str), offsets[keep]))
        if seed is not None:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.interleave(read, cycle_length=min(RECORD_CYCLE, max(len(files), 1)),
                           num_parallel_calls=AUTOTUNE)
        ds = ds.filter(lambda position, _: tf.logical_and(
            position >= 0, tf.equal(position % workers, index)))
        if seed is not None:
            ds = ds.shuffle(RECORD_SHUFFLE_BUFFER, seed=seed + 1, reshuffle_each_iteration=True)

        def parse(position, record):
            parsed = tf.io.parse_single_example(record, spec)
            roi = tf.sparse.to_dense(parsed[tfrecords.ROI])
            roi = tf.cond(tf.size(roi) == 4, lambda: roi, lambda: tf.constant(NO_ROI, tf.int64))
            return parsed[tfrecords.ENCODED], roi, position

        return ds.map(parse, num_parallel_calls=AUTOTUNE)


def open_channel(path: Path, size: tuple[int, int], channels: int,
                 class_names: list[str] | None = None, name: str = "train"
                 ) -> tuple[Stream, Stream | None] | None:
    """The channel as a stream (and the test split found inside it), or None for the array
    formats (pickle, npz), which are read whole."""
    records = tfrecords.open_records(path, class_names, name)
    if records is not None:
        return RecordStream(records, size, channels), None
    inner = {split: Path(path) / split for split in ("train", "test")}
    if tfrecords.record_files(inner["train"]):
        # A whole `to-tfrecord` output given as one channel: its train/, and test/ beside it.
        records = tfrecords.open_records(inner["train"], class_names, name)
        test = tfrecords.open_records(inner["test"], records.class_names, f"{name}, test/")
        return (RecordStream(records, size, channels),
                RecordStream(test, size, channels) if test is not None else None)
    listing = formats.list_channel(path, class_names, name)
    if listing is None:
        return None
    test = (FileStream.from_listing(listing.test, size, channels)
            if listing.test is not None else None)
    return FileStream.from_listing(listing, size, channels), test


class LazyImages(Sequence):
    """A split's images for the evaluation report, read only when one is asked for: the sample
    mosaics show a few dozen out of the whole split."""

    def __init__(self, stream: Stream, positions: np.ndarray):
        self.stream = stream
        self.positions = np.asarray(positions, dtype=np.int64)
        self.ndim = 4
        self.shape = (len(self.positions), *stream.size, stream.channels)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.stream.read(self.positions[index])
        return self.stream.read([self.positions[index]])[0]

    def take(self, indices: Sequence[int], axis: int = 0) -> np.ndarray:
        """Several images in one pass (as `np.ndarray.take(indices, axis=0)`)."""
        if axis != 0:
            raise ValueError("LazyImages takes whole images (axis=0) only.")
        return self.stream.read(self.positions[np.asarray(indices, dtype=np.int64)])

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.take(range(len(self))))
