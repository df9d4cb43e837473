"""The upgrade what-if: one scenario under two LWS versions, with the same seed, side by side.

Both runs draw the same random numbers where their controllers act alike, so what differs is what the
versions do differently (docs/lws-versions.md): when a group counts as ready, how a rollout advances,
when a group is recreated. The rows are the ones a team weighs before an upgrade: readiness reported
against groups really serving, each rollout's duration and the fewest groups serving during it,
recreations and availability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lwssim.manifests.schema import API_VERSION

KIND = "LWSVersionComparison"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    worded: Callable[[float | int | None], str]


def _minutes(v: float | int | None) -> str:
    return "never" if v is None else f"{v / 60:.1f} min"


def _count(v: float | int | None) -> str:
    return "—" if v is None else str(v)


def _fraction(v: float | int | None) -> str:
    return "—" if v is None else f"{v:.6f}"


WORKLOAD_METRICS = (
    Metric("timeToAllServingSeconds", "time to all groups serving", _minutes),
    Metric("groupsServing", "groups serving at the end", _count),
    Metric("groupsReadyReported", "groups LWS reports ready at the end", _count),
    Metric("groupRecreations", "group recreations", _count),
    Metric("availability", "availability", _fraction),
)
ROLLOUT_METRICS = (
    Metric("durationSeconds", "duration", _minutes),
    Metric("minServing", "fewest groups serving", _count),
)


def compare_versions(reports: list[dict], versions: list[str]) -> dict:
    """The comparison document of ``reports``, one per entry of ``versions``, of the same scenario."""
    first = reports[0]
    by_name = [{w["name"]: w for w in r["workloads"]} for r in reports]
    workloads = []
    for w in first["workloads"]:
        if w["kind"] not in ("LeaderWorkerSet", "LLMInferenceService"):
            continue
        sides = [names.get(w["name"]) for names in by_name]
        rows = [
            _row(m.key, m.label, [None if s is None else s.get(m.key) for s in sides])
            for m in WORKLOAD_METRICS
        ]
        rollouts = [s.get("rollouts", []) if s else [] for s in sides]
        for i in range(max(len(r) for r in rollouts)):
            per = [r[i] if i < len(r) else None for r in rollouts]
            for m in ROLLOUT_METRICS:
                values = [None if ro is None else _rollout_value(ro, m.key) for ro in per]
                rows.append(_row(f"rollouts[{i}].{m.key}", f"rollout {i + 1}: {m.label}", values))
        workloads.append(
            {"name": w["name"], "rows": rows, "differences": _differences(w["name"], rows, versions)}
        )
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "scenario": first["scenario"],
        "seed": first["seed"],
        "versions": versions,
        "workloads": workloads,
        "reports": reports,
    }


def _rollout_value(rollout: dict, key: str) -> float | int | None:
    if key == "durationSeconds":
        end = rollout.get("finishedAtSeconds")
        return None if end is None else round(end - rollout["startedAtSeconds"], 3)
    value: float | int | None = rollout.get(key)
    return value


def _row(metric: str, label: str, values: list) -> dict:
    return {"metric": metric, "label": label, "values": values, "differs": len(set(map(repr, values))) > 1}


WORDED = {m.key: m.worded for m in (*WORKLOAD_METRICS, *ROLLOUT_METRICS)}


def worded(metric: str, value: float | int | None) -> str:
    """A row's value in its own unit (``metric`` as in the rows, e.g. ``rollouts[0].durationSeconds``)."""
    return WORDED[metric.rpartition(".")[2]](value)


def _differences(name: str, rows: list[dict], versions: list[str]) -> list[str]:
    """One sentence per row whose values differ, in the row's own unit."""
    out = []
    for row in rows:
        if row["differs"]:
            values = zip(row["values"], versions, strict=True)
            sides = " and ".join(f"{worded(row['metric'], v)} under {ver}" for v, ver in values)
            out.append(f"{name}: {row['label']}: {sides}")
    return out
