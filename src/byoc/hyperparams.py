"""The trainer's hyperparameters: one typed, validated set, parsed once from SageMaker's strings.

SageMaker writes every value of hyperparameters.json as a string. `parse` turns them into a
`HyperParameters` and rejects an unknown name or a malformed value with a sentence that names the
key and says what is accepted. No TensorFlow here: the driver imports this for tuning ranges.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from byoc.cli_args import parse_pairs
from byoc.errors import UserError

log = logging.getLogger(__name__)

# The architectures of byoc.model.architectures, which builds its registry from this list: here so
# that validating a name needs no TensorFlow.
MODEL_NAMES = ("lenet", "vgg", "resnet")
CLASS_WEIGHT_MODES = ("none", "balanced")
OPTIMIZERS = ("adam", "sgd")

# SageMaker adds its own keys: `_tuning_objective_metric` in tuning jobs, `sagemaker_*` from the
# SDKs. They are not ours to validate.
RESERVED_PREFIXES = ("_", "sagemaker_")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError("expected a size like 32 or 48x64 (height x width)")
    h, w = int(parts[0]), int(parts[1])
    if not (8 <= h <= 1024 and 8 <= w <= 1024):
        raise ValueError("each side must be between 8 and 1024 pixels")
    return h, w


def _class_weights(text: str) -> str:
    value = text.strip().lower()
    try:
        return "balanced" if _bool(value) else "none"
    except ValueError:
        pass
    if value not in CLASS_WEIGHT_MODES:
        raise ValueError(f"expected one of {', '.join(CLASS_WEIGHT_MODES)} (or true/false)")
    return value


Field = tuple[Callable[[str], object], str]  # (parser, what is accepted, for messages and docs)


def _choice(options: tuple[str, ...]) -> Field:
    accepted = f"one of {', '.join(options)}"

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"expected {accepted}")
        return value

    return parse, accepted


def _number(kind: type, low: float, high: float, *, low_open: bool = False,
            high_open: bool = False, note: str = "") -> Field:
    """A parser for a bounded number, and the sentence that says what it accepts."""
    what = "a number" if kind is float else "a whole number"
    low_op, high_op = (">" if low_open else ">="), ("<" if high_open else "<=")
    if low_open or high_open:
        accepted = f"{what} {low_op} {low} and {high_op} {high}{note}"
    else:
        accepted = f"{what} from {low} to {high}{note}"

    def parse(text: str):
        try:
            value = kind(text.strip()) if kind is float else int(text.strip())
        except ValueError:
            raise ValueError(f"expected {what}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        if value <= low if low_open else value < low:
            raise ValueError(f"must be {low_op} {low}")
        if value >= high if high_open else value > high:
            raise ValueError(f"must be {high_op} {high}")
        return value

    return parse, accepted


@dataclass(frozen=True)
class HyperParameters:
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 1e-3
    model: str = "lenet"
    seed: int = 42
    validation_split: float = 0.2
    augment: bool = False
    class_weights: str = "none"
    early_stopping_patience: int = 5
    top_k: int = 5
    image_size: tuple[int, int] = (32, 32)
    channels: int = 3
    optimizer: str = "adam"
    mixed_precision: bool = False

    def as_strings(self) -> dict[str, str]:
        """The hyperparameters as SageMaker would pass them back to us."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = "x".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            out[f.name] = str(value)
        return out


# name -> (parser, what is accepted). One table: parse(), the docs and the driver read it.
SPEC: dict[str, Field] = {
    "epochs": _number(int, 1, 10_000),
    "batch_size": _number(int, 1, 65_536),
    "learning_rate": _number(float, 0, 10, low_open=True, note=", e.g. 0.001"),
    "model": _choice(MODEL_NAMES),
    "seed": _number(int, 0, 2**31 - 1),
    "validation_split": _number(float, 0, 1, high_open=True),
    "augment": (_bool, "true or false"),
    "class_weights": (_class_weights, "none, balanced, true or false"),
    "early_stopping_patience": _number(int, 0, 10_000, note=" (0 turns it off)"),
    "top_k": _number(int, 1, 1000),
    "image_size": (_image_size, "a size like 32 or 48x64 (height x width), 8 to 1024"),
    "channels": (lambda t: int(_choice(("1", "3"))[0](t)), "1 (grayscale) or 3 (RGB)"),
    "optimizer": _choice(OPTIMIZERS),
    "mixed_precision": (_bool, "true or false"),
}

assert set(SPEC) == {f.name for f in dataclasses.fields(HyperParameters)}


def parse(raw: Mapping[str, object]) -> HyperParameters:
    """Parse SageMaker's string hyperparameters; raise UserError naming the first bad key."""
    values = {}
    for key in sorted(raw):
        text = str(raw[key])
        if key.startswith(RESERVED_PREFIXES):
            log.info("Ignoring SageMaker hyperparameter %s=%s", key, text)
            continue
        if key not in SPEC:
            close = difflib.get_close_matches(key, SPEC, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UserError(
                f"Unknown hyperparameter '{key}'.{hint} Accepted: {', '.join(SPEC)}."
            )
        parser, accepted = SPEC[key]
        try:
            values[key] = parser(text)
        except ValueError as exc:
            raise UserError(
                f"Hyperparameter '{key}' has the value '{text}': {exc}. Accepted: {accepted}."
            ) from None
    return HyperParameters(**values)


def parse_hp_flags(pairs: list[str] | None) -> dict[str, str]:
    """`--hp key=value` pairs as SageMaker's strings, validated here so a typo fails at once."""
    raw = parse_pairs(pairs, "--hp", "epochs=10")
    parse(raw)
    return raw
