"""Run a notebook top to bottom in a fresh kernel of this interpreter, and render one to HTML.

The kernel is always this interpreter (`sys.executable -m ipykernel_launcher`), named by a kernel
spec written for the run: a fresh virtualenv needs no `ipython kernel install`, and a `python3`
kernel spec the user installed for another environment is never picked by mistake.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "byoc-python"
DISPLAY_NAME = "Python (byoc)"
CELL_TIMEOUT = 1800  # seconds per cell: a candidate's cross-validation may take minutes


def _quiet() -> logging.Logger:
    """The logger nbclient and nbconvert get: their INFO lines ("Executing notebook with
    kernel") and accessibility notes on plots say nothing a user of byoc acts on; a failing
    cell still raises with its traceback."""
    log = logging.getLogger("byoc.tabular.notebook_kernel.jupyter")
    log.setLevel(logging.ERROR)
    return log


def kernel_spec() -> dict:
    """The kernel spec (kernel.json) of this interpreter's ipykernel."""
    return {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": False}}


def execute(notebook, cwd: Path, timeout: int = CELL_TIMEOUT):
    """Execute `notebook` (nbformat) in place, in a fresh kernel, with `cwd` as its working
    directory; a failing cell raises nbclient's CellExecutionError with the cell's traceback."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="byoc-kernel-") as specs:
        folder = Path(specs) / KERNEL_NAME
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(kernel_spec()))
        # IPC sockets in the temporary directory: no TCP port open to the machine.
        manager = KernelManager(kernel_name=KERNEL_NAME, transport="ipc",
                                ip=str(Path(specs) / "kernel"),
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=[specs]))
        client = NotebookClient(notebook, km=manager, kernel_name=KERNEL_NAME, timeout=timeout,
                                resources={"metadata": {"path": str(cwd)}}, log=_quiet())
        # nbclient sets its own SIGTERM handler while it runs and leaves the default one after;
        # byoc's (SIGTERM stops a command as Ctrl-C does) comes back afterwards.
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            # cleanup_kc: stop the kernel and its channels, which nbclient otherwise leaves to
            # whoever made the kernel manager.
            client.execute(cwd=str(cwd), cleanup_kc=True)
        finally:
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
            if sigterm is not None:
                signal.signal(signal.SIGTERM, sigterm)
    # Readers open it with their own Python 3 kernel, not the spec above, gone with the run.
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def to_html(notebook, path: Path) -> Path:
    """The executed notebook as one self-contained HTML page (its plots inline)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="classic", log=_quiet()).from_notebook_node(notebook)
    path.write_text(body, encoding="utf-8")
    return path
