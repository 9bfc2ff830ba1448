"""Local datasets to S3: in parallel, and only the files that are not there already.

A file is skipped when the object at its key has the same size and checksum: the ETag S3 gives an
upload, which is the MD5 of the file, or for a multipart upload the MD5 of its parts' MD5s (byoc
sets the part size, so it can compute that too). Objects encrypted with SSE-KMS carry another
ETag, so they are always uploaded again. By default a dataset goes under a prefix named after its
content, so a second `byoc train` on the same data uploads nothing.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from byoc.contract import CHANNEL_ALIASES, CHANNELS, TRAIN
from byoc.driver.aws import Aws, ensure_bucket, owner_check, split_s3_uri
from byoc.driver.channels import split_channel_dirs
from byoc.errors import UserError

log = logging.getLogger(__name__)

PART_BYTES = 8 * 1024 * 1024  # multipart threshold and part size (boto3's defaults, pinned)
DEFAULT_WORKERS = 16
FINGERPRINT_LENGTH = 16  # hex digits of the dataset's SHA-256 in its default prefix


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: where it is, its key below the prefix, and what S3 will call it."""

    path: Path
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Uploaded:
    sent: int
    skipped: int


def expected_etag(path: Path) -> str:
    """The ETag S3 gives `path` when it is uploaded with PART_BYTES parts."""
    digests = []
    with path.open("rb") as fh:
        while chunk := fh.read(PART_BYTES):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    if len(digests) <= 1 and path.stat().st_size < PART_BYTES:
        return (digests[0] if digests else hashlib.md5(b"", usedforsecurity=False).digest()).hex()
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def local_files(root: Path) -> list[LocalFile]:
    files = sorted(p for p in Path(root).rglob("*") if p.is_file())
    if not files:
        raise UserError(f"{root} holds no files to upload.")
    return [LocalFile(p, p.relative_to(root).as_posix(), p.stat().st_size, expected_etag(p))
            for p in files]


def fingerprint(channels: Mapping[str, list[LocalFile]]) -> str:
    """A short digest of every channel's file names, sizes and checksums."""
    digest = hashlib.sha256()
    for channel in sorted(channels):
        for f in channels[channel]:
            digest.update(f"{channel}/{f.key}\t{f.size}\t{f.etag}\n".encode())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def _remote(s3, bucket: str, prefix: str, owner: dict) -> dict[str, tuple[int, str]]:
    """Size and ETag of every object below `prefix`."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **owner)
    return {o["Key"]: (o["Size"], o["ETag"].strip('"'))
            for page in pages for o in page.get("Contents", [])}


def sync(aws: Aws, files: list[LocalFile], s3_uri: str, *, workers: int = DEFAULT_WORKERS,
         progress: Callable[[int, int], None] | None = None) -> Uploaded:
    """Upload the files missing or different below `s3_uri`, `workers` at a time.

    Refuses a prefix that holds objects not among `files`: SageMaker would read them as part of
    the channel.
    """
    from boto3.s3.transfer import create_transfer_manager

    bucket, prefix = split_s3_uri(s3_uri.rstrip("/") + "/")
    owner = owner_check(aws, bucket)
    s3 = aws.client("s3", max_pool_connections=max(workers, 10))
    remote = _remote(s3, bucket, prefix, owner)
    extra = sorted(set(remote) - {prefix + f.key for f in files})
    if extra:
        raise UserError(
            f"s3://{bucket}/{prefix} holds {len(extra)} object(s) that are not in the local data, "
            f"e.g. {extra[0]}; SageMaker would train on them too. Remove them (aws s3 rm "
            f"s3://{bucket}/{prefix} --recursive) or upload to another prefix."
        )
    todo = [f for f in files if remote.get(prefix + f.key) != (f.size, f.etag)]
    config = _transfer_config(workers)
    # A sliding window of 2 × workers transfers: a large channel does not queue every file at
    # once, and an interrupted sync leaves at most the window's files in flight (the next sync
    # skips what arrived).
    queue = iter(todo)
    with create_transfer_manager(s3, config) as manager:
        def submit(file: LocalFile) -> None:
            pending.append(manager.upload(str(file.path), bucket, prefix + file.key,
                                          extra_args=owner))

        pending: collections.deque = collections.deque()
        for file in itertools.islice(queue, 2 * workers):
            submit(file)
        done = 0
        while pending:
            pending.popleft().result()
            done += 1
            if progress:
                progress(done, len(todo))
            for file in itertools.islice(queue, 1):
                submit(file)
    return Uploaded(sent=len(todo), skipped=len(files) - len(todo))


def _transfer_config(workers: int):
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                          max_concurrency=workers, use_threads=workers > 1)


def put_file(aws: Aws, path: Path, s3_uri: str) -> bool:
    """Upload one file to `s3_uri` unless the object there has its size and checksum already;
    whether it was sent. For archives byoc names after their content (sourcedir.tar.gz, a
    repacked model), which sit beside objects that are not ours to judge."""
    import botocore.exceptions

    bucket, key = split_s3_uri(s3_uri)
    owner = owner_check(aws, bucket)
    s3 = aws.client("s3")
    local = LocalFile(path, key, path.stat().st_size, expected_etag(path))
    try:
        head = s3.head_object(Bucket=bucket, Key=key, **owner)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    else:
        if (head["ContentLength"], head["ETag"].strip('"')) == (local.size, local.etag):
            return False
    s3.upload_file(str(path), bucket, key, ExtraArgs=owner or None,
                   Config=_transfer_config(DEFAULT_WORKERS))
    return True


def stage_data(aws: Aws, data: str, s3_base: str, upload_to: str | None = None
               ) -> dict[str, str]:
    """Channels for `data`. An S3 prefix is used in place, split by its train/validation/test
    sub-prefixes. A local directory is synced to `upload_to`, or by default to a prefix below
    `s3_base` named after its content, one sub-prefix per channel (see `sync`)."""
    if data.startswith("s3://"):
        return _s3_channels(aws, data)
    local = {name: local_files(path) for name, path in split_channel_dirs(data).items()}
    prefix = (upload_to or f"{s3_base.rstrip('/')}/{fingerprint(local)}").rstrip("/")
    bucket, _ = split_s3_uri(prefix)
    ensure_bucket(aws, bucket)
    channels = {}
    for name, files in local.items():
        uri = f"{prefix}/{name}/"
        done = sync(aws, files, uri)
        log.info("%s: %d file(s) uploaded, %d already there", uri, done.sent, done.skipped)
        channels[name] = uri
    return channels


def _s3_channels(aws: Aws, uri: str) -> dict[str, str]:
    bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/")
    subdirs = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    channels = {}
    for sub in subdirs:
        name = sub[len(prefix):].rstrip("/")
        name = CHANNEL_ALIASES.get(name, name)
        if name in CHANNELS:
            channels[name] = f"s3://{bucket}/{sub}"
    return channels if TRAIN in channels else {TRAIN: f"s3://{bucket}/{prefix}"}
