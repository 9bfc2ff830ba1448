"""The user's code inside a bundle: `train` copies the source directory into `<model_dir>/code`,
and every load of the bundle (serve, batch transform, the evaluation) imports the modules the
spec names from there first.

Importing them is what registers the user's layers with Keras
(`@keras.saving.register_keras_serializable`), so the model loads in Keras's safe mode, with no
pickled Python in the model file. No TensorFlow here: the modules import what they need.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from byoc.bundle import CODE_DIR, ModelSpec
from byoc.errors import UserError
from byoc.user_code import modules

log = logging.getLogger("byoc.bundle")

# What a source directory may hold that has no place in a model: caches, version control,
# virtual environments, notebook checkpoints.
SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".ipynb_checkpoints",
                          ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "venv",
                          ".tox", "node_modules"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
SKIPPED_FILES = frozenset({".DS_Store"})
# A sanity limit: code is kilobytes; more means data or weights in the source directory, which
# would be copied into every model.tar.gz and extracted on every endpoint instance.
MAX_CODE_BYTES = 100 * 1024 * 1024


def _files(source: Path, skip: Path | None) -> list[Path]:
    """The files to copy, relative to `source`: no caches, no directory links (a link to a
    directory could loop, or reach far outside), nothing under `skip`."""
    found = []
    for top, dirs, files in os.walk(source):
        here = Path(top)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS
                         and not (here / d).is_symlink()
                         and (skip is None or (here / d).resolve() != skip))
        found += [(here / f).relative_to(source) for f in sorted(files)
                  if f not in SKIPPED_FILES and not f.endswith(SKIPPED_SUFFIXES)
                  and (here / f).is_file()]
    return found


def copy(source: Path, model_dir: Path) -> list[str]:
    """Copy the source directory into `<model_dir>/code` (replacing what was there); return the
    files copied. Raises UserError when it is larger than MAX_CODE_BYTES."""
    source, model_dir = Path(source).resolve(), Path(model_dir)
    target = model_dir / CODE_DIR
    files = _files(source, skip=model_dir.resolve())
    size = sum((source / f).stat().st_size for f in files)
    if size > MAX_CODE_BYTES:
        largest = max(files, key=lambda f: (source / f).stat().st_size)
        raise UserError(
            f"The source directory {source} holds {size / 2**20:.0f} MB (the largest file: "
            f"{largest}), more than the {MAX_CODE_BYTES // 2**20} MB byoc copies into the model "
            "bundle for serving. Keep data and weights out of it: pass data as a channel, and "
            "let the code read it from there.")
    if target.exists():
        shutil.rmtree(target)
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target / rel)  # a linked file is copied as its content
    log.info("Copied the source directory %s into %s (%d files, %d KB)", source, target,
             len(files), size // 1024)
    return [str(f) for f in files]


def import_for(model_dir: Path, spec: ModelSpec) -> None:
    """Import the modules the bundle's spec names from its code directory, before its model is
    loaded. A bundle of Keras's own layers names none."""
    if not spec.code_modules:
        return
    code = Path(model_dir) / CODE_DIR
    if not code.is_dir():
        raise UserError(
            f"{model_dir} was trained with your code ({', '.join(spec.code_modules)}), but its "
            f"{CODE_DIR}/ directory is missing: copy the whole model.tar.gz, which holds it.")
    for name in spec.code_modules:
        modules.import_module(code, name, what="the model's code, which registers its layers")
