"""`byoc autopilot local|predict|insurance`: the offline Autopilot-style baseline, on this machine.

The parser only; pandas and scikit-learn load when an action runs. The actions join the AWS ones
(`start`, `status`, ...) under `byoc autopilot`, which byoc.cli makes for both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from byoc import tracking_config
from byoc.cli.types import positive_float, positive_int
from byoc.tabular import objectives


def problem_flags() -> argparse.ArgumentParser:
    """--problem-type and --objective, as a parent parser for `autopilot start` and `local`."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--problem-type", choices=objectives.PROBLEM_TYPES,
                       help="default: inferred from the target column")
    flags.add_argument("--objective", help="metric to optimize; default MSE (regression), "
                                           "F1 (binary), Accuracy (multiclass)")
    return flags


def cmd_local(args: argparse.Namespace) -> int:
    from byoc.tabular import baseline
    from byoc.tabular.notebooks import (
        CANDIDATE_DEFINITION,
        CANDIDATE_SCRIPT,
        DATA_EXPLORATION,
        DATA_EXPLORATION_HTML,
        NOTEBOOK_DIR,
    )

    given = {k: v for k, v in (("time_budget", args.time_budget), ("folds", args.folds))
             if v is not None}
    track = tracking_config.job_environment(args.track, args.experiment)
    summary = baseline.run(args.csv, args.target, args.out, problem_type=args.problem_type,
                           objective=args.objective, seed=args.seed,
                           max_candidates=args.max_candidates, mode=args.mode, track=track,
                           overwrite=args.overwrite, write_notebooks=not args.no_notebooks,
                           explanations=not args.no_explanations,
                           **given)
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in summary.metrics.items())
    ties = summary.tied_with_best
    print(f"Best: {summary.best_candidate} ({summary.problem_type}, "
          f"{summary.objective}, mode {summary.mode}); cross-validated "
          f"{metrics or 'not scored: the budget was too short'}"
          + (f"; tied within one std: {', '.join(ties)}" if ties else ""))
    written = [baseline.LEADERBOARD_FILE, baseline.SUMMARY_FILE, baseline.REPORT_FILE,
               baseline.IMPORTANCE_PLOT, baseline.SHAP_PLOT, baseline.PARTIAL_DEPENDENCE_PLOT,
               baseline.MODEL_FILE, CANDIDATE_SCRIPT,
               *(f"{NOTEBOOK_DIR}/{n}" for n in (DATA_EXPLORATION, DATA_EXPLORATION_HTML,
                                                 CANDIDATE_DEFINITION))]
    print(f"Wrote {args.out}/: " + ", ".join(n for n in written if (Path(args.out) / n).exists()))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from byoc.tabular import prediction

    prediction.write_predictions(prediction.predict(args.model, args.csv, args.probabilities,
                                                    explain=args.explain))
    return 0


def cmd_insurance(args: argparse.Namespace) -> int:
    from byoc.tabular import insurance

    path = insurance.write_csv(Path(args.out), rows=args.rows, seed=args.seed)
    print(f"Wrote {args.rows} rows to {path} (target column: {insurance.TARGET})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the offline actions to `byoc autopilot` (its sub-parsers, made by byoc.cli)."""
    p = sub.add_parser("local", parents=[problem_flags()],
                       help="offline baseline: report, model families, ensemble, best model")
    p.add_argument("--csv", required=True, metavar="FILE", help="CSV with a header row")
    p.add_argument("--target", required=True, help="column to predict")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="where the results go: a new or empty directory (written only once the "
                        "run is complete)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out, once the new one is complete")
    p.add_argument("--mode", choices=("auto", "ensembling", "hpo"), default="auto",
                   help="as Autopilot: ensembling (bagged families, weighted ensemble) or hpo "
                        "(random search, refit of the best); auto picks ensembling for files "
                        "under 100 MB")
    p.add_argument("--time-budget", type=positive_float, metavar="SECONDS",
                   help="for the whole run, split evenly across model families (default 60)")
    p.add_argument("--max-candidates", type=positive_int, help="stop after this many")
    p.add_argument("--folds", type=positive_int, help="k of k-fold CV (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-notebooks", action="store_true",
                   help="skip the data exploration and candidate definition notebooks (written "
                        "to --out/notebooks and executed after the search, outside its budget)")
    p.add_argument("--no-explanations", action="store_true",
                   help="skip the best model's SHAP values and partial dependence plot (seconds "
                        "after the search, outside its budget; `predict --explain` still works)")
    p.add_argument("--track", metavar="URI",
                   help="log the search to MLflow (a parent run, one child run per candidate, "
                        "the best pipeline as a model): ./mlruns or http(s)://HOST:PORT")
    p.add_argument("--experiment", metavar="NAME",
                   help=f"with --track (default {tracking_config.DEFAULT_EXPERIMENT})")
    p.set_defaults(func=cmd_local)

    p = sub.add_parser("predict", help="predict with a model from `autopilot local`; CSV to stdout")
    p.add_argument("--model", required=True, metavar="DIR", help="the --out of autopilot local")
    p.add_argument("--csv", required=True, metavar="FILE",
                   help="rows to predict (the target column may be there or not)")
    p.add_argument("--probabilities", action="store_true",
                   help="classification: add the predicted label's probability and one column "
                        "per class")
    p.add_argument("--explain", action="store_true",
                   help="add each row's SHAP base value and its top 3 contributions (column, "
                        "SHAP value): to the prediction, or the probability of the positive or "
                        "predicted class")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("insurance", help="write the insurance-charges demo table as CSV")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--rows", type=positive_int, default=1338)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_insurance)
