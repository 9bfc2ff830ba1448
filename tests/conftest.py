"""The shared fixtures (tests/support) and the markers that say what each test costs.

Nobody has to remember a marker: the hook below applies them by directory and by the expensive
fixtures a test uses, and `--strict-markers` refuses a misspelt one. The tiers select on them:
`make check` runs what is neither `slow`, `docker` nor `sdk`, nor a docs page's walkthrough (a
test named `..._as_written`, marked `walkthrough`); `make test` runs everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.runs",
    "tests.support.moto",
    "tests.support.docker",
    "tests.support.mlflow",
    "tests.support.docs",
    "tests.support.botocore_data",
]

TESTS = Path(__file__).resolve().parent

# A directory's tests all need the same thing.
BY_DIRECTORY = {
    "container": ("docker",),
    "sdk": ("sdk", "docker", "slow"),
    "aws": ("aws",),
    "tabular": ("tabular",),
    "tracking": ("tracking",),
}

# A test that uses one of these fixtures pays for what the fixture builds: a training run, a
# tabular search, an image, a server.
BY_FIXTURE = {
    # a real `train` run, or a model it made
    "trained_run": ("slow",),
    "checkpointed_run": ("slow",),
    "trained_model_dir": ("slow",),
    "three_class_model_dir": ("slow",),
    "tracked_run": ("slow", "tracking"),
    "tracking_walkthrough": ("slow", "tracking"),
    # a tabular search of a data set's first quarter
    "diabetes": ("slow",),
    "breast_cancer": ("slow",),
    "wine": ("slow",),
    # the demo's insurance table searched, explained, and its two notebooks run in kernels
    "insurance_run": ("slow",),
    # Docker images and the engine
    "engine": ("docker",),
    "image": ("docker", "slow"),
    "serving_image": ("docker", "slow"),
    # AWS, as moto's server
    "moto_server_url": ("aws",),
    # an MLflow server takes seconds to start, and what it tracks, a training run or a search
    "mlflow_server": ("tracking", "slow"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names: set[str] = set()
        parts = Path(item.fspath).resolve().relative_to(TESTS).parts
        names.update(BY_DIRECTORY.get(parts[0], ()))
        for fixture in getattr(item, "fixturenames", ()):
            names.update(BY_FIXTURE.get(fixture, ()))
        # A page's commands run end to end: seconds to tens of seconds each, on moto or stubs.
        if getattr(item, "originalname", item.name).endswith("as_written"):
            names.add("walkthrough")
        for name in sorted(names - {m.name for m in item.iter_markers()}):
            item.add_marker(name)
