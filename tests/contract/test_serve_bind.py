"""Where the server listens: loopback for `byoc local serve` in process mode unless --host says
otherwise; every address inside the container, as SageMaker requires."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from byoc import contract
from byoc.driver.local import process
from byoc.serving.server import ServerSettings
from tests.support.executables import exe_env
from tests.support.serving import as_at_a_terminal, free_port


def test_the_container_binds_every_address_and_the_host_variable_narrows_it():
    assert ServerSettings.from_env({}).host == "0.0.0.0"
    assert ServerSettings.from_env({contract.BIND_HOST_ENV: "127.0.0.1"}).host == "127.0.0.1"


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_local_serve_in_process_mode_listens_on_loopback_only(trained_model_dir):
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no address besides loopback to try")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "byoc.cli", "local", "serve", "--model", str(trained_model_dir),
         "--port", str(port), "--workers", "1"],
        env=exe_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=as_at_a_terminal)
    try:
        process.wait_for_ping(f"http://127.0.0.1:{port}", timeout=180,
                              alive=lambda: proc.poll() is None)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outward, port), timeout=5).close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert "on 127.0.0.1:" in out, out[-2000:]
