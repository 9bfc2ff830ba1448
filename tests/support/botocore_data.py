"""botocore's data files (service models, endpoints), parsed once per test session (a fixture).

A command's process makes one boto3 session and parses botocore's JSON data once; the tests call
the command in-process (`byoc.cli.main`) hundreds of times, and each call's new session parsed the
same megabytes of JSON again: most of the CPU time of the moto tests. This keeps the parsed data
of each file for the session, as botocore's own Loader keeps it for one session. botocore treats
that data as read-only (a Loader hands the same object to every caller) and merges a service's
extras into it idempotently, so sharing it between sessions changes nothing the tests see.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def botocore_data_parsed_once() -> Iterator[None]:
    from botocore.loaders import JSONFileLoader

    parse = JSONFileLoader.load_file
    parsed: dict[str, object] = {}

    def load_file(self: JSONFileLoader, file_path: str) -> object:
        if file_path not in parsed:
            parsed[file_path] = parse(self, file_path)
        return parsed[file_path]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JSONFileLoader, "load_file", load_file)
        yield
