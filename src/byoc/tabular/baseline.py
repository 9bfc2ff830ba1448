"""The offline Autopilot-style baseline: preprocess, cross-validate model families, pick the best.

Two modes, as Autopilot has:
- ensembling (the default below Autopilot's 100 MB threshold): two known-good settings of every
  family, each bagged over the k folds (diversity from families, as AutoGluon, rather than from
  tuning); then a weighted ensemble of their out-of-fold
  predictions (`tabular.ensemble`), scored by nested cross-validation. No refit: each entry
  predicts with its fold models.
- hpo: each family's defaults, then random configurations while its share of the budget lasts;
  the best candidate is refit on all rows.

The time budget covers the whole run. It is split into a search part, shared equally by the
families (a family that finishes early hands its time to the others), and a remainder for the
ensemble and the permutation importance. Writes leaderboard.csv, summary.json, report.md,
importance.png and model.joblib, into a directory that becomes --out only once it is complete.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from byoc import tracking
from byoc.errors import UserError
from byoc.files import directory_atomically
from byoc.tabular import explain, objectives, report
from byoc.tabular import tracking as tab_tracking
from byoc.tabular.dataset import Dataset, load, prepare_features, read_csv
from byoc.tabular.ensemble import Bagged, Stacked, Weighted, nested_scores, select, stack
from byoc.tabular.families import BY_NAME, FASTEST, OPENMP_THREADS, Family, usable
from byoc.tabular.metrics import KEYS, MINIMIZED_KEYS, compute

MODEL_FILE = "model.joblib"
LEADERBOARD_FILE = "leaderboard.csv"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
IMPORTANCE_PLOT = "importance.png"
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
DEFAULT_FOLDS = 5
DEFAULT_TIME_BUDGET = 60.0

ENSEMBLING, HPO, AUTO = "ensembling", "hpo", "auto"
MODES = (ENSEMBLING, HPO)
# Autopilot's AUTO mode picks ENSEMBLING for data sets smaller than 100 MB (AutoMLJobConfig.Mode).
ENSEMBLING_MAX_BYTES = 100 * 1000 * 1000
SEARCH_SHARE = 0.8  # of the budget for the candidates; the rest: ensemble and importance
POOL_PER_FAMILY = 3  # best configurations per family that keep their fold models
# Once every family has had its presets, ensembling spends the time left on random settings of
# the best ENSEMBLING_TOP_FAMILIES families only, up to ENSEMBLING_PER_FAMILY candidates each
# (presets included): more members where they are strong, rather than more weak ones.
ENSEMBLING_TOP_FAMILIES = 3
ENSEMBLING_PER_FAMILY = 5
ENSEMBLE_NAME = "ensemble"
STACKED_NAME = "stacked"
COMBINED = (ENSEMBLE_NAME, STACKED_NAME)  # entries that combine candidates, not candidates
# What a run writes in --out: a directory holding any of them is a run, which --overwrite may
# replace.
RUN_FILES = (REPORT_FILE, SUMMARY_FILE, LEADERBOARD_FILE, MODEL_FILE, IMPORTANCE_PLOT,
             tab_tracking.CANDIDATE_SCRIPT)


@dataclass
class Candidate:
    name: str
    family: str
    params: dict
    metrics: dict[str, float]  # summary key -> mean over folds
    score_std: float
    fit_time: float
    oof: np.ndarray | None = field(default=None, repr=False)  # out-of-fold predictions
    model: Bagged | Weighted | Stacked | None = field(default=None, repr=False)
    tied: bool = False


class _OutOfTime(Exception):
    def __init__(self, folds_done: int, seconds: float):
        super().__init__(folds_done, seconds)
        self.folds_done, self.seconds = folds_done, seconds


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def resolve_mode(mode: str | None, csv_path: str | Path) -> tuple[str, str]:
    """The mode to run and why: as Autopilot's AUTO, by the size of the file, unless given."""
    if mode not in (None, AUTO):
        if mode not in MODES:
            raise UserError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.")
        return mode, "chosen with --mode"
    size = Path(csv_path).stat().st_size
    chosen = ENSEMBLING if size < ENSEMBLING_MAX_BYTES else HPO
    relation = "below" if chosen == ENSEMBLING else "at or above"
    return chosen, (f"the file's {size / 1e6:.3g} MB is {relation} Autopilot's 100 MB threshold "
                    "for ensembling")


def preprocessor(ds: Dataset):
    """Impute, scale and one-hot encode: the ColumnTransformer every candidate starts with."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ds.numeric),
        ("categorical", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=20,
                          sparse_output=False),
        ), ds.categorical),
    ])


def build_pipeline(ds: Dataset, family: Family, params: dict, seed: int):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    classify = objectives.is_classification(ds.problem_type)
    model = family.make(classify, dict(params), seed)
    if not classify:
        # A standardized target keeps the MLP's, the SVM's and the linear model's steps scaled.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return Pipeline([("preprocess", preprocessor(ds)), ("model", model)])


def fit(pipeline, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # A budget-limited MLP stops before converging: expected during a search.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline.fit(X, y)


def refit(ds: Dataset, family: str, params: dict, seed: int):
    """One pipeline of the named family, fit on every row of `ds`."""
    return fit(build_pipeline(ds, BY_NAME[family], params, seed), ds.X, encoded_target(ds)[0])


def folds_of(ds: Dataset, folds: int, seed: int) -> list[np.ndarray]:
    """The held-out row indices of each fold, shared by every candidate and the ensemble."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if objectives.is_classification(ds.problem_type):
        smallest = int(ds.y.value_counts().min())
        if smallest < 2:
            raise UserError(
                f"A class of '{ds.target}' has a single row; cross-validation needs at least 2 "
                "rows per class. Add rows or merge rare classes."
            )
        splitter = StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)
    else:
        splitter = KFold(min(folds, len(ds.frame)), shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(ds.X, ds.y)]


def encoded_target(ds: Dataset) -> tuple[np.ndarray, list[str]]:
    """Class labels as 0..k-1 (sorted, so the positive class of a binary problem is the second)."""
    if not objectives.is_classification(ds.problem_type):
        return ds.y.to_numpy(dtype=float), []
    classes = sorted(ds.y.unique())
    return ds.y.map({c: i for i, c in enumerate(classes)}).to_numpy(), classes


def _cross_validate(ds: Dataset, family: Family, params: dict, y: np.ndarray,
                    folds: list[np.ndarray], seed: int, stop_at: float,
                    classify: bool) -> tuple[list, np.ndarray]:
    """Fit one model per fold; their out-of-fold predictions. Stops between folds at `stop_at`."""
    X = ds.X
    oof = np.zeros((len(y), len(np.unique(y)))) if classify else np.zeros(len(y))
    models, began = [], time.monotonic()
    for held_out in folds:
        # Stop as soon as the folds so far say the rest would not fit, not after the fact.
        done, now = len(models), time.monotonic()
        if done and began + (now - began) / done * len(folds) > stop_at:
            raise _OutOfTime(done, now - began)
        seen = np.setdiff1d(np.arange(len(y)), held_out)
        model = fit(build_pipeline(ds, family, params, seed), X.iloc[seen], y[seen])
        oof[held_out] = model.predict_proba(X.iloc[held_out]) if classify else \
            model.predict(X.iloc[held_out])
        models.append(model)
    return models, oof


def _fold_metrics(keys: list[str], y: np.ndarray, raw: np.ndarray,
                  folds: list[np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    per_fold = [compute(keys, y[f], raw[f]) for f in folds]
    return _summarize(keys, per_fold)


def _summarize(keys: list[str], per_fold: list[dict[str, float]]):
    means = {k: float(np.mean([s[k] for s in per_fold])) for k in keys}
    stds = {k: float(np.std([s[k] for s in per_fold])) for k in keys}
    return means, stds


def _order(key: str) -> Callable[[Candidate], float]:
    sign = 1 if key in MINIMIZED_KEYS else -1
    return lambda c: sign * c.metrics[key]


def _keep_pool(candidates: list[Candidate], key: str) -> None:
    """Only each family's best POOL_PER_FAMILY configurations keep their fold models."""
    by_family: dict[str, list[Candidate]] = {}
    for c in sorted(candidates, key=_order(key)):
        by_family.setdefault(c.family, []).append(c)
    for ranked in by_family.values():
        for c in ranked[POOL_PER_FAMILY:]:
            c.model = None


def search(ds: Dataset, objective: str, folds: list[np.ndarray], time_budget: float,
           seed: int = 0, mode: str = HPO, max_candidates: int | None = None,
           progress: Callable[[str], None] = _stderr) -> list[Candidate]:
    """Cross-validate candidates within `time_budget` seconds; best first.

    Two rounds. First every family's presets (its defaults, then its alternative settings),
    each family with an equal share of the budget. Then random settings while time is left: in
    hpo mode for every family, in ensembling mode for the best ENSEMBLING_TOP_FAMILIES families
    only, up to ENSEMBLING_PER_FAMILY candidates each. In both rounds a candidate starts only if
    the family's last one says it fits, and the share of a family that is done, or whose
    candidates no longer fit, goes to the others.
    """
    chosen, skipped = usable(len(ds.frame))
    for name, reason in skipped.items():
        progress(f"{name} left out: {reason}")
    progress(f"search budget {time_budget:.3g}s: {time_budget / len(chosen):.3g}s for each of "
             f"{len(chosen)} families ({', '.join(f.name for f in chosen)}); a family that "
             "finishes early hands its time to the others")
    state = _Search(ds, objective, folds, seed, progress,
                    math.inf if max_candidates is None else max_candidates)
    deadline = state.start + time_budget
    state.take_turns(chosen, lambda f: len(f.presets), deadline)
    if time.monotonic() < deadline and state.index < state.limit:
        ranked = sorted(chosen, key=state.best_score)
        if mode == ENSEMBLING:
            ranked = [f for f in ranked[:ENSEMBLING_TOP_FAMILIES] if state.candidates_of(f)]
            progress(f"{deadline - time.monotonic():.3g}s left: random settings for the best "
                     f"families, {', '.join(f.name for f in ranked)}")
            state.take_turns(ranked, lambda f: ENSEMBLING_PER_FAMILY, deadline)
        else:
            state.take_turns(ranked, lambda f: math.inf, deadline)
    progress("time per family: " + ", ".join(
        f"{f.name} {state.spent[f.name]:.1f}s ({state.tried[f.name]} tried)" for f in chosen))
    return sorted(state.candidates, key=_order(state.key))


class _Search:
    """The candidates so far, and what each family has tried and spent."""

    def __init__(self, ds: Dataset, objective: str, folds: list[np.ndarray], seed: int,
                 progress: Callable[[str], None], limit: float):
        self.ds, self.objective, self.folds, self.seed = ds, objective, folds, seed
        self.progress, self.limit = progress, limit
        self.key = KEYS[objective]
        self.keys = [KEYS[n] for n in objectives.OBJECTIVES[ds.problem_type]]
        self.classify = objectives.is_classification(ds.problem_type)
        self.y, _ = encoded_target(ds)
        self.rng = np.random.default_rng(seed)
        self.candidates: list[Candidate] = []
        self.spent: dict[str, float] = defaultdict(float)
        self.tried: dict[str, int] = defaultdict(int)
        self.fold_seconds: dict[str, float] = {}  # the last seconds per fold of each family
        self.index = 0
        self.start = time.monotonic()

    def candidates_of(self, family: Family) -> list[Candidate]:
        return [c for c in self.candidates if c.family == family.name]

    def best_score(self, family: Family) -> float:
        return min(map(_order(self.key), self.candidates_of(family)), default=math.inf)

    def take_turns(self, families: list[Family], up_to: Callable[[Family], float],
                   deadline: float) -> None:
        """Families take turns, each up to `up_to(family)` candidates in all, until `deadline`;
        each may spend an equal share of the time, and hands what it leaves to the others."""
        budget = deadline - time.monotonic()
        spent_before = {f.name: self.spent[f.name] for f in families}
        retired: set[str] = set()  # done, or its next candidate does not fit its share

        def spent(family: Family) -> float:
            return self.spent[family.name] - spent_before[family.name]

        def active(family: Family) -> bool:
            return family.name not in retired and self.tried[family.name] < up_to(family)

        def allowance() -> float:
            live = [f for f in families if active(f)]
            pool = budget - sum(spent(f) for f in families if not active(f))
            return pool / max(1, len(live))

        while self.index < self.limit and time.monotonic() < deadline:
            started, blocked = False, []
            for family in [f for f in families if active(f)]:
                if self.index >= self.limit or time.monotonic() >= deadline:
                    break
                # A family's defaults, its only representative so far, may use twice its
                # share; later candidates stop between folds when they would overrun it, and
                # start only if the family's last candidate says a whole one fits.
                share = allowance()
                stop_at = min(deadline, time.monotonic() + (
                    2 * share if self.tried[family.name] == 0 else share - spent(family)))
                if time.monotonic() + self.fold_seconds.get(family.name, 0.0) * \
                        len(self.folds) > stop_at:
                    blocked.append(family)
                    continue
                started = True
                self._try(family, stop_at)
            if not started:
                if not blocked:
                    break
                # Nothing fits: the family whose candidates cost most hands its time to the
                # others, which may then fit one more.
                retired.add(max(blocked, key=lambda f: self.fold_seconds.get(f.name, 0.0)).name)

    def _try(self, family: Family, stop_at: float) -> None:
        turn = self.tried[family.name]
        params = dict(family.presets[turn]) if turn < len(family.presets) else \
            family.sample(self.rng)
        self.tried[family.name] += 1
        self.index += 1
        name = f"{family.name}-{self.index:03d}"
        began = time.monotonic()
        try:
            models, oof = _cross_validate(self.ds, family, params, self.y, self.folds,
                                          self.seed, stop_at, self.classify)
        except _OutOfTime as out:
            self.spent[family.name] += time.monotonic() - began
            self.fold_seconds[family.name] = out.seconds / out.folds_done
            self.progress(f"[{self.index:>3}] {name:<28} stopped: out of time after "
                          f"{out.folds_done} of {len(self.folds)} folds ({out.seconds:.1f}s)")
            return
        except (ValueError, FloatingPointError) as exc:
            self.spent[family.name] += time.monotonic() - began
            self.progress(f"[{self.index:>3}] {name:<28} failed: {exc}")
            return
        seconds = time.monotonic() - began
        self.spent[family.name] += seconds
        self.fold_seconds[family.name] = seconds / len(self.folds)
        means, stds = _fold_metrics(self.keys, self.y, oof, self.folds)
        self.candidates.append(Candidate(name, family.name, params, means, stds[self.key],
                                         seconds, oof, Bagged(models, self.classify)))
        _keep_pool(self.candidates, self.key)
        self.progress(f"[{self.index:>3}] {name:<28} {self.objective}={means[self.key]:.6g} "
                      f"±{stds[self.key]:.3g}  fit {seconds:.1f}s  budget "
                      f"{time.monotonic() - self.start:.1f}s")


def build_ensembles(ds: Dataset, objective: str, candidates: list[Candidate],
                    folds: list[np.ndarray],
                    progress: Callable[[str], None] = _stderr) -> list[Candidate]:
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
    means, stds = _summarize(keys, nested_scores(raws, y, folds, key, keys))
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
    means, stds = _summarize(keys, per_fold)
    entry = Candidate(
        STACKED_NAME, STACKED_NAME, {"members": [c.name for c in pool], "stacker": stacked.how},
        means, stds[key], time.monotonic() - began, model=stacked,
    )
    progress(f"{STACKED_NAME} ({len(pool)} members): {_scored(entry, objective)}; {stacked.how}")
    return [ensemble, entry]


def _scored(entry: Candidate, objective: str) -> str:
    key = KEYS[objective]
    return f"{objective}={entry.metrics[key]:.6g} ±{entry.score_std:.3g} (nested CV)"


def mark_ties(candidates: list[Candidate], key: str) -> None:
    """Tied: within one standard deviation (across folds) of the best; the order is noise."""
    best = candidates[0]
    for c in candidates:
        c.tied = abs(c.metrics[key] - best.metrics[key]) <= best.score_std


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
        progress: Callable[[str], None] = _stderr, track: dict[str, str] | None = None,
        overwrite: bool = False) -> dict:
    """The whole local flow; returns what summary.json holds. `track` (tracking's environment,
    byoc.tracking.job_environment) logs the search to MLflow.

    The run is written in a directory beside `out_dir` and renamed to it when complete: a run
    that fails leaves no `out_dir`, and an earlier run there is replaced only with `overwrite`.
    """
    from threadpoolctl import threadpool_limits

    out = Path(out_dir)
    _check_out(out, overwrite)
    with threadpool_limits(OPENMP_THREADS, user_api="openmp"):
        with directory_atomically(out, replace=overwrite) as staging:
            summary, ds, candidates = _run(csv_path, target, staging, problem_type, objective,
                                           time_budget, seed, folds, max_candidates, mode,
                                           progress)
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
         max_candidates, mode, progress) -> tuple[dict, Dataset, list[Candidate]]:
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

    analysis = report.analyze(ds, seed)
    report.write_markdown(ds, analysis, out / REPORT_FILE)
    for line in analysis.warnings:
        progress(f"warning: {line}")
    search_budget = SEARCH_SHARE * time_budget - (time.monotonic() - start)
    progress(f"{ds.problem_type}, objective {objective}, {len(ds.frame)} rows, "
             f"{len(ds.features)} features; mode {mode} ({mode_reason}); budget "
             f"{time_budget:g}s: {max(search_budget, 0):.3g}s for the search, the rest for "
             f"{'the ensemble and ' if mode == ENSEMBLING else 'the refit and '}explanations")

    fold_rows = folds_of(ds, folds, seed)
    y, classes = encoded_target(ds)
    candidates = search(ds, objective, fold_rows, max(search_budget, 0.0), seed, mode,
                        max_candidates, progress)
    warnings_found = list(analysis.warnings)
    if not candidates:
        model, best, importance = _fastest_baseline(ds, seed, time_budget, progress), None, {}
        warnings_found.append(f"The time budget of {time_budget:g}s was too short for "
                              "cross-validation: the model is the fastest baseline, unscored.")
    else:
        if mode == ENSEMBLING:
            combined = build_ensembles(ds, objective, candidates, fold_rows, progress)
            candidates = sorted([*candidates, *combined], key=_order(key))
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

    joblib.dump({
        "model": model,
        "target": ds.target,
        "columns": [str(c) for c in ds.frame.columns],
        "numeric": ds.numeric,
        "categorical": ds.categorical,
        "problem_type": ds.problem_type,
        "classes": classes,
    }, out / MODEL_FILE)

    summary = {
        "problem_type": ds.problem_type,
        "objective": objective,
        "objective_key": key,
        "mode": mode,
        "mode_reason": mode_reason,
        "target": ds.target,
        "rows": len(ds.frame),
        "numeric_features": ds.numeric,
        "categorical_features": ds.categorical,
        "dropped_columns": ds.dropped,
        "classes": classes,
        "positive_class": classes[1] if ds.problem_type == objectives.BINARY else None,
        "cv_folds": len(fold_rows),
        "time_budget_s": time_budget,
        "elapsed_s": round(time.monotonic() - start, 2),
        "candidates_evaluated": len([c for c in candidates if c.name not in COMBINED]),
        "best_candidate": best.name if best else FASTEST.name,
        "best_algorithm": best.family if best else FASTEST.name,
        "best_params": best.params if best else dict(FASTEST.defaults),
        "metrics": best.metrics if best else {},
        "score_std": best.score_std if best else None,
        "tied_with_best": [c.name for c in candidates[1:] if c.tied],
        "ensemble": next((c.params["weights"] for c in candidates if c.name == ENSEMBLE_NAME),
                         None),
        "stacked": next((c.params for c in candidates if c.name == STACKED_NAME), None),
        "importance": importance,
        "importance_folds": used if best else 0,
        "warnings": warnings_found,
    }
    report.write_markdown(ds, analysis, out / REPORT_FILE, summary,
                          IMPORTANCE_PLOT if importance else None)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    single = _best_single(candidates)
    if single is not None:
        tab_tracking.write_candidate_script(out, csv_path, summary, single, seed)
    return summary, ds, candidates


def _best_single(candidates: list[Candidate]) -> Candidate | None:
    """The best candidate that is one pipeline (not an ensemble or a stacked model)."""
    return next((c for c in candidates if c.name not in COMBINED), None)


def _track(ds: Dataset, out: Path, summary: dict, candidates: list[Candidate], seed: int,
           track: dict[str, str]) -> None:
    """Log the finished run in `out` to MLflow, with its best single pipeline refit."""
    single = _best_single(candidates)
    pipeline = None if single is None else refit(ds, single.family, single.params, seed)
    tab_tracking.log_search(track[tracking.TRACKING_URI_ENV], track[tracking.EXPERIMENT_ENV],
                            out, summary, candidates, pipeline, ds.X.head(5))


def refit_best_single(out_dir: str | Path, csv_path: str | Path, target: str, seed: int = 0):
    """The leaderboard's best single candidate (no ensemble or stacked model), refit on every row
    of `csv_path`, as a user picking it by hand would: its algorithm, and a function from a
    frame of rows to its predicted labels (classification) or values."""
    board = pd.read_csv(Path(out_dir) / LEADERBOARD_FILE)
    best = board[~board["algorithm"].isin(COMBINED)].iloc[0]
    ds = load(csv_path, target)
    _, classes = encoded_target(ds)
    pipeline = refit(ds, best["algorithm"], json.loads(best["params"]), seed)

    def predict_rows(frame: pd.DataFrame) -> list:
        rows = prepare_features(frame, ds.numeric, ds.categorical, "rows")[ds.features]
        raw = pipeline.predict(rows)
        return [classes[i] for i in raw] if classes else list(raw)

    return best["algorithm"], predict_rows


def _check_columns(frame: pd.DataFrame, bundle: dict, source: str,
                   progress: Callable[[str], None]) -> list[str]:
    """The model's feature columns, after saying how `frame`'s columns differ from training."""
    features = bundle["numeric"] + bundle["categorical"]
    trained = bundle["columns"]
    missing = [name for name in features if name not in frame.columns]
    if missing and not any(name in trained for name in frame.columns):
        raise _no_header(frame, bundle, source)
    if missing:
        raise UserError(
            f"{source} lacks columns the model was trained on: {', '.join(missing)}. It needs "
            f"{', '.join(features)} (the target '{bundle['target']}' may be present or not)."
        )
    extra = [str(name) for name in frame.columns if name not in trained]
    if extra:
        progress(f"note: {source} has columns the model was not trained on; ignored: "
                 f"{', '.join(extra)}")
    present = [name for name in trained if name in frame.columns]
    if [name for name in frame.columns if name in trained] != present:
        progress(f"note: {source} has the training columns in another order; they are matched "
                 "by name")
    numbers = [name for name in bundle["categorical"]
               if pd.api.types.is_numeric_dtype(frame[name]) and frame[name].notna().any()]
    if numbers:
        progress(f"note: columns that held text in training hold only numbers in {source}: "
                 f"{', '.join(numbers)}; they are read as text, so values the model never saw "
                 "count as unknown categories")
    return features


def _no_header(frame: pd.DataFrame, bundle: dict, source: str) -> UserError:
    """The error for a file whose first row names none of the training columns: most often a
    headerless file, whose first row of data pandas took for the names."""
    first = ", ".join(str(name) for name in frame.columns[:8])
    more = ", ..." if len(frame.columns) > 8 else ""
    return UserError(
        f"{source} seems to have no header row: its first row ({first}{more}) names none of "
        f"the columns the model was trained on. Add a header line with the column names, in "
        f"the training file's order: {','.join(bundle['columns'])} (leave out "
        f"'{bundle['target']}' if the rows do not hold it).")


def probability_columns(classes: list[str]) -> list[str]:
    """One column per class, named by the class as Autopilot's `labels` lists them; prefixed
    with 'probability_' only if a class is itself called 'prediction' or 'probability'."""
    if {PREDICTION_COLUMN, PROBABILITY_COLUMN} & set(classes):
        return [f"{PROBABILITY_COLUMN}_{c}" for c in classes]
    return list(classes)


def predict(model_dir: str | Path, csv_path: str | Path, probabilities: bool = False,
            progress: Callable[[str], None] = _stderr) -> pd.DataFrame:
    """Predictions of the model in `model_dir` for every row of `csv_path`: a `prediction`
    column, and with `probabilities` the predicted label's `probability` and one column per class.

    The file is a pickle: load only models you made or trust.
    """
    import joblib

    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist. Run `byoc autopilot local --out {model_dir}` "
                        "first, or pass the directory it wrote with --model.")
    bundle = joblib.load(path)
    classes = bundle["classes"]
    if probabilities and not classes:
        raise UserError("--probabilities is for classification models; this one predicts a "
                        f"number ({bundle['problem_type']}). Leave the flag out.")
    frame = read_csv(csv_path)
    features = _check_columns(frame, bundle, str(csv_path), progress)
    frame = prepare_features(frame[features], bundle["numeric"], bundle["categorical"],
                             str(csv_path))
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(OPENMP_THREADS, user_api="openmp"):
        warnings.simplefilter("ignore")
        raw = bundle["model"].raw(frame)
    if not classes:
        return pd.DataFrame({PREDICTION_COLUMN: raw.astype(float)})
    result = pd.DataFrame({PREDICTION_COLUMN: [classes[i] for i in raw.argmax(axis=1)]})
    if probabilities:
        result[PROBABILITY_COLUMN] = raw.max(axis=1)
        for name, column in zip(probability_columns(classes), raw.T, strict=True):
            result[name] = column
    return result


def write_predictions(predictions: pd.DataFrame, out=None) -> None:
    predictions.to_csv(out or sys.stdout, index=False, lineterminator="\n", float_format="%.6g")
