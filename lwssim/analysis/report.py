"""Metrics from a Timeline: the JSON report of docs/contract.md ("The JSON report").

Every metric falls out of the one replay of the records (lwssim.analysis.replay) in O(records): each
pod's state, a running count of healthy pods per group and of serving groups per workload. Because the
Timeline is the same for simulated and observed runs, so is every number here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import lwssim
from lwssim.analysis.capacity import capacity_report
from lwssim.analysis.replay import GroupState, PodLife, Replay, as_int, replay, sec
from lwssim.timeline import Timeline

FRACTION_DECIMALS = 6


def build_report(
    timeline: Timeline, *, lws_version: str | None = None, replayed: Replay | None = None
) -> dict:
    """The SimulationReport for ``timeline``; ``lws_version`` (from the scenario) only annotates it.

    ``replayed``: the replay of ``timeline`` when the caller has one (it is advanced to the horizon here).
    """
    state = replay(timeline) if replayed is None else replayed
    horizon = timeline.horizon
    pods_by_group: dict[tuple[str, int], list[PodLife]] = {}
    for pod in state.pods.values():
        pods_by_group.setdefault((pod.workload, pod.group), []).append(pod)

    infos = {w.name: w for w in timeline.workloads}
    gpus: Counter[str] = Counter()
    for pod in state.pods.values():
        if pod.holds_resources:
            gpus[pod.workload] += pod.gpus
    workloads = []
    for name in sorted(state.workloads):
        w = state.workloads[name]
        info = infos.get(name)
        w.advance(horizon)
        state.advance_groups(w, horizon)
        loops = []
        for (wn, _), g in sorted(state.groups.items(), key=lambda kv: kv[0][1]):
            if wn == name:
                g.close_streak(ongoing=True)
                loops.extend(g.loops)
        availability = None
        if w.all_serving_at is not None:
            window = horizon - w.all_serving_at
            availability = w.area / window if window > 0 else w.fraction()
        # Desired groups, plus any that still has pods (surge groups of a rollout, a scale-down draining).
        indices = {i for (wn, i) in pods_by_group if wn == name} | set(range(max(w.replicas, 0)))
        if w.by_pod:
            indices = set()
        groups = [
            _group_entry(
                i,
                state.groups.get((name, i), GroupState(index=i)),
                pods_by_group.get((name, i), []),
                w.all_serving_at is not None,
                horizon,
            )
            for i in sorted(indices)
        ]
        workloads.append(
            {
                "name": name,
                "namespace": info.namespace if info else "",
                "kind": info.kind if info else "",
                "replicas": w.replicas,
                "size": w.size,
                "groupsServing": w.serving,
                "groupsReadyReported": w.ready_reported,
                "timeToAllServingSeconds": sec(w.all_serving_at),
                "availability": _frac(availability),
                "groupRecreations": w.recreations,
                "groupsUpdated": w.updated_reported,
                "rollouts": w.rollouts,
                "recreationLoops": loops,
                "gpusAllocated": gpus[name],
                "groups": groups,
                "servingOverTime": w.over_time,
                "podsPreempted": w.preempted,
            }
        )
        if w.by_pod:  # a Deployment, StatefulSet, Job or Pod: its pods, each serving alone when Ready
            pods = sorted(
                (p for (wn, _), ps in pods_by_group.items() if wn == name for p in ps),
                key=lambda p: name_key(p.name),
            )
            workloads[-1]["pods"] = [_pod_entry(p) for p in pods]
            if info is not None and info.kind == "Job":
                workloads[-1]["podsSucceeded"] = w.succeeded

    pending = [p for p in state.pods.values() if p.node is None and not p.deleting]
    report = {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "SimulationReport",
        "scenario": timeline.scenario,
        "seed": timeline.seed,
        "horizonSeconds": sec(horizon),
        "lwssimVersion": lwssim.__version__,
        "cluster": {
            "nodes": as_int(timeline.cluster.get("nodes", 0)),
            "gpus": as_int(timeline.cluster.get("gpus", 0)),
            "gpusAllocated": sum(gpus.values()),
        },
        "workloads": workloads,
        "pendingPods": [
            {"name": p.name, "workload": p.workload, "reason": p.pending_reason}
            for p in sorted(pending, key=lambda p: (name_key(p.name), p.workload))
        ],
        "faults": [_fault_entry(state.faults[f], state.fault_hits[f]) for f in sorted(state.faults)],
    }
    if lws_version:
        report["lwsVersion"] = lws_version
    if timeline.cluster.get("autoscaling"):  # nodes an autoscaler adds and removes, and what they cost
        report.update(capacity_report(timeline))
    if state.queue_over_time:  # Kueue: each ClusterQueue's reserved quota over time
        given = timeline.cluster.get("clusterQueues")
        nominal: dict = given if isinstance(given, dict) else {}
        report["clusterQueues"] = [
            {
                "name": name,
                "nominalQuota": nominal.get(name),
                "usage": {k: v for k, v in sorted(state.queue_usage[name].items()) if v},
                "usageOverTime": [[sec(t), u] for t, u in points],
            }
            for name, points in sorted(state.queue_over_time.items())
        ]
    return report


def _fault_entry(fault: dict, hits: dict[tuple[str, str], int]) -> dict:
    return fault | {
        "podsHit": len(hits),
        "groupsHit": len({(workload, group) for (workload, _), group in hits.items()}),
    }


def _group_entry(
    index: int, g: GroupState, pods: list[PodLife], window_started: bool, horizon: float
) -> dict:
    pods = sorted(pods, key=lambda p: name_key(p.name))
    entry: dict[str, Any] = {
        "index": index,
        "serving": g.serving,
        "servingAtSeconds": sec(g.serving_at),
        "recreations": g.recreations,
        "downtimeSeconds": sec(g.downtime) if window_started else None,
        "nodes": sorted({p.node for p in pods if p.node is not None}, key=name_key),
        "pods": [_pod_entry(p) for p in pods],
    }
    a = g.admission
    if a is not None:  # Kueue admits the group (docs/contract.md, "Kueue")
        entry["admittedAtSeconds"] = sec(a.admitted_at)
        entry["admission"] = {
            "workload": a.workload,
            "clusterQueue": a.cluster_queue or None,
            "flavors": a.flavors or None,
            "admissions": a.admissions,
            "waitingSeconds": sec(a.waited_until(horizon)),
            "pendingReason": a.pending_reason or None,
            "pendingMessage": a.pending_message or None,
            "evictions": a.evictions,
        }
    return entry


def _pod_entry(p: PodLife) -> dict:
    entry = {
        "name": p.name,
        "role": p.role,
        "node": p.node,
        "phase": p.phase,
        "readyAtSeconds": sec(p.ready_at) if p.ready else None,
        "pendingReason": p.pending_reason if p.node is None else None,
    }
    if p.preempted_by is not None:
        entry["preemptedBy"] = p.preempted_by
    if p.nominated_node is not None and p.node is None:
        entry["nominatedNode"] = p.nominated_node
    return entry


def to_json(report: dict) -> str:
    """Byte-stable JSON: sorted keys, values already rounded by build_report, one trailing newline."""
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def name_key(name: str) -> tuple:
    """Natural order, so ``llm-0-2`` sorts before ``llm-0-10`` (and ``h100-2`` before ``h100-10``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def group_blockers(workload: dict) -> Counter[tuple[str, str]]:
    """(role, state) of the pods that keep groups from serving, e.g. ("worker", "Pending"): 3."""
    blockers: Counter[tuple[str, str]] = Counter()
    for g in workload["groups"]:
        if g["serving"]:
            continue
        for p in g["pods"]:
            if p["phase"] != "Running":
                blockers[(p["role"], p["phase"])] += 1
            elif p["readyAtSeconds"] is None:
                blockers[(p["role"], "not Ready")] += 1
        missing = workload["size"] - len(g["pods"])
        if missing > 0:
            blockers[("pod", "missing")] += missing
    return blockers


def _frac(v: float | None) -> float | None:
    return None if v is None else round(float(v), FRACTION_DECIMALS) + 0.0
