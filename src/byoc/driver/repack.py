"""The user's inference code put into a model archive under code/, as the SageMaker Python SDK's
repack does when a Model has an entry point: the endpoint then finds its handlers in
/opt/ml/model/code.

The model is downloaded and read with byoc.archives' checks; a code/ already in it is replaced.
The new archive goes beside the original, named after its content, so the training job's own
model.tar.gz is never overwritten, and an unchanged model and code are not sent again.
"""

from __future__ import annotations

import logging
import posixpath
import tempfile
from pathlib import Path

from byoc import archives
from byoc.driver import upload
from byoc.driver.aws import Aws, owner_check, split_s3_uri
from byoc.driver.sourcedir import SourceCode, digest, write_archive
from byoc.errors import UserError

log = logging.getLogger(__name__)

CODE = "code"
PREFIX = "model-code-"  # the repacked archive's name: model-code-DIGEST.tar.gz


def repacked_uri(model_data: str, archive_digest: str) -> str:
    """Where the repacked archive goes: beside `model_data`."""
    bucket, key = split_s3_uri(model_data)
    name = f"{PREFIX}{archive_digest}.tar.gz"
    folder = posixpath.dirname(key)
    return f"s3://{bucket}/{folder}/{name}" if folder else f"s3://{bucket}/{name}"


def repack(aws: Aws, model_data: str, code: SourceCode) -> str:
    """Upload `model_data` with `code` under code/ beside it; return the new archive's URI."""
    import botocore.exceptions

    bucket, key = split_s3_uri(model_data)
    with tempfile.TemporaryDirectory(prefix="byoc-repack-") as tmp:
        original = Path(tmp) / "model.tar.gz"
        try:
            with open(original, "wb") as fh:
                aws.client("s3").download_fileobj(bucket, key, fh,
                                                  ExtraArgs=owner_check(aws, bucket))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise UserError(f"No model archive at {model_data}; check --model-data, or that "
                                "the training job completed.") from None
            raise
        model_dir = Path(tmp) / "model"
        archives.extract(original, model_dir, label=model_data)
        kept = [(path.relative_to(model_dir).as_posix(), path)
                for path in model_dir.rglob("*")]
        replaced = any(name == CODE or name.startswith(f"{CODE}/") for name, _ in kept)
        members = [(name, path) for name, path in kept
                   if not (name == CODE or name.startswith(f"{CODE}/"))]
        members += [(f"{CODE}/{name}", path) for name, path in code.files]
        repacked = write_archive(members, Path(tmp) / "repacked.tar.gz")
        uri = repacked_uri(model_data, digest(repacked))
        sent = upload.put_file(aws, repacked, uri)
    log.info("Repacked %s with %s under %s/%s: %s (%s)", model_data, code.directory, CODE,
             ", replacing the one it had" if replaced else "", uri,
             "uploaded" if sent else "already there")
    return uri
