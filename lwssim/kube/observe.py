"""``apply --observe``: watch pods, events and LeaderWorkerSets and record a Timeline like the simulator's.

Pods of the scenario's other workloads (a shared cluster: Deployments, StatefulSets, Jobs, bare Pods) are
found by their controller's ownerReferences (Pod → ReplicaSet → Deployment, Pod → StatefulSet, Pod → Job; a
pod without a controller is its own workload) and recorded with group -1 and role "". kube-scheduler's
preemption shows as ``PodNominated`` on the preemptor (``status.nominatedNodeName``) and ``PodPreempted`` on
the victim (its ``DisruptionTarget`` condition with reason ``PreemptionByScheduler``; the preemptor's name
comes from the ``Preempted`` event the scheduler writes on the victim, whose ``related`` object is the
preemptor and whose message reads "Preempted by pod <uid> on node <node>": kubernetes v1.34
``pkg/scheduler/framework/preemption/preemption.go``).

Kueue (``kueue.x-k8s.io`` Workloads, one per LWS group, kueue v0.17.0): each Workload owned by an observed LWS
gives ``WorkloadPending`` at each QuotaReserved=False change of reason or message (the condition's words),
``WorkloadAdmitted`` at each Admitted=True transition (``cluster_queue`` and ``flavors`` from
``status.admission``) and ``WorkloadEvicted`` at each Evicted=True transition; a pod whose
``spec.schedulingGates`` turn empty after it had some gets ``PodUngated`` (at the watch's clock: nothing
stamps the removal). :func:`kueue_group` locates a Workload's LWS and group.

Times come from the objects' own fields where they exist (creationTimestamp, condition
lastTransitionTime, container startedAt, deletionTimestamp − grace): the API server stores them with
1-second resolution, so observed phases are exact to about a second. What has no timestamp (a pod gone,
an LWS status change, a changed scheduler message) is stamped with the local clock when the watch
delivers it. All times are seconds from the apply moment (local clock; the cluster's clock is assumed
NTP-synchronised with it); values a second-truncated timestamp puts before that moment are clamped to 0.

:class:`TimelineBuilder` is pure (objects in, records out) so it is unit-tested without a cluster;
:class:`Observer` runs the watch streams (resourceVersion-aware, relisting after 410 Gone) in threads.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lwssim import timeline as tl
from lwssim.kube.client import LWS_GROUP, LWS_PLURAL, LWS_VERSION, api_message
from lwssim.model.quantity import GPU, resource_amount
from lwssim.timeline import Timeline, WorkloadInfo

NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
GROUP_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
RECREATE_REASON = "RecreateGroupOnPodRestart"
LWS_GRACE = 5.0  # seconds to wait, after all groups serve, for the LWS status to catch up
RECREATE_MESSAGE = re.compile(r"Worker pod (\S+) failed, deleted leader pod (\S+) to recreate group (\d+)")
PREEMPTED_REASON = "Preempted"  # the event kube-scheduler writes on a victim (preemption.go, PreemptPod)
PREEMPTED_MESSAGE = re.compile(r"Preempted by pod (\S+) on node (\S+)")
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"  # the victim's DisruptionTarget reason
# A pod's controller kinds whose pods are recorded, and the workload kind each leads to.
OWNER_WORKLOAD = {"ReplicaSet": "Deployment", "StatefulSet": "StatefulSet", "Job": "Job"}
POD_TEMPLATE_HASH = "pod-template-hash"  # the Deployment controller names its ReplicaSet <deployment>-<hash>
KUEUE_GROUP, KUEUE_VERSION, KUEUE_WORKLOADS = "kueue.x-k8s.io", "v1beta2", "workloads"
# kueue v0.17.0 pkg/controller/jobs/leaderworkerset (constructWorkload) and jobframework/workload_names.go
WORKLOAD_INDEX_ANNOTATION = "kueue.x-k8s.io/component-workload-index"
WORKLOAD_NAME = re.compile(r"^leaderworkerset-(.+)-(\d+)-[0-9a-f]{5}$")


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 string or datetime; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _conditions(status: dict) -> dict[str, dict]:
    return {c.get("type", ""): c for c in status.get("conditions") or []}


@dataclass
class _PodState:
    name: str
    workload: str
    group: int
    role: str
    node: str = ""
    unschedulable: str = ""
    initialized: bool = False
    started: bool = False
    ready: bool = False
    restarts: int = 0
    deleting: bool = False
    failed: bool = False
    gone: bool = False
    uid: str = ""  # a recreated pod keeps its name but not its uid (lwssim.analysis.compare.order_lives)
    nominated: str = ""  # status.nominatedNodeName last recorded
    preempted: bool = False  # DisruptionTarget PreemptionByScheduler seen
    succeeded: bool = False
    created: float = 0.0  # PodCreated time (seconds from t0)
    gated: bool = False  # spec.schedulingGates seen non-empty (Kueue's admission and topology gates)


@dataclass
class _KueueWorkloadState:
    """What was last recorded of one Kueue Workload (by uid): the pending words and transition times."""

    pending: tuple[str, str] = ("", "")  # (reason, message) of the last WorkloadPending
    pending_since: str = ""  # lastTransitionTime of QuotaReserved=False last seen
    admitted_at: str = ""  # lastTransitionTime of the last Admitted=True recorded
    evicted_at: str = ""  # lastTransitionTime of the last Evicted=True recorded


def kueue_group(meta: dict, lws_names: Iterable[str]) -> tuple[str, int] | None:
    """(LWS name, group index) of a Kueue Workload of one of ``lws_names``: the LWS from its controller
    ownerReference, else from the name ``leaderworkerset-<lws>-<index>-<hash>``; the index from the
    ``kueue.x-k8s.io/component-workload-index`` annotation, else from the name. None for other Workloads."""
    names = set(lws_names)
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("kind") == "LeaderWorkerSet"), None)
    m = WORKLOAD_NAME.match(meta.get("name", ""))
    lws = owner.get("name", "") if owner else (m.group(1) if m else "")
    if lws not in names:
        return None
    index = (meta.get("annotations") or {}).get(WORKLOAD_INDEX_ANNOTATION)
    if index is not None and str(index).isdigit():
        return lws, int(index)
    if m and m.group(1) == lws:
        return lws, int(m.group(2))
    return None


def admission_flavors(admission: dict) -> str:
    """``resource=flavor,...`` (sorted) over every PodSet of a Workload's ``status.admission``."""
    pairs = {
        f"{resource}={flavor}"
        for ps in admission.get("podSetAssignments") or []
        for resource, flavor in (ps.get("flavors") or {}).items()
    }
    return ",".join(sorted(pairs))


def admission_usage(admission: dict) -> str:
    """``flavor/resource=amount,...`` (sorted, amounts in lwssim's units): the quota a Workload reserves,
    summed over the PodSets of its ``status.admission`` (``podSetAssignments[].resourceUsage``)."""
    total: dict[str, int] = {}
    for ps in admission.get("podSetAssignments") or []:
        flavors = ps.get("flavors") or {}
        for resource, quantity in (ps.get("resourceUsage") or {}).items():
            key = f"{flavors.get(resource, '')}/{resource}"
            total[key] = total.get(key, 0) + resource_amount(resource, quantity)
    return ",".join(f"{k}={v}" for k, v in sorted(total.items()) if v)


class TimelineBuilder:
    """Pod, Event, ReplicaSet and LWS objects (as dicts) → Timeline records, each recorded once per change.

    ``workloads`` with an ``lws`` are LeaderWorkerSets (their pods found by LWS labels); the others are
    Deployments, StatefulSets, Jobs and bare Pods, whose pods are found by ownerReferences.
    """

    def __init__(self, t0: float, workloads: list[WorkloadInfo], cluster: dict[str, object]) -> None:
        self.t0 = t0
        self.timeline = Timeline(horizon=0.0, workloads=list(workloads), source="observed", cluster=cluster)
        self.by_lws = {w.lws: w for w in workloads if w.lws}
        self.by_object = {(w.kind, w.name): w for w in workloads if not w.lws}
        self.pods: dict[str, _PodState] = {}  # by uid: a recreated pod (same name) is a new life
        self.lws_status: dict[str, tuple[int, int, int]] = {}
        self.seen_events: set[str] = set()
        self.rs_owner: dict[str, str] = {}  # ReplicaSet name → its Deployment's name (ownerReferences)
        self.seen_pods: dict[str, tuple[str, int | None]] = {}  # uid → (name, priority) of every pod seen
        self.preemptors: dict[str, tuple[str, str]] = {}  # victim uid → (preemptor, node) from Preempted
        self.victims: dict[str, tuple[float, _PodState, int | None]] = {}  # awaiting the preemptor's name
        self.recreated: set[str] = set()  # uids of leader lives whose recreation is recorded
        self.kueue: dict[str, _KueueWorkloadState] = {}  # Kueue Workloads by uid

    def rel(self, epoch: float | None, now: float) -> float:
        return round(max(0.0, (now if epoch is None else epoch) - self.t0), 3)

    def _add(self, t: float, kind: str, st: _PodState, **data: object) -> None:
        if st.uid:
            data = {"uid": st.uid, **data}
        self.timeline.add(t, kind, st.name, st.workload, st.group, st.role, **data)

    def replicaset(self, obj: dict) -> None:
        """Learn which Deployment a ReplicaSet belongs to (its controller ownerReference)."""
        meta = obj.get("metadata") or {}
        owner = _controller(meta)
        if owner is not None and owner.get("kind") == "Deployment":
            self.rs_owner[meta.get("name", "")] = owner.get("name", "")

    def _locate(self, meta: dict) -> tuple[WorkloadInfo, int, str] | None:
        """(workload, group, role) of a pod of the scenario's workloads; None for other pods."""
        labels = meta.get("labels") or {}
        info = self.by_lws.get(labels.get(NAME_LABEL, ""))
        if info is not None:
            if GROUP_LABEL not in labels:
                return None
            role = "leader" if labels.get(WORKER_LABEL, "0") == "0" else "worker"
            return info, int(labels[GROUP_LABEL]), role
        owner = _controller(meta)
        if owner is None:
            key = ("Pod", meta.get("name", ""))
        elif owner.get("kind") == "ReplicaSet":
            rs = owner.get("name", "")
            deployment = self.rs_owner.get(rs)
            suffix = "-" + str(labels.get(POD_TEMPLATE_HASH, ""))
            if deployment is None and len(suffix) > 1 and rs.endswith(suffix):
                deployment = rs[: -len(suffix)]  # the ReplicaSet not seen yet: the controller's naming
            key = ("Deployment", deployment or "")
        elif owner.get("kind") in OWNER_WORKLOAD:
            key = (OWNER_WORKLOAD[owner["kind"]], owner.get("name", ""))
        else:
            return None
        info = self.by_object.get(key)
        return None if info is None else (info, -1, "")

    def pod(self, obj: dict, now: float, deleted: bool = False) -> None:
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        uid = meta.get("uid") or meta.get("name", "")
        priority = spec.get("priority")
        self.seen_pods[uid] = (meta.get("name", ""), None if priority is None else int(priority))
        st = self.pods.get(uid)
        if st is None:
            if deleted:
                return
            where = self._locate(meta)
            if where is None:
                return
            info, group, role = where
            created = self.rel(parse_time(meta.get("creationTimestamp")), now)
            st = self.pods[uid] = _PodState(
                meta.get("name", ""), info.name, group, role, uid=uid, created=created
            )
            self._add(created, tl.POD_CREATED, st, gpus=_gpus(spec))
        if st.gone:
            return
        if spec.get("schedulingGates"):
            st.gated = True
        elif st.gated and not deleted:
            st.gated = False
            self._add(self.rel(None, now), tl.POD_UNGATED, st)
        self._preemption(st, spec, status, now)
        self._conditions(st, spec, status, now)
        self._containers(st, status, now)
        self._ready(st, status, now)
        if meta.get("deletionTimestamp") and not st.deleting:
            st.deleting = True
            at = parse_time(meta["deletionTimestamp"])
            grace = meta.get("deletionGracePeriodSeconds") or 0
            self._add(self.rel(None if at is None else at - grace, now), tl.POD_DELETING, st)
        if status.get("phase") == "Failed" and not st.failed:
            st.failed = True
            self._add(self.rel(None, now), tl.POD_FAILED, st, reason=status.get("reason", ""))
        if status.get("phase") == "Succeeded" and not st.succeeded:
            st.succeeded = True
            self._add(self.rel(None, now), tl.POD_SUCCEEDED, st)
        if deleted:
            st.gone = True
            self._add(self.rel(None, now), tl.POD_DELETED, st)

    def _conditions(self, st: _PodState, spec: dict, status: dict, now: float) -> None:
        conds = _conditions(status)
        sched = conds.get("PodScheduled", {})
        if sched.get("status") == "True" and not st.node and spec.get("nodeName"):
            st.node = spec["nodeName"]
            self._add(
                self.rel(parse_time(sched.get("lastTransitionTime")), now), tl.POD_SCHEDULED, st, node=st.node
            )
        elif sched.get("status") == "False" and sched.get("message"):
            self.unschedulable(st, str(sched["message"]), now)
        init = conds.get("Initialized", {})
        if init.get("status") == "True" and not st.initialized:
            st.initialized = True
            self._add(self.rel(parse_time(init.get("lastTransitionTime")), now), tl.POD_INITIALIZED, st)

    def _preemption(self, st: _PodState, spec: dict, status: dict, now: float) -> None:
        """PodNominated when the scheduler nominates the pod to a node (once per node); for a victim,
        PodPreempted at its DisruptionTarget condition, as soon as the preemptor's name is known."""
        nominated = status.get("nominatedNodeName") or ""
        if nominated and nominated != st.nominated:
            st.nominated = nominated
            self._add(self.rel(None, now), tl.POD_NOMINATED, st, node=nominated)
        target = _conditions(status).get("DisruptionTarget", {})
        if (
            target.get("status") == "True"
            and target.get("reason") == PREEMPTION_BY_SCHEDULER
            and not st.preempted
        ):
            st.preempted = True
            priority = spec.get("priority")
            at = self.rel(parse_time(target.get("lastTransitionTime")), now)
            self.victims[st.uid] = (at, st, None if priority is None else int(priority))
            self._preempted(st.uid)

    def _preempted(self, victim_uid: str, fallback: bool = False) -> None:
        """Write the victim's PodPreempted once both its condition and its preemptor are known.

        ``fallback`` (at the end of the watch, when no Preempted event named the preemptor): the pod
        nominated to the victim's node most recently before the victim's condition, else no name.
        """
        pending = self.victims.get(victim_uid)
        if pending is None:
            return
        at, st, priority = pending
        by, node = self.preemptors.get(victim_uid, ("", ""))
        if not by and not fallback:
            return
        node = node or st.node
        if not by:
            nominations = [
                r
                for r in self.timeline.records
                if r.kind == tl.POD_NOMINATED and r.get("node") == node and r.t <= at + 1.0
            ]
            by = nominations[-1].subject if nominations else ""
        del self.victims[victim_uid]
        by_priority = next((p for n, p in self.seen_pods.values() if n == by), None)
        data: dict[str, object] = {"by": by, "node": node}
        if priority is not None:
            data["priority"] = priority
        if by_priority is not None:
            data["by_priority"] = by_priority
        self._add(at, tl.POD_PREEMPTED, st, **data)

    def _ready(self, st: _PodState, status: dict, now: float) -> None:
        ready = _conditions(status).get("Ready", {})
        if ready.get("status") == "True" and not st.ready:
            st.ready = True
            self._add(self.rel(parse_time(ready.get("lastTransitionTime")), now), tl.POD_READY, st)
        elif ready.get("status") == "False" and st.ready:
            st.ready = False
            self._add(
                self.rel(parse_time(ready.get("lastTransitionTime")), now),
                tl.POD_NOT_READY,
                st,
                reason=ready.get("reason", ""),
            )

    def _containers(self, st: _PodState, status: dict, now: float) -> None:
        statuses = status.get("containerStatuses") or []
        running = [((s.get("state") or {}).get("running") or {}) for s in statuses]
        if status.get("phase") == "Running" and not st.started and statuses and all(running):
            st.started = True
            starts = [t for t in (parse_time(r.get("startedAt")) for r in running) if t is not None]
            self._add(self.rel(max(starts) if starts else None, now), tl.POD_CONTAINERS_STARTED, st)
        restarts = sum(
            int(s.get("restartCount") or 0) for s in statuses + (status.get("initContainerStatuses") or [])
        )
        if restarts > st.restarts:
            term = next(
                (
                    (s.get("lastState") or {}).get("terminated") or {}
                    for s in statuses
                    if (s.get("lastState") or {}).get("terminated")
                ),
                {},
            )
            st.restarts = restarts
            st.ready = False  # the report treats a restart as not Ready; the next Ready=True re-records it
            self._add(
                self.rel(parse_time(term.get("finishedAt")), now),
                tl.POD_RESTARTED,
                st,
                restartCount=restarts,
                reason=term.get("reason", "") or "",
            )

    def unschedulable(self, st: _PodState, message: str, now: float, at: float | None = None) -> None:
        if message != st.unschedulable and not st.node:
            st.unschedulable = message
            self._add(self.rel(at, now), tl.POD_UNSCHEDULABLE, st, reason=message)

    def event(self, ev: dict, now: float) -> None:
        """FailedScheduling (the scheduler's words), Preempted (a victim's preemptor) and LWS
        RecreateGroupOnPodRestart events."""
        meta = ev.get("metadata") or {}
        key = f"{meta.get('uid', '')}/{ev.get('count') or (ev.get('series') or {}).get('count') or 1}"
        if key in self.seen_events:
            return
        self.seen_events.add(key)
        # Events outlive their objects (an hour by default): one about an earlier object of the same name
        # (the same LWS applied again) is listed when the watch starts. Its timestamps are second-truncated.
        stamps = [
            parse_time(v)
            for v in (
                ev.get("lastTimestamp"),
                (ev.get("series") or {}).get("lastObservedTime"),
                ev.get("eventTime"),
                ev.get("firstTimestamp"),
            )
        ]
        known = [t for t in stamps if t is not None]
        if known and max(known) < self.t0 - 1.0:
            return
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        at = parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp"))
        reason, message = ev.get("reason", ""), str(ev.get("message") or ev.get("note") or "")
        if reason == "FailedScheduling" and obj.get("kind") == "Pod":
            st = next((p for p in self.pods.values() if p.name == obj.get("name") and not p.gone), None)
            if st is not None:
                self.unschedulable(st, message, now, at)
        elif reason == PREEMPTED_REASON and obj.get("kind") == "Pod":
            # The scheduler may preempt the same victim again in a later cycle before it is gone: the first
            # event names the preemptor.
            victim = obj.get("uid") or ""
            related = ev.get("related") or {}
            m = PREEMPTED_MESSAGE.search(message)
            by = related.get("name") or ""
            if not by and m:
                by = self.seen_pods.get(m.group(1), ("", None))[0]
            if victim and victim not in self.preemptors:
                self.preemptors[victim] = (by, m.group(2) if m else "")
                self._preempted(victim)
        elif reason == RECREATE_REASON and obj.get("kind") == "LeaderWorkerSet":
            info = self.by_lws.get(obj.get("name", ""))
            m = RECREATE_MESSAGE.search(message)
            if info is not None and m:
                # LWS may reconcile the worker again before its cache shows the leader terminating: it deletes
                # the leader once more (a no-op) and repeats the event. One recreation per leader life.
                t = self.rel(at, now)
                lives = [p for p in self.pods.values() if p.name == m.group(2) and p.workload == info.name]
                life = next((p for p in reversed(lives) if p.created <= t), lives[-1] if lives else None)
                if life is not None:
                    if life.uid in self.recreated:
                        return
                    self.recreated.add(life.uid)
                self.timeline.add(
                    t,
                    tl.GROUP_RECREATED,
                    m.group(2),
                    info.name,
                    int(m.group(3)),
                    "leader",
                    reason=message,
                    trigger=m.group(1),
                )

    def kueue_workload(self, obj: dict, now: float, deleted: bool = False) -> None:
        """Records of a Kueue Workload of an observed LWS (see the module's docstring)."""
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        where = kueue_group(meta, self.by_lws)
        if where is None:
            return
        info, group = self.by_lws[where[0]], where[1]
        key = meta.get("uid") or meta.get("name", "")
        name = meta.get("name", "")
        conds = _conditions(status)

        def add(kind: str, since: str, **data: object) -> None:
            self.timeline.add(self.rel(parse_time(since), now), kind, name, info.name, group, **data)

        if deleted:
            if key in self.kueue:
                self.timeline.add(self.rel(None, now), tl.WORKLOAD_DELETED, name, info.name, group)
            return
        st = self.kueue.get(key)
        if st is None:
            st = self.kueue[key] = _KueueWorkloadState()
            add(tl.WORKLOAD_CREATED, str(meta.get("creationTimestamp") or ""))

        reserved = conds.get("QuotaReserved", {})
        if reserved.get("status") == "False":
            words = (str(reserved.get("reason", "")), str(reserved.get("message", "")))
            since = str(reserved.get("lastTransitionTime") or "")
            if words != st.pending or since != st.pending_since:
                # A new message without a new status keeps the old lastTransitionTime: stamp it when seen.
                at = since if since != st.pending_since else ""
                st.pending, st.pending_since = words, since
                add(tl.WORKLOAD_PENDING, at, reason=words[0], message=words[1])
        elif reserved.get("status") == "True":
            st.pending, st.pending_since = ("", ""), ""
        admitted = conds.get("Admitted", {})
        since = str(admitted.get("lastTransitionTime") or "")
        if admitted.get("status") == "True" and since != st.admitted_at:
            st.admitted_at = since
            admission = status.get("admission") or {}
            add(
                tl.WORKLOAD_ADMITTED,
                since,
                cluster_queue=str(admission.get("clusterQueue", "")),
                flavors=admission_flavors(admission),
                usage=admission_usage(admission),
            )
        evicted = conds.get("Evicted", {})
        since = str(evicted.get("lastTransitionTime") or "")
        if evicted.get("status") == "True" and since != st.evicted_at:
            st.evicted_at = since
            add(
                tl.WORKLOAD_EVICTED,
                since,
                reason=str(evicted.get("reason", "")),
                message=str(evicted.get("message", "")),
            )

    def lws(self, obj: dict, now: float) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        info = self.by_lws.get(name)
        if info is None:
            return
        s = obj.get("status") or {}
        status = (
            int(s.get("replicas") or 0),
            int(s.get("readyReplicas") or 0),
            int(s.get("updatedReplicas") or 0),
        )
        if self.lws_status.get(name) != status:
            self.lws_status[name] = status
            self.timeline.add(
                self.rel(None, now),
                tl.LWS_STATUS,
                name,
                info.name,
                replicas=status[0],
                readyReplicas=status[1],
                updatedReplicas=status[2],
            )

    def healthy(self) -> dict[tuple[str, int], int]:
        """Pods per (workload, group index) that are scheduled, running, Ready and not deleting."""
        healthy: dict[tuple[str, int], int] = {}
        for p in self.pods.values():
            if p.node and p.started and p.ready and not (p.deleting or p.failed or p.gone):
                healthy[(p.workload, p.group)] = healthy.get((p.workload, p.group), 0) + 1
        return healthy

    def serving(self) -> dict[str, int]:
        """Groups per LWS whose every pod (of ``size``) is scheduled, running, Ready, not deleting."""
        healthy = self.healthy()
        return {
            w.name: sum(1 for g in range(w.replicas) if healthy.get((w.name, g), 0) >= w.size)
            for w in self.timeline.workloads
            if w.lws
        }

    def all_serving(self) -> bool:
        counts = self.serving()
        return all(counts[w.name] >= w.replicas for w in self.timeline.workloads if w.lws)

    def lws_reports_all(self) -> bool:
        """Every LWS's status.readyReplicas has reached its replicas."""
        return all(
            self.lws_status.get(w.lws, (0, 0, 0))[1] >= w.replicas for w in self.timeline.workloads if w.lws
        )

    def finish(self, now: float) -> Timeline:
        """Close the observation: horizon = now, records in time order (stable for equal times). Victims
        whose Preempted event never came are recorded with the preemptor their node's nomination names."""
        for victim in list(self.victims):
            self._preempted(victim, fallback=True)
        self.timeline.horizon = self.rel(None, now)
        self.timeline.records.sort(key=lambda r: r.t)
        return self.timeline


def _serves(api: Any, group: str, version: str) -> bool:
    """The cluster serves ``group/version`` (Kueue's CRDs are installed)."""
    from kubernetes import client

    try:
        groups = client.ApisApi(api).get_api_versions().groups or []
    except Exception:  # noqa: BLE001 - discovery failed: not watched
        return False
    return any(g.name == group and any(v.version == version for v in g.versions) for g in groups)


def _controller(meta: dict) -> dict | None:
    """The ownerReference that is the object's controller, if any."""
    return next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)


def _gpus(spec: dict) -> int:
    total = 0
    for c in spec.get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") or {}
        try:
            total += int(str(req.get(GPU, 0)))
        except ValueError:
            continue
    return total


# -- the live part ----------------------------------------------------------------------------------------


class Observer:
    """Watch threads feeding one queue; the caller drains it into a TimelineBuilder until done."""

    def __init__(self, api: Any, namespace: str, builder: TimelineBuilder) -> None:
        self.api, self.namespace, self.builder = api, namespace, builder
        self.stop = threading.Event()
        self.items: queue.Queue[tuple[str, str, dict, float]] = queue.Queue()
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        from kubernetes import client

        v1 = client.CoreV1Api(self.api)
        co = client.CustomObjectsApi(self.api)
        names = ",".join(sorted(self.builder.by_lws))
        # Other workloads' pods carry no common label: watch the namespace's pods (a preemptor outside the
        # scenario is named from them too) and let the builder pick.
        pod_sel = {} if self.builder.by_object else {"label_selector": f"{NAME_LABEL} in ({names})"}
        sources: list[tuple[str, Callable[..., Any], dict]] = [
            ("pod", v1.list_namespaced_pod, pod_sel),
            ("event", v1.list_namespaced_event, {}),
        ]
        if any(kind == "Deployment" for kind, _ in self.builder.by_object):
            sources.append(("replicaset", client.AppsV1Api(self.api).list_namespaced_replica_set, {}))
        lws_list = lambda namespace, **kw: co.list_namespaced_custom_object(  # noqa: E731
            LWS_GROUP, LWS_VERSION, namespace, LWS_PLURAL, **kw
        )
        sources.append(("lws", lws_list, {}))
        if self.builder.by_lws and _serves(self.api, KUEUE_GROUP, KUEUE_VERSION):
            kueue_list = lambda namespace, **kw: co.list_namespaced_custom_object(  # noqa: E731
                KUEUE_GROUP, KUEUE_VERSION, namespace, KUEUE_WORKLOADS, **kw
            )
            sources.append(("kueue-workload", kueue_list, {}))
        for kind, fn, kw in sources:
            t = threading.Thread(
                target=self._run, args=(kind, fn, kw), name=f"lwssim-watch-{kind}", daemon=True
            )
            t.start()
            self.threads.append(t)

    def _run(self, kind: str, fn: Callable[..., Any], kw: dict) -> None:
        """List, then watch from the list's resourceVersion; relist after 410 Gone or a dropped stream."""
        from kubernetes import watch
        from kubernetes.client import ApiException

        rv = ""
        while not self.stop.is_set():
            try:
                if not rv:
                    listed = self._dict(fn(self.namespace, **kw))
                    rv = (listed.get("metadata") or {}).get("resourceVersion", "")
                    for item in listed.get("items") or []:
                        self.items.put((kind, "ADDED", item, time.time()))
                w = watch.Watch()
                for ev in w.stream(
                    fn,
                    self.namespace,
                    resource_version=rv,
                    timeout_seconds=5,
                    allow_watch_bookmarks=True,
                    **kw,
                ):
                    obj = self._dict(ev["object"])
                    if ev["type"] == "ERROR":
                        rv = ""
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if ev["type"] != "BOOKMARK":
                        self.items.put((kind, ev["type"], obj, time.time()))
                    if self.stop.is_set():
                        w.stop()
                        break
            except ApiException as exc:
                if exc.status == 410:
                    rv = ""
                    continue
                self.errors.append(f"watch {kind}: {api_message(exc)}")
                time.sleep(1)
            except Exception as exc:  # noqa: BLE001 - a dropped connection: retry until stopped
                self.errors.append(f"watch {kind}: {api_message(exc)}")
                time.sleep(1)

    def _dict(self, obj: Any) -> dict:
        return obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)

    def drain(self, wait: float) -> int:
        """Apply queued objects to the builder; wait up to ``wait`` seconds for the first one."""
        n = 0
        try:
            item = self.items.get(timeout=wait)
        except queue.Empty:
            return 0
        while True:
            kind, typ, obj, at = item
            if kind == "pod":
                self.builder.pod(obj, at, deleted=typ == "DELETED")
            elif kind == "event":
                self.builder.event(obj, at)
            elif kind == "lws" and typ != "DELETED":
                self.builder.lws(obj, at)
            elif kind == "kueue-workload":
                self.builder.kueue_workload(obj, at, deleted=typ == "DELETED")
            elif kind == "replicaset" and typ != "DELETED":
                self.builder.replicaset(obj)
            n += 1
            try:
                item = self.items.get_nowait()
            except queue.Empty:
                return n

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=7)


def observe(
    api: Any,
    namespace: str,
    builder: TimelineBuilder,
    timeout: float,
    progress: Callable[[TimelineBuilder, float], None] | None = None,
    stop_when: Callable[[TimelineBuilder], bool] = TimelineBuilder.all_serving,
) -> tuple[Timeline, bool]:
    """Watch until ``stop_when`` holds or ``timeout`` passes; returns the Timeline and whether it held.

    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it by the caller) ends the watch early: the
    Timeline recorded so far is kept and the interrupt is re-raised after the threads stop.
    """
    obs = Observer(api, namespace, builder)
    obs.start()
    deadline = time.monotonic() + timeout
    done = False
    served_at: float | None = None
    try:
        while time.monotonic() < deadline:
            obs.drain(min(0.5, max(0.0, deadline - time.monotonic())))
            if progress:
                progress(builder, time.time())
            if served_at is None and stop_when(builder):
                served_at = time.monotonic()
            # Once all serve, wait briefly for the LWS status to say so too (groupsReadyReported).
            if served_at is not None and (
                builder.lws_reports_all() or time.monotonic() - served_at > LWS_GRACE
            ):
                done = True
                break
    finally:
        builder.finish(time.time())
        obs.close()
        builder.timeline.warnings.extend(sorted(set(obs.errors))[:5])
    return builder.timeline, done


def workload_infos(workloads: Iterable[Any], pod_workloads: Iterable[Any] = ()) -> list[WorkloadInfo]:
    """WorkloadInfo from loaded :class:`lwssim.model.lws.Workload` objects and a scenario's
    :class:`lwssim.model.workloads.PodWorkload` objects, as the simulator writes them."""
    return [
        WorkloadInfo(w.name, w.namespace, w.kind, w.lws.name, w.lws.replicas, w.lws.size) for w in workloads
    ] + [WorkloadInfo(p.name, p.namespace, p.kind, "", p.replicas, 1) for p in pod_workloads]


def manifest_workload_info(doc: dict) -> WorkloadInfo | None:
    """WorkloadInfo of a Deployment, StatefulSet, Job or bare Pod manifest (as ``kubectl apply`` takes it):
    ``lws`` empty, ``size`` 1, ``replicas`` the pods it wants at once (a Job's parallelism); None for kinds
    that own no pods (PriorityClass, PodDisruptionBudget) and for LeaderWorkerSets."""
    kind, meta, spec = doc.get("kind", ""), doc.get("metadata") or {}, doc.get("spec") or {}
    if kind not in ("Deployment", "StatefulSet", "Job", "Pod"):
        return None
    if kind == "Pod":
        replicas = 1
    elif kind == "Job":
        replicas = int(spec.get("parallelism", 1))
    else:
        replicas = int(spec.get("replicas", 1))
    return WorkloadInfo(meta.get("name", ""), meta.get("namespace") or "default", kind, "", replicas, 1)
