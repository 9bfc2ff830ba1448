"""TFRecord channels: the record schema, the writer behind `byoc data to-tfrecord`, and what the
stream needs to read them (which files, how many records each, their labels).

One record is one image (a `tf.train.Example`):

| feature | type | |
|---|---|---|
| `image/encoded` | bytes | the image file's bytes as stored (PNG, JPEG, PPM, ...) |
| `image/class/label` | int64 | the ClassId |
| `image/class/text` | bytes, optional | the class name |
| `image/roi` | int64 × 4, optional | x1, y1, x2, y2 crop box (x2, y2 exclusive) |
| `image/filename` | bytes, optional | where the image came from |

The class names sit beside the shards in a signnames.csv (ClassId,SignName), as for image folders;
without one, the records' `image/class/text` name the classes (every shard then describes itself,
which is what a host given some of the shards by ShardedByS3Key needs).
Images are decoded with Pillow, exactly as image files are, so `.ppm` and the ROI crop work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from byoc.contract import CHANNELS, TEST, TRAIN, VALIDATION
from byoc.data import formats
from byoc.errors import UserError

log = logging.getLogger(__name__)

ENCODED, LABEL, TEXT = "image/encoded", "image/class/label", "image/class/text"
ROI, FILENAME = "image/roi", "image/filename"
SUFFIXES = (".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz")
GZIP_MAGIC = b"\x1f\x8b"
# Records counted (labels parsed, images left encoded) per batch when a channel is opened.
COUNT_BATCH = 4096


@dataclass(frozen=True)
class RecordFiles:
    """A channel of TFRecord shards, counted: the labels of every record, in file order."""

    files: tuple[str, ...]
    counts: tuple[int, ...]  # records per file
    compression: str  # "" or "GZIP"
    y: np.ndarray  # int64 index into class_names, one per record
    class_names: list[str]


def record_files(path: Path) -> list[Path]:
    """The TFRecord shards of a channel (its directory, or one lone wrapper directory deep)."""
    path = Path(path)
    if path.is_file():
        return [path] if path.name.lower().endswith(SUFFIXES) else []
    if not path.is_dir():
        return []
    found = sorted(f for f in path.iterdir() if f.is_file() and f.name.lower().endswith(SUFFIXES))
    if not found:
        dirs = [d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(dirs) == 1:
            return record_files(dirs[0])
    return found


def compression_of(files: list[Path]) -> str:
    """"GZIP" when the shards are gzip files (by their first bytes), else ""; a mix is refused."""
    kinds = set()
    for f in files:
        with open(f, "rb") as fh:
            kinds.add("GZIP" if fh.read(2) == GZIP_MAGIC else "")
    if len(kinds) > 1:
        raise UserError(f"The TFRecord files in {files[0].parent} mix gzip and plain shards; "
                        "write them all one way.")
    return kinds.pop()


def feature_spec():
    import tensorflow as tf

    return {
        ENCODED: tf.io.FixedLenFeature([], tf.string),
        LABEL: tf.io.FixedLenFeature([], tf.int64),
        ROI: tf.io.VarLenFeature(tf.int64),
    }


def open_records(path: Path, class_names: list[str] | None = None,
                 name: str = TRAIN) -> RecordFiles | None:
    """Count the records of a TFRecord channel and map their labels onto the class list (the
    train channel's, or the names beside the shards); None when the channel holds no
    TFRecord files."""
    files = record_files(path)
    if not files:
        return None
    import tensorflow as tf

    where = f"Channel '{name}' ({path})"
    compression = compression_of(files)
    label_only = {LABEL: tf.io.FixedLenFeature([], tf.int64),
                  TEXT: tf.io.FixedLenFeature([], tf.string, default_value="")}
    counts, labels = [], []
    texts: dict[int, str] = {}
    for f in files:
        ds = tf.data.TFRecordDataset(str(f), compression_type=compression)
        ds = ds.batch(COUNT_BATCH).map(lambda r: tf.io.parse_example(r, label_only))
        parts = []
        try:
            for batch in ds:
                parts.append(batch[LABEL].numpy())
                for label, text in set(zip(parts[-1].tolist(), batch[TEXT].numpy().tolist(),
                                           strict=True)):
                    if text:
                        texts[label] = text.decode()
        except tf.errors.OpError as exc:
            raise UserError(f"{where}: {f.name} is not a readable TFRecord file with an "
                            f"integer '{LABEL}' feature ({exc.message.splitlines()[0]}).") from None
        counts.append(int(sum(len(p) for p in parts)))
        labels += parts
    raw = np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, np.int64)
    if not len(raw):
        raise UserError(f"{where}: its TFRecord files hold no records.")
    table = formats.find_class_names(files[0].parent, Path(path))
    if table is None and texts and set(texts) >= set(np.unique(raw).tolist()):
        table = texts
    y, names = formats.index_labels(raw, table, class_names, where)
    log.info("Channel %s: tfrecord format, %d records in %d file(s)%s, %d classes", name,
             len(y), len(files), " (gzip)" if compression else "", len(names))
    return RecordFiles(tuple(str(f) for f in files), tuple(counts), compression, y, names)


def example(encoded: bytes, label: int, roi: formats.Roi | None = None,
            filename: str | None = None, text: str | None = None) -> bytes:
    """One serialized record of the schema above."""
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    def blob(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    features = {ENCODED: blob(encoded), LABEL: ints([int(label)])}
    if roi is not None:
        features[ROI] = ints(roi)
    if filename is not None:
        features[FILENAME] = blob(filename.encode())
    if text is not None:
        features[TEXT] = blob(text.encode())
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


@dataclass(frozen=True)
class Converted:
    channels: dict[str, int]  # channel -> records written
    shards: int
    out: Path


def _sources(src: Path) -> dict[str, formats.ChannelListing]:
    """The image channels to convert: SRC/train, SRC/validation, SRC/test when SRC has them
    (a test split inside train becomes DST/test), else SRC as the train channel."""
    dirs = {c: src / c for c in CHANNELS if (src / c).is_dir()}
    if TRAIN not in dirs and (src / "training").is_dir():
        dirs[TRAIN] = src / "training"
    if TRAIN not in dirs:
        dirs = {TRAIN: src}
    train = formats.list_channel(dirs[TRAIN], name=TRAIN)
    if train is None:
        raise UserError(f"{dirs[TRAIN]} holds arrays (pickle or .npz), not image files: they are "
                        "read in memory as they are, so there is nothing to convert.")
    out = {TRAIN: train}
    for channel in (VALIDATION, TEST):
        if channel in dirs:
            listing = formats.list_channel(dirs[channel], train.class_names, name=channel)
            if listing is None:
                raise UserError(f"{dirs[channel]} holds arrays (pickle or .npz); convert image "
                                "channels only.")
            out[channel] = listing
    if train.test is not None and TEST not in out:
        out[TEST] = train.test
    return out


def convert(src: Path, dst: Path, shards: int, gzip_records: bool = False,
            overwrite: bool = False,
            progress: Callable[[int, int], None] | None = None) -> Converted:
    """Write every channel of `src` as `shards` TFRecord files under dst/<channel>/ with a
    signnames.csv beside them. Records keep the listing's order, dealt round-robin to shards."""
    import tensorflow as tf

    src, dst = Path(src), Path(dst)
    if shards < 1:
        raise UserError(f"--shards must be at least 1, not {shards}.")
    if not src.exists():
        raise UserError(f"{src} does not exist.")
    sources = _sources(src)
    for channel in sources:
        target = dst / channel
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise UserError(f"{target} exists and is not empty; pass --overwrite to replace it.")
    total = sum(len(s) for s in sources.values())
    done = 0
    written = {}
    options = tf.io.TFRecordOptions(compression_type="GZIP" if gzip_records else "")
    suffix = ".tfrecord.gz" if gzip_records else ".tfrecord"
    for channel, listing in sources.items():
        target = dst / channel
        target.mkdir(parents=True, exist_ok=True)
        for old in record_files(target):
            old.unlink()
        names = [target / f"{channel}-{i:05d}-of-{shards:05d}{suffix}" for i in range(shards)]
        writers = [tf.io.TFRecordWriter(str(n), options) for n in names]
        try:
            for i, (path, roi, label) in enumerate(
                    zip(listing.paths, listing.rois, listing.y, strict=True)):
                record = example(Path(path).read_bytes(), int(label), roi,
                                 str(Path(path).relative_to(src)),
                                 listing.class_names[int(label)])
                writers[i % shards].write(record)
                done += 1
                if progress is not None:
                    progress(done, total)
        finally:
            for w in writers:
                w.close()
        # The labels written are indices into the train channel's class list: name them so.
        formats.write_class_names(target / formats.SIGNNAMES_FILE, listing.class_names)
        written[channel] = len(listing)
    return Converted(written, shards, dst)

