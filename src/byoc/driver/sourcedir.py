"""The user's source directory on the driver's side: checked, packed into sourcedir.tar.gz, staged
on S3, and named to the container the way the SageMaker Python SDK names it.

`--source-dir DIR --entry-point train.py` become the hyperparameters `sagemaker_program` and
`sagemaker_submit_directory` of a training job (JSON-encoded, as the SDK sends them), or the
environment `SAGEMAKER_PROGRAM` and `SAGEMAKER_SUBMIT_DIRECTORY` of a model. Every check runs
before anything is uploaded or created. The archive is deterministic (sorted members, fixed
times and owners), so an unchanged directory packs to the same bytes and is not sent again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from byoc import archives, hyperparams
from byoc.contract import DEFAULT_BASE_DIR, Paths
from byoc.driver import upload
from byoc.driver.aws import Aws, ensure_bucket, split_s3_uri
from byoc.errors import UserError
from byoc.pairs import parse_pairs
from byoc.user_code.source import PROGRAM_ENV, PROGRAM_HP, SUBMIT_DIR_ENV, SUBMIT_DIR_HP

log = logging.getLogger(__name__)

ARCHIVE_NAME = "sourcedir.tar.gz"
# Where the code is in a container: SDK local mode mounts the source directory here, and the
# SDK's repack puts it under the model, which SageMaker extracts to /opt/ml/model.
CONTAINER_CODE_DIR = Paths(Path(DEFAULT_BASE_DIR)).code_dir.as_posix()
MODEL_CODE_DIR = (Paths(Path(DEFAULT_BASE_DIR)).model_dir / "code").as_posix()
# With network isolation a job cannot reach S3, so the SDK hands the archive over as a channel.
CODE_CHANNEL = "code"
CODE_CHANNEL_ARCHIVE = (Paths(Path(DEFAULT_BASE_DIR)).data_dir / CODE_CHANNEL
                        / ARCHIVE_NAME).as_posix()

# The other values the SDK sends with a script: logging.INFO, the job's name and region.
LOG_LEVEL_HP = "sagemaker_container_log_level"
JOB_NAME_HP = "sagemaker_job_name"
REGION_HP = "sagemaker_region"
LOG_LEVEL_ENV = LOG_LEVEL_HP.upper()
REGION_ENV = REGION_HP.upper()
LOG_LEVEL = 20

# Never packed: caches and version control, which the container has no use for.
SKIPPED = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
# SageMaker documents no limit for a source directory. Code is small; a directory this large
# almost always holds data or models (which belong in --data and the model archive), or is the
# wrong directory, and every host downloads and unpacks it before the job starts.
MAX_BYTES = 256 * 1024 * 1024
MAX_FILES = archives.MAX_MEMBERS  # what the container's unpacking accepts
# A fixed time for every member (1980-01-02 UTC): reproducible, and late enough for the zip
# files a package build makes of them.
MEMBER_MTIME = 315_619_200
DIGEST_LENGTH = 16



@dataclass(frozen=True)
class SourceCode:
    """A checked source directory: where it is, the entry point in it (None: byoc's trainer
    runs, with user modules named by `--hp model=MODULE:FUNCTION`), and the files to pack."""

    directory: Path
    entry_point: str | None
    files: tuple[tuple[str, Path], ...]  # (posix name in the archive, file), sorted by name

    def describe(self) -> str:
        what = f"entry point {self.entry_point}" if self.entry_point else "no entry point"
        return f"{self.directory} ({len(self.files)} file(s), {what})"


def from_flags(source_dir: str | None, entry_point: str | None) -> SourceCode | None:
    """The code `--source-dir` and `--entry-point` name, checked; None when neither is given.

    The entry point is a path inside the source directory (`train.py`, `src/train.py`). Without
    `--source-dir` the entry point's own directory is the source directory, as SDK local mode
    mounts it, in every mode: what runs locally runs on AWS with the same files.
    """
    if not source_dir and not entry_point:
        return None
    if source_dir:
        directory = Path(os.path.abspath(Path(source_dir).expanduser()))
        if not directory.exists():
            raise UserError(f"--source-dir {source_dir} does not exist. Give the directory that "
                            "holds your code.")
        if not directory.is_dir():
            raise UserError(f"--source-dir {source_dir} is not a directory. Give the directory "
                            "that holds your code, and the script in it with --entry-point, e.g. "
                            f"--source-dir {Path(source_dir).parent} --entry-point "
                            f"{Path(source_dir).name}.")
    else:
        script = Path(os.path.abspath(Path(entry_point).expanduser()))
        if not script.is_file():
            raise UserError(f"--entry-point {entry_point}: no such file. Give the path of your "
                            "script, or its name inside --source-dir DIR.")
        directory = script.parent
    files = tuple(_files(directory))
    entry = _entry_point(directory, entry_point, files) if entry_point else None
    return SourceCode(directory, entry, files)


def require_entry_point(code: SourceCode | None, verb: str) -> None:
    """Serving runs the handlers module, so `--source-dir` there needs `--entry-point`."""
    if code is not None and code.entry_point is None:
        raise UserError(f"{verb} --source-dir needs --entry-point: the module in it that "
                        "defines your handlers (model_fn, input_fn, predict_fn, output_fn), e.g. "
                        "--entry-point inference.py.")


def _files(directory: Path) -> list[tuple[str, Path]]:
    """The files to pack, by name in the archive, sorted; refuses links to directories,
    dangling links and special files, and stops as soon as the directory is over the limits."""
    total, count = 0, 0
    found = []
    for current, dirnames, filenames in os.walk(directory):
        here = Path(current)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        for name in dirnames:
            if (here / name).is_symlink():
                raise UserError(f"{here / name} in the source directory is a link to a "
                                "directory; byoc packs files, not links. Copy the directory in, "
                                "or move it out of the source directory.")
        for name in filenames:
            path = here / name
            try:
                info = path.stat()  # follows a link to a file: its content is packed
            except OSError:
                raise UserError(f"{path} in the source directory is a link to nothing; remove "
                                "it or fix its target.") from None
            if not stat.S_ISREG(info.st_mode):
                raise UserError(f"{path} in the source directory is not a regular file (a "
                                "FIFO, socket or device); move it out of the source directory.")
            total += info.st_size
            count += 1
            if total > MAX_BYTES or count > MAX_FILES:
                limit = (f"{MAX_BYTES // 1024**2} MiB" if total > MAX_BYTES
                         else f"{MAX_FILES} files")
                raise UserError(
                    f"The source directory {directory} holds more than {limit} (the limit, "
                    f"reached at {path.relative_to(directory)}). Every host downloads it "
                    "before the job starts: keep only code there. Data goes in --data, a "
                    "trained model in its model.tar.gz; or point --source-dir at the "
                    "subdirectory that holds the code.")
            found.append((path.relative_to(directory).as_posix(), path))
    if not found:
        raise UserError(f"The source directory {directory} holds no files to pack.")
    return sorted(found)


def _entry_point(directory: Path, given: str, files: tuple[tuple[str, Path], ...]) -> str:
    """The entry point's path inside `directory`, in posix form, or a UserError saying why not."""
    path = Path(given).expanduser()
    candidate = path if path.is_absolute() else directory / path
    if not candidate.exists() and not path.is_absolute() and path.exists():
        candidate = path  # given from here, e.g. src/train.py with --source-dir src
    candidate = Path(os.path.abspath(candidate))
    try:
        relative = candidate.relative_to(directory).as_posix()
    except ValueError:
        raise UserError(f"--entry-point {given} is outside the source directory {directory}; "
                        "the container gets that directory only. Move the script into it, or "
                        "choose a --source-dir that holds it.") from None
    if relative not in dict(files):
        if candidate.is_file():
            raise UserError(f"--entry-point {given} is inside "
                            f"{', '.join(sorted(SKIPPED))}, which byoc does not pack; move it.")
        scripts = sorted(n for n, _ in files if PurePosixPath(n).suffix in (".py", ".sh"))[:5]
        hint = f" It holds {', '.join(scripts)}." if scripts else ""
        raise UserError(f"--entry-point {given}: no such file in the source directory "
                        f"{directory}.{hint} Give the script's path relative to --source-dir.")
    return relative


def write_archive(members: Iterable[tuple[str, Path]], dest: Path) -> Path:
    """A .tar.gz of `members` (name in the archive, file or directory) with the same bytes for
    the same files: sorted, one fixed time, no owners, modes 644 or 755, no name or time in the
    gzip header."""
    with open(dest, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in sorted(members):
            info = tarfile.TarInfo(name)
            found = path.stat()
            info.mtime = MEMBER_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if stat.S_ISDIR(found.st_mode):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            info.size = found.st_size
            info.mode = 0o755 if found.st_mode & stat.S_IXUSR else 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return dest


def pack(code: SourceCode, dest: Path) -> Path:
    """sourcedir.tar.gz of the source directory, its files at the archive's root."""
    return write_archive(code.files, dest)


def digest(path: Path) -> str:
    """A short SHA-256 of a file: the name of the S3 prefix an archive goes under."""
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            sha.update(chunk)
    return sha.hexdigest()[:DIGEST_LENGTH]


def stage(aws: Aws, code: SourceCode, s3_base: str) -> str:
    """Pack the code and upload it to `s3_base/DIGEST/sourcedir.tar.gz`, named after its
    content as data is: an unchanged directory is not sent again. Returns the object's URI."""
    with tempfile.TemporaryDirectory(prefix="byoc-source-") as tmp:
        archive = pack(code, Path(tmp) / ARCHIVE_NAME)
        uri = f"{s3_base.rstrip('/')}/{digest(archive)}/{ARCHIVE_NAME}"
        ensure_bucket(aws, split_s3_uri(uri)[0])
        sent = upload.put_file(aws, archive, uri)
    log.info("Code: %s at %s (%s)", code.describe(), uri,
             "uploaded" if sent else "unchanged, already there")
    return uri


def training_hyperparameters(code: SourceCode, submit_directory: str, *,
                             job_name: str | None = None,
                             region: str | None = None) -> dict[str, str]:
    """The hyperparameters that name the code, JSON-encoded as the SDK sends them. Without an
    entry point, byoc's trainer runs and needs only where the code is."""
    values: dict[str, object] = {SUBMIT_DIR_HP: submit_directory}
    if code.entry_point:
        values.update({PROGRAM_HP: code.entry_point, LOG_LEVEL_HP: LOG_LEVEL})
        if job_name:
            values[JOB_NAME_HP] = job_name
        if region:
            values[REGION_HP] = region
    return {key: json.dumps(value) for key, value in values.items()}


def serving_environment(code: SourceCode, submit_directory: str,
                        region: str | None = None) -> dict[str, str]:
    """The model's environment that names the handlers, as the SDK sets it (plain strings)."""
    env = {PROGRAM_ENV: code.entry_point or "", SUBMIT_DIR_ENV: submit_directory,
           LOG_LEVEL_ENV: str(LOG_LEVEL)}
    if region:
        env[REGION_ENV] = region
    return env


def check_environment(code: SourceCode | None, env: Mapping[str, str]) -> None:
    """--env must not name the code a second time."""
    clash = sorted(k for k in (PROGRAM_ENV, SUBMIT_DIR_ENV) if k in env)
    if code is not None and clash:
        raise UserError(f"--env {', '.join(clash)} is set by --source-dir and --entry-point; "
                        "drop it from --env.")


def parse_hp_flags(pairs: list[str] | None, code: SourceCode | None) -> dict[str, str]:
    """`--hp KEY=VALUE` pairs, checked for what will run them.

    Without code, byoc's trainer: its hyperparameters, as before. With an entry point, the
    user's script: any names, passed on as typed (the container hands them to the script as
    `--key value`, decoding JSON where it parses). With a source directory alone, byoc's
    trainer with the user's modules: byoc's hyperparameters, `MODULE:FUNCTION` for model and
    loss (the module and function must be there), and the names the modules declare.
    """
    if code is None:
        return hyperparams.parse_hp_flags(pairs)
    raw = parse_pairs(pairs, "--hp", "epochs=10")
    named = sorted(k for k in raw if k in (PROGRAM_HP, SUBMIT_DIR_HP))
    if named:
        raise UserError(f"--hp {', '.join(named)} is set by --source-dir and --entry-point; "
                        "drop it from --hp.")
    if code.entry_point is None:
        # byoc's trainer: the same check the container makes, on the local directory.
        hyperparams.parse(raw, source=code.directory)
    return raw
