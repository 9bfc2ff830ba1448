"""The layout's rules, checked on the source: the container never imports the driver, light
modules stay light, and no two modules of byoc import each other (directly or in a ring)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """byoc modules that `path` imports anywhere in it, lazy imports inside functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "byoc" or m.startswith("byoc.")}


def _third_party_imports(path: Path) -> set[str]:
    """Top-level names of everything `path` imports, lazy imports inside functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.partition(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").partition(".")[0])
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # `from byoc.x import y` names a module when y is one, else the module x itself.
        graph[name] = {m for m in _imports(path, name) if m in modules} - {name}
    return graph


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            # A package's __init__ importing its own submodule is how packages re-export.
            if node and nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def test_the_container_contract_imports_no_driver_code():
    loaded = _loaded_after_import("byoc.contract")
    assert not {m for m in loaded if m.startswith("byoc.driver")}


@pytest.mark.parametrize("module", ["byoc.archives", "byoc.bundle", "byoc.metric_lines",
                                    "byoc.hyperparams", "byoc.contract", "byoc.training",
                                    "byoc.cli", "byoc.api", "byoc.gpu", "byoc.entrypoints",
                                    "byoc.user_code.script", "byoc.user_code.environment",
                                    "byoc.content_types", "byoc.driver.model_packages"])
def test_light_modules_load_no_tensorflow(module):
    loaded = _loaded_after_import(module)
    assert not loaded & {"tensorflow", "keras", "matplotlib"}, module


def test_the_command_line_parser_loads_no_pandas_or_scikit_learn():
    """Every `byoc` command builds the whole parser first, `autopilot local` too: pandas alone
    would add a second to each of them. The tabular verbs load it when their action runs."""
    code = ("import sys; from byoc.cli import build_parser; build_parser(); "
            "print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert not set(out.split()) & {"pandas", "sklearn", "xgboost", "tensorflow"}


def test_only_the_command_line_imports_argparse():
    cli = SRC / "byoc" / "cli"
    outside = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                     if cli not in p.parents and "argparse" in _third_party_imports(p))
    assert not outside, f"argparse outside byoc/cli: {outside}"
    assert any("argparse" in _third_party_imports(p) for p in cli.rglob("*.py"))


def test_no_library_module_imports_the_command_line():
    graph = _graph()
    offenders = {m: sorted(d for d in deps if d == "byoc.cli" or d.startswith("byoc.cli."))
                 for m, deps in graph.items() if not (m == "byoc.cli" or m.startswith("byoc.cli."))}
    assert not {m: d for m, d in offenders.items() if d}


def test_no_container_module_imports_the_driver():
    graph = _graph()
    container = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in
                 ("contract", "training", "serving", "evaluation", "bundle", "model", "data",
                  "entrypoints", "user_code")]
    offenders = {m: sorted(d for d in graph[m] if d.startswith("byoc.driver")) for m in container}
    assert not {m: d for m, d in offenders.items() if d}


@pytest.mark.parametrize("module", ["byoc.tracking_config", "byoc.driver.runs",
                                    "byoc.cli.training_verbs", "byoc.cli.hosting_verbs",
                                    "byoc.cli.local_verbs", "byoc.cli.registry_verbs",
                                    "byoc.driver.model_packages", "byoc.cli", "byoc.api"])
def test_mlflow_is_imported_only_when_tracking_is_asked_for(module):
    loaded = _loaded_after_import(module)
    assert not {m for m in loaded if m == "mlflow" or m.startswith("mlflow.")}, module


def test_no_two_modules_share_a_name():
    """A name says what a module holds: `byoc.tracking_config`, not a third `tracking`."""
    by_name: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        if path.stem not in ("__init__", "__main__"):
            by_name.setdefault(path.stem, []).append(str(path.relative_to(SRC)))
    assert not {name: paths for name, paths in by_name.items() if len(paths) > 1}


def test_the_driver_imports_no_training_serving_or_evaluation_code():
    """The driver reads what a job leaves (byoc.job_summary) without the code that made it."""
    graph = _graph()
    driver = [m for m in graph if m in ("byoc.api", "byoc.cli") or
              m.startswith(("byoc.driver.", "byoc.cli.", "byoc.api."))]
    container = ("byoc.training", "byoc.serving", "byoc.evaluation", "byoc.model")
    offenders = {m: sorted(d for d in graph[m] if d.startswith(container)) for m in driver}
    assert driver and not {m: d for m, d in offenders.items() if d}


def test_tests_share_helpers_through_support_not_each_other():
    """A helper two test modules use lives in tests/support; no test module imports another,
    and neither tests/ nor benchmarks/ changes sys.path to reach the other."""
    root = SRC.parent
    offenders = []
    for path in [*(root / "tests").rglob("*.py"), *(root / "benchmarks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.startswith("tests.") and n.rpartition(".")[2].startswith("test_")
                   for n in names):
                offenders.append(f"{path.relative_to(root)}:{node.lineno} imports a test module")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and \
                    ast.unparse(node.value) == "sys.path":
                offenders.append(f"{path.relative_to(root)}:{node.lineno} changes sys.path")
    assert not offenders
