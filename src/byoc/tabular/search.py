"""The search: candidates cross-validated on the same folds, family by family, within a time
budget or a candidate count, best first.

Two rounds, as Autopilot's modes have them. First every family's presets (its defaults, then its
alternative settings), each family with an equal share of the budget. Then random settings until
the budget is spent: in hpo mode for every family, in ensembling mode for the best few families
only. A family that finishes early, stops improving, or whose next candidate would not fit,
hands its time to the others. The search stops before its budget only when the leaderboard has
stopped moving (`Plateau`), and says why it stopped.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from byoc.contract import available_cpus
from byoc.errors import UserError
from byoc.tabular import objectives
from byoc.tabular.candidate_pipeline import (
    FoldWorkers,
    build_pipeline,
    cross_validate,
    encoded_target,
    jobs_of,
)
from byoc.tabular.dataset import Dataset
from byoc.tabular.ensemble import Bagged, Stacked, Weighted
from byoc.tabular.families import Family, usable
from byoc.tabular.scoring import KEYS, MINIMIZED_KEYS, compute

ENSEMBLING, HPO, AUTO = "ensembling", "hpo", "auto"
MODES = (ENSEMBLING, HPO)
# Autopilot's AUTO mode picks ENSEMBLING for data sets smaller than 100 MB (AutoMLJobConfig.Mode).
ENSEMBLING_MAX_BYTES = 100 * 1000 * 1000
POOL_PER_FAMILY = 3  # best configurations per family that keep their fold models
# Once every family has had its presets, ensembling spends the time left on random settings of
# the best ENSEMBLING_TOP_FAMILIES families only: more members where they are strong, rather than
# more weak ones.
ENSEMBLING_TOP_FAMILIES = 3
# When the leaderboard has stopped moving. An improvement is a better cross-validated score by
# more than TOLERANCE of the score (relative: 0.1 % of an MSE, 0.001 of an accuracy of 1). A
# family leaves the random round after FAMILY_PATIENCE candidates in a row that did not improve
# its own best; the search stops after STALL_CANDIDATES random ones in a row that did not improve
# the best of all, or when every family of the round has left it.
TOLERANCE = 1e-3
FAMILY_PATIENCE = 8
STALL_CANDIDATES = 24


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


@dataclass
class Searched:
    """The candidates of a search, best first, and how it ended."""

    candidates: list[Candidate]
    budget_s: float
    elapsed_s: float
    stop_reason: str  # why the search stopped, in words for the log and summary.json
    stopped_early: bool  # because the leaderboard stopped moving, with budget left


@dataclass
class Plateau:
    """Counts candidates since the last real improvement of a best score: `stale` is how many
    in a row did not beat it by more than TOLERANCE (relative)."""

    sign: int  # 1 when lower is better, -1 when higher is
    best: float = math.inf  # sign * the best score so far
    stale: int = 0

    def record(self, score: float | None) -> bool:
        """Count one candidate (`score` None when it failed or ran out of time); whether it was
        an improvement."""
        value = math.inf if score is None else self.sign * score
        if value < self.best - TOLERANCE * (abs(self.best) if math.isfinite(self.best) else 0):
            self.best, self.stale = value, 0
            return True
        self.best = min(self.best, value)
        self.stale += 1
        return False


class _OutOfTime(Exception):
    def __init__(self, folds_done: int, seconds: float):
        super().__init__(folds_done, seconds)
        self.folds_done, self.seconds = folds_done, seconds


def to_stderr(line: str) -> None:
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


def rounds(folds: int, jobs: int, done: int | None = None) -> int:
    """Rounds of `jobs` folds at a time: for all `folds`, or for the first `done` of them."""
    return math.ceil((folds if done is None else done) / jobs)


def _cross_validate(ds: Dataset, family: Family, params: dict, y: np.ndarray,
                    folds: list[np.ndarray], seed: int, stop_at: float, classify: bool,
                    workers: FoldWorkers | None) -> tuple[list, np.ndarray]:
    """Fit one model per fold, `workers.jobs` at a time; their out-of-fold predictions. Stops
    between rounds of folds at `stop_at`."""
    began = time.monotonic()
    jobs = jobs_of(workers)

    def in_time(done: int) -> None:
        # Stop as soon as the rounds so far say the rest would not fit, not after the fact.
        now = time.monotonic()
        if done and began + (now - began) / rounds(len(folds), jobs, done) * \
                rounds(len(folds), jobs) > stop_at:
            raise _OutOfTime(done, now - began)

    return cross_validate(build_pipeline(ds, family, params, seed), ds.X, y, folds, classify,
                          before_fold=in_time, workers=workers)


def fold_metrics(keys: list[str], y: np.ndarray, raw: np.ndarray,
                  folds: list[np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    per_fold = [compute(keys, y[f], raw[f]) for f in folds]
    return summarize(keys, per_fold)


def summarize(keys: list[str], per_fold: list[dict[str, float]]):
    means = {k: float(np.mean([s[k] for s in per_fold])) for k in keys}
    stds = {k: float(np.std([s[k] for s in per_fold])) for k in keys}
    return means, stds


def order(key: str) -> Callable[[Candidate], float]:
    sign = 1 if key in MINIMIZED_KEYS else -1
    return lambda c: sign * c.metrics[key]


def _keep_pool(candidates: list[Candidate], key: str) -> None:
    """Only each family's best POOL_PER_FAMILY configurations keep their fold models."""
    by_family: dict[str, list[Candidate]] = {}
    for c in sorted(candidates, key=order(key)):
        by_family.setdefault(c.family, []).append(c)
    for ranked in by_family.values():
        for c in ranked[POOL_PER_FAMILY:]:
            c.model = None


def search(ds: Dataset, objective: str, folds: list[np.ndarray], time_budget: float,
           seed: int = 0, mode: str = HPO, max_candidates: int | None = None,
           progress: Callable[[str], None] = to_stderr,
           families: list[Family] | None = None, jobs: int | None = None) -> Searched:
    """Cross-validate candidates within `time_budget` seconds; best first.

    Two rounds. First every family's presets (its defaults, then its alternative settings),
    each family with an equal share of the budget. Then random settings until the budget is
    spent: in hpo mode for every family, in ensembling mode for the best ENSEMBLING_TOP_FAMILIES
    families only. In both rounds a candidate starts only if the family's last one says it fits,
    and the share of a family that is done, or whose candidates no longer fit, goes to the
    others. In the random round a family leaves once it stops improving (FAMILY_PATIENCE), and
    the search ends early once the leaderboard stops moving (STALL_CANDIDATES). `families`
    replaces the families `usable` chooses for the table. `jobs` folds of a candidate are fit at
    a time, in worker processes (default: one per CPU this process may use, at most the number
    of folds); the leaderboard is the same for any `jobs`, only faster.
    """
    if families is None:
        families, skipped = usable(len(ds.frame), objectives.is_classification(ds.problem_type))
        for name, reason in skipped.items():
            progress(f"{name} left out: {reason}")
    chosen = list(families)
    jobs = min(len(folds), available_cpus() if jobs is None else jobs)
    if jobs < 1:
        raise UserError(f"jobs must be at least 1, not {jobs}.")
    workers = FoldWorkers(jobs) if jobs > 1 else None
    progress(f"search budget {time_budget:.3g}s: {time_budget / len(chosen):.3g}s for each of "
             f"{len(chosen)} families ({', '.join(f.name for f in chosen)}); a family that "
             "finishes early hands its time to the others; " + (
                 f"{jobs} folds at a time once the worker processes have started"
                 if jobs > 1 else "one fold at a time"))
    state = _Search(ds, objective, folds, seed, progress,
                    math.inf if max_candidates is None else max_candidates, workers)
    deadline = state.start + time_budget
    ended = state.take_turns(chosen, lambda f: len(f.presets), deadline, until_stalled=False)
    if ended is None:  # every family had its presets, with time and candidates left
        ended = _random_round(state, chosen, mode, deadline)
    elapsed = time.monotonic() - state.start
    progress("time per family: " + ", ".join(
        f"{f.name} {state.spent[f.name]:.1f}s ({state.tried[f.name]} tried)" for f in chosen))
    progress(f"search stopped after {elapsed:.1f}s of its {time_budget:.3g}s and "
             f"{state.index} candidates: {ended.reason}")
    return Searched(sorted(state.candidates, key=order(state.key)), time_budget, elapsed,
                    ended.reason, ended.early)


@dataclass
class _Ended:
    reason: str
    early: bool = False  # the leaderboard stopped moving


def _random_round(state: _Search, chosen: list[Family], mode: str, deadline: float) -> _Ended:
    """Random settings, best family first, until the budget is spent or they stop improving."""
    ranked = sorted(chosen, key=state.best_score)
    if mode == ENSEMBLING:
        ranked = [f for f in ranked[:ENSEMBLING_TOP_FAMILIES] if state.candidates_of(f)]
        if not ranked:
            return _Ended("no family produced a scored candidate")
    state.progress(f"{deadline - time.monotonic():.3g}s left: random settings for "
                   f"{'the best families' if mode == ENSEMBLING else 'every family'}, "
                   f"{', '.join(f.name for f in ranked)}, until the budget is spent or the "
                   "leaderboard stops moving")
    state.leaderboard.stale = 0  # counted from here: the presets say little about tuning
    return state.take_turns(ranked, lambda f: math.inf, deadline, until_stalled=True) or \
        _Ended("every family of the random round stopped improving: "
               f"{FAMILY_PATIENCE} candidates in a row without beating its best by more "
               f"than {TOLERANCE:.1%}", early=True)


class _Search:
    """The candidates so far, and what each family has tried and spent."""

    def __init__(self, ds: Dataset, objective: str, folds: list[np.ndarray], seed: int,
                 progress: Callable[[str], None], limit: float,
                 workers: FoldWorkers | None):
        self.ds, self.objective, self.folds, self.seed = ds, objective, folds, seed
        self.workers = workers
        self.progress, self.limit = progress, limit
        self.key = KEYS[objective]
        self.keys = [KEYS[n] for n in objectives.OBJECTIVES[ds.problem_type]]
        self.classify = objectives.is_classification(ds.problem_type)
        self.y, _ = encoded_target(ds)
        self.rng = np.random.default_rng(seed)
        self.candidates: list[Candidate] = []
        self.spent: dict[str, float] = defaultdict(float)
        self.tried: dict[str, int] = defaultdict(int)
        # The last wall-clock seconds per fold of each family: a whole candidate's over the
        # number of folds (with `jobs` > 1, folds share the time of their round).
        self.fold_seconds: dict[str, float] = {}
        sign = 1 if self.key in MINIMIZED_KEYS else -1
        self.leaderboard = Plateau(sign)  # the best of all
        self.plateaus: dict[str, Plateau] = defaultdict(lambda: Plateau(sign))  # per family
        self.index = 0
        self.start = time.monotonic()

    def candidates_of(self, family: Family) -> list[Candidate]:
        return [c for c in self.candidates if c.family == family.name]

    def best_score(self, family: Family) -> float:
        return min(map(order(self.key), self.candidates_of(family)), default=math.inf)

    def take_turns(self, families: list[Family], up_to: Callable[[Family], float],
                   deadline: float, until_stalled: bool) -> _Ended | None:
        """Families take turns, each up to `up_to(family)` candidates in all, until `deadline`;
        each may spend an equal share of the time, and hands what it leaves to the others.
        `until_stalled`: a family also stops once it stops improving, and all of them once the
        leaderboard does. How the turns ended, or None when every family was done."""
        budget = deadline - time.monotonic()
        spent_before = {f.name: self.spent[f.name] for f in families}
        retired: set[str] = set()  # its next candidate does not fit its share

        def spent(family: Family) -> float:
            return self.spent[family.name] - spent_before[family.name]

        def active(family: Family) -> bool:
            return family.name not in retired and self.tried[family.name] < up_to(family) \
                and not (until_stalled and self.plateaus[family.name].stale >= FAMILY_PATIENCE)

        def allowance() -> float:
            live = [f for f in families if active(f)]
            pool = budget - sum(spent(f) for f in families if not active(f))
            return pool / max(1, len(live))

        def ended() -> _Ended | None:
            if self.index >= self.limit:
                return _Ended(f"the candidate limit ({self.limit:g}) was reached")
            if time.monotonic() >= deadline:
                return _Ended("the budget was spent")
            if until_stalled and self.leaderboard.stale >= STALL_CANDIDATES:
                return _Ended(f"the leaderboard stopped moving: the best {self.objective} did "
                              f"not improve by more than {TOLERANCE:.1%} in the last "
                              f"{STALL_CANDIDATES} random candidates", early=True)
            return None

        while (end := ended()) is None:
            started, blocked = False, []
            for family in [f for f in families if active(f)]:
                if (end := ended()) is not None:
                    return end
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
                    return None
                # Nothing fits: the family whose candidates cost most hands its time to the
                # others, which may then fit one more.
                retired.add(max(blocked, key=lambda f: self.fold_seconds.get(f.name, 0.0)).name)
                if all(not active(f) for f in families):
                    if not until_stalled and len(retired) < len(families):
                        return None  # the others had their turns: on to the next round
                    return _Ended(f"no family's next candidate fits in the "
                                  f"{max(deadline - time.monotonic(), 0):.3g}s left")
        return end

    def _try(self, family: Family, stop_at: float) -> None:
        turn = self.tried[family.name]
        params = dict(family.presets[turn]) if turn < len(family.presets) else \
            family.sample(self.rng)
        self.tried[family.name] += 1
        self.index += 1
        name = f"{family.name}-{self.index:03d}"
        began = time.monotonic()
        # The workers once they have started; until then, one fold at a time here.
        workers = self.workers if self.workers is not None and self.workers.ready else None
        jobs = jobs_of(workers)
        try:
            models, oof = _cross_validate(self.ds, family, params, self.y, self.folds,
                                          self.seed, stop_at, self.classify, workers)
        except _OutOfTime as out:
            self.spent[family.name] += time.monotonic() - began
            per_round = out.seconds / rounds(len(self.folds), jobs, out.folds_done)
            self.fold_seconds[family.name] = \
                per_round * rounds(len(self.folds), jobs) / len(self.folds)
            self.progress(f"[{self.index:>3}] {name:<28} stopped: out of time after "
                          f"{out.folds_done} of {len(self.folds)} folds ({out.seconds:.1f}s)")
            self._record(family, None)
            return
        except (ValueError, FloatingPointError) as exc:
            self.spent[family.name] += time.monotonic() - began
            self.progress(f"[{self.index:>3}] {name:<28} failed: {exc}")
            self._record(family, None)
            return
        seconds = time.monotonic() - began
        self.spent[family.name] += seconds
        self.fold_seconds[family.name] = seconds / len(self.folds)
        means, stds = fold_metrics(self.keys, self.y, oof, self.folds)
        self.candidates.append(Candidate(name, family.name, params, means, stds[self.key],
                                         seconds, oof, Bagged(models, self.classify)))
        _keep_pool(self.candidates, self.key)
        self._record(family, means[self.key])
        self.progress(f"[{self.index:>3}] {name:<28} {self.objective}={means[self.key]:.6g} "
                      f"±{stds[self.key]:.3g}  fit {seconds:.1f}s  budget "
                      f"{time.monotonic() - self.start:.1f}s")

    def _record(self, family: Family, score: float | None) -> None:
        self.plateaus[family.name].record(score)
        self.leaderboard.record(score)


def mark_ties(candidates: list[Candidate], key: str) -> None:
    """Tied: within one standard deviation (across folds) of the best; the order is noise."""
    best = candidates[0]
    for c in candidates:
        c.tied = abs(c.metrics[key] - best.metrics[key]) <= best.score_std
