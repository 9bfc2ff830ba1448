"""Hostile tar archives, built member by member, and a check that extraction stayed in its target.
Shared by the unit tests of byoc.archives and the tests of what unpacks downloads with it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path


def member(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"",
           link: str = "", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A .tar.gz of exactly these members, in this order (tarfile.add would refuse some)."""
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def symlink_chain(dest: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    """CVE-2025-4517: directories and symlinks whose expansion overflows PATH_MAX while being
    extracted into `dest`, so that os.path.realpath stops expanding and the "data" filter
    passes a link that leads to `dest`'s parent; `escape/newfile` is then written there."""
    steps = "abcdefghijklmnop"
    path_max = os.pathconf(dest.parent, "PC_PATH_MAX")
    component = "d" * ((path_max - len(str(dest)) - 1) // (len(steps) + 1))
    members, path = [], ""
    for step in steps:
        members.append(member(os.path.join(path, component), tarfile.DIRTYPE, mode=0o777))
        members.append(member(os.path.join(path, step), tarfile.SYMTYPE, link=component))
        path = os.path.join(path, component)
    linkpath = os.path.join(*steps, "l" * 254)
    members.append(member(linkpath, tarfile.SYMTYPE, link=os.path.join(*[".."] * len(steps))))
    members.append(member("escape", tarfile.SYMTYPE, link=os.path.join(linkpath, "..")))
    members.append(member("escape/newfile", data=b"written outside"))
    return members


def snapshot(root: Path) -> set[Path]:
    """Every path under `root`, links not followed."""
    return {Path(d, n) for d, dirs, files in os.walk(root) for n in dirs + files}


def written_outside(root: Path, before: set[Path], target: Path) -> list[Path]:
    """Paths under `root` that appeared since `before` and are not inside `target`."""
    return sorted(p for p in snapshot(root) - before
                  if p != target and target not in p.parents)
