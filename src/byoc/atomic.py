"""Files that must never be left half-written (the model, its spec, checkpoints, a tabular run's
directory): write beside the target, then rename over it, so a full disk or a kill leaves the old
file or none."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` for a temporary path beside `path`, then rename it to `path`.

    The temporary name keeps the suffix (Keras picks the format from it). An OSError (a full
    disk: ENOSPC, EDQUOT, EFBIG) comes out naming `path`, and no temporary file is left behind.
    """
    path = Path(path)
    tmp = staging_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def staging_path(path: Path) -> Path:
    """Where write_atomically writes `path` before the rename."""
    return path.with_name(f".{path.stem}.tmp{path.suffix}")


@contextmanager
def directory_atomically(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a new directory beside `path` to fill; when the block ends without an error, rename
    it to `path`. An error (or a kill) inside the block leaves `path` as it was.

    An empty directory at `path` is replaced; a non-empty one only with `replace`, else
    FileExistsError. Replacing takes two renames (the old directory aside, the new one in): a
    kill between them leaves no `path`, and both complete directories hidden beside it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _beside(path, "tmp")
    staging.mkdir()  # by mkdir, not mkdtemp: the run's directory gets the usual permissions
    try:
        yield staging
        try:
            os.rename(staging, path)  # over nothing, or over an empty directory
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            if not replace:
                raise FileExistsError(errno.EEXIST, "the directory is not empty", str(path)) \
                    from None
            old = _beside(path, "old")
            os.rename(path, old)
            try:
                os.rename(staging, path)
            except OSError:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _beside(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{kind}-{secrets.token_hex(4)}")
