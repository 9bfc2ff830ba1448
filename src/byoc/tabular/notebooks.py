"""The two notebooks of a run, as Autopilot writes them: data exploration and candidate definition.

`byoc autopilot local` writes both into `notebooks/`, executes them in a fresh kernel
(`notebook_kernel`) with their outputs saved, and renders the data exploration one to HTML.
The candidate definition notebook shows each candidate's pipeline as scikit-learn code rendered
from the object the search built (`pipeline_source`), re-runs its cross-validation on the
search's folds, and refits it on every row. `candidate.py` is the best single candidate's cells
as one script: the same cell builders write both, so the two cannot disagree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from byoc.tabular import pipeline_source
from byoc.tabular.candidate_pipeline import build_pipeline
from byoc.tabular.dataset import Dataset
from byoc.tabular.ensemble import ENSEMBLE_NAME, STACKED_NAME
from byoc.tabular.families import BY_NAME
from byoc.tabular.run_summary import Summary

NOTEBOOK_DIR = "notebooks"
DATA_EXPLORATION = "data_exploration.ipynb"
DATA_EXPLORATION_HTML = "data_exploration.html"
CANDIDATE_DEFINITION = "candidate_definition.ipynb"
CANDIDATE_SCRIPT = "candidate.py"
TOP_CANDIDATES = 3  # single candidates shown, besides the members of a winning ensemble
DUPLICATES_ACTION = ("kept as they are: a row and its copy may land in different folds, which "
                     "flatters the cross-validated score a little")
RERUN = ("jupyter nbconvert --to notebook --execute --inplace "
         f"{NOTEBOOK_DIR}/{CANDIDATE_DEFINITION}")


@dataclass(frozen=True)
class Entry:
    """One leaderboard row: a candidate (family and settings) or a combined entry."""

    name: str
    family: str
    params: dict
    score: float
    score_std: float


def entries_of(candidates: Sequence, key: str) -> list[Entry]:
    """Leaderboard entries from the search's `Candidate`s, best first."""
    return [Entry(c.name, c.family, c.params, c.metrics[key], c.score_std) for c in candidates]


def read_leaderboard(path: Path) -> list[Entry]:
    """Leaderboard entries from a run's leaderboard.csv (settings as JSON: tuples are lists)."""
    import csv

    with Path(path).open(newline="") as fh:
        return [Entry(row["candidate"], row["algorithm"], json.loads(row["params"]),
                      float(row["score"]), float(row["score_std"])) for row in csv.DictReader(fh)]


def _markdown(text: str):
    import nbformat

    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def _code(text: str):
    import nbformat

    return nbformat.v4.new_code_cell(text.strip("\n"))


def _notebook(cells: list):
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


# -- data exploration ------------------------------------------------------------------------

def exploration_notebook(csv_path: str, ds: Dataset, given_problem_type: bool, seed: int):
    """The data exploration notebook: what byoc found in the table and what it will do."""
    name = Path(csv_path).name
    return _notebook([
        _markdown(f"""
# Data exploration: `{name}`

Written by `byoc autopilot local` before its search, like the data exploration notebook of a
SageMaker Autopilot job. Each section says what byoc found and what it does about it, in the
words of its preprocessing code.
"""),
        _code(f"""
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from byoc.tabular import data_report, exploration
from byoc.tabular.candidate_pipeline import CATEGORICAL_STEPS, NUMERIC_STEPS
from byoc.tabular.dataset import load, read_csv

CSV = {str(Path(csv_path).resolve())!r}
TARGET = {ds.target!r}
PROBLEM_TYPE = {ds.problem_type!r}
SEED = {seed}

raw = read_csv(CSV)
ds = load(CSV, TARGET, PROBLEM_TYPE)
"""),
        _markdown("## Shape and column types\n\nAs byoc inferred them, and why."),
        _code(f"""
print(f"{{raw.shape[0]}} rows and {{raw.shape[1]}} columns in the file; {{len(ds.frame)}} rows "
      f"with a value for '{{TARGET}}' are used.")
print(f"{{len(ds.numeric)}} numeric and {{len(ds.categorical)}} categorical features; "
      f"{{len(ds.dropped)}} columns set aside.")
print("Problem type:", exploration.problem_type_reason(ds, given={given_problem_type}))
exploration.column_types(ds)
"""),
        _markdown("## Missing values per column"),
        _code("exploration.missing_values(ds)"),
        _markdown("## The target's distribution"),
        _code("""
display(exploration.target_distribution(ds))
fig, ax = plt.subplots(figsize=(7, 3.5))
exploration.plot_target(ds, ax)
plt.show()
"""),
        _markdown("""
## The columns most related to the target

How well each column alone predicts the target: a depth-4 decision tree on that column, scored
by 3-fold cross-validation (accuracy, or R² for regression). A column that alone predicts the
target almost perfectly is usually the answer in disguise (target leakage).
"""),
        _code("""
related = exploration.related_columns(data_report.single_feature_scores(ds, SEED), ds)
fig, ax = plt.subplots(figsize=(7, 1 + 0.35 * min(len(related), exploration.TOP_RELATED)))
exploration.plot_related(related, ax)
plt.show()
related.head(exploration.TOP_RELATED)
"""),
        _markdown("## Duplicated rows"),
        _code(f"""
duplicates = exploration.duplicated_rows(raw)
print(f"{{len(duplicates)}} rows repeat an earlier row exactly; {DUPLICATES_ACTION}.")
duplicates.head(10)
"""),
        _markdown("## Constant and ID-like columns"),
        _code("exploration.set_aside(ds)"),
        _markdown("## High-cardinality categoricals"),
        _code("exploration.high_cardinality(ds)"),
        _markdown("## What byoc will do"),
        _code("""
print("Numeric features:", NUMERIC_STEPS + ".")
print("Categorical features:", CATEGORICAL_STEPS + ".")
for line in data_report.analyze(ds, SEED).warnings:
    print("-", line)
"""),
    ])


# -- candidate definition --------------------------------------------------------------------

def _constants(csv_path: str, summary: Summary, seed: int) -> str:
    return f"""
CSV = {str(Path(csv_path).resolve())!r}
TARGET = {summary.target!r}
PROBLEM_TYPE = {summary.problem_type!r}
METRIC = {summary.objective_key!r}  # {summary.objective}
FOLDS = {summary.cv_folds}
SEED = {seed}
"""


_IMPORTS = """
import joblib
import numpy as np
from byoc.tabular.candidate_pipeline import cross_validate, encoded_target, fit, folds_of
from byoc.tabular.dataset import load
from byoc.tabular.families import limit_openmp
from byoc.tabular.search import fold_metrics

limit_openmp()  # as the search: deterministic fits, one OpenMP thread
"""

_LOAD = """
ds = load(CSV, TARGET, PROBLEM_TYPE)
y, classes = encoded_target(ds)
classify = bool(classes)
folds = folds_of(ds, FOLDS, SEED)  # the search's folds: same seed, same rows
pipelines, fold_models, oof = {}, {}, {}
"""


def _pipeline_code(ds: Dataset, entry: Entry, seed: int) -> str:
    return pipeline_source.render(build_pipeline(ds, BY_NAME[entry.family], entry.params, seed))


def _cv_code(entry: Entry) -> str:
    return f"""
pipelines[{entry.name!r}] = pipeline
fold_models[{entry.name!r}], oof[{entry.name!r}] = cross_validate(pipeline, ds.X, y, folds,
                                                                classify)
score = fold_metrics([METRIC], y, oof[{entry.name!r}], folds)[0][METRIC]
print(f"{{METRIC}} = {{score:.6g}} re-run ({entry.name}); {entry.score:.6g} on the leaderboard")
"""


def _refit_code(entry: Entry, out: str) -> str:
    return f"""
refit = fit(pipelines[{entry.name!r}], ds.X, y)  # every row
joblib.dump({{"pipeline": refit, "classes": classes}}, {out})
print(f"refit on {{len(y)}} rows: {{{out}}}")
"""


def _shown(entries: list[Entry]) -> tuple[list[Entry], Entry | None]:
    """The single candidates to show (the top ones, then a winning combined entry's members)
    and the winning combined entry, if any."""
    singles = [e for e in entries if e.family not in (ENSEMBLE_NAME, STACKED_NAME)]
    shown = singles[:TOP_CANDIDATES]
    winner = entries[0] if entries and entries[0].family in (ENSEMBLE_NAME, STACKED_NAME) \
        else None
    if winner is not None:
        members = winner.params.get("weights") or dict.fromkeys(winner.params.get("members", []))
        by_name = {e.name: e for e in singles}
        shown += [by_name[m] for m in members if m in by_name and by_name[m] not in shown]
    return shown, winner


def _combined_cells(winner: Entry, objective: str) -> list:
    if winner.family == ENSEMBLE_NAME:
        weights = winner.params["weights"]
        return [
            _markdown(f"""
## The winner: `{winner.name}`

A weighted average of its members' out-of-fold predictions, the weights chosen by greedy
ensemble selection. Leaderboard: {objective} = {winner.score:.6g} ± {winner.score_std:.3g},
a nested score: for each fold, the weights were chosen on the other folds only. The search
chose among every candidate it kept; this re-run chooses among the members alone, so its nested
score can differ within the noise of cross-validation.
"""),
            _code(f"""
from byoc.tabular.ensemble import nested_scores

WEIGHTS = {weights!r}
members = list(WEIGHTS)
per_fold = nested_scores([oof[m] for m in members], y, folds, METRIC, [METRIC])
nested = float(np.mean([s[METRIC] for s in per_fold]))
mixed = sum(w * oof[m] for m, w in WEIGHTS.items())
fixed = fold_metrics([METRIC], y, mixed, folds)[0][METRIC]
print(f"{{METRIC}} = {{nested:.6g}} re-run, nested; {{fixed:.6g}} with the search's weights; "
      f"{winner.score:.6g} on the leaderboard")
"""),
            _code("""
refits = {m: fit(pipelines[m], ds.X, y) for m in members}  # every row
joblib.dump({"members": refits, "weights": WEIGHTS, "classes": classes}, "ensemble.joblib")
print(f"{len(refits)} members refit on {len(y)} rows: ensemble.joblib")
"""),
        ]
    return [
        _markdown(f"""
## The winner: `{winner.name}`

{winner.params.get("stacker", "a linear model")} of its members' out-of-fold predictions.
Leaderboard: {objective} = {winner.score:.6g} ± {winner.score_std:.3g}, a nested score: for
each fold, the linear model was fit on the other folds only.
"""),
        _code(f"""
from byoc.tabular.ensemble import Bagged, stack

members = {list(winner.params["members"])!r}
stacked, per_fold = stack([Bagged(fold_models[m], classify) for m in members],
                          [oof[m] for m in members], y, folds, [METRIC])
score = float(np.mean([s[METRIC] for s in per_fold]))
print(f"{{METRIC}} = {{score:.6g}} re-run, nested; {winner.score:.6g} on the leaderboard")
"""),
        _code("""
# As the search keeps it: each member predicts with its fold models, the linear model on top.
joblib.dump({"model": stacked, "classes": classes}, "stacked.joblib")
print("saved: stacked.joblib")
"""),
    ]


def candidate_notebook(csv_path: str, ds: Dataset, summary: Summary, entries: list[Entry],
                       seed: int):
    """The candidate definition notebook of the top candidates (and a winning combined entry)."""
    shown, winner = _shown(entries)
    cells = [
        _markdown(f"""
# Candidate definitions: `{Path(csv_path).name}`

Written by `byoc autopilot local`, like the candidate definition notebook of a SageMaker
Autopilot job. For each of the top candidates: its preprocessing and estimator as scikit-learn
code, with its settings; a cell that re-runs its {summary.cv_folds}-fold cross-validation on
the search's folds and prints the leaderboard's score beside it; and a cell that refits it on
every row and saves it. Run it again, top to bottom, from the run's directory:

    {RERUN}
"""),
        _code(_IMPORTS + _constants(csv_path, summary, seed) + _LOAD),
        _code("import pandas as pd\n\npd.read_csv('../leaderboard.csv').head(10)"),
    ]
    for rank, entry in enumerate(shown, 1):
        cells += [
            _markdown(f"""
## {rank}. `{entry.name}`: {entry.family}

Leaderboard: {summary.objective} = {entry.score:.6g} ± {entry.score_std:.3g} (std across
folds). Settings: `{json.dumps(entry.params, sort_keys=True)}`.
"""),
            _code(_pipeline_code(ds, entry, seed)),
            _code(_cv_code(entry)),
            _code(_refit_code(entry, repr(f"{entry.name}.joblib"))),
        ]
    if winner is not None:
        cells += _combined_cells(winner, summary.objective)
    return _notebook(cells)


_SCRIPT_HEAD = '''"""Rebuild, cross-validate and refit {name}: the best single pipeline of a run of
`byoc autopilot local`.

{note}The same cells as in {notebook}. Run it with the CSV the search read (or
another path as the first argument):

    python {script} [CSV] [OUT.joblib]

It re-runs the cross-validation on the search's folds, prints the score the leaderboard shows
({objective} = {score:.6g}), then refits the pipeline on every row and saves it.
"""

import sys
'''


def candidate_script(csv_path: str, ds: Dataset, summary: Summary, entry: Entry,
                     seed: int) -> str:
    """`candidate.py`: the notebook's cells for `entry`, as one script."""
    note = ("The search's winner combines several candidates; this is its best single "
            "pipeline.\n\n" if summary.best_candidate != entry.name else "")
    head = _SCRIPT_HEAD.format(name=entry.name, note=note, script=CANDIDATE_SCRIPT,
                               notebook=f"{NOTEBOOK_DIR}/{CANDIDATE_DEFINITION}",
                               objective=summary.objective, score=entry.score)
    arguments = """
OUT = "refit.joblib"
if len(sys.argv) > 1:
    CSV = sys.argv[1]
if len(sys.argv) > 2:
    OUT = sys.argv[2]
"""
    parts = [head, _IMPORTS, _constants(csv_path, summary, seed), arguments, _LOAD,
             _pipeline_code(ds, entry, seed), _cv_code(entry), _refit_code(entry, "OUT")]
    return "\n".join(part.strip("\n") + "\n" for part in parts)


# -- writing and running ---------------------------------------------------------------------

def write_script(out_dir: Path, csv_path: str, ds: Dataset, summary: Summary,
                 entries: list[Entry], seed: int) -> Path | None:
    """candidate.py for the best single candidate, if there is one."""
    shown, _ = _shown(entries)
    if not shown:
        return None
    path = Path(out_dir) / CANDIDATE_SCRIPT
    path.write_text(candidate_script(csv_path, ds, summary, shown[0], seed))
    return path


def write(out_dir: Path, csv_path: str, ds: Dataset, summary: Summary, entries: list[Entry],
          seed: int, given_problem_type: bool,
          progress: Callable[[str], None]) -> list[Path]:
    """Write, execute and save both notebooks in `out_dir`/notebooks, and the HTML page; a
    notebook that fails to run is saved with what it printed so far, and the failure is a
    warning: the search's results stand either way."""
    try:
        import nbformat
        from nbclient.exceptions import CellExecutionError

        from byoc.tabular import notebook_kernel
    except ImportError as exc:
        progress(f"warning: no notebooks ({exc}): install byoc's tabular extra "
                 "(pip install 'byoc[tabular]'), or pass --no-notebooks")
        return []

    folder = Path(out_dir) / NOTEBOOK_DIR
    folder.mkdir(exist_ok=True)
    written = []
    books = [(DATA_EXPLORATION, exploration_notebook(csv_path, ds, given_problem_type, seed))]
    if entries:
        books.append((CANDIDATE_DEFINITION,
                      candidate_notebook(csv_path, ds, summary, entries, seed)))
    for name, notebook in books:
        began = time.monotonic()
        try:
            notebook_kernel.execute(notebook, folder)
            progress(f"{NOTEBOOK_DIR}/{name}: executed in {time.monotonic() - began:.1f}s")
        except CellExecutionError as exc:
            progress(f"warning: {NOTEBOOK_DIR}/{name} failed in a cell; it is saved with the "
                     f"error: {str(exc).strip().splitlines()[-1][:300]}")
        except Exception as exc:  # the kernel died, would not start, or a cell timed out
            progress(f"warning: {NOTEBOOK_DIR}/{name} could not run ({type(exc).__name__}: "
                     f"{str(exc).strip()[:300]}); it is saved unexecuted")
        nbformat.write(notebook, folder / name)
        written.append(folder / name)
        if name == DATA_EXPLORATION:
            written.append(notebook_kernel.to_html(notebook, folder / DATA_EXPLORATION_HTML))
    return written
