"""Would LightGBM or CatBoost earn their place among the tabular baseline's families?

Each library's defaults against byoc's gradient-boosting and tree families at their defaults:
5-fold cross-validated accuracy (R² for diabetes) and fit time on one thread, on the data sets
of benchmarks/tabular.py, and each library's installed size. Prints a Markdown table.

    pip install lightgbm catboost      # not dependencies of byoc
    python -m benchmarks.tabular_libraries [--data wine cancer ...]
"""

from __future__ import annotations

import argparse
import importlib
import time
import warnings
from importlib import metadata

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from benchmarks.tabular import DATA
from byoc.tabular import families

BYOC = ("hist_gradient_boosting", "xgboost", "extra_trees")


def _installed_mb(distribution: str) -> float:
    files = metadata.distribution(distribution).files or []
    return sum(f.locate().stat().st_size for f in files if f.locate().exists()) / 1e6


def _others(classify: bool) -> dict:
    models = {}
    try:
        lgb = importlib.import_module("lightgbm")
        models["lightgbm"] = (lgb.LGBMClassifier if classify else lgb.LGBMRegressor)(
            n_jobs=1, verbose=-1, random_state=0)
    except ImportError:
        print("lightgbm is not installed: pip install lightgbm")
    try:
        cb = importlib.import_module("catboost")
        models["catboost"] = (cb.CatBoostClassifier if classify else cb.CatBoostRegressor)(
            thread_count=1, verbose=0, random_seed=0, allow_writing_files=False)
    except ImportError:
        print("catboost is not installed: pip install catboost")
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")  # as the baseline runs them
    for name in ("lightgbm", "catboost"):
        try:
            needs = [r.split(";")[0] for r in metadata.requires(name) or [] if "extra ==" not in r]
            print(f"{name}: {_installed_mb(name):.0f} MB installed, requires {', '.join(needs)}")
        except metadata.PackageNotFoundError:
            pass
    print("\n| data | model | CV score | ± std | fit time, 5 folds |")
    print("|---|---|---:|---:|---:|")
    for data in args.data:
        frame = DATA[data]()
        classify = data != "diabetes"
        X = frame.drop(columns="target").to_numpy()
        y = frame["target"].astype("category").cat.codes.to_numpy() if classify else \
            frame["target"].to_numpy()
        folds = (StratifiedKFold if classify else KFold)(5, shuffle=True, random_state=0)
        ours = [families.BY_NAME[name] for name in BYOC]
        models = {f.name: f.make(classify, dict(f.defaults), 0) for f in ours}
        models.update(_others(classify))
        for name, model in models.items():
            began = time.monotonic()
            scores = cross_val_score(model, X, y, cv=folds,
                                     scoring="accuracy" if classify else "r2")
            print(f"| {data} | {name} | {np.mean(scores):.4f} | {np.std(scores):.3f} | "
                  f"{time.monotonic() - began:.1f}s |", flush=True)


if __name__ == "__main__":
    main()
