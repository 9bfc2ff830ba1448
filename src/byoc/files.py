"""Files that must never be left half-written (the model, its spec, checkpoints): write beside
the target, then rename over it, so a full disk or a kill leaves the old file or none."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` for a temporary path beside `path`, then rename it to `path`.

    The temporary name keeps the suffix (Keras picks the format from it). An OSError (a full
    disk: ENOSPC, EDQUOT, EFBIG) comes out naming `path`, and no temporary file is left behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
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
