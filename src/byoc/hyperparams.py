"""The trainer's hyperparameters: one typed, validated set, parsed once from SageMaker's strings.

SageMaker writes every value of hyperparameters.json as a string. `parse` turns them into a
`HyperParameters` and rejects an unknown name or a malformed value with a sentence that names the
key and says what is accepted. No TensorFlow here: the driver imports this for tuning ranges.

`model` and `loss` may name the user's own code as `MODULE:FUNCTION`. The modules may declare
hyperparameters of their own (`HYPERPARAMETERS = {"dropout": 0.3}`), accepted beside byoc's and
typed from their defaults; `byoc.user_code.trainer` reads them from the source, without running
it, so this stays free of TensorFlow then too.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from byoc import contract
from byoc.errors import UserError
from byoc.pairs import parse_pairs
from byoc.user_code import modules, trainer

log = logging.getLogger(__name__)

# The architectures of byoc.model.architectures, which builds its registry from this list, and the
# pretrained backbones of byoc.model.backbones (keras.applications): here so that validating a
# name needs no TensorFlow.
ARCHITECTURE_NAMES = ("lenet", "vgg", "resnet")
BACKBONE_NAMES = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_v2_b0")
MODEL_NAMES = ARCHITECTURE_NAMES + BACKBONE_NAMES
# Where a backbone's weights come from when no `pretrained` channel gives them: none (random), or
# Keras's ImageNet weights, downloaded (the container needs the internet).
WEIGHTS = ("none", "imagenet")
# keras.applications refuses smaller images for these backbones.
BACKBONE_MIN_SIDE = 32
# The hyperparameters of the two-phase fine-tuning, which only a pretrained backbone has.
FINE_TUNING = ("freeze_epochs", "unfreeze_from", "fine_tune_learning_rate")
CLASS_WEIGHT_MODES = ("none", "balanced")
OPTIMIZERS = ("adam", "sgd")
# byoc's own loss, for integer labels and softmax outputs; `loss` may name the user's instead.
LOSS_NAMES = ("sparse_categorical_crossentropy",)
# How `train` reads its channels (byoc.training.input_mode decides for auto).
INPUT_MODES = ("auto", "memory", "stream")
# Training steps per compiled call (byoc.training.loop): the host reads results once a call. Past
# a few steps the gain is gone on a CPU, while a GPU keeps busy between reads; a SIGTERM waits
# for the call under way, a second or so even on a CPU.
STEPS_PER_EXECUTION = 8
MAX_STEPS_PER_EXECUTION = 1000

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


def _choice_or_reference(options: tuple[str, ...], example: str) -> Field:
    """One of `options`, or the user's function as MODULE:FUNCTION (its case kept)."""
    choose, _ = _choice(options)
    accepted = (f"{', '.join(options)}, or MODULE:FUNCTION naming a function in your source "
                f"directory, e.g. {example}")

    def parse(text: str) -> str:
        value = text.strip()
        if modules.is_reference(value):
            return value
        try:
            return choose(value)
        except ValueError:
            raise ValueError(f"expected {accepted}") from None

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


def _declared_type(default: bool | int | float | str) -> Field:
    """The parser for a hyperparameter a user module declares: the type of its default."""
    if isinstance(default, bool):
        return _bool, f"true or false (default {str(default).lower()})"
    if isinstance(default, int):
        parse, _ = _number(int, -2**63, 2**63 - 1)
        return parse, f"a whole number (default {default})"
    if isinstance(default, float):
        parse, _ = _number(float, float("-inf"), float("inf"))
        return parse, f"a number (default {default})"
    return (lambda text: text), f"a string (default {default!r})"


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
    loss: str = LOSS_NAMES[0]
    input_mode: str = INPUT_MODES[0]
    weights: str = "none"
    freeze_epochs: int = 0
    unfreeze_from: float = 0.0
    fine_tune_learning_rate: float = 0.0
    steps_per_execution: int = STEPS_PER_EXECUTION
    # The hyperparameters the user's modules declare, (name, value) sorted by name: their
    # defaults, or the values given.
    user: tuple[tuple[str, bool | int | float | str], ...] = ()

    @property
    def backbone(self) -> bool:
        """Whether `model` is one of the pretrained backbones (keras.applications)."""
        return self.model in BACKBONE_NAMES

    @property
    def fine_tuning_rate(self) -> float:
        """The learning rate once the backbone is unfrozen: the one given, else a tenth of
        `learning_rate`."""
        return self.fine_tune_learning_rate or self.learning_rate / 10

    def as_strings(self) -> dict[str, str]:
        """The hyperparameters as SageMaker would pass them back to us."""
        out = {}
        for name, value in self.as_mapping().items():
            if isinstance(value, tuple):
                value = "x".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            out[name] = str(value)
        return out

    def as_mapping(self) -> Mapping[str, object]:
        """Every hyperparameter by name, typed, read-only: byoc's own, then the user modules'.
        What the user's `model` and `loss` functions receive as `hp`."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "user"}
        return MappingProxyType({**own, **dict(self.user)})


# name -> (parser, what is accepted). One table: parse(), the docs and the driver read it.
SPEC: dict[str, Field] = {
    "epochs": _number(int, 1, 10_000),
    "batch_size": _number(int, 1, 65_536),
    "learning_rate": _number(float, 0, 10, low_open=True, note=", e.g. 0.001"),
    "model": _choice_or_reference(MODEL_NAMES, "model:build_model"),
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
    "loss": _choice_or_reference(LOSS_NAMES, "loss:cost_sensitive_loss"),
    "input_mode": _choice(INPUT_MODES),
    "weights": _choice(WEIGHTS),
    "freeze_epochs": _number(int, 0, 10_000, note=" (0: no frozen phase)"),
    "unfreeze_from": _number(float, 0, 1, high_open=True,
                             note=" (0 unfreezes the whole backbone, 0.75 its top quarter)"),
    "fine_tune_learning_rate": _number(float, 0, 10, note=" (0: a tenth of learning_rate)"),
    "steps_per_execution": _number(
        int, 1, MAX_STEPS_PER_EXECUTION,
        note=f", training steps per compiled call (default {STEPS_PER_EXECUTION}; 1 reads every "
             "step's result)"),
}

assert set(SPEC) | {"user"} == {f.name for f in dataclasses.fields(HyperParameters)}


def _unquoted(text: str) -> str:
    """A value as the SDK may send it, JSON-encoded (`"\\"vgg\\""`), as the plain string."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, str):
            return value
    return text


def declared(raw: Mapping[str, object], source: Path | None = None
             ) -> dict[str, trainer.Declared]:
    """The hyperparameters the user's modules declare, when `model` or `loss` in `raw` names one
    (else none). The modules are read from `source`, or else from the job's source directory
    (`sagemaker_submit_directory`, or the code directory under SAGEMAKER_BASE_DIR)."""
    refs = trainer.references(raw)
    if not refs:
        return {}
    if source is None:
        source = trainer.locate(raw, contract.Paths(contract.base_dir()).code_dir)
    found = trainer.declared_hyperparameters(source, refs)
    for name, item in found.items():
        if name in SPEC or name.startswith(RESERVED_PREFIXES):
            raise UserError(
                f"{trainer.DECLARATION} in {trainer.file_name(item.module)} declares '{name}', "
                "which is "
                + ("byoc's own hyperparameter" if name in SPEC else "a name SageMaker reserves")
                + ". Give yours another name.")
    return found


def parse(raw: Mapping[str, object], *, source: Path | None = None) -> HyperParameters:
    """Parse SageMaker's string hyperparameters; raise UserError naming the first bad key.

    When `model` or `loss` names the user's code, the hyperparameters its modules declare are
    accepted too (see `declared` for where the modules are read from, and `source`)."""
    user = declared(raw, source)
    spec = {**SPEC, **{name: _declared_type(item.default) for name, item in user.items()}}
    # The source directory is the trainer's when model or loss names user code.
    used = {trainer.source.SUBMIT_DIR_HP} if trainer.references(raw) else set()
    values = {}
    for key in sorted(raw):
        text = _unquoted(str(raw[key]))
        if key.startswith(RESERVED_PREFIXES):
            if key not in used:
                log.info("Ignoring SageMaker hyperparameter %s=%s", key, text)
            continue
        if key not in spec:
            close = difflib.get_close_matches(key, spec, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            theirs = (f"; and from your modules' {trainer.DECLARATION}: {', '.join(user)}"
                      if user else "")
            raise UserError(
                f"Unknown hyperparameter '{key}'.{hint} Accepted: {', '.join(SPEC)}{theirs}."
            )
        parser, accepted = spec[key]
        try:
            values[key] = parser(text)
        except ValueError as exc:
            raise UserError(
                f"Hyperparameter '{key}' has the value '{text}': {exc}. Accepted: {accepted}."
            ) from None
    own = {k: v for k, v in values.items() if k in SPEC}
    theirs = {name: values.get(name, item.default) for name, item in user.items()}
    hp = HyperParameters(**own, user=tuple(sorted(theirs.items())))
    check_together(hp)
    return hp


def check_together(hp: HyperParameters) -> None:
    """Refuse values that are valid alone but not together: the backbones' hyperparameters with
    a model that has no backbone, images too small for one, a fine-tuning rate above the first."""
    default = HyperParameters()
    if not hp.backbone:
        given = [name for name in ("weights", *FINE_TUNING)
                 if getattr(hp, name) != getattr(default, name)]
        if given:
            raise UserError(
                f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to the pretrained "
                f"backbones ({', '.join(BACKBONE_NAMES)}); model={hp.model} has none. Choose a "
                "backbone as `model`, or leave them out.")
        return
    if min(hp.image_size) < BACKBONE_MIN_SIDE:
        raise UserError(
            f"model={hp.model} needs images of at least {BACKBONE_MIN_SIDE}x{BACKBONE_MIN_SIDE}; "
            f"image_size is {hp.image_size[0]}x{hp.image_size[1]}. Set image_size to "
            f"{BACKBONE_MIN_SIDE} or more (96 to 224 suit pretrained weights best).")
    if hp.fine_tune_learning_rate > hp.learning_rate:
        raise UserError(
            f"fine_tune_learning_rate ({hp.fine_tune_learning_rate:g}) is above learning_rate "
            f"({hp.learning_rate:g}): an unfrozen pretrained backbone needs a lower rate, or its "
            "features are lost in the first steps. Lower it, or leave it out (a tenth of "
            "learning_rate).")


def parse_hp_flags(pairs: list[str] | None, source: Path | None = None) -> dict[str, str]:
    """`--hp key=value` pairs as SageMaker's strings, validated here so a typo fails at once.

    `source` is the local source directory (`--source-dir`): `model` or `loss` as
    MODULE:FUNCTION needs it, to check the function and its modules' hyperparameters."""
    raw = parse_pairs(pairs, "--hp", "epochs=10")
    refs = trainer.references(raw)
    if refs and source is None:
        named = ", ".join(f"{k}={v}" for k, v in refs.items())
        raise UserError(f"--hp {named} names a function in your code: give --source-dir DIR, "
                        "the directory that holds it.")
    parse(raw, source=source)
    return raw
