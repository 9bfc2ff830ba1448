"""The SDK is a client byoc is tested against, never a dependency of the `byoc` command."""

from __future__ import annotations

import ast

import pytest

from tests.support.executables import REPO


def _requirement_names(extra: str) -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["optional-dependencies"][extra]
    return {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip()
            for r in requirements}


def test_the_driver_extra_does_not_install_the_sdk():
    assert "sagemaker" not in _requirement_names("driver")
    assert "sagemaker" in _requirement_names("sdk")


def test_no_module_of_byoc_imports_the_sdk():
    importers = []
    for path in sorted((REPO / "src" / "byoc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "sagemaker" or name.startswith("sagemaker.") for name in names):
                importers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert importers == []
