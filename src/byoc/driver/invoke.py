"""Send files to a model server, a SageMaker endpoint or a local one over HTTP, and print top-k.

One request per file, with the content type the container decodes for the file's extension and
`top_k=K` in SageMaker's custom-attributes header. On a multi-model endpoint, `target_model`
names the model (its key under the endpoint's prefix); a local multi-model server is sent the
same request at /models/NAME/invoke.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from byoc.contract import CUSTOM_ATTRIBUTES_HEADER, TARGET_MODEL_HEADER
from byoc.driver.aws import Aws
from byoc.errors import UserError

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".ppm": "image/x-portable-pixmap",
    ".npy": "application/x-npy",
    ".json": "application/json",
    ".csv": "text/csv",
}
ACCEPT = "application/json"
# CSV goes to tabular (Autopilot) containers, which answer in their own default format.
NO_ACCEPT = ("text/csv",)
# SageMaker gives a container 60 s per invocation. Waiting longer lets the endpoint's own
# timeout answer arrive instead of a client-side one (the SageMaker SDK waits 80 s too).
READ_TIMEOUT = 80
# An invocation is never sent twice: after a read timeout the model may still be working on it,
# and it may not be idempotent. Throttling is retried here instead, with backoff: the endpoint
# refused the request, so it did not run.
THROTTLING_CODES = ("ThrottlingException", "TooManyRequestsException")
THROTTLING_ATTEMPTS = 4
BACKOFF_SECONDS = 1.0


def content_type(path: Path) -> str:
    try:
        return CONTENT_TYPES[path.suffix.lower()]
    except KeyError:
        raise UserError(
            f"Cannot tell the content type of {path.name}: use one of "
            f"{', '.join(CONTENT_TYPES)}."
        ) from None


def read_request(path: str | Path) -> tuple[bytes, dict[str, str]]:
    """The body and the content headers of the request for one file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is not a file.")
    ctype = content_type(path)
    headers = {"ContentType": ctype}
    if ctype not in NO_ACCEPT:
        headers["Accept"] = ACCEPT
    return path.read_bytes(), headers


def format_response(name: str, body: bytes, response_type: str) -> list[str]:
    """Lines to print for one answer: the top-k table for our JSON, anything else as returned."""
    text = body.decode("utf-8", errors="replace")
    if not response_type.startswith("application/json"):
        return [f"{name}:", *(f"  {line}" for line in text.strip().splitlines())]
    try:
        predictions = json.loads(text)["predictions"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return [f"{name}: {text.strip()}"]
    lines = []
    for i, prediction in enumerate(predictions):
        label = name if len(predictions) == 1 else f"{name}[{i}]"
        lines.append(f"{label}: {prediction['label']} (class {prediction['class_id']}, "
                     f"p={prediction['probability']:.4f})")
        for rank, entry in enumerate(prediction.get("top_k", []), 1):
            lines.append(f"  {rank}. {entry['label']:<40} {entry['probability']:.4f}  "
                         f"(class {entry['class_id']})")
    return lines


@dataclass(frozen=True)
class Response:
    """One file's answer: as the endpoint sent it, with byoc's predictions read out of it.

    Attributes:
        file: the file's name.
        body: the answer's bytes.
        content_type: the answer's content type.
    """

    file: str
    body: bytes
    content_type: str

    @property
    def predictions(self) -> list[dict] | None:
        """byoc's JSON answer: one dict per input (label, class_id, probability, top_k); None
        for any other answer."""
        if not self.content_type.startswith("application/json"):
            return None
        try:
            found = json.loads(self.body.decode("utf-8", errors="replace"))["predictions"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return None
        return found if isinstance(found, list) else None

    def lines(self) -> list[str]:
        """The answer as `byoc invoke` prints it."""
        return format_response(self.file, self.body, self.content_type)


def runtime_client(aws: Aws):
    """sagemaker-runtime with an 80 s read timeout and no resend by botocore (see above)."""
    return aws.client("sagemaker-runtime", read_timeout=READ_TIMEOUT,
                      retries={"total_max_attempts": 1})


def _invoke(runtime, endpoint: str, file: str, request: dict) -> dict:
    import botocore.exceptions

    attempt = 1
    while True:
        try:
            return runtime.invoke_endpoint(EndpointName=endpoint, **request)
        except runtime.exceptions.ModelError as exc:
            raise UserError(f"The model rejected {file}: {exc.response['Error']['Message']}"
                            ) from None
        except botocore.exceptions.ReadTimeoutError:
            raise UserError(
                f"Endpoint {endpoint} sent no answer for {file} within {READ_TIMEOUT} s; byoc "
                "does not send an invocation twice. Look in the endpoint's CloudWatch log group "
                f"/aws/sagemaker/Endpoints/{endpoint} for what the container did, then retry, or "
                "send a smaller file."
            ) from None
        except botocore.exceptions.ClientError as exc:
            if (exc.response.get("Error", {}).get("Code") not in THROTTLING_CODES
                    or attempt == THROTTLING_ATTEMPTS):
                raise
        time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        attempt += 1


def invoke_endpoint(aws: Aws, endpoint: str, files: Iterable[str], top_k: int,
                    target_model: str | None = None) -> list[Response]:
    """Send each file to a SageMaker endpoint, one request each, and return the answers."""
    runtime = runtime_client(aws)
    target = {"TargetModel": target_model} if target_model else {}
    answers = []
    for file in files:
        body, headers = read_request(file)
        answer = _invoke(runtime, endpoint, file, {"Body": body, **headers, **target,
                                                   "CustomAttributes": f"top_k={top_k}"})
        answers.append(Response(Path(file).name, answer["Body"].read(),
                                answer.get("ContentType", "")))
    return answers


def invoke_url(url: str, files: Iterable[str], top_k: int,
               target_model: str | None = None) -> list[Response]:
    """Send each file to a local server (`byoc local serve`), one request each."""
    import requests

    route = "/invocations"
    if target_model:
        route = f"/models/{urllib.parse.quote(target_model, safe='')}/invoke"
    answers = []
    with requests.Session() as session:
        for file in files:
            body, headers = read_request(file)
            http_headers = {"Content-Type": headers["ContentType"],
                            CUSTOM_ATTRIBUTES_HEADER: f"top_k={top_k}"}
            if "Accept" in headers:
                http_headers["Accept"] = headers["Accept"]
            if target_model:
                http_headers[TARGET_MODEL_HEADER] = target_model
            try:
                response = session.post(f"{url.rstrip('/')}{route}", data=body,
                                        headers=http_headers, timeout=READ_TIMEOUT)
            except requests.ConnectionError as exc:
                raise UserError(f"Nothing answers at {url} ({exc.__class__.__name__}): start the "
                                "server (byoc local serve) or check --url.") from None
            except requests.Timeout:
                raise UserError(f"{url} sent no answer for {file} within {READ_TIMEOUT} s; it "
                                "was not sent again. See the server's log.") from None
            if response.status_code >= 400:
                raise UserError(f"{url} answered {response.status_code} for {file}: "
                                f"{response.text.strip()[:500]}")
            answers.append(Response(Path(file).name, response.content,
                                    response.headers.get("Content-Type", "")))
    return answers
