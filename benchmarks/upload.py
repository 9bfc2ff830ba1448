"""Dataset upload: one file at a time vs in parallel, and a first run vs a second on the same data.

Starts its own moto server on a loopback port, writes N small files (2,000 by default, 2 KB each,
split over train/validation/test like a dataset), and times `byoc.driver.upload.sync` into a fresh
prefix (first run) and again into the same prefix (second run: every file is checked, none
sent). Both runs hash the local files, as `byoc train` does. A reference row times what the
driver did before: one `upload_file` call per file, every run. Prints a markdown table.
Run: `python -m benchmarks.upload [--files N]`.

moto answers on loopback in well under a millisecond of network time, so the parallel gain here
comes from overlapping request handling on the machine's cores; against real S3, where each PUT
waits tens of milliseconds on the network, it is larger.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from byoc.driver import upload
from byoc.driver.aws import connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = Path(sys.executable).parent / "moto_server"
    with open(workdir / "moto.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([str(moto if moto.exists() else "moto_server"), "-H",
                                 "127.0.0.1", "-p", str(port)], stdout=log,
                                stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def make_files(root: Path, count: int, size: int) -> None:
    for i in range(count):
        split = ("train", "train", "train", "validation", "test")[i % 5]
        path = root / split / f"{i % 43:02d}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=2048, help="bytes per file")
    parser.add_argument("--workers", type=int, default=upload.DEFAULT_WORKERS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="byoc-upload-bench-") as tmp:
        tmp = Path(tmp)
        proc, url = start_moto(tmp)
        try:
            os.environ.update({
                "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE":
                str(tmp / "none"),
            })
            make_files(tmp / "data", args.files, args.size)
            files = upload.local_files(tmp / "data")
            aws = connect()
            s3 = aws.client("s3")
            s3.create_bucket(Bucket="bench")
            rows = []

            def before() -> None:
                for f in files:
                    s3.upload_file(str(f.path), "bench", f"before/{f.key}")

            seconds, _ = timed(before)
            rows.append(("before: one upload_file per file", "every run", len(files), 0,
                         seconds))
            for label, workers in (("sequential (1 worker)", 1),
                                   (f"parallel ({args.workers} workers)", args.workers)):
                prefix = f"s3://bench/{workers}/"
                for run in ("first", "second"):
                    # Each run hashes the local files again, as `byoc train` does.
                    seconds, done = timed(lambda w=workers, p=prefix: upload.sync(
                        aws, upload.local_files(tmp / "data"), p, workers=w))
                    rows.append((label, run, done.sent, done.skipped, seconds))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    print(f"{args.files} files of {args.size} bytes, moto server on loopback\n")
    print("| upload | run | sent | skipped | seconds | files/s |")
    print("|---|---|---:|---:|---:|---:|")
    for label, run, sent, skipped, seconds in rows:
        print(f"| {label} | {run} | {sent} | {skipped} | {seconds:.2f} | "
              f"{(sent + skipped) / seconds:,.0f} |")


if __name__ == "__main__":
    main()
