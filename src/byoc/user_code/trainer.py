"""The user's modules in byoc's own trainer: the `model` and `loss` hyperparameters given as
`MODULE:FUNCTION`, where the source directory is, and the hyperparameters the modules declare.

A module declares its own hyperparameters with defaults, `HYPERPARAMETERS = {"dropout": 0.3}`.
They are read from the module's source, without running it: checking hyperparameters never
loads TensorFlow (the driver checks `--hp` the same way) and fails before anything is paid for.
The same reading finds a module that is missing, does not parse, or lacks the function. Importing
happens in the trainer, once TensorFlow is loaded (`import_functions`); calling and checking them
is byoc.model.custom's and byoc.training.losses' job.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from byoc.errors import UserError
from byoc.user_code import modules, source

log = logging.getLogger("byoc")

# The hyperparameters that may name user code, and what each function is for (in messages).
REFERENCE_KEYS = {"model": "the model function", "loss": "the loss function"}
DECLARATION = "HYPERPARAMETERS"
# The types a declared default may have; a value given for it is parsed as the same type.
DEFAULT_TYPES = (bool, int, float, str)


def references(raw: Mapping[str, object]) -> dict[str, str]:
    """The hyperparameters among REFERENCE_KEYS whose value is `MODULE:FUNCTION`, by key."""
    found = {}
    for key in REFERENCE_KEYS:
        value = _value(raw, key)
        if value is not None and modules.is_reference(value.strip()):
            found[key] = value.strip()
    return found


def _value(raw: Mapping[str, object], key: str) -> str | None:
    """A hyperparameter's text, JSON-decoded as the SDK may have encoded it."""
    return None if raw.get(key) is None else source.decoded_str(str(raw[key]))


def locate(raw: Mapping[str, object], code_dir: Path) -> Path:
    """The job's source directory for `MODULE:FUNCTION` hyperparameters: the SDK's
    `sagemaker_submit_directory` (fetched and unpacked into `code_dir` when it is an archive), or
    `code_dir` itself (/opt/ml/code, where SDK local mode mounts the code)."""
    location = _value(raw, source.SUBMIT_DIR_HP)
    if location:
        return source.fetch(location, code_dir)
    if code_dir.is_dir():
        return code_dir
    named = ", ".join(f"{k}={v}" for k, v in references(raw).items())
    raise UserError(f"{named} names a function in your source directory, but this job has "
                    f"none: give the estimator source_dir=... (the hyperparameter "
                    f"{source.SUBMIT_DIR_HP}), `byoc train --source-dir DIR`, or put the code "
                    f"in {code_dir}.")


@dataclass(frozen=True)
class Declared:
    """A hyperparameter a user module declares: its default, and which module said so."""

    default: bool | int | float | str
    module: str


def declared_hyperparameters(source_dir: Path, refs: Mapping[str, str]) -> dict[str, Declared]:
    """Check each referenced module (present, parses, defines the function) and return the
    hyperparameters the modules declare, by name. Raises UserError saying what to fix."""
    declared: dict[str, Declared] = {}
    for key, reference in refs.items():
        module_name, _, function = reference.partition(":")
        what = f"{REFERENCE_KEYS[key]} ({key}={reference})"
        path = module_file(source_dir, module_name, what=what)
        tree = _parse(path, what)
        defined = _top_level_names(tree)
        head = function.split(".")[0]
        if defined is not None and head not in defined:
            close = _close(head, defined)
            raise UserError(f"{path.name} in {source_dir} has no function '{function}' "
                            f"({what}).{close} Define it there, or fix the name after the colon.")
        for name, default in _declaration(tree, path).items():
            earlier = declared.get(name)
            if earlier is not None and earlier.default != default:
                raise UserError(
                    f"Both {file_name(earlier.module)} and {file_name(module_name)} declare the "
                    f"hyperparameter '{name}' in {DECLARATION}, with different defaults "
                    f"({earlier.default!r} and {default!r}). Declare it in one module only.")
            declared[name] = Declared(default, earlier.module if earlier else module_name)
    return declared


def file_name(module_name: str) -> str:
    """`pkg.model` → pkg/model.py, for messages."""
    return module_name.replace(".", "/") + ".py"


def module_file(source_dir: Path, module_name: str, *, what: str) -> Path:
    """The file of `module_name` (`pkg.model` → pkg/model.py or pkg/model/__init__.py)."""
    base = Path(source_dir, *module_name.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise UserError(f"The module '{module_name}' ({what}) is not in the source directory "
                    f"{source_dir}: expected {module_name.replace('.', '/')}.py there. Check the "
                    "name before the colon, and that the source directory holds your code.")


def _parse(path: Path, what: str) -> ast.Module:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise UserError(f"{path.name} ({what}) is not valid Python: {exc.msg}, line "
                        f"{exc.lineno}. Fix the module.") from None
    except (OSError, ValueError) as exc:  # unreadable, or NUL bytes
        raise UserError(f"{path} ({what}) cannot be read as Python: {exc}.") from None


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """The names the module binds at its top level; None when it cannot be known without running
    it (`from x import *`, a module `__getattr__`)."""
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        # What a top-level if/try/with/for binds is bound too when the module runs.
        for field in ("body", "orelse", "finalbody", "handlers"):
            pending.extend(getattr(node, field, ()))
    return None if "__getattr__" in names else names


def _close(name: str, defined: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(defined), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _declaration(tree: ast.Module, path: Path) -> dict[str, bool | int | float | str]:
    """The module's HYPERPARAMETERS: a dict literal of names to bool, int, float or str."""
    node = None
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name) == DECLARATION for a in statement.names):
            raise UserError(f"{path.name} imports {DECLARATION} (line {statement.lineno}); "
                            "byoc reads it without running your code, so write the dict out "
                            "in this module itself.")
        if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == DECLARATION for t in statement.targets):
            node = statement
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                and statement.target.id == DECLARATION and statement.value is not None:
            node = statement
    if node is None:
        return {}
    where = f"{DECLARATION} in {path.name} (line {node.lineno})"
    example = '{"dropout": 0.3, "units": 128}'
    try:
        value = ast.literal_eval(node.value)
    except ValueError:
        raise UserError(f"{where} must be written out as a dict of names to default values, "
                        f"like {example}: byoc reads it without running your code, so its values "
                        "cannot be computed.") from None
    if not isinstance(value, dict):
        raise UserError(f"{where} is a {type(value).__name__}; it must be a dict of names to "
                        f"default values, like {example}.")
    out = {}
    for name, default in value.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise UserError(f"{where} has the key {name!r}; keys are hyperparameter names, like "
                            "'dropout' (letters, digits and underscores).")
        if not isinstance(default, DEFAULT_TYPES):
            raise UserError(f"{where} gives '{name}' the default {default!r} "
                            f"({type(default).__name__}); a default is a bool, int, float or "
                            "str, and the values given for it are parsed as the same type.")
        out[name] = default
    return out


@dataclass(frozen=True)
class Imported:
    """The user's functions for byoc's trainer, imported from their source directory."""

    source_dir: Path
    references: dict[str, str]  # by hyperparameter: {"model": "model:build_model"}
    functions: dict[str, Callable]

    def module(self, key: str) -> str:
        return self.references[key].partition(":")[0]


def import_functions(raw: Mapping[str, object], code_dir: Path) -> Imported | None:
    """Find the source directory, install its requirements.txt, and import the functions that
    `model` and `loss` name. None when neither names user code. TensorFlow should be loaded
    (and a multi-host strategy made) first: the user's modules may create tensors at import."""
    refs = references(raw)
    if not refs:
        return None
    source_dir = locate(raw, code_dir)
    source.install_requirements(source_dir)
    functions = {key: modules.function(source_dir, ref,
                                       what=f"{REFERENCE_KEYS[key]} ({key}={ref})")
                 for key, ref in refs.items()}
    log.info("Using your %s from %s", " and ".join(
        f"{key} {ref}" for key, ref in refs.items()), source_dir)
    return Imported(source_dir, refs, functions)
