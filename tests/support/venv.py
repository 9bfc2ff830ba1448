"""A throwaway virtualenv for tests that pip-install the user's requirements or package, so the
interpreter the tests run in stays as it was, and small local packages to install into it.

The venv sees this interpreter's packages (numpy, byoc's dependencies, pip, setuptools) through
a .pth file, because `--system-site-packages` reaches only the base installation when the tests
themselves run in a venv. PIP_ENV makes pip use what is on disk: no index, no build isolation
(which would download setuptools), so a test never downloads anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

PIP_ENV = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def make(path: Path) -> Path:
    """Create a venv at `path` and return its bin directory (put it first on PATH)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(path)], check=True)
    bin_dir = path / "bin"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(bin_dir / "python"), "-c", code], check=True,
                             capture_output=True, text=True).stdout.strip()
    # addsitedir, not a bare path: the parent's own .pth files (an editable byoc) count too.
    parent = sysconfig.get_paths()["purelib"]
    Path(purelib, "_tests_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return bin_dir


def env(bin_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose `python3` and `pip` are the venv's."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(PIP_ENV)
    return env


def package(directory: Path, module: str, body: str = "VALUE = 42\n",
            pyproject: bool = False) -> Path:
    """A tiny installable package: `module/__init__.py` with `body`, and setup.py (or
    pyproject.toml) naming it `module` with dashes."""
    (directory / module).mkdir(parents=True)
    (directory / module / "__init__.py").write_text(body)
    name = module.replace("_", "-")
    if pyproject:
        (directory / "pyproject.toml").write_text(textwrap.dedent(f"""\
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "0.1"

            [tool.setuptools]
            packages = ["{module}"]
            """))
    else:
        (directory / "setup.py").write_text(
            f"from setuptools import setup\nsetup(name={name!r}, version='0.1', "
            f"packages=[{module!r}])\n")
    return directory
