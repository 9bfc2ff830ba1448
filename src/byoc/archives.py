"""Unpack a tar archive byoc did not write (model.tar.gz, output.tar.gz, a source directory) so
that nothing lands outside the target, on every Python byoc accepts.

tarfile's own `extractall(filter="data")` is not enough: Python 3.11.2 (Debian 12's) has no
`filter=`, and before 3.10.18, 3.11.13, 3.12.11 and 3.13.4 a chain of symlinks defeats it
(CVE-2025-4517). So every member is checked here and written here, as a plain file or directory:
models, outputs and source directories need nothing else.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from byoc.errors import UserError

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 20 * 1024**3  # above any model.tar.gz a CPU endpoint can host
_CHUNK = 1024 * 1024


class ArchiveError(UserError):
    """An archive that byoc refuses to unpack; the message names the archive and the member."""


def extract(archive: str | os.PathLike, dest: str | os.PathLike, *, overwrite: bool = False,
            max_members: int = MAX_MEMBERS, max_bytes: int = MAX_TOTAL_BYTES,
            label: str | None = None) -> list[Path]:
    """Unpack the tar archive `archive` (compressed or not) into `dest`; return the files written.

    Every member is checked before anything is written: only regular files and directories, with
    relative names free of `..`; at most `max_members` members and `max_bytes` bytes in all.
    A file that already exists under `dest` is refused unless `overwrite`, and so is a path that
    would pass through a link already in `dest`. `label` names the archive in errors (an S3 URI,
    say) when `archive` is a temporary copy.

    Raises ArchiveError, naming the archive and the offending member.
    """
    where = label or str(archive)
    dest = Path(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            plan = _checked(tar, where, max_members, max_bytes)
            if dest.exists() and not dest.is_dir():
                raise ArchiveError(f"{where} cannot be unpacked into {dest}: it is a file. "
                                   "Choose a new or empty directory.")
            dest.mkdir(parents=True, exist_ok=True)
            if not overwrite:
                for parts, member in plan:
                    target = dest.joinpath(*parts)
                    if member.isreg() and (target.exists() or target.is_symlink()):
                        raise ArchiveError(
                            f"{where}: {member.name} would overwrite {target}. Unpack into a new "
                            "or empty directory.")
            return [path for parts, member in plan
                    if (path := _write(tar, member, dest, parts, where, overwrite)) is not None]
    except tarfile.TarError as exc:
        raise ArchiveError(f"{where} is not a readable tar archive ({exc}).") from None


def _checked(tar: tarfile.TarFile, where: str, max_members: int,
             max_bytes: int) -> list[tuple[tuple[str, ...], tarfile.TarInfo]]:
    """Every member with its path parts, or ArchiveError at the first one that is not allowed.

    The members are read one by one, so a bomb of headers stops at `max_members`."""
    plan, total = [], 0
    for count, member in enumerate(tar, start=1):
        if count > max_members:
            raise ArchiveError(f"{where} has more than {max_members} members (the limit), the "
                               f"last read being {member.name}; byoc does not unpack it.")
        if not (member.isreg() or member.isdir()):
            kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                    else "a device, FIFO or other special file")
            raise ArchiveError(f"{where}: member {member.name} is {kind}; byoc unpacks only "
                               "regular files and directories. Pack the files themselves.")
        if "\0" in member.name:
            raise ArchiveError(f"{where}: member {member.name!r} has a NUL in its name.")
        path = PurePosixPath(member.name)
        if path.is_absolute():
            raise ArchiveError(f"{where}: member {member.name} has an absolute path; archive "
                               "members must be relative to the directory they unpack into.")
        if ".." in path.parts:
            raise ArchiveError(f"{where}: member {member.name} climbs out with '..'; archive "
                               "members must stay inside the directory they unpack into.")
        total += member.size if member.isreg() else 0
        if total > max_bytes:
            raise ArchiveError(f"{where} unpacks to more than {max_bytes} bytes (the limit), "
                               f"reached at member {member.name}; byoc does not unpack it.")
        parts = tuple(p for p in path.parts if p != ".")
        if parts:  # "." or "./" is the target directory itself
            plan.append((parts, member))
    return plan


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, parts: tuple[str, ...],
           where: str, overwrite: bool) -> Path | None:
    """Write one checked member; its parent directories are made here and never followed as
    links, so a link already in `dest` cannot lead out of it."""
    directories = parts if member.isdir() else parts[:-1]
    current = dest
    for part in directories:
        current = current / part
        try:
            current.mkdir()
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise ArchiveError(
                    f"{where}: member {member.name} needs {current} to be a directory, and it "
                    "is a file or a link there; unpack into a new or empty directory.") from None
    if member.isdir():
        return None
    target = current / parts[-1]
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if overwrite else os.O_EXCL)
    mode = 0o755 if member.mode & 0o100 else 0o644
    try:
        fd = os.open(target, flags, mode)
    except FileExistsError:
        raise ArchiveError(f"{where}: member {member.name} would overwrite {target} (the archive "
                           "holds it twice, or it appeared meanwhile).") from None
    except OSError as exc:  # ELOOP: the target is a link; EISDIR: a directory
        raise ArchiveError(f"{where}: member {member.name} cannot be written to {target} "
                           f"({exc.strerror}).") from None
    source = tar.extractfile(member)
    with os.fdopen(fd, "wb") as out, source:
        shutil.copyfileobj(source, out, _CHUNK)
    return target
