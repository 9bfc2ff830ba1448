"""The metric definitions a job sends: byoc's own for its trainer, and the user's `--metric
NAME=REGEX` for their own log lines, checked as SageMaker checks them, before anything is paid for.

SageMaker reads a metric from each log line its regex matches, taking the first capture group.
A user's script prints its own lines, so a job that runs one gets the user's definitions only;
byoc's trainer keeps its own and adds the user's (a user model may log more).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from byoc.errors import UserError
from byoc.metric_lines import METRIC_DEFINITIONS
from byoc.pairs import parse_pairs

# AlgorithmSpecification.MetricDefinitions: at most 40, a name of 1-255 characters and a regex
# of 1-500.
MAX_DEFINITIONS = 40
MAX_NAME_LENGTH = 255
MAX_REGEX_LENGTH = 500
EXAMPLE = r"'val_acc=val_accuracy: ([0-9.]+)'"


def parse_metric_flags(pairs: Iterable[str] | None) -> list[dict[str, str]]:
    """`--metric NAME=REGEX` flags as MetricDefinitions, in the order given."""
    definitions = []
    for name, regex in parse_pairs(pairs, "--metric", EXAMPLE).items():
        if len(name) > MAX_NAME_LENGTH:
            raise UserError(f"--metric {name[:40]}...: a metric name has at most "
                            f"{MAX_NAME_LENGTH} characters.")
        if not regex or len(regex) > MAX_REGEX_LENGTH:
            raise UserError(f"--metric {name}: the regex must have 1 to {MAX_REGEX_LENGTH} "
                            f"characters. Example: --metric {EXAMPLE}")
        try:
            groups = re.compile(regex).groups
        except re.error as exc:
            raise UserError(f"--metric {name}: '{regex}' is not a valid regex ({exc}).") from None
        if groups < 1:
            raise UserError(f"--metric {name}: '{regex}' has no capture group; SageMaker takes "
                            "the metric's value from the first group, e.g. --metric "
                            f"{EXAMPLE}")
        definitions.append({"Name": name, "Regex": regex})
    return definitions


def definitions(user: list[dict[str, str]], *, user_script: bool) -> list[dict[str, str]]:
    """What a job sends: the user's alone for a script, else byoc's and the user's."""
    ours = [] if user_script else list(METRIC_DEFINITIONS)
    clash = sorted({d["Name"] for d in ours} & {d["Name"] for d in user})
    if clash:
        raise UserError(f"--metric {', '.join(clash)}: byoc's trainer defines "
                        f"{'it' if len(clash) == 1 else 'them'} already; pick another name.")
    every = ours + user
    if len(every) > MAX_DEFINITIONS:
        raise UserError(f"A job takes at most {MAX_DEFINITIONS} metric definitions; this one "
                        f"would have {len(every)} ({len(ours)} of byoc's trainer). Drop some "
                        "--metric flags.")
    return every
