"""An Autopilot job's candidates, best first, and the lines that show the job and its reports."""

from __future__ import annotations

from datetime import datetime

from byoc.driver.autopilot.artifacts import artifact_lines


def list_candidates(sagemaker, name: str, candidate: str | None = None) -> list[dict]:
    kwargs = {"AutoMLJobName": name}
    if candidate:
        kwargs["CandidateNameEquals"] = candidate
    found: list[dict] = []
    for page in sagemaker.get_paginator("list_candidates_for_auto_ml_job").paginate(**kwargs):
        found.extend(page["Candidates"])
    return found


def rank(candidates: list[dict]) -> list[dict]:
    """Best first by the objective (its Type says which way); unscored candidates last."""
    def key(c: dict) -> tuple[int, float]:
        metric = c.get("FinalAutoMLJobObjectiveMetric")
        if not metric or "Value" not in metric:
            return (1, 0.0)
        value = float(metric["Value"])
        return (0, value if metric.get("Type") == "Minimize" else -value)

    return sorted(candidates, key=key)


def _duration(c: dict) -> str:
    start, end = c.get("CreationTime"), c.get("EndTime")
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        return "-"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


def leaderboard_lines(candidates: list[dict], top: int | None = None) -> list[str]:
    ranked = rank(candidates)[:top] if top else rank(candidates)
    if not ranked:
        return ["No candidates yet."]
    rows = [("#", "candidate", "objective", "value", "status", "time")]
    for i, c in enumerate(ranked, 1):
        metric = c.get("FinalAutoMLJobObjectiveMetric") or {}
        value = metric.get("Value")
        rows.append((str(i), c["CandidateName"], metric.get("MetricName", "-"),
                     "-" if value is None else f"{float(value):.6g}",
                     c.get("CandidateStatus", "-"), _duration(c)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def status_lines(desc: dict) -> list[str]:
    tabular = desc.get("AutoMLProblemTypeConfig", {}).get("TabularJobConfig", {})
    resolved = desc.get("ResolvedAttributes", {})
    problem = (resolved.get("AutoMLProblemTypeResolvedAttributes", {})
               .get("TabularResolvedAttributes", {}).get("TabularProblemType")
               or tabular.get("ProblemType") or "(being inferred)")
    objective = (resolved.get("AutoMLJobObjective") or desc.get("AutoMLJobObjective") or {})
    lines = [
        f"Job: {desc['AutoMLJobName']}",
        f"Status: {desc['AutoMLJobStatus']} ({desc.get('AutoMLJobSecondaryStatus', '-')})",
        f"Target: {tabular.get('TargetAttributeName', '-')}  Problem type: {problem}  "
        f"Objective: {objective.get('MetricName', '(default)')}",
    ]
    if desc.get("FailureReason"):
        lines.append(f"Failure reason: {desc['FailureReason']}")
    best = desc.get("BestCandidate")
    if best:
        metric = best.get("FinalAutoMLJobObjectiveMetric", {})
        lines.append(f"Best candidate: {best['CandidateName']}  "
                     f"{metric.get('MetricName', '')}={metric.get('Value', '-')}")
    return lines + artifact_lines(desc)
