"""`byoc autopilot local|predict|insurance`: the offline Autopilot-style baseline, on this machine.

The parser only; pandas and scikit-learn load when an action runs. The actions join the AWS ones
(`start`, `status`, ...) under `byoc autopilot`, which byoc.cli makes for both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from byoc.cli_args import positive_float, positive_int
from byoc.tabular import objectives


def cmd_local(args: argparse.Namespace) -> int:
    from byoc.tabular import baseline

    given = {k: v for k, v in (("time_budget", args.time_budget), ("folds", args.folds))
             if v is not None}
    summary = baseline.run(args.csv, args.target, args.out, problem_type=args.problem_type,
                           objective=args.objective, seed=args.seed,
                           max_candidates=args.max_candidates, **given)
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in summary["metrics"].items())
    print(f"Best: {summary['best_candidate']} ({summary['problem_type']}, "
          f"{summary['objective']}); cross-validated {metrics}")
    print(f"Wrote {args.out}/: {baseline.LEADERBOARD_FILE}, {baseline.SUMMARY_FILE}, "
          f"{baseline.REPORT_FILE}, {baseline.MODEL_FILE}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from byoc.tabular import baseline

    baseline.write_predictions(baseline.predict(args.model, args.csv))
    return 0


def cmd_insurance(args: argparse.Namespace) -> int:
    from byoc.tabular import insurance

    path = insurance.write_csv(Path(args.out), rows=args.rows, seed=args.seed)
    print(f"Wrote {args.rows} rows to {path} (target column: {insurance.TARGET})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the offline actions to `byoc autopilot` (its sub-parsers, made by byoc.cli)."""
    p = sub.add_parser("local", parents=[objectives.problem_flags()],
                       help="offline baseline: report, random search, best pipeline")
    p.add_argument("--csv", required=True, metavar="FILE", help="CSV with a header row")
    p.add_argument("--target", required=True, help="column to predict")
    p.add_argument("--out", required=True, metavar="DIR", help="where the results go")
    p.add_argument("--time-budget", type=positive_float, metavar="SECONDS",
                   help="search time; each algorithm's default always runs (default 60)")
    p.add_argument("--max-candidates", type=positive_int, help="stop after this many")
    p.add_argument("--folds", type=positive_int, help="k of k-fold CV (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_local)

    p = sub.add_parser("predict", help="predict with a model from `autopilot local`; CSV to stdout")
    p.add_argument("--model", required=True, metavar="DIR", help="the --out of autopilot local")
    p.add_argument("--csv", required=True, metavar="FILE",
                   help="rows to predict (the target column may be there or not)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("insurance", help="write the insurance-charges demo table as CSV")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--rows", type=positive_int, default=1338)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_insurance)
