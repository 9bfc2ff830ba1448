"""Read one SageMaker data channel into arrays, detecting its format: class folders, the GTSRB
layout, pickled dicts (train.p) or .npz files.

Image layouts are listed first (files, labels, class list, ROI boxes: `list_channel`, no decoding)
and then decoded (`decode`), so that a streamed channel and an in-memory one read the same
examples with the same labels.

Security: pickle files are unpickled, and unpickling runs whatever code the file carries. Read
pickles only from channels that hold your own data; prefer .npz (read without pickle) or image
folders for data from anyone else.
"""

from __future__ import annotations

import csv
import logging
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from byoc.contract import CHANNEL_ALIASES, TEST, TRAIN, VALIDATION
from byoc.data import images
from byoc.errors import UserError

log = logging.getLogger(__name__)

FORMATS = ("folders", "gtsrb", "pickle", "npz")
# Formats that are arrays already: read whole, never streamed.
ARRAY_FORMATS = ("pickle", "npz")

# ClassId,SignName tables; the first found in the channel names its integer labels.
CLASS_NAME_FILES = ("signnames.csv", "labels.csv")
SIGNNAMES_FILE = CLASS_NAME_FILES[0]

PICKLE_SUFFIXES = (".p", ".pickle", ".pkl")
NPZ_SUFFIX = ".npz"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
# (images, labels) key pairs of a pickled dict or an .npz, in the order they are tried.
ARRAY_KEYS = (
    ("features", "labels"),
    ("x", "y"),
    ("X", "y"),
    ("images", "labels"),
    ("x_train", "y_train"),
)
# Optional key of a pickled dict or .npz holding the class names, index = label.
CLASS_NAMES_KEY = "class_names"
# File stems (train.p, valid.npz, ...) that say which split a file holds.
SPLIT_STEMS = {
    TRAIN: ("train", "training"),
    VALIDATION: ("valid", "validation", "val"),
    TEST: ("test",),
}
# Directories of the GTSRB layout (Kaggle's Train/ and the benchmark's Final_Training/Images).
GTSRB_TRAIN_DIRS = ("Train", "train", "Training", "training", "Final_Training/Images")
GTSRB_TEST_DIRS = ("Test", "test")
GTSRB_TRAIN_CSV, GTSRB_TEST_CSV = "Train.csv", "Test.csv"

# Extensions PIL can open (not merely write).
IMAGE_SUFFIXES = frozenset(
    ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
)
# Decoding small images is Python-bound; a few threads still overlap PIL's C work and file I/O.
DECODE_THREADS = min(4, os.cpu_count() or 1)

ACCEPTED = (
    "Accepted formats: (a) one folder per class holding image files (.png, .jpg, .ppm, ...); "
    "(b) the GTSRB layout: Train/<ClassId>/ images, optional Test.csv or Train.csv/GT-*.csv "
    "with ROI columns; (c) a pickled dict like train.p with 'features' (N x H x W x C uint8) "
    "and 'labels'; (d) an .npz file with arrays x and y (or features/labels, images/labels). "
    "A signnames.csv (ClassId,SignName) next to the data names integer classes."
)

Roi = tuple[int, int, int, int]


@dataclass
class ChannelData:
    x: np.ndarray  # N x H x W x C uint8, already resized to `size`
    y: np.ndarray  # N int64 labels, indices into class_names
    class_names: list[str]
    format: str  # one of FORMATS
    skipped: int  # unreadable files skipped
    test: ChannelData | None = None  # a test split found inside this channel (GTSRB Test.csv)

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class _Raw:
    """Images with labels as found on disk, before they become class indices.

    `labels` holds integer class ids or class names (str); `names` maps ids to names when the
    channel says so (signnames.csv, a class_names array).
    """

    x: np.ndarray
    labels: np.ndarray
    names: dict[int, str] | None
    skipped: int = 0


@dataclass
class _Listed:
    """Image files with their labels as found on disk (see `_Raw`), not decoded."""

    files: list[Path]
    rois: list[Roi | None]
    labels: np.ndarray
    names: dict[int, str] | None = None


@dataclass
class ChannelListing:
    """An image channel as a list of files: what `read_channel` would decode, and the labels it
    would give them, computed without decoding."""

    paths: list[Path]
    rois: list[Roi | None]  # a crop box per file (GTSRB), or None
    y: np.ndarray  # N int64 labels, indices into class_names
    class_names: list[str]
    format: str  # "folders" or "gtsrb"
    test: ChannelListing | None = None  # a test split found inside this channel

    def __len__(self) -> int:
        return len(self.y)


def read_channel(
    path: Path,
    size: tuple[int, int],
    channels: int = 3,
    class_names: list[str] | None = None,
    name: str = "train",
) -> ChannelData:
    """Read the channel at `path`, resized to `size` (h, w) with `channels` (1 or 3).

    With `class_names` (the train channel's), labels are mapped onto those indices; a class the
    train channel does not know is a UserError.
    """
    root, where, split, table = _open(path, name)
    fmt, main, extra = _detect(root, where, split)
    if fmt in ARRAY_FORMATS:
        data = _read_arrays(main, where, split, size, channels, table, class_names)
    else:
        listing = _index(fmt, main, extra, table, class_names, where)
        data = _decoded(listing, size, channels, where)
        if data.test is not None and not len(data.test):
            data.test = None
    log.info(
        "Channel %s: %s format, %d images, %d classes%s",
        name, data.format, len(data), len(data.class_names),
        f", test split of {len(data.test)} images" if data.test is not None else "",
    )
    return data


def list_channel(
    path: Path, class_names: list[str] | None = None, name: str = "train"
) -> ChannelListing | None:
    """The image files of the channel at `path` with their labels, class list and ROI boxes,
    as `read_channel` would read them, without decoding; None for the array formats (pickle,
    npz), which are read whole."""
    root, where, split, table = _open(path, name)
    fmt, main, extra = _detect(root, where, split)
    if fmt in ARRAY_FORMATS:
        return None
    listing = _index(fmt, main, extra, table, class_names, where)
    log.info(
        "Channel %s: %s format, %d images, %d classes%s (listed)",
        name, fmt, len(listing), len(listing.class_names),
        f", test split of {len(listing.test)} images" if listing.test is not None else "",
    )
    return listing


def decode(source: Path | bytes, roi: Roi | None, size: tuple[int, int],
           channels: int = 3) -> np.ndarray:
    """One image file (or its bytes) as `read_channel` decodes it: cropped to `roi`, converted
    to `channels` and resized to `size` (h, w), uint8. Raises UserError when unreadable."""
    # Decoded as serving decodes it (a large JPEG at a reduced scale) unless a region is cut out
    # of it, whose coordinates are the full image's.
    img = images.open_image(source, size=size if roi is None else None)
    if roi is not None:
        x1, y1 = max(0, roi[0]), max(0, roi[1])
        x2, y2 = min(img.width, roi[2]), min(img.height, roi[3])
        roi = (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
    return images.to_array(img, size, channels, roi)


def _open(path: Path, name: str) -> tuple[Path, str, str, dict[int, str] | None]:
    """The channel's data root, how messages name it, its split and its class-name table."""
    path = Path(path)
    split = CHANNEL_ALIASES.get(name, name)
    if not path.exists():
        raise UserError(f"Channel '{name}': {path} does not exist.")
    root = _data_root(path) if path.is_dir() else path
    where = f"Channel '{name}' ({path})"
    table = find_class_names(root, _gtsrb_train_dir(root), path) if root.is_dir() else None
    return root, where, split, table


def _labelled(main: _Raw | _Listed, test: _Raw | _Listed | None,
              table: dict[int, str] | None, class_names: list[str] | None, where: str
              ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """The labels of a channel and of the test split found inside it as indices into one class
    list: (labels, class list, the test split's labels or None when it has none). Names come
    from the files, else from the channel's table; the test split takes the channel's."""
    if main.names is None:
        main.names = table
    if test is not None and test.names is None:
        test.names = main.names
    y, names = _to_indices(main, class_names, where)
    test_y = None
    if test is not None and len(test.labels):
        test_y, _ = _to_indices(test, names, f"{where}, test split")
    return y, names, test_y


def _read_arrays(files: list[Path], where: str, split: str, size: tuple[int, int],
                 channels: int, table: dict[int, str] | None,
                 class_names: list[str] | None) -> ChannelData:
    fmt, raw, raw_test = _read_array_files(files, where, split, size, channels)
    y, names, test_y = _labelled(raw, raw_test, table, class_names, where)
    test = (None if test_y is None
            else ChannelData(raw_test.x, test_y, names, fmt, raw_test.skipped))
    return ChannelData(raw.x, y, names, fmt, raw.skipped, test)


def _index(fmt: str, main: _Listed, test: _Listed | None, table: dict[int, str] | None,
           class_names: list[str] | None, where: str) -> ChannelListing:
    """Labels as indices into the class list: every listed file counts, readable or not, so
    that the list does not depend on decoding."""
    y, names, test_y = _labelled(main, test, table, class_names, where)
    test_listing = (None if test_y is None
                    else ChannelListing(test.files, test.rois, test_y, names, fmt))
    return ChannelListing(main.files, main.rois, y, names, fmt, test_listing)


def _decoded(listing: ChannelListing, size: tuple[int, int], channels: int, where: str,
             required: bool = True) -> ChannelData:
    x, ok, skipped = decode_files(listing.paths, listing.rois, size, channels, where)
    if required and not ok.any():
        raise UserError(f"{where}: none of its {len(listing.paths)} image files could be read.")
    test = None
    if listing.test is not None:
        test = _decoded(listing.test, size, channels, f"{where}, test split", required=False)
    return ChannelData(x, listing.y[ok], listing.class_names, listing.format, skipped, test)


def _detect(root: Path, where: str, split: str):
    """(format, what to read, test split): for the array formats the array files and None, for
    the image layouts the listed files and a listed test split (or None)."""
    if root.is_file():
        return _array_format([root]), [root], None
    entries = _visible(root)
    if not entries:
        raise UserError(f"{where} is empty. {ACCEPTED}")

    train_dir = _gtsrb_train_dir(root)
    if train_dir is not None or _listing_csv(root) is not None:
        return _list_gtsrb(root, train_dir, where)

    files = [e for e in entries if e.is_file()]
    array_files = [f for f in files if f.suffix.lower() in (*PICKLE_SUFFIXES, NPZ_SUFFIX)]
    if array_files:
        return _array_format(array_files), array_files, None

    class_dirs = [e for e in entries if e.is_dir()]
    if class_dirs:
        listed = _list_folders(class_dirs, where)
        used_roi = any(r is not None for r in listed.rois)
        return ("gtsrb" if used_roi else "folders"), listed, None

    archives = [f.name for f in files if f.name.lower().endswith(ARCHIVE_SUFFIXES)]
    loose = [f.name for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    if archives:
        hint = f" It holds the archive {archives[0]}: extract it before uploading."
    elif loose:
        hint = f" It holds loose images ({loose[0]}, ...): put them in one folder per class."
    else:
        hint = f" It holds: {', '.join(sorted(e.name for e in entries)[:5])}."
    raise UserError(f"{where} holds no data byoc can read.{hint} {ACCEPTED}")


# --- Layout helpers -------------------------------------------------------------------------


def check_not_empty(path: Path, name: str = "train") -> None:
    """A channel that is an empty directory fails here, before anything is read (or imported)."""
    path = Path(path)
    if path.is_dir() and not _visible(path):
        raise UserError(f"Channel '{name}' ({path}) is empty. {ACCEPTED}")


def _visible(directory: Path) -> list[Path]:
    """Entries of `directory`, without hidden files and macOS archive debris."""
    return sorted(
        e for e in directory.iterdir() if not e.name.startswith(".") and e.name != "__MACOSX"
    )


def _data_root(path: Path) -> Path:
    """Step into a lone wrapper directory (as unzipping often leaves), but not into a class."""
    root = path
    while True:
        entries = _visible(root)
        dirs = [e for e in entries if e.is_dir()]
        data_files = [
            e for e in entries
            if e.is_file() and e.name not in CLASS_NAME_FILES
        ]
        if len(dirs) != 1 or data_files or _gtsrb_train_dir(root) is not None:
            return root
        if any(f.suffix.lower() in IMAGE_SUFFIXES for f in dirs[0].iterdir() if f.is_file()):
            return root  # a channel with a single class folder
        root = dirs[0]


def _gtsrb_train_dir(root: Path) -> Path | None:
    for rel in GTSRB_TRAIN_DIRS:
        candidate = root / rel
        if candidate.is_dir() and any(e.is_dir() for e in candidate.iterdir()):
            return candidate
    return None


def find_class_names(*directories: Path | None) -> dict[int, str] | None:
    for directory in dict.fromkeys(d for d in directories if d is not None):
        for fname in CLASS_NAME_FILES:
            if (directory / fname).is_file():
                return read_class_names(directory / fname)
    return None


def read_class_names(path: Path) -> dict[int, str]:
    """Read a ClassId,SignName table (header optional, ',' or ';' separated)."""
    rows = _read_csv_rows(path)
    table: dict[int, str] = {}
    for row in rows:
        if len(row) < 2 or not row[0].strip():
            continue
        try:
            class_id = int(row[0])
        except ValueError:
            if not table:
                continue  # the header row
            raise UserError(f"{path.name}: '{row[0]}' is not a ClassId; expected ClassId,SignName "
                            "rows like 14,Stop.") from None
        table[class_id] = row[1].strip()
    if not table:
        raise UserError(f"{path.name} has no ClassId,SignName rows; expected rows like 14,Stop.")
    return table


def write_class_names(path: Path, names: Sequence[str]) -> None:
    """Write names as a signnames.csv: ClassId,SignName with index = ClassId."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["ClassId", "SignName"])
        writer.writerows(enumerate(names))


def _read_csv_rows(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if row]


def _read_csv_dicts(path: Path) -> list[dict[str, str]]:
    """Rows keyed by lower-cased column name."""
    rows = _read_csv_rows(path)
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    return [dict(zip(header, (c.strip() for c in row), strict=False)) for row in rows[1:]]


def _roi(row: dict[str, str]) -> Roi | None:
    try:
        x1, y1, x2, y2 = (int(row[k]) for k in ("roi.x1", "roi.y1", "roi.x2", "roi.y2"))
    except (KeyError, ValueError):
        return None
    # GTSRB's X2/Y2 are the last pixel inside the sign; PIL's box ends after it.
    return x1, y1, x2 + 1, y2 + 1


# --- Images ---------------------------------------------------------------------------------


def _decode(path: Path, roi: Roi | None, size: tuple[int, int], channels: int):
    try:
        return decode(path, roi, size, channels), None
    except Exception as exc:  # any unreadable file is skipped, never fatal
        return None, f"{path}: {exc}"


def decode_files(
    files: Sequence[Path],
    rois: Sequence[Roi | None],
    size: tuple[int, int],
    channels: int,
    where: str,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode `files` in a few threads; return the images, a mask of the readable ones, and the
    skipped count (logged once)."""
    x = np.empty((len(files), size[0], size[1], channels), dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)
    first_error = None
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        jobs = zip(files, rois, strict=True)
        results = pool.map(lambda job: _decode(job[0], job[1], size, channels), jobs)
        for i, (arr, error) in enumerate(results):
            if arr is None:
                first_error = first_error or error
                continue
            x[i] = arr
            ok[i] = True
    skipped = int((~ok).sum())
    if skipped:
        log.warning("%s: skipped %d unreadable image file(s), e.g. %s", where, skipped, first_error)
    return x[ok], ok, skipped


def _image_files(directory: Path) -> list[Path]:
    return sorted(
        f for f in directory.rglob("*")
        if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
        and not any(part.startswith(".") or part == "__MACOSX"
                    for part in f.relative_to(directory).parts)
    )


def _folder_label(name: str, numeric: bool) -> int | str:
    return int(name) if numeric else name


def _list_folders(
    class_dirs: Sequence[Path],
    where: str,
    rois: dict[str, Roi] | None = None,
) -> _Listed:
    """One folder per class; per-class GT-*.csv files (GTSRB) add ROI boxes."""
    rois = dict(rois or {})
    numeric = all(d.name.isdigit() for d in class_dirs)
    files: list[Path] = []
    labels: list[int | str] = []
    for d in class_dirs:
        for gt in d.glob("GT-*.csv"):
            for row in _read_csv_dicts(gt):
                roi = _roi(row)
                if roi is not None and row.get("filename"):
                    rois[os.path.normpath(d / row["filename"])] = roi
        found = _image_files(d)
        files += found
        labels += [_folder_label(d.name, numeric)] * len(found)
    if not files:
        raise UserError(
            f"{where} has folders ({', '.join(d.name for d in class_dirs[:5])}) but no image "
            f"files in them. {ACCEPTED}"
        )
    file_rois = [rois.get(os.path.normpath(f)) for f in files]
    return _Listed(files, file_rois, np.array(labels, dtype=np.int64 if numeric else object))


def _listing_csv(root: Path) -> Path | None:
    """A labelled image list at the root: Kaggle's Test.csv or the benchmark's GT-final_test.csv."""
    candidates = [root / GTSRB_TEST_CSV, *sorted(root.glob("GT-*.csv"))]
    return next((c for c in candidates if c.is_file()), None)


def _list_gtsrb(
    root: Path, train_dir: Path | None, where: str
) -> tuple[str, _Listed, _Listed | None]:
    """Train/<ClassId>/ folders (ROI from Train.csv or GT-*.csv) plus a test split; a channel
    with only the labelled list (a test or validation channel) is read from the list alone."""
    listed = _list_csv(root, where)
    if train_dir is None:
        if listed is None:
            raise UserError(f"{where} has an image list with no ClassId column and no "
                            f"Train/<ClassId>/ folders, so its images have no labels. {ACCEPTED}")
        return "gtsrb", listed, None
    rois: dict[str, Roi] = {}
    if (root / GTSRB_TRAIN_CSV).is_file():
        for row in _read_csv_dicts(root / GTSRB_TRAIN_CSV):
            roi = _roi(row)
            if roi is not None and row.get("path"):
                rois[os.path.normpath(root / row["path"])] = roi
    class_dirs = [e for e in _visible(train_dir) if e.is_dir()]
    main = _list_folders(class_dirs, where, rois)
    return "gtsrb", main, listed or _list_test_folders(root, where)


def _list_test_folders(root: Path, where: str) -> _Listed | None:
    for rel in GTSRB_TEST_DIRS:
        test_dir = root / rel
        class_dirs = [e for e in _visible(test_dir) if e.is_dir()] if test_dir.is_dir() else []
        if class_dirs:
            return _list_folders(class_dirs, f"{where}, {rel}/")
    return None


def _list_csv(root: Path, where: str) -> _Listed | None:
    """Images named in a CSV (Path or Filename, ClassId, optional ROI), relative to the CSV."""
    csv_path = _listing_csv(root)
    if csv_path is None:
        return None
    rows = [r for r in _read_csv_dicts(csv_path) if r.get("path") or r.get("filename")]
    if not rows or "classid" not in rows[0]:
        log.warning("%s: %s has no ClassId column, so it is not used.", where, csv_path.name)
        return None
    try:
        labels = np.array([int(r["classid"]) for r in rows], dtype=np.int64)
    except ValueError as exc:
        raise UserError(f"{where}: {csv_path.name} has a ClassId that is not a whole "
                        f"number ({exc}).") from None
    files = [csv_path.parent / (r.get("path") or r["filename"]) for r in rows]
    return _Listed(files, [_roi(r) for r in rows], labels)


# --- Arrays (pickle, npz) -------------------------------------------------------------------


def _split_of(file: Path) -> str | None:
    stem = file.name.split(".")[0].lower()
    return next((split for split, stems in SPLIT_STEMS.items() if stem in stems), None)


def _read_array_files(
    files: Sequence[Path], where: str, split: str, size: tuple[int, int], channels: int
) -> tuple[str, _Raw, _Raw | None]:
    """Several files are shards of one split, unless their names say which split each holds."""
    own = [f for f in files if _split_of(f) == split]
    test_files = [f for f in files if _split_of(f) == TEST] if own and split == TRAIN else []
    main = own or [f for f in files if _split_of(f) is None] or list(files)
    ignored = [f.name for f in files if f not in main and f not in test_files]
    if ignored:
        log.warning("%s: ignoring %s (pass it as its own channel)", where, ", ".join(ignored))
    fmt = _array_format(main)
    raw = _concat([_read_array_file(f, size, channels) for f in main])
    test = None
    if test_files:
        test = _concat([_read_array_file(f, size, channels) for f in test_files])
    return fmt, raw, test


def _array_format(files: Sequence[Path]) -> str:
    return "npz" if files[0].suffix.lower() == NPZ_SUFFIX else "pickle"


def _concat(parts: list[_Raw]) -> _Raw:
    if len(parts) == 1:
        return parts[0]
    kinds = {p.labels.dtype.kind for p in parts}
    if len(kinds) > 1:
        raise UserError("Array files of one channel mix integer and text labels; use one kind.")
    return _Raw(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.labels for p in parts]),
        next((p.names for p in parts if p.names), None),
    )


def _load_mapping(file: Path) -> dict:
    if file.suffix.lower() == NPZ_SUFFIX:
        try:
            with np.load(file, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except ValueError as exc:
            raise UserError(f"{file.name}: {exc}. Store plain numeric or text arrays.") from None
        except Exception as exc:
            raise UserError(f"{file.name} is not a readable .npz file ({exc}).") from None
    # Unpickling runs whatever code the file carries: say which file, every time.
    log.warning("Unpickling %s: a pickle can run any code; read pickles from your own data only "
                "(or store the arrays as .npz).", file)
    try:
        with open(file, "rb") as f:
            obj = pickle.load(f, encoding="latin1")  # latin1 also opens Python 2 pickles
    except Exception as exc:
        raise UserError(f"{file.name} is not a readable pickle file ({exc}).") from None
    if not isinstance(obj, dict):
        raise UserError(
            f"{file.name} holds a {type(obj).__name__}; expected a dict with keys 'features' "
            "(N x H x W x C uint8 images) and 'labels' (N class ids)."
        )
    return obj


def _read_array_file(file: Path, size: tuple[int, int], channels: int) -> _Raw:
    data = _load_mapping(file)
    pair = next((p for p in ARRAY_KEYS if p[0] in data and p[1] in data), None)
    if pair is None:
        accepted = ", ".join(f"{a}/{b}" for a, b in ARRAY_KEYS)
        found = ", ".join(repr(k) for k in list(data)[:10]) or "none"
        raise UserError(f"{file.name} has keys {found}; expected images and labels under one of "
                        f"{accepted}.")
    x = _images_array(np.asarray(data[pair[0]]), file.name, pair[0])
    labels = _labels_array(np.asarray(data[pair[1]]), file.name, pair[1])
    if len(labels) != len(x):
        raise UserError(f"{file.name}: '{pair[0]}' holds {len(x)} images but '{pair[1]}' holds "
                        f"{len(labels)} labels; they must match one to one.")
    names = None
    if CLASS_NAMES_KEY in data:
        names = {i: str(n) for i, n in enumerate(np.asarray(data[CLASS_NAMES_KEY]).ravel())}
    return _Raw(_fit(x, size, channels), labels, names)


def _images_array(x: np.ndarray, fname: str, key: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or 0 in x.shape:
        raise UserError(f"{fname}: '{key}' has shape {x.shape}; expected N x H x W x C images "
                        "with C = 1, 3 or 4 (or N x H x W grayscale).")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind not in "iuf":
        raise UserError(f"{fname}: '{key}' has dtype {x.dtype}; expected uint8 pixels.")
    low, high = float(x.min()), float(x.max())
    if x.dtype.kind == "f" and high <= 1.0 and low >= 0.0:
        x = x * 255.0  # floats in 0..1 are the other common convention
    elif low < 0 or high > 255:
        raise UserError(f"{fname}: '{key}' has values from {low} to {high}; expected pixels in "
                        "0..255 (uint8) or 0..1 (float).")
    return np.rint(x).astype(np.uint8)


def _labels_array(y: np.ndarray, fname: str, key: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.dtype.kind in "iufb" and set(np.unique(y)) <= {0, 1}:
        y = y.argmax(axis=1)  # one-hot rows
    if y.ndim != 1:
        raise UserError(f"{fname}: '{key}' has shape {y.shape}; expected one class id per image.")
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        return y.astype(np.int64)
    if y.dtype.kind in "USO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in y], dtype=object)
    raise UserError(f"{fname}: '{key}' has dtype {y.dtype}; expected whole-number class ids or "
                    "class names.")


def _fit(x: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """Bring stored arrays to `size` and `channels` through the same path as decoded images."""
    if x.shape[1:] == (size[0], size[1], channels):
        return x
    out = np.empty((len(x), size[0], size[1], channels), dtype=np.uint8)
    for i, img in enumerate(x):
        out[i] = images.to_array(Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img),
                                 size, channels)
    return out


# --- Labels ---------------------------------------------------------------------------------


def index_labels(labels: np.ndarray, table: dict[int, str] | None,
                 class_names: list[str] | None, where: str) -> tuple[np.ndarray, list[str]]:
    """Class ids (or names) as indices into the class list, as `read_channel` maps them: the
    given list, else the names `table` gives the ids, else the ids themselves."""
    return _to_indices(_Listed([], [], np.asarray(labels), table), class_names, where)


def _is_id(name: str) -> bool:
    return name.strip().isdigit()


def _to_indices(
    raw: _Raw, class_names: list[str] | None, where: str
) -> tuple[np.ndarray, list[str]]:
    """Turn raw labels into indices into the returned class names (given or derived)."""
    values, inverse = np.unique(raw.labels, return_inverse=True)
    is_ids = raw.labels.dtype.kind == "i"
    if is_ids and raw.names is not None:
        missing = [int(v) for v in values if int(v) not in raw.names]
        if missing:
            raise UserError(f"{where}: class id(s) {missing[:10]} have no row in the class "
                            f"names table ({SIGNNAMES_FILE}); add them or remove those images.")

    if class_names is None:
        if is_ids and raw.names is not None:
            ids = sorted(raw.names)
            class_names = [raw.names[i] for i in ids]
            position = {i: n for n, i in enumerate(ids)}
            index = [position[int(v)] for v in values]
        else:
            class_names = [str(v) for v in values]
            index = list(range(len(values)))
        return np.asarray(index, dtype=np.int64)[inverse].reshape(-1), class_names

    by_name = {n: i for i, n in enumerate(class_names)}
    numeric = all(_is_id(n) for n in class_names)
    by_id = {int(n): i for i, n in enumerate(class_names)} if numeric else {}
    index, unknown = [], []
    for v in values:
        i = _index_of(v, is_ids, raw.names, class_names, by_name, by_id, numeric)
        if i is None:
            unknown.append(_describe(v, is_ids, raw.names))
        index.append(i)
    if unknown:
        raise UserError(
            f"{where} has class(es) the train channel does not have: {', '.join(unknown[:10])}. "
            f"The train channel's {len(class_names)} classes are: "
            f"{', '.join(class_names[:10])}{', ...' if len(class_names) > 10 else ''}."
        )
    return np.asarray(index, dtype=np.int64)[inverse].reshape(-1), list(class_names)


def _index_of(value, is_ids, names, class_names, by_name, by_id, numeric) -> int | None:
    if not is_ids:
        if numeric and _is_id(str(value)):
            return by_id.get(int(value))
        return by_name.get(str(value))
    value = int(value)
    if names is not None and names.get(value) in by_name:
        return by_name[names[value]]
    if numeric:
        return by_id.get(value)
    # Integer labels against named classes: the id is the index, as in signnames.csv.
    if names is None and 0 <= value < len(class_names):
        return value
    return None


def _describe(value, is_ids: bool, names: dict[int, str] | None) -> str:
    if is_ids and names is not None:
        return f"'{names[int(value)]}' (ClassId {int(value)})"
    return f"'{value}'"
