"""Import the user's modules from their source directory: a `MODULE:FUNCTION` hyperparameter
for byoc's trainer, and the inference handlers module for `serve`.

The directory goes first on `sys.path`, as the toolkits put the code directory, so the user's
modules import each other by name. An import that fails is the user's error, reported with the
exception's type and message and what to check, not as byoc's own traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from byoc.errors import UserError

log = logging.getLogger("byoc")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_reference(value: str) -> bool:
    """Whether a hyperparameter value names user code as `MODULE:FUNCTION`."""
    module, sep, function = value.partition(":")
    return bool(sep) and bool(_NAME.match(module)) and bool(_NAME.match(function))


def add_to_path(source: Path) -> None:
    entry = str(Path(source).resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


def module_name(program: str) -> str:
    """`inference.py` → `inference`; `pkg/handlers.py` → `pkg.handlers`; `inference` as is."""
    name = program[:-3] if program.endswith(".py") else program
    return name.replace("/", ".")


def import_module(source: Path, name: str, *, what: str) -> ModuleType:
    """Import module `name` (or a file name like `inference.py`) from `source`.

    `what` says in errors what the module was for ("the inference handlers module").
    """
    name = module_name(name)
    if not _NAME.match(name):
        raise UserError(f"'{name}' is not a Python module name ({what}); use letters, digits "
                        "and underscores, like 'model' or 'my_pkg.model'.")
    add_to_path(source)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # The module itself (or a package on its path) is missing, not something it imports.
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UserError(f"{what.capitalize()} '{name}' is not in {source}: expected "
                            f"{name.replace('.', '/')}.py there.") from None
        raise _import_failed(name, what, exc) from None
    except Exception as exc:  # the user's module raised while importing: their error to fix
        raise _import_failed(name, what, exc) from None


def import_file(path: Path, name: str, *, what: str) -> ModuleType:
    """Import the file `path` as a new module called `name`, whatever other module of the same
    file name was imported before: two models' `inference.py` live side by side this way.

    The file's directory goes on `sys.path` too, so it imports its own modules by name.
    """
    if not path.is_file():
        raise UserError(f"{what.capitalize()} {path} does not exist.")
    add_to_path(path.parent)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import does: dataclasses and pickle look it up there
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's module raised while importing: their error to fix
        del sys.modules[name]
        raise _import_failed(str(path), what, exc) from None
    return module


def _import_failed(name: str, what: str, exc: BaseException) -> UserError:
    log.error("Importing %s (%s) failed:\n%s", name, what, traceback.format_exc())
    return UserError(f"Importing {what} '{name}' failed: {type(exc).__name__}: {exc}. Fix the "
                     "module (the log has the traceback) or add what it needs to "
                     "requirements.txt.")


def function(source: Path, reference: str, *, what: str):
    """The function that `MODULE:FUNCTION` names, imported from `source`."""
    if not is_reference(reference):
        raise UserError(f"'{reference}' does not name a function as MODULE:FUNCTION ({what}), "
                        "e.g. 'model:build_model' for build_model() in model.py.")
    module_name_, _, attribute = reference.partition(":")
    module = import_module(source, module_name_, what=what)
    target = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            break
    if not callable(target):
        raise UserError(f"{module_name_}.py in {source} has no function '{attribute}' ({what}). "
                        "Define it there, or fix the name after the colon.")
    return target
