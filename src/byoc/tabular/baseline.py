"""The offline Autopilot-style baseline: preprocess, cross-validate model families, pick the best.

Two modes, as Autopilot has:
- ensembling (the default below Autopilot's 100 MB threshold): two known-good settings of every
  family, then random settings of the best few, each bagged over the k folds (diversity from
  families, as AutoGluon, more than from tuning); then a weighted ensemble of their out-of-fold
  predictions (`tabular.ensemble`), scored by nested cross-validation. No refit: each entry
  predicts with its fold models.
- hpo: each family's defaults, then random configurations until the budget is spent or the
  leaderboard stops moving; the best candidate is refit on all rows.

The time budget covers the whole run. It is split into a search part, shared equally by the
families (a family that finishes early hands its time to the others), and a remainder for the
ensemble and the permutation importance. Writes leaderboard.csv, summary.json, report.md,
importance.png, model.joblib, candidate.py and the notebooks (`tabular.notebooks`, after the
search and outside its budget), into a directory that becomes --out only once it is complete.

This module runs the steps in order and builds the two combined entries; the search itself is
`tabular.search`, a candidate's pipeline `tabular.candidate_pipeline`, what the run found
`tabular.run_summary`, and predicting with a finished run `tabular.prediction`.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from byoc import tracking_config
from byoc.atomic import directory_atomically
from byoc.errors import UserError
from byoc.tabular import (
    contributions,
    data_report,
    explain,
    notebooks,
    objectives,
    partial_dependence,
    search_record,
)
from byoc.tabular.candidate_pipeline import build_pipeline, encoded_target, fit, folds_of, refit
from byoc.tabular.dataset import Dataset, load
from byoc.tabular.ensemble import (
    ENSEMBLE_NAME,
    STACKED_NAME,
    Bagged,
    Weighted,
    nested_scores,
    select,
    stack,
)
from byoc.tabular.families import FASTEST, limit_openmp
from byoc.tabular.run_summary import Summary
from byoc.tabular.scoring import KEYS
from byoc.tabular.search import (
    ENSEMBLING,
    HPO,
    Candidate,
    mark_ties,
    order,
    resolve_mode,
    search,
    summarize,
    to_stderr,
)

MODEL_FILE = "model.joblib"
LEADERBOARD_FILE = "leaderboard.csv"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
IMPORTANCE_PLOT = "importance.png"
SHAP_PLOT = contributions.PLOT
PARTIAL_DEPENDENCE_PLOT = partial_dependence.PLOT
REPORT_ROWS = 3  # rows whose SHAP values the report shows
DEFAULT_FOLDS = 5
DEFAULT_TIME_BUDGET = 60.0
SEARCH_SHARE = 0.8  # of the budget for the candidates; the rest: ensemble and importance
COMBINED = (ENSEMBLE_NAME, STACKED_NAME)  # entries that combine candidates, not candidates
# What a run writes in --out: a directory holding any of them is a run, which --overwrite may
# replace.
RUN_FILES = (REPORT_FILE, SUMMARY_FILE, LEADERBOARD_FILE, MODEL_FILE, IMPORTANCE_PLOT,
             notebooks.CANDIDATE_SCRIPT, notebooks.NOTEBOOK_DIR, SHAP_PLOT, PARTIAL_DEPENDENCE_PLOT)



def build_ensembles(ds: Dataset, objective: str, candidates: list[Candidate],
                    folds: list[np.ndarray],
                    progress: Callable[[str], None] = to_stderr) -> list[Candidate]:
    """The weighted ensemble and the stacked model of the candidates that kept their models,
    each with a nested score; none if fewer than two kept them."""
    pool = [c for c in candidates if c.model is not None]
    if len(pool) < 2:
        return []
    key = KEYS[objective]
    keys = [KEYS[n] for n in objectives.OBJECTIVES[ds.problem_type]]
    y, _ = encoded_target(ds)
    raws = [c.oof for c in pool]
    began = time.monotonic()
    means, stds = summarize(keys, nested_scores(raws, y, folds, key, keys))
    weights = select(raws, y, key)
    members = [(float(w), c) for w, c in zip(weights, pool, strict=True) if w > 0]
    ensemble = Candidate(
        ENSEMBLE_NAME, ENSEMBLE_NAME, {"weights": {c.name: round(w, 4) for w, c in members}},
        means, stds[key], time.monotonic() - began,
        model=Weighted([(w, c.model) for w, c in members]),
    )
    progress(f"{ENSEMBLE_NAME} ({len(members)} members): {_scored(ensemble, objective)}; "
             f"weights {ensemble.params['weights']}")
    began = time.monotonic()
    stacked, per_fold = stack([c.model for c in pool], raws, y, folds, keys)
    means, stds = summarize(keys, per_fold)
    entry = Candidate(
        STACKED_NAME, STACKED_NAME, {"members": [c.name for c in pool], "stacker": stacked.how},
        means, stds[key], time.monotonic() - began, model=stacked,
    )
    progress(f"{STACKED_NAME} ({len(pool)} members): {_scored(entry, objective)}; {stacked.how}")
    return [ensemble, entry]


def _scored(entry: Candidate, objective: str) -> str:
    key = KEYS[objective]
    return f"{objective}={entry.metrics[key]:.6g} ±{entry.score_std:.3g} (nested CV)"


def _write_leaderboard(path: Path, candidates: list[Candidate], objective: str) -> None:
    key = KEYS[objective]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "candidate", "algorithm", "metric", "score", "score_std",
                         "tied_with_best", "fit_time_s", "params"])
        for rank, c in enumerate(candidates, 1):
            writer.writerow([rank, c.name, c.family, objective, f"{c.metrics[key]:.6g}",
                             f"{c.score_std:.4g}", c.tied, f"{c.fit_time:.2f}",
                             json.dumps(c.params, sort_keys=True)])


def _fastest_baseline(ds: Dataset, seed: int, time_budget: float,
                      progress: Callable[[str], None]) -> Bagged:
    began = time.monotonic()
    classify = objectives.is_classification(ds.problem_type)
    y, _ = encoded_target(ds)
    model = fit(build_pipeline(ds, FASTEST, dict(FASTEST.defaults), seed), ds.X, y)
    progress(f"warning: the time budget of {time_budget:g}s is too short for even one "
             f"cross-validation of one candidate; fitted the fastest baseline ({FASTEST.name}, "
             f"{time.monotonic() - began:.2f}s on all rows) without a cross-validated score. "
             "Raise --time-budget for a real search.")
    return Bagged([model], classify)


def run(csv_path: str | Path, target: str, out_dir: str | Path, problem_type: str | None = None,
        objective: str | None = None, time_budget: float = DEFAULT_TIME_BUDGET, seed: int = 0,
        folds: int = DEFAULT_FOLDS, max_candidates: int | None = None, mode: str | None = None,
        progress: Callable[[str], None] = to_stderr, track: dict[str, str] | None = None,
        overwrite: bool = False, write_notebooks: bool = True,
        explanations: bool = True) -> Summary:
    """The whole local flow; returns what summary.json holds, as a `Summary`. `track`
    (tracking's environment, byoc.tracking_config.job_environment) logs the search to MLflow.
    `write_notebooks` writes and executes the data exploration and candidate definition
    notebooks (`tabular.notebooks`), after the search and outside its time budget;
    `explanations` the best model's SHAP values and partial dependence plot, likewise.

    The run is written in a directory beside `out_dir` and renamed to it when complete: a run
    that fails leaves no `out_dir`, and an earlier run there is replaced only with `overwrite`.
    """
    out = Path(out_dir)
    _check_out(out, overwrite)
    with limit_openmp():
        with directory_atomically(out, replace=overwrite) as staging:
            summary, ds, candidates = _run(csv_path, target, staging, problem_type, objective,
                                           time_budget, seed, folds, max_candidates, mode,
                                           progress, write_notebooks, explanations)
        if track:
            _track(ds, out, summary, candidates, seed, track)
    return summary


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an --out that holds a run (unless `overwrite`) or anything else."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory.")
    found = {p.name for p in out.iterdir()} if out.is_dir() else set()
    if not found:
        return
    if not found & set(RUN_FILES):
        raise UserError(f"--out {out} holds other files, not a run of `byoc autopilot local`; "
                        "give a new or empty directory.")
    if not overwrite:
        raise UserError(f"{out} already holds a run. Choose another --out, or pass --overwrite "
                        "to replace it (the old run is kept until the new one is complete).")


def _run(csv_path, target, out, problem_type, objective, time_budget, seed, folds,
         max_candidates, mode, progress,
         write_notebooks, explanations) -> tuple[Summary, Dataset, list[Candidate]]:
    import joblib

    start = time.monotonic()
    if time_budget <= 0:
        raise UserError(f"--time-budget must be positive seconds, not {time_budget}.")
    if folds < 2:
        raise UserError(f"--folds must be at least 2, not {folds}.")
    ds = load(csv_path, target, problem_type)
    objective = objectives.resolve_objective(ds.problem_type, objective)
    mode, mode_reason = resolve_mode(mode, csv_path)
    key = KEYS[objective]

    analysis = data_report.analyze(ds, seed)
    data_report.write_markdown(ds, analysis, out / REPORT_FILE)
    for line in analysis.warnings:
        progress(f"warning: {line}")
    search_budget = SEARCH_SHARE * time_budget - (time.monotonic() - start)
    progress(f"{ds.problem_type}, objective {objective}, {len(ds.frame)} rows, "
             f"{len(ds.features)} features; mode {mode} ({mode_reason}); budget "
             f"{time_budget:g}s: {max(search_budget, 0):.3g}s for the search, the rest for "
             f"{'the ensemble and ' if mode == ENSEMBLING else 'the refit and '}explanations")

    fold_rows = folds_of(ds, folds, seed)
    y, classes = encoded_target(ds)
    searched = search(ds, objective, fold_rows, max(search_budget, 0.0), seed, mode,
                      max_candidates, progress)
    candidates = searched.candidates
    warnings_found = list(analysis.warnings)
    if not candidates:
        model, best, importance = _fastest_baseline(ds, seed, time_budget, progress), None, {}
        shap = None
        warnings_found.append(f"The time budget of {time_budget:g}s was too short for "
                              "cross-validation: the model is the fastest baseline, unscored.")
    else:
        if mode == ENSEMBLING:
            combined = build_ensembles(ds, objective, candidates, fold_rows, progress)
            candidates = sorted([*candidates, *combined], key=order(key))
        mark_ties(candidates, key)
        best = candidates[0]  # the best of its family: it kept its fold models
        began = time.monotonic()
        importance, used = explain.permutation_importance(
            best.model, ds.X, y, fold_rows, key, seed, stop_at=start + time_budget)
        explain.plot(importance, objective, out / IMPORTANCE_PLOT)
        progress(f"permutation importance of {len(importance)} columns on {used} of "
                 f"{len(fold_rows)} held-out folds: {time.monotonic() - began:.1f}s")
        if mode == HPO:
            model = Bagged([refit(ds, best.family, best.params, seed)], best.model.classify)
        else:
            model = best.model
        _write_leaderboard(out / LEADERBOARD_FILE, candidates, objective)
        shap = _explanations(model, ds, classes, seed, out, progress) if explanations else None

    joblib.dump({
        "model": model,
        "target": ds.target,
        "columns": [str(c) for c in ds.frame.columns],
        "numeric": ds.numeric,
        "categorical": ds.categorical,
        "problem_type": ds.problem_type,
        "classes": classes,
        # For `autopilot predict --explain`: SHAP values need rows of the training data.
        "background": contributions.background(ds.X, seed),
    }, out / MODEL_FILE)

    summary = Summary(
        problem_type=ds.problem_type,
        objective=objective,
        objective_key=key,
        mode=mode,
        mode_reason=mode_reason,
        target=ds.target,
        rows=len(ds.frame),
        numeric_features=ds.numeric,
        categorical_features=ds.categorical,
        dropped_columns=ds.dropped,
        classes=classes,
        positive_class=classes[1] if ds.problem_type == objectives.BINARY else None,
        cv_folds=len(fold_rows),
        time_budget_s=time_budget,
        elapsed_s=round(time.monotonic() - start, 2),
        search_budget_s=round(searched.budget_s, 2),
        search_elapsed_s=round(searched.elapsed_s, 2),
        search_stop=searched.stop_reason,
        candidates_evaluated=len([c for c in candidates if c.name not in COMBINED]),
        best_candidate=best.name if best else FASTEST.name,
        best_algorithm=best.family if best else FASTEST.name,
        best_params=best.params if best else dict(FASTEST.defaults),
        metrics=best.metrics if best else {},
        score_std=best.score_std if best else None,
        tied_with_best=[c.name for c in candidates[1:] if c.tied],
        ensemble=next((c.params["weights"] for c in candidates if c.name == ENSEMBLE_NAME),
                      None),
        stacked=next((c.params for c in candidates if c.name == STACKED_NAME), None),
        importance=importance,
        importance_folds=used if best else 0,
        warnings=warnings_found,
        shap=shap,
    )
    data_report.write_markdown(ds, analysis, out / REPORT_FILE, summary,
                               IMPORTANCE_PLOT if importance else None)
    (out / SUMMARY_FILE).write_text(summary.as_json())
    entries = notebooks.entries_of(candidates, key) if best else []
    notebooks.write_script(out, str(csv_path), ds, summary, entries, seed)
    if write_notebooks:
        notebooks.write(out, str(csv_path), ds, summary, entries, seed,
                        given_problem_type=problem_type is not None, progress=progress)
    return summary, ds, candidates


def _explanations(model, ds: Dataset, classes: list[str], seed: int, out: Path,
                  progress: Callable[[str], None]) -> dict:
    """SHAP values of the model, their plot and the partial dependence plot of the top columns;
    returns what summary.json keeps of them."""
    began = time.monotonic()
    found = contributions.explain(model, ds.X, classes, seed)
    contributions.plot(found, out / SHAP_PLOT)
    importance = found.importance()
    top = list(importance)[:partial_dependence.COLUMNS]
    partial_dependence.plot(partial_dependence.compute(model, ds.X, top, ds.numeric, seed),
                            classes, ds.target, out / PARTIAL_DEPENDENCE_PLOT)
    progress(f"SHAP values ({found.explainer}) of {len(found.rows)} rows and the partial "
             f"dependence of {len(top)} columns: {time.monotonic() - began:.1f}s")
    return {
        "explainer": found.explainer,
        "explained": found.explained,
        "rows": len(found.rows),
        "importance": importance,
        "examples": [{"row": {str(k): _plain(v) for k, v in found.rows.iloc[i].items()},
                      "base": float(found.base[i]),
                      "explained": float(found.base[i] + found.values[i].sum()),
                      "top": [[name, _plain(value), shap] for name, value, shap in found.top(i)]}
                     for i in range(min(REPORT_ROWS, len(found.rows)))],
    }


def _plain(value):
    """A cell as JSON has it: a number, a string, or null."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _best_single(candidates: list[Candidate]) -> Candidate | None:
    """The best candidate that is one pipeline (not an ensemble or a stacked model)."""
    return next((c for c in candidates if c.name not in COMBINED), None)


def _track(ds: Dataset, out: Path, summary: Summary, candidates: list[Candidate], seed: int,
           track: dict[str, str]) -> None:
    """Log the finished run in `out` to MLflow, with its best single pipeline refit."""
    single = _best_single(candidates)
    pipeline = None if single is None else refit(ds, single.family, single.params, seed)
    search_record.log_search(track[tracking_config.TRACKING_URI_ENV],
                             track[tracking_config.EXPERIMENT_ENV],
                             out, summary, candidates, pipeline, ds.X.head(5))
