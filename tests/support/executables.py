"""The real `train` and `serve` executables of this checkout, and the environment they run in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from byoc.driver.local import layout

REPO = Path(__file__).resolve().parents[2]
TRAIN_EXE = REPO / "train"
SERVE_EXE = REPO / "serve"


def exe_env(**extra: str) -> dict[str, str]:
    """The environment for the executables: this interpreter's bin dir first on PATH, so their
    `#!/usr/bin/env python3` finds the same installation the tests import."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def run_train(root: Path, channels: dict[str, Path] | None = None,
              hyperparameters: dict[str, object] | None = None,
              timeout: float = 900) -> subprocess.CompletedProcess:
    """Lay out `root` like /opt/ml (when channels are given) and run the real `train` there."""
    if channels is not None:
        layout.prepare(root, channels, hyperparameters or {})
    return subprocess.run([str(TRAIN_EXE)], env=exe_env(SAGEMAKER_BASE_DIR=str(root)),
                          capture_output=True, text=True, timeout=timeout)
