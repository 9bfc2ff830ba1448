"""The data analysis report: column types, missing values, the target's distribution, warnings.

Mirrors the first step of an Autopilot job (its data exploration notebook) as one Markdown file.
The leakage check fits a small tree on each feature alone: a feature that predicts the target
almost perfectly by itself is usually the answer in disguise, not a signal.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from byoc.tabular import contributions, explain, objectives, partial_dependence
from byoc.tabular.candidate_pipeline import CATEGORICAL_STEPS, NUMERIC_STEPS
from byoc.tabular.dataset import SET_ASIDE, Dataset
from byoc.tabular.run_summary import Summary

LEAKAGE_SAMPLE = 5000  # rows used for the per-feature leakage check
LEAKAGE_R2 = 0.9  # a single feature explaining this much of a regression target
LEAKAGE_ACCURACY = 0.99  # a single feature classifying this well
# A class is flagged when it has less than half of its share in a balanced split, or when the
# largest class outnumbers the smallest by this ratio or more.
IMBALANCE_OF_BALANCED = 0.5
IMBALANCE_RATIO = 10.0


@dataclass
class Analysis:
    """What the report says, also kept for summary.json."""

    rows: int
    columns: list[dict]
    target: dict
    warnings: list[str] = field(default_factory=list)


def _column_rows(ds: Dataset) -> list[dict]:
    rows = []
    for name in ds.frame.columns:
        column = ds.frame[name]
        if name == ds.target:
            kind = "target"
        elif name in ds.dropped:
            kind = f"dropped: {ds.dropped[name]}"
        else:
            kind = "numeric" if name in ds.numeric else "categorical"
        if pd.api.types.is_numeric_dtype(column) and column.notna().any():
            summary = f"min {column.min():.4g}, mean {column.mean():.4g}, max {column.max():.4g}"
        else:
            top = column.value_counts().head(3)
            summary = ", ".join(f"{value} ({count})" for value, count in top.items())
        rows.append({
            "column": str(name),
            "type": kind,
            "dtype": str(column.dtype),
            "missing": int(column.isna().sum()),
            "missing_pct": round(100.0 * column.isna().mean(), 1),
            "distinct": int(column.nunique()),
            "summary": summary,
        })
    return rows


def _target_summary(ds: Dataset) -> dict:
    y = ds.y
    if objectives.is_classification(ds.problem_type):
        counts = y.value_counts()
        return {"classes": {str(k): int(v) for k, v in counts.items()}}
    quantiles = y.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).tolist()
    return {
        "mean": float(y.mean()),
        "std": float(y.std()),
        "skew": float(y.skew()),
        "quantiles": dict(zip(("min", "q25", "median", "q75", "max"), quantiles, strict=True)),
    }


def single_feature_scores(ds: Dataset, seed: int) -> dict[str, float]:
    """Cross-validated score of a depth-4 tree on each feature alone (r2 or accuracy)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    frame = ds.frame
    if len(frame) > LEAKAGE_SAMPLE:
        frame = frame.sample(LEAKAGE_SAMPLE, random_state=seed)
    classify = objectives.is_classification(ds.problem_type)
    y = frame[ds.target]
    if classify:
        folds = min(3, int(y.value_counts().min()))
        if folds < 2:
            return {}
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        tree = DecisionTreeClassifier(max_depth=4, random_state=seed)
    else:
        cv = KFold(3, shuffle=True, random_state=seed)
        tree = DecisionTreeRegressor(max_depth=4, random_state=seed)
    scores = {}
    for name in ds.features:
        column = frame[name]
        if name in ds.numeric:
            x = column.to_numpy(dtype=float)
        else:
            x = pd.factorize(column)[0].astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = cross_val_score(tree, x.reshape(-1, 1), y, cv=cv).mean()
        scores[name] = float(score)
    return scores


def _imbalance(shares: pd.Series) -> list[str]:
    balanced = 1.0 / len(shares)
    ratio = float(shares.max() / shares.min())
    found = []
    for label, share in shares.items():
        if share < IMBALANCE_OF_BALANCED * balanced or shares.max() / share >= IMBALANCE_RATIO:
            found.append(
                f"Class '{label}' is only {100 * share:.1f}% of the rows (a balanced split gives "
                f"each class {100 * balanced:.1f}%; largest to smallest class: {ratio:.1f} to "
                "1): consider BalancedAccuracy or F1macro as the objective."
            )
    return found


def _warnings(ds: Dataset, scores: dict[str, float]) -> list[str]:
    found = []
    for name, reason in ds.dropped.items():
        found.append(f"Column '{name}' is {reason}; it was {SET_ASIDE}.")
    if objectives.is_classification(ds.problem_type):
        found += _imbalance(ds.y.value_counts(normalize=True))
        majority = float(ds.y.value_counts(normalize=True).max())
        for name, score in scores.items():
            if score >= LEAKAGE_ACCURACY and majority < LEAKAGE_ACCURACY:
                found.append(
                    f"Possible target leakage: '{name}' alone predicts '{ds.target}' with "
                    f"{100 * score:.1f}% accuracy. Drop it if it is only known after the fact."
                )
    else:
        for name, score in scores.items():
            if score >= LEAKAGE_R2:
                found.append(
                    f"Possible target leakage: '{name}' alone explains {100 * score:.1f}% of "
                    f"the variance of '{ds.target}'. Drop it if it is only known after the fact."
                )
    if ds.rows_without_target:
        found.append(
            f"{ds.rows_without_target} rows have no value for '{ds.target}' and were not used."
        )
    for name in ds.features:
        share = ds.frame[name].isna().mean()
        if share > 0.5:
            found.append(f"Column '{name}' is {100 * share:.0f}% missing; it is imputed.")
    return found


def analyze(ds: Dataset, seed: int = 0) -> Analysis:
    scores = single_feature_scores(ds, seed)
    return Analysis(len(ds.frame), _column_rows(ds), _target_summary(ds), _warnings(ds, scores))


def _markdown_table(rows: list[dict], keys: list[str]) -> list[str]:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = (str(row[k]).replace("|", "\\|") for k in keys)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _results(summary: Summary, plot: str | None) -> list[str]:
    key = summary.objective_key
    lines = ["", "## Model", "",
             f"- Mode: {summary.mode} ({summary.mode_reason}).",
             f"- Search: {summary.candidates_evaluated} candidates in "
             f"{summary.search_elapsed_s:.3g} s of its {summary.search_budget_s:.3g} s; it "
             f"stopped because {summary.search_stop}."]
    if not summary.metrics:
        return lines + ["- The time budget was too short to cross-validate any candidate: the "
                        "model is the fastest baseline, unscored."]
    lines += [
        f"- Best: `{summary.best_candidate}`, {summary.objective} "
        f"{summary.metrics[key]:.4g} ± {summary.score_std:.3g} (std across "
        f"{summary.cv_folds} folds; the ensemble's and the stacked model's scores are nested: "
        "their weights never saw the rows they are scored on).",
    ]
    ties = summary.tied_with_best
    if ties:
        lines.append(f"- Within one std of the best, so not really behind it: "
                     f"{', '.join(f'`{t}`' for t in ties)}.")
    if summary.ensemble:
        members = ", ".join(f"`{name}` {w:.2f}" for name, w in summary.ensemble.items())
        lines.append(f"- Ensemble weights: {members}.")
    if summary.stacked:
        lines.append(f"- Stacked model: {summary.stacked['stacker']} of "
                     f"{len(summary.stacked['members'])} members.")
    lines += ["", "## Explainability", "",
              f"Permutation importance on {summary.importance_folds} held-out folds: the "
              f"drop in {summary.objective} when a column's values are shuffled.", ""]
    top = list(summary.importance.items())[:explain.TOP]
    lines += _markdown_table(
        [{"column": name, "importance": f"{v['importance']:.4g}", "std": f"{v['std']:.2g}"}
         for name, v in top], ["column", "importance", "std"])
    if plot:
        lines += ["", f"![Permutation importance, top {len(top)} columns]({plot})"]
    if summary.shap:
        lines += _shap(summary)
    return lines


def _shap(summary: Summary) -> list[str]:
    """SHAP importance beside permutation importance, a few rows' explanations, and the partial
    dependence plot."""
    shap = summary.shap
    lines = ["", "### SHAP values", "",
             f"{shap['explainer']} on {shap['rows']} rows: how much each column moved "
             f"{shap['explained']} away from its average over the data (the base value). "
             "Importance is the mean |SHAP value|.", ""]
    top = list(shap["importance"].items())[:explain.TOP]
    lines += _markdown_table([{"column": name, "mean_abs_shap": f"{value:.4g}"}
                              for name, value in top], ["column", "mean_abs_shap"])
    lines += ["", f"![SHAP values, top {len(top)} columns]({contributions.PLOT})", ""]
    lines.append(_agreement(list(shap["importance"]), list(summary.importance)))
    lines += ["", f"A few rows: {shap['explained']}, the base value and the top contributions.",
              ""]
    for i, example in enumerate(shap["examples"], 1):
        row = ", ".join(f"{k}={v}" for k, v in example["row"].items())
        parts = "; ".join(f"`{name}`={value} {shap_value:+.4g}"
                          for name, value, shap_value in example["top"])
        lines.append(f"{i}. {row}: {example['explained']:.4g} (base {example['base']:.4g}); "
                     f"{parts}")
    lines += ["", f"### Partial dependence: top {partial_dependence.COLUMNS} columns by SHAP", "",
              f"The model's average prediction over {partial_dependence.ROWS} rows as one "
              "column is set to each value of a grid (ticks: the column's deciles).", "",
              f"![Partial dependence]({partial_dependence.PLOT})"]
    return lines


def _agreement(by_shap: list[str], by_permutation: list[str], top: int = 3) -> str:
    """Whether SHAP and permutation importance name the same top columns, in one sentence."""
    first, second = by_shap[:top], by_permutation[:top]
    if first == second:
        return f"SHAP and permutation importance agree on the top {len(first)} columns."
    ranked = "SHAP ranks " + ", ".join(f"`{n}`" for n in first) + "; permutation importance " + \
        ", ".join(f"`{n}`" for n in second)
    if set(first) == set(second):
        return (f"SHAP and permutation importance name the same top {len(first)} columns in "
                f"another order ({ranked}).")
    return (f"**SHAP and permutation importance disagree on the top columns**: {ranked}. SHAP "
            "says how much a column moves the predictions; permutation importance how much the "
            "held-out score drops without it. A column can move predictions without helping "
            "the score (it fits noise), or matter through correlated columns that stand in for "
            "it when it is shuffled.")


def write_markdown(ds: Dataset, analysis: Analysis, path: Path, summary: Summary | None = None,
                   plot: str | None = None) -> Path:
    """The report; with the run's `summary`, also its model and explainability sections."""
    lines = [
        f"# Data analysis: {Path(ds.source).name}",
        "",
        f"- Rows used: {analysis.rows}",
        f"- Target: `{ds.target}` ({ds.problem_type})",
        f"- Features: {len(ds.numeric)} numeric, {len(ds.categorical)} categorical, "
        f"{len(ds.dropped)} set aside",
        "",
        "## Warnings",
        "",
    ]
    lines += [f"- {w}" for w in analysis.warnings] or ["- None."]
    lines += ["", "## Columns", ""]
    lines += _markdown_table(
        analysis.columns,
        ["column", "type", "dtype", "missing", "missing_pct", "distinct", "summary"],
    )
    lines += ["", f"## Target `{ds.target}`", ""]
    if "classes" in analysis.target:
        total = sum(analysis.target["classes"].values())
        rows = [{"class": k, "rows": v, "share": f"{100 * v / total:.1f}%"}
                for k, v in analysis.target["classes"].items()]
        lines += _markdown_table(rows, ["class", "rows", "share"])
    else:
        t = analysis.target
        stats = {"mean": t["mean"], "std": t["std"], "skew": t["skew"], **t["quantiles"]}
        lines += _markdown_table([{k: f"{v:.4g}" for k, v in stats.items()}], list(stats))
    lines += [
        "",
        "## Preprocessing",
        "",
        f"- Numeric: {NUMERIC_STEPS}.",
        f"- Categorical: {CATEGORICAL_STEPS}.",
    ]
    if summary is not None:
        lines += _results(summary, plot)
    path.write_text("\n".join(lines) + "\n")
    return path

