"""Where the user's code is, and what it needs installed, as SageMaker's toolkits find them.

The SDK names the code with two values. In training they are the hyperparameters
`sagemaker_program` (the entry point) and `sagemaker_submit_directory` (where it is), JSON-encoded
like every hyperparameter the SDK writes. In hosting they are the environment variables
`SAGEMAKER_PROGRAM` and `SAGEMAKER_SUBMIT_DIRECTORY`. The directory is one of:

- `s3://bucket/key/sourcedir.tar.gz`: downloaded and unpacked (byoc.archives, never tarfile's
  own extractall) into the code directory, `/opt/ml/code`;
- `file:///path` or a plain path: a directory used where it is (SDK local mode mounts the
  user's `source_dir` at `/opt/ml/code`), or a tar archive unpacked as above.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urlparse

from byoc import archives
from byoc.errors import UserError

log = logging.getLogger("byoc")

# The training toolkit's names (hyperparameters) and the inference toolkit's (environment).
PROGRAM_HP = "sagemaker_program"
SUBMIT_DIR_HP = "sagemaker_submit_directory"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"
SUBMIT_DIR_ENV = "SAGEMAKER_SUBMIT_DIRECTORY"
REQUIREMENTS = "requirements.txt"
# How many of pip's last lines a failure reason carries.
PIP_TAIL_LINES = 15


def decode(text: str) -> object:
    """A hyperparameter's value as the training toolkit reads it: JSON where it parses, else the
    text itself. The SDK writes `"\\"train.py\\""` for the string train.py."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def decoded_str(text: str | None) -> str | None:
    """A value that must be a string (a program name, a directory), decoded as the SDK sends it."""
    if text is None:
        return None
    value = decode(text)
    return value if isinstance(value, str) else str(text)


def fetch(location: str, code_dir: Path) -> Path:
    """Make the source directory at `location` available on disk and return its path.

    A local directory is returned as it is; an archive (S3 or local) is unpacked into `code_dir`,
    which must be empty or missing. Raises UserError saying what was wrong and what is accepted.
    """
    location = location.strip()
    if not location:
        raise UserError("The source directory is empty; give an s3://…/sourcedir.tar.gz, a "
                        "file:// URL or a path.")
    if location.startswith("s3://"):
        if _holds_code(code_dir):  # no download for an archive that would not be unpacked
            return _code_already_there(code_dir, location)
        with tempfile.TemporaryDirectory(prefix="byoc-source-") as tmp:
            archive = Path(tmp) / "sourcedir.tar.gz"
            _download_s3(location, archive)
            return _unpack(archive, code_dir, label=location)
    # A file:// URL escapes what a URL cannot hold (file:///my%20code is "my code").
    path = Path(unquote(urlparse(location).path) if location.startswith("file://")
                else location)
    if path.is_dir():
        return path
    if path.is_file():
        return _unpack(path, code_dir, label=location)
    raise UserError(f"The source directory {location} does not exist. Give an "
                    "s3://…/sourcedir.tar.gz, a file:// URL or a path that exists in the "
                    "container.")


def _holds_code(code_dir: Path) -> bool:
    return code_dir.is_dir() and any(code_dir.iterdir())


def _code_already_there(code_dir: Path, label: str) -> Path:
    # The training toolkit keeps a code directory that is not empty: a restarted host (or SDK
    # local mode's mount, or an earlier fetch in this job) already holds the code.
    log.info("%s is not empty; using the code already there instead of %s", code_dir, label)
    return code_dir


def _unpack(archive: Path, code_dir: Path, *, label: str) -> Path:
    if _holds_code(code_dir):
        return _code_already_there(code_dir, label)
    archives.extract(archive, code_dir, label=label)
    log.info("Unpacked %s into %s", label, code_dir)
    return code_dir


def _download_s3(uri: str, dest: Path) -> None:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise UserError(f"The source directory {uri} is on S3, and this image has no boto3 to "
                        "fetch it. Use the full image (train,serve), or put the code into the "
                        "model archive under code/.") from None
    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise UserError(f"{uri} is not an S3 object URI; expected s3://bucket/key.tar.gz.")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        boto3.client("s3", region_name=region).download_file(bucket, key, str(dest))
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"Cannot download the source directory {uri}: {exc}. Check that the "
                        "object exists and that the job's role may read it.") from None


def install_requirements(source: Path, *, python: str | None = None) -> bool:
    """pip-install `source/requirements.txt` into this interpreter, as the toolkits do.

    pip's output goes to the log line by line. Returns whether there was a file to install.
    Raises UserError with pip's last lines when pip fails.
    """
    requirements = source / REQUIREMENTS
    if not requirements.is_file():
        return False
    return _pip(["install", "-r", REQUIREMENTS], cwd=source, python=python,
                what=f"Installing {requirements}")


def install_package(source: Path, *, python: str | None = None) -> bool:
    """pip-install the Python package in `source` (setup.py or pyproject.toml), with its
    requirements.txt if there is one, as the training toolkit installs a package entry point."""
    args = ["install", "."]
    if (source / REQUIREMENTS).is_file():
        args += ["-r", REQUIREMENTS]
    return _pip(args, cwd=source, python=python, what=f"Installing the package in {source}")


def is_package(source: Path) -> bool:
    return (source / "setup.py").is_file() or (source / "pyproject.toml").is_file()


def _pip(args: list[str], *, cwd: Path, python: str | None, what: str) -> bool:
    log.info("%s", what)
    command = [python or sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
               "--no-input", *args[1:]]
    tail: deque[str] = deque(maxlen=PIP_TAIL_LINES)
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace")
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        tail.append(line)
        log.info("pip: %s", line)
    if process.wait() != 0:
        raise UserError(f"{what} failed (pip exit {process.returncode}); pip's last lines:\n"
                        + "\n".join(tail))
    return True
