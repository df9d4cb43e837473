"""What the human-readable outputs say, computed once so the table and Markdown say the same thing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from lwssim.analysis.report import group_blockers, name_key
from lwssim.model.quantity import format_duration

MAX_GROUP_ROWS = 16  # beyond this many groups, per-group detail is noise in a terminal
MAX_EXAMPLES = 4

WORKLOAD_COLUMNS = (
    "Workload",
    "Kind",
    "Serving / LWS ready / Replicas",
    "Time to all serving",
    "Availability",
    "Recreations",
    "GPUs",
)
KIND_SHORT = {"LeaderWorkerSet": "LWS", "LLMInferenceService": "llmisvc"}  # kubectl short names
GROUP_COLUMNS = ("Group", "Serving", "First served", "Pods ready", "Recreations", "Nodes")
PENDING_COLUMNS = ("Pods", "Reason", "Examples")


@dataclass(frozen=True)
class Summary:
    title: str
    cluster: str
    workloads: list[tuple[str, ...]]
    groups: list[tuple[str, list[tuple[str, ...]]]]  # (workload name, rows) for small workloads
    notes: list[str]  # reported-ready vs serving discrepancies
    pending: list[tuple[str, ...]]


def summarize(report: dict) -> Summary:
    cluster = report["cluster"]
    title = (
        f"Scenario {report['scenario'] or '(unnamed)'} · seed {report['seed']} · "
        f"horizon {format_duration(report['horizonSeconds'])}"
    )
    nodes = f"{cluster['nodes']} node" + ("" if cluster["nodes"] == 1 else "s")
    cluster_line = f"{nodes} · {cluster['gpusAllocated']}/{cluster['gpus']} GPUs allocated"
    if "nodesOverTime" in report:  # autoscaled: the nodes at the end, their most, and the GPU-hours
        counts = [n for _, n in report["nodesOverTime"]]
        hours = report["gpuHours"]
        cluster_line = (
            f"{nodes} at the start, {counts[-1]} at the end (most {max(counts)}) · GPU-hours "
            f"{hours['provisioned']:g} provisioned, {hours['allocated']:g} allocated, "
            f"{hours['idleInPartialGroups']:g} idle in partly placed groups"
        )
    workloads, groups, notes = [], [], []
    for w in report["workloads"]:
        workloads.append(
            (
                w["name"],
                KIND_SHORT.get(w["kind"], w["kind"]),
                f"{w['groupsServing']} / {_reported(w)} / {w['replicas']}",
                format_duration(w["timeToAllServingSeconds"])
                if w["timeToAllServingSeconds"] is not None
                else "never",
                format_availability(w["availability"]),
                str(w["groupRecreations"]),
                str(w.get("gpusAllocated", "")),
            )
        )
        if 0 < len(w["groups"]) <= MAX_GROUP_ROWS:
            groups.append((w["name"], [_group_row(g, w["size"]) for g in w["groups"]]))
        note = readiness_note(w, report.get("lwsVersion"))
        if note:
            notes.append(note)
    notes += failure_notes(report)
    notes += [e["message"] for e in report.get("explanations", [])]  # lwssim.analysis.explain, when attached
    return Summary(title, cluster_line, workloads, groups, notes, pending_rows(report["pendingPods"]))


def _reported(w: dict) -> str:
    """What LWS reports ready; nothing for a workload of single pods (it has no LWS)."""
    return "—" if "pods" in w else str(w["groupsReadyReported"])


def format_availability(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.3f}%"


def readiness_note(workload: dict, lws_version: str | None) -> str | None:
    """Say so when LWS's status counts groups ready that do not serve (lws#705 on v0.7/v0.8)."""
    reported, serving = workload["groupsReadyReported"], workload["groupsServing"]
    if reported <= serving:
        return None
    who = f"LWS {short_version(lws_version)}" if lws_version else "LWS"
    noun = "group" if reported == 1 else "groups"
    verb = "serves" if serving == 1 else "serve"
    note = f"{workload['name']}: {who} reports {reported} {noun} ready, but only {serving} {verb}"
    blockers = group_blockers(workload)
    if blockers:
        ranked = sorted(blockers.items(), key=lambda kv: (-kv[1], kv[0]))
        note += ": " + ", ".join(f"{role}s {state}" for (role, state), _ in ranked)
        if ("worker", "Pending") in blockers and _pre_v09(lws_version):
            note += " (lws#705)"
    return note


def short_version(version: str | None) -> str:
    """``v0.7.0`` → ``v0.7``: the minor version is what selects semantics."""
    if not version:
        return ""
    parts = version.lstrip("v").split(".")
    return "v" + ".".join(parts[:2])


def _pre_v09(version: str | None) -> bool:
    if not version:
        return True
    try:
        major, minor = (int(p) for p in version.lstrip("v").split(".")[:2])
    except ValueError:
        return False
    return (major, minor) < (0, 9)


def _group_row(group: dict, size: int) -> tuple[str, ...]:
    ready = sum(1 for p in group["pods"] if p["phase"] == "Running" and p["readyAtSeconds"] is not None)
    serving = "yes" if group.get("serving") else "no"
    if not group.get("serving") and "admission" in group and group.get("admittedAtSeconds") is None:
        serving = "no: not admitted"  # its Kueue Workload waits for quota (or topology)
    return (
        str(group["index"]),
        serving,
        format_duration(group["servingAtSeconds"]),
        f"{ready}/{size}",
        str(group["recreations"]),
        ", ".join(group["nodes"]) or "—",
    )


def pending_rows(pending: list[dict]) -> list[tuple[str, ...]]:
    """Pending pods grouped by reason, most common first: hundreds of pods usually share one reason."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for p in pending:
        by_reason[p["reason"] or "not yet tried by the scheduler"].append(p["name"])
    rows = []
    for reason, names in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        names = sorted(names, key=name_key)
        shown = ", ".join(names[:MAX_EXAMPLES]) + (", …" if len(names) > MAX_EXAMPLES else "")
        rows.append((str(len(names)), reason, shown))
    return rows


def failure_notes(report: dict) -> list[str]:
    """Rollouts, recreation loops, downtime and faults, one line each (issue 4: the report's new fields)."""
    notes = []
    for w in report["workloads"]:
        name, replicas = w["name"], w["replicas"]
        for ro in w.get("rollouts", []):
            start = format_duration(ro["startedAtSeconds"])
            if ro["finishedAtSeconds"] is None:
                span = f"started at {start}, not finished"
            else:
                span = f"from {start} to {format_duration(ro['finishedAtSeconds'])}"
            notes.append(
                f"{name}: rollout {span}; at least {ro['minServing']} of {replicas} groups serving throughout"
            )
        for loop in w.get("recreationLoops", []):
            state = "still looping at the horizon" if loop["ongoing"] else "then served"
            first, last = format_duration(loop["firstAtSeconds"]), format_duration(loop["lastAtSeconds"])
            notes.append(
                f"{name}: group {loop['group']} recreated {loop['recreations']} times without serving "
                f"between {first} and {last} (recreation loop, {state})"
            )
        down = [(g["downtimeSeconds"], g["index"]) for g in w["groups"] if g.get("downtimeSeconds")]
        if down and report.get("faults"):
            worst, index = max(down)
            notes.append(
                f"{name}: groups down {format_duration(sum(d for d, _ in down))} in total; "
                f"longest group {index}, {format_duration(worst)}"
            )
    faults = report.get("faults", [])
    if faults:
        kinds: dict[str, int] = defaultdict(int)
        for f in faults:
            kinds[f["kind"]] += 1
        mix = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        pods = sum(f["podsHit"] for f in faults)
        groups = sum(f["groupsHit"] for f in faults)
        notes.append(f"faults: {len(faults)} ({mix}); {pods} pods and {groups} groups hit")
    return notes
