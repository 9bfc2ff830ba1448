"""AutoGluon's side of benchmarks/tabular_autogluon.py, run by the Python of its own virtualenv
(AutoGluon is not a dependency of byoc): fit on a CSV within a time limit, predict a held-out CSV.

    .venv-autogluon/bin/python benchmarks/autogluon_fit.py TRAIN TEST TARGET METRIC SECONDS OUT

Writes OUT/predictions.csv (one `prediction` per held-out row) and OUT/result.json (the seconds
the fit took, the best model, how many models it trained).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from autogluon.tabular import TabularPredictor


def main(train_csv: str, test_csv: str, target: str, metric: str, seconds: str,
         out_dir: str) -> None:
    out = Path(out_dir)
    train, test = pd.read_csv(train_csv), pd.read_csv(test_csv)
    began = time.monotonic()
    predictor = TabularPredictor(label=target, eval_metric=metric, path=str(out / "models"),
                                 verbosity=0).fit(train, presets="medium_quality",
                                                  time_limit=float(seconds))
    fit_seconds = time.monotonic() - began
    predicted = predictor.predict(test.drop(columns=[target]))
    pd.DataFrame({"prediction": predicted}).to_csv(out / "predictions.csv", index=False)
    board = predictor.leaderboard(silent=True)
    (out / "result.json").write_text(json.dumps({
        "seconds": round(fit_seconds, 1),
        "best": predictor.model_best,
        "models": len(board),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
