"""`byoc invoke --async`: send files to an asynchronous endpoint and print its answers.

Each file goes to S3, InvokeEndpointAsync queues it, and SageMaker writes the answer to the
output location it returns, or the error to the failure location. The wait polls both, shows
how many have answered, and gives up at a deadline, saying where the answers will appear.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from byoc.driver.aws import Aws, data_bucket, ensure_bucket, split_s3_uri, upload_file
from byoc.driver.invoke import format_response, read_request, runtime_client
from byoc.driver.waiting import StatusLine, WaitTimeout
from byoc.errors import UserError

POLL_SECONDS = 5.0
# SageMaker gives an asynchronous request up to an hour of processing, after its time queued.
DEFAULT_TIMEOUT = 3600
# What S3 calls an object stored without a content type.
_UNTYPED = ("", "binary/octet-stream", "application/octet-stream")


@dataclass(frozen=True)
class Submitted:
    """One queued request: the file, where its input went, where its answer will appear."""

    file: str
    inference_id: str
    input: str
    output: str
    failure: str | None


@dataclass(frozen=True)
class Answer:
    submitted: Submitted
    body: bytes
    content_type: str
    failed: bool


class AsyncWaitTimeout(WaitTimeout):
    """The deadline passed with requests unanswered; `pending` says where their answers go."""

    def __init__(self, endpoint: str, timeout: float, answers: list[Answer],
                 pending: list[Submitted]) -> None:
        super().__init__(f"the answers of endpoint {endpoint}", timeout)
        self.answers = answers
        self.pending = pending


def input_prefix(aws: Aws, endpoint: str, upload_to: str | None) -> str:
    """Where the inputs go: --upload-to, else a fresh prefix in byoc's bucket."""
    if upload_to:
        split_s3_uri(upload_to)
        return upload_to.rstrip("/") + "/"
    bucket = data_bucket(aws)
    ensure_bucket(aws, bucket)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"s3://{bucket}/byoc/async-input/{endpoint}/{stamp}-{uuid.uuid4().hex[:8]}/"


def submit(aws: Aws, endpoint: str, files: Sequence[str], top_k: int,
           upload_to: str | None = None) -> list[Submitted]:
    """Upload each file (under `upload_to`, else a fresh prefix) and queue it; every file is
    checked before any upload."""
    requests = [(file, read_request(file)[1]) for file in files]
    names = [Path(f).name for f in files]
    if len(set(names)) != len(names):
        raise UserError("Two files share a name; their inputs would overwrite each other "
                        "under the same S3 prefix. Rename one, or send them separately.")
    prefix = input_prefix(aws, endpoint, upload_to)
    runtime = runtime_client(aws)
    queued = []
    for (file, headers), name in zip(requests, names, strict=True):
        location = upload_file(aws, Path(file), prefix + name)
        answer = runtime.invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=location, **headers,
            CustomAttributes=f"top_k={top_k}")
        queued.append(Submitted(file, answer["InferenceId"], location, answer["OutputLocation"],
                                answer.get("FailureLocation")))
    return queued


def _fetch(s3, uri: str | None) -> tuple[bytes, str] | None:
    """The object's body and content type, or None while it is not there."""
    if uri is None:
        return None
    bucket, key = split_s3_uri(uri)
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    return obj["Body"].read(), obj.get("ContentType", "")


def wait(aws: Aws, endpoint: str, queued: list[Submitted], *, timeout: float = DEFAULT_TIMEOUT,
         interval: float = POLL_SECONDS, stream: TextIO | None = None,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> list[Answer]:
    """Poll the output and failure locations until every request has one; in `queued` order.

    Raises AsyncWaitTimeout when the deadline passes first (checked between polls).
    """
    s3 = aws.client("s3")
    line = StatusLine(f"async requests to {endpoint}", stream=stream, clock=clock)
    answers: dict[str, Answer] = {}
    deadline = clock() + timeout
    while True:
        for request in queued:
            if request.file in answers:
                continue
            for uri, failed in ((request.output, False), (request.failure, True)):
                found = _fetch(s3, uri)
                if found:
                    answers[request.file] = Answer(request, *found, failed=failed)
                    break
        failed = sum(a.failed for a in answers.values())
        line.update(f"{len(answers)} of {len(queued)} answered",
                    f"{failed} failed" if failed else "")
        ordered = [answers[r.file] for r in queued if r.file in answers]
        if len(answers) == len(queued):
            return ordered
        remaining = deadline - clock()
        if remaining <= 0:
            raise AsyncWaitTimeout(endpoint, timeout, ordered,
                                   [r for r in queued if r.file not in answers])
        sleep(min(interval, remaining))


def answer_lines(answer: Answer) -> list[str]:
    """What to print for an answer, as `byoc invoke` prints a synchronous one."""
    name = Path(answer.submitted.file).name
    if answer.failed:
        text = answer.body.decode("utf-8", errors="replace").strip()
        return [f"{name}: failed: {text[:1000]}"]
    content_type = answer.content_type
    if content_type in _UNTYPED and answer.body.lstrip()[:1] in (b"{", b"["):
        content_type = "application/json"  # S3 may not keep the type the container answered
    return format_response(name, answer.body, content_type)


NO_FAILURE_PATH = "none: the endpoint has no --async-failure path; errors are in its log"


def location_lines(queued: list[Submitted]) -> list[str]:
    lines = []
    for request in queued:
        lines.append(f"{Path(request.file).name}: inference {request.inference_id}")
        lines.append(f"  output:  {request.output}")
        lines.append(f"  failure: {request.failure or NO_FAILURE_PATH}")
    return lines
