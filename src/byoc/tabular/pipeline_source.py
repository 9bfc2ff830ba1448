"""A fitted-or-not scikit-learn pipeline written back as the Python source that builds it.

The candidate definition notebook shows each candidate as readable code. The code is rendered
from the very object `candidate_pipeline.build_pipeline` returns, never written by hand, so the
notebook and the search cannot disagree: every estimator becomes `Class(param=value, ...)` with
the parameters that differ from the class's defaults, imported from its public module.
"""

from __future__ import annotations

import importlib
import inspect
import math

WIDTH = 88  # a call longer than this is broken over several lines
INDENT = "    "


def public_module(cls: type) -> str:
    """The shortest public module that exports `cls` (sklearn.linear_model for
    sklearn.linear_model._ridge.Ridge, xgboost for xgboost.sklearn.XGBRegressor)."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        if any(part.startswith("_") for part in parts[:end]):
            break
        try:
            if getattr(importlib.import_module(name), cls.__name__, None) is cls:
                return name
        except ImportError:
            continue
    return cls.__module__


def _defaults(cls: type) -> dict[str, object]:
    """Every keyword default of `cls.__init__` along its MRO (a subclass's default wins)."""
    found: dict[str, object] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if param.default is not inspect.Parameter.empty:
                found.setdefault(name, param.default)
    return found


def _same(value: object, default: object) -> bool:
    if isinstance(value, float) and isinstance(default, float) and math.isnan(value) and \
            math.isnan(default):
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):
        return value is default


def changed_params(estimator) -> dict[str, object]:
    """The estimator's own parameters (not its children's) that differ from the defaults."""
    defaults = _defaults(type(estimator))
    return {name: value for name, value in estimator.get_params(deep=False).items()
            if name not in defaults or not _same(value, defaults[name])}


class _Renderer:
    def __init__(self) -> None:
        self.imports: dict[str, set[str]] = {}

    def value(self, obj: object, indent: str) -> str:
        if hasattr(obj, "get_params") and not isinstance(obj, type):
            return self.estimator(obj, indent)
        if hasattr(obj, "item") and getattr(obj, "shape", None) == ():
            obj = obj.item()  # a numpy scalar: its plain Python value
        if isinstance(obj, (list, tuple)):
            items = [self.value(item, indent + INDENT) for item in obj]
            open_, close = ("[", "]") if isinstance(obj, list) else ("(", ")")
            if isinstance(obj, tuple) and len(obj) == 1:
                close = ",)"
            return self._wrap(open_, items, close, indent)
        if isinstance(obj, dict):
            items = [f"{k!r}: {self.value(v, indent + INDENT)}" for k, v in obj.items()]
            return self._wrap("{", items, "}", indent)
        if isinstance(obj, float) and math.isnan(obj):
            self.imports.setdefault("numpy", set()).add("nan")
            return "nan"
        if isinstance(obj, type):
            module = public_module(obj)
            self.imports.setdefault(module, set()).add(obj.__name__)
            return obj.__name__
        text = repr(obj)
        if text.startswith("<"):
            raise ValueError(f"{obj!r} has no source form")
        return text

    def estimator(self, obj, indent: str) -> str:
        cls = type(obj)
        self.imports.setdefault(public_module(cls), set()).add(cls.__name__)
        args = [f"{name}={self.value(value, indent + INDENT)}"
                for name, value in changed_params(obj).items()]
        return self._wrap(f"{cls.__name__}(", args, ")", indent)

    @staticmethod
    def _wrap(open_: str, items: list[str], close: str, indent: str) -> str:
        flat = open_ + ", ".join(items) + close
        if "\n" not in flat and len(indent) + len(flat) <= WIDTH:
            return flat
        inner = indent + INDENT
        return open_ + "\n" + "".join(f"{inner}{item},\n" for item in items) + indent + \
            close.lstrip(",")


def render(estimator, name: str = "pipeline") -> str:
    """`import` lines, then `name = ...`: Python source that builds `estimator` anew, unfitted,
    with the same parameters. A Pipeline with nothing set but its steps reads as it would be
    written by hand: one variable per step, named by the step, then the Pipeline of them."""
    renderer = _Renderer()
    steps = getattr(estimator, "steps", None)
    if steps and list(changed_params(estimator)) == ["steps"] and \
            all(step.isidentifier() and step != name for step, _ in steps):
        lines = [f"{step} = {renderer.value(part, '')}" for step, part in steps]
        renderer.imports.setdefault(public_module(type(estimator)), set()).add(
            type(estimator).__name__)
        pairs = ", ".join(f"({step!r}, {step})" for step, _ in steps)
        lines.append(f"{name} = {type(estimator).__name__}(steps=[{pairs}])")
        body = "\n".join(lines)
    else:
        body = f"{name} = {renderer.value(estimator, '')}"
    imports = [f"from {module} import {', '.join(sorted(names))}"
               for module, names in sorted(renderer.imports.items())]
    return "\n".join(imports) + f"\n\n{body}\n"
