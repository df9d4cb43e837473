"""Metrics from a Timeline: the JSON report of CONTRACT.md ("The JSON report").

One replay over the records, in time order, keeps each pod's state, a running count of healthy pods per
group and of serving groups per workload; every metric falls out of that replay in O(records). Because
the Timeline is the same for simulated and observed runs, so is every number here.
"""

from __future__ import annotations

import json
import operator
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import lwssim
from lwssim import timeline as tl
from lwssim.timeline import Record, Timeline

SECONDS_DECIMALS = 3
FRACTION_DECIMALS = 6
# A group recreated this many times in a row without serving in between is in a recreation loop
# (e.g. a startup-probe budget shorter than the model load; lws#1048: no back-off between recreations).
RECREATION_LOOP_THRESHOLD = 3


@dataclass
class _Pod:
    """One life of a pod (PodCreated → PodDeleted); a recreated pod with the same name starts afresh."""

    name: str
    workload: str
    group: int
    role: str
    gpus: int = 0
    node: str | None = None
    started: bool = False
    ready: bool = False
    ready_at: float | None = None
    deleting: bool = False
    failed: bool = False
    pending_reason: str | None = None

    @property
    def healthy(self) -> bool:
        """Counts toward its group serving: scheduled, running, Ready, not on its way out."""
        return self.node is not None and self.started and self.ready and not self.deleting and not self.failed

    @property
    def phase(self) -> str:
        if self.deleting:
            return "Terminating"
        if self.failed:
            return "Failed"
        return "Running" if self.started else "Pending"


@dataclass
class _Group:
    index: int = 0
    healthy: int = 0
    serving: bool = False
    serving_at: float | None = None
    recreations: int = 0
    downtime: float = 0.0  # not serving while desired, after the workload first served in full
    last_t: float = 0.0
    streak: int = 0  # recreations since the group last served
    streak_first: float = 0.0
    streak_last: float = 0.0
    loops: list[dict] = field(default_factory=list)

    def advance(self, t: float, counted: bool) -> None:
        if counted and not self.serving:
            self.downtime += t - self.last_t
        self.last_t = t

    def close_streak(self, ongoing: bool) -> None:
        if self.streak >= RECREATION_LOOP_THRESHOLD:
            self.loops.append(
                {
                    "group": self.index,
                    "recreations": self.streak,
                    "firstAtSeconds": _sec(self.streak_first),
                    "lastAtSeconds": _sec(self.streak_last),
                    "ongoing": ongoing,
                }
            )
        self.streak = 0


@dataclass
class _Workload:
    """Running totals for one workload; ``area`` integrates min(serving, replicas)/replicas after TTAS."""

    name: str
    size: int
    replicas: int
    serving: int = 0
    ready_reported: int = 0
    updated_reported: int = 0
    recreations: int = 0
    rollouts: list[dict] = field(default_factory=list)
    all_serving_at: float | None = None
    area: float = 0.0
    last_t: float = 0.0
    over_time: list[list[float | None]] = field(default_factory=list)  # [seconds, serving, replicas]

    def fraction(self) -> float:
        # Nothing desired (scaled to zero) means nothing is missing.
        return 1.0 if self.replicas <= 0 else min(self.serving, self.replicas) / self.replicas

    def advance(self, t: float) -> None:
        """Integrate availability up to ``t`` under the state that held since the last change."""
        if self.all_serving_at is not None:
            self.area += self.fraction() * (t - self.last_t)
        self.last_t = t

    def changed(self, t: float) -> None:
        """After a change of serving or replicas at ``t``: note the first time all replicas serve."""
        if self.all_serving_at is None and self.replicas > 0 and self.serving >= self.replicas:
            self.all_serving_at = t
            self.last_t = t
        point = [_sec(t), self.serving, self.replicas]
        if self.over_time and self.over_time[-1][0] == point[0]:
            self.over_time[-1] = point
        elif not self.over_time or self.over_time[-1][1:] != point[1:]:
            self.over_time.append(point)


class _Replay:
    """The state of every pod, group and workload as the records are applied one by one."""

    def __init__(self, timeline: Timeline) -> None:
        self.horizon = timeline.horizon
        self.pods: dict[tuple[str, str], _Pod] = {}
        self.groups: dict[tuple[str, int], _Group] = {}
        self.workloads: dict[str, _Workload] = {}
        self.lws_to_workload: dict[str, str] = {}
        self.now = 0.0
        self.on_node: dict[str, dict[tuple[str, str], _Pod]] = {}
        self.faults: dict[int, dict] = {}
        self.fault_hits: dict[int, dict[tuple[str, str], int]] = {}
        for w in timeline.workloads:
            self.workloads[w.name] = _Workload(w.name, w.size, w.replicas, over_time=[[0.0, 0, w.replicas]])
            self.lws_to_workload[w.lws] = w.name
        self._handlers: dict[str, Callable[[Record], None]] = {
            tl.POD_CREATED: self._created,
            tl.SCALED: self._scaled,
            tl.LWS_STATUS: self._lws_status,
            tl.GROUP_RECREATED: self._group_recreated,
            tl.ROLLOUT_STARTED: self._rollout_started,
            tl.ROLLOUT_FINISHED: self._rollout_finished,
            tl.FAULT: self._fault,
            tl.NODE_DOWN: self._node_down,
        }
        self._pod_handlers: dict[str, Callable[[_Pod, Record], None]] = {
            tl.POD_SCHEDULED: self._scheduled,
            tl.POD_UNSCHEDULABLE: self._unschedulable,
            tl.POD_CONTAINERS_STARTED: self._started,
            tl.POD_READY: self._ready,
            tl.POD_NOT_READY: self._not_ready,
            tl.POD_RESTARTED: self._not_ready,
            tl.POD_DELETING: self._deleting,
            tl.POD_FAILED: self._failed,
            tl.POD_DELETED: self._deleted,
        }

    def counted(self, w: _Workload, g: _Group) -> bool:
        """Downtime counts for desired groups once the workload has served in full."""
        return w.all_serving_at is not None and g.index < w.replicas

    def advance_groups(self, w: _Workload, t: float) -> None:
        for i in range(max(w.replicas, 0)):
            self.group(w.name, i)
        for (name, _), g in self.groups.items():
            if name == w.name:
                g.advance(t, self.counted(w, g))

    def run(self, records: list[Record]) -> None:
        # Records are written in time order; a stable sort keeps write order within an instant and
        # tolerates observed timelines merged from several watches.
        horizon, apply = self.horizon, self.apply
        for r in sorted(records, key=_time_of):
            if r.t > horizon:
                break
            apply(r)

    def apply(self, r: Record) -> None:
        self.now = r.t
        pod_handler = self._pod_handlers.get(r.kind)  # most records are about one pod
        if pod_handler is not None:
            pod = self.pods.get((r.workload, r.subject))
            if pod is not None:
                pod_handler(pod, r)
            return
        handler = self._handlers.get(r.kind)
        if handler is not None:
            handler(r)

    def workload(self, name: str) -> _Workload:
        w = self.workloads.get(name)
        if w is None:  # a workload the timeline's header does not list: keep it, size from its pods
            w = self.workloads[name] = _Workload(name, size=1, replicas=0)
        return w

    def group(self, workload: str, index: int) -> _Group:
        key = (workload, index)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group(index=index, last_t=self.now)
        return g

    # -- records about workloads, groups and faults
    def _created(self, r: Record) -> None:
        old = self.pods.get((r.workload, r.subject))
        if old is not None:  # created again without a PodDeleted: the old life is over
            self._health(old, r.t, old.healthy, gone=True)
            self._unbind(old)
        pod = _Pod(r.subject, r.workload, r.group, r.role, gpus=_int(r.get("gpus", 0)))
        self.pods[(r.workload, r.subject)] = pod
        self.workload(r.workload)
        self.group(r.workload, r.group)

    def _scaled(self, r: Record) -> None:
        w = self.workload(r.workload or r.subject)
        w.advance(r.t)
        self.advance_groups(w, r.t)
        w.replicas = _int(r.get("replicas", w.replicas))
        self._changed(w, r.t)

    def _lws_status(self, r: Record) -> None:
        name = r.workload or self.lws_to_workload.get(r.subject, r.subject)
        ready = r.get("readyReplicas", r.get("ready", 0))
        self.workload(name).ready_reported = _int(ready)
        self.workload(name).updated_reported = _int(r.get("updatedReplicas", r.get("updated", 0)))

    def _group_recreated(self, r: Record) -> None:
        g = self.group(r.workload, r.group)
        g.recreations += 1
        g.streak += 1
        if g.streak == 1:
            g.streak_first = r.t
        g.streak_last = r.t
        self.workload(r.workload).recreations += 1

    def _rollout_started(self, r: Record) -> None:
        w = self.workload(r.workload or self.lws_to_workload.get(r.subject, r.subject))
        w.rollouts.append(
            {
                "revision": r.get("revision"),
                "startedAtSeconds": _sec(r.t),
                "finishedAtSeconds": None,
                "minServing": w.serving,
            }
        )

    def _rollout_finished(self, r: Record) -> None:
        w = self.workload(r.workload or self.lws_to_workload.get(r.subject, r.subject))
        open_ = [ro for ro in w.rollouts if ro["finishedAtSeconds"] is None]
        if open_:
            open_[-1]["finishedAtSeconds"] = _sec(r.t)

    def _node_down(self, r: Record) -> None:
        fault = _int(r.get("fault", 0))
        if fault in self.fault_hits:
            for key, pod in self.on_node.get(r.subject, {}).items():
                if not pod.deleting:
                    self.fault_hits[fault][key] = pod.group

    # -- records about one pod
    def _scheduled(self, pod: _Pod, r: Record) -> None:
        node, was = r.get("node"), pod.healthy
        pod.node = str(node) if node else None
        self._health(pod, r.t, was)
        if pod.node is not None:
            self.on_node.setdefault(pod.node, {})[(pod.workload, pod.name)] = pod

    def _unschedulable(self, pod: _Pod, r: Record) -> None:
        pod.pending_reason = str(r.get("reason", "")) or None

    def _started(self, pod: _Pod, r: Record) -> None:
        was, pod.started = pod.healthy, True
        self._health(pod, r.t, was)

    def _ready(self, pod: _Pod, r: Record) -> None:
        if not pod.ready:
            was = pod.healthy
            pod.ready, pod.ready_at = True, r.t
            self._health(pod, r.t, was)

    def _not_ready(self, pod: _Pod, r: Record) -> None:
        # A restarted container must pass readiness again (kubelet sets ContainersReady=False).
        was = pod.healthy
        pod.ready, pod.ready_at = False, None
        self._health(pod, r.t, was)

    def _deleting(self, pod: _Pod, r: Record) -> None:
        was, pod.deleting = pod.healthy, True
        self._health(pod, r.t, was)

    def _failed(self, pod: _Pod, r: Record) -> None:
        was, pod.failed = pod.healthy, True
        self._health(pod, r.t, was)

    def _deleted(self, pod: _Pod, r: Record) -> None:
        self._health(pod, r.t, pod.healthy, gone=True)
        self._unbind(pod)
        del self.pods[(pod.workload, pod.name)]

    def _unbind(self, pod: _Pod) -> None:
        if pod.node is not None:
            on = self.on_node.get(pod.node)
            if on is not None and on.get((pod.workload, pod.name)) is pod:
                del on[(pod.workload, pod.name)]

    def _fault(self, r: Record) -> None:
        """A Fault record; pods it hits: the target pod, or the pods on the nodes it takes down."""
        fault = _int(r.get("fault", len(self.faults) + 1))
        self.faults[fault] = {
            "atSeconds": _sec(r.t),
            "kind": r.get("type", ""),
            "target": r.subject,
            "cause": r.get("cause", ""),
        }
        hits = self.fault_hits[fault] = {}
        pod = self.pods.get((r.workload, r.subject))
        if pod is not None and r.workload:
            hits[(pod.workload, pod.name)] = pod.group

    def _changed(self, w: _Workload, t: float) -> None:
        """Serving or replicas changed: first time all serve starts the downtime window; rollout minimum."""
        before = w.all_serving_at
        w.changed(t)
        if before is None and w.all_serving_at is not None:
            self.advance_groups(w, t)
        for ro in w.rollouts:
            if ro["finishedAtSeconds"] is None:
                ro["minServing"] = min(ro["minServing"], w.serving)

    def _health(self, pod: _Pod, t: float, was: bool, gone: bool = False) -> None:
        """The pod was ``was`` healthy before a record changed it: carry a change of health up to its
        group and workload."""
        now = pod.healthy and not gone
        if was == now:
            return
        g = self.group(pod.workload, pod.group)
        g.healthy += 1 if now else -1
        w = self.workload(pod.workload)
        serving = g.healthy >= w.size
        if serving == g.serving:
            return
        w.advance(t)
        g.advance(t, self.counted(w, g))
        g.serving = serving
        w.serving += 1 if serving else -1
        if serving:
            if g.serving_at is None:
                g.serving_at = t
            g.close_streak(ongoing=False)
        self._changed(w, t)


_time_of = operator.itemgetter(0)  # a Record's time ``t``


def build_report(timeline: Timeline, *, lws_version: str | None = None) -> dict:
    """The SimulationReport for ``timeline``; ``lws_version`` (from the scenario) only annotates it."""
    replay = _Replay(timeline)
    replay.run(timeline.records)
    horizon = timeline.horizon
    pods_by_group: dict[tuple[str, int], list[_Pod]] = {}
    for pod in replay.pods.values():
        pods_by_group.setdefault((pod.workload, pod.group), []).append(pod)

    infos = {w.name: w for w in timeline.workloads}
    gpus: Counter[str] = Counter()
    for pod in replay.pods.values():
        if pod.node is not None:
            gpus[pod.workload] += pod.gpus
    workloads = []
    for name in sorted(replay.workloads):
        w = replay.workloads[name]
        info = infos.get(name)
        w.advance(horizon)
        replay.advance_groups(w, horizon)
        loops = []
        for (wn, _), g in sorted(replay.groups.items(), key=lambda kv: kv[0][1]):
            if wn == name:
                g.close_streak(ongoing=True)
                loops.extend(g.loops)
        availability = None
        if w.all_serving_at is not None:
            window = horizon - w.all_serving_at
            availability = w.area / window if window > 0 else w.fraction()
        # Desired groups, plus any that still has pods (surge groups of a rollout, a scale-down draining).
        indices = {i for (wn, i) in pods_by_group if wn == name} | set(range(max(w.replicas, 0)))
        groups = [
            _group_entry(
                i,
                replay.groups.get((name, i), _Group(index=i)),
                pods_by_group.get((name, i), []),
                w.all_serving_at is not None,
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
                "timeToAllServingSeconds": _sec(w.all_serving_at),
                "availability": _frac(availability),
                "groupRecreations": w.recreations,
                "groupsUpdated": w.updated_reported,
                "rollouts": w.rollouts,
                "recreationLoops": loops,
                "gpusAllocated": gpus[name],
                "groups": groups,
                "servingOverTime": w.over_time,
            }
        )

    pending = [p for p in replay.pods.values() if p.node is None and not p.deleting]
    report = {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "SimulationReport",
        "scenario": timeline.scenario,
        "seed": timeline.seed,
        "horizonSeconds": _sec(horizon),
        "lwssimVersion": lwssim.__version__,
        "cluster": {
            "nodes": _int(timeline.cluster.get("nodes", 0)),
            "gpus": _int(timeline.cluster.get("gpus", 0)),
            "gpusAllocated": sum(gpus.values()),
        },
        "workloads": workloads,
        "pendingPods": [
            {"name": p.name, "workload": p.workload, "reason": p.pending_reason}
            for p in sorted(pending, key=lambda p: (name_key(p.name), p.workload))
        ],
        "faults": [_fault_entry(replay.faults[f], replay.fault_hits[f]) for f in sorted(replay.faults)],
    }
    if lws_version:
        report["lwsVersion"] = lws_version
    return report


def _fault_entry(fault: dict, hits: dict[tuple[str, str], int]) -> dict:
    return fault | {
        "podsHit": len(hits),
        "groupsHit": len({(workload, group) for (workload, _), group in hits.items()}),
    }


def _group_entry(index: int, g: _Group, pods: list[_Pod], window_started: bool) -> dict:
    pods = sorted(pods, key=lambda p: name_key(p.name))
    return {
        "index": index,
        "serving": g.serving,
        "servingAtSeconds": _sec(g.serving_at),
        "recreations": g.recreations,
        "downtimeSeconds": _sec(g.downtime) if window_started else None,
        "nodes": sorted({p.node for p in pods if p.node is not None}, key=name_key),
        "pods": [
            {
                "name": p.name,
                "role": p.role,
                "node": p.node,
                "phase": p.phase,
                "readyAtSeconds": _sec(p.ready_at) if p.ready else None,
                "pendingReason": p.pending_reason if p.node is None else None,
            }
            for p in pods
        ],
    }


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


def _sec(v: float | None) -> float | None:
    return None if v is None else round(float(v), SECONDS_DECIMALS) + 0.0


def _frac(v: float | None) -> float | None:
    return None if v is None else round(float(v), FRACTION_DECIMALS) + 0.0


def _int(v: object) -> int:
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
