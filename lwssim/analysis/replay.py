"""The one reading of a Timeline: every record applied once, in time order, to the state it changes.

Each pod life (PodCreated → PodDeleted; a recreated pod with the same name starts afresh) keeps where it
is, how far it got and when; each group a running count of healthy pods, whether it serves and when it
did; each workload how many groups serve and its availability so far. The report, explain, compare,
calibrate and the plots read this one replay, so "serving" means one thing everywhere, for simulated
and observed Timelines alike. One dispatch per record: a year of failures is 244,000 records.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lwssim import timeline as tl
from lwssim.timeline import Record, Timeline

SECONDS_DECIMALS = 3
# A group recreated this many times in a row without serving in between is in a recreation loop
# (e.g. a startup-probe budget shorter than the model load; lws#1048: no back-off between recreations).
RECREATION_LOOP_THRESHOLD = 3
# Workload kinds whose pods come in groups (the others' pods serve one by one).
GROUP_KINDS = ("LeaderWorkerSet", "LLMInferenceService", "")
# A pod's progress towards serving, as the plots colour it (least advanced first).
PROGRESS = ("pending", "pulling", "loading", "serving")


@dataclass
class PodLife:
    """One life of a pod: where it is, how far it got, and when it first reached each phase."""

    name: str
    workload: str
    group: int
    role: str
    created_at: float
    gpus: int = 0
    revision: str = ""
    node: str | None = None
    started: bool = False
    initialized: bool = False
    ready: bool = False
    ready_at: float | None = None  # Ready since (None while not Ready)
    deleting: bool = False
    failed: bool = False
    succeeded: bool = False  # a Job's pod ran to completion
    deleted: bool = False
    preempted_by: str | None = None  # kube-scheduler preempted it for this pod
    nominated_node: str | None = None  # preemption made room for it on this node
    pending_reason: str | None = None
    scheduled_at: float | None = None  # first time of each phase in this life
    initialized_at: float | None = None
    started_at: float | None = None
    first_ready_at: float | None = None
    cold_pull: bool = False  # the first pod of its workload on its node (the image was not there)
    restarted_before_ready: bool = False  # a restart or deletion came before the first Ready

    @property
    def healthy(self) -> bool:
        """Counts toward its group serving: scheduled, running, Ready, not on its way out."""
        return (
            self.node is not None
            and self.started
            and self.ready
            and not self.deleting
            and not self.failed
            and not self.succeeded
        )

    @property
    def holds_resources(self) -> bool:
        """Bound and not finished: what kube-scheduler counts on its node."""
        return self.node is not None and not self.succeeded and not self.failed

    @property
    def phase(self) -> str:
        if self.deleting:
            return "Terminating"
        if self.failed:
            return "Failed"
        if self.succeeded:
            return "Succeeded"
        return "Running" if self.started else "Pending"

    @property
    def progress(self) -> str:
        """pending (no node), pulling (bound), loading (initialized or running), serving (Ready)."""
        if self.ready:
            return "serving"
        if self.started or self.initialized:
            return "loading"
        return "pulling" if self.node is not None else "pending"


@dataclass
class Admission:
    """A group's Kueue Workload as its records tell it: queued (waiting for quota) since ``waiting_since``
    or admitted at ``admitted_at``."""

    workload: str = ""
    cluster_queue: str = ""
    flavors: str = ""
    admitted_at: float | None = None
    waiting_since: float | None = None
    waited: float = 0.0  # seconds queued, summed over every wait that ended in an admission
    admissions: int = 0
    evictions: list[dict] = field(default_factory=list)
    pending_reason: str = ""
    pending_message: str = ""
    usage: dict[str, int] = field(default_factory=dict)  # "flavor/resource" -> amount, while reserved

    def waited_until(self, t: float) -> float:
        return self.waited + (t - self.waiting_since if self.waiting_since is not None else 0.0)


@dataclass
class GroupState:
    index: int = 0
    healthy: int = 0
    serving: bool = False
    serving_at: float | None = None
    serving_starts: list[float] = field(default_factory=list)  # each time it started serving
    recreations: int = 0
    downtime: float = 0.0  # not serving while desired, after the workload first served in full
    last_t: float = 0.0
    streak: int = 0  # recreations since the group last served
    streak_first: float = 0.0
    streak_last: float = 0.0
    loops: list[dict] = field(default_factory=list)
    members: dict[str, PodLife] = field(default_factory=dict)  # current lives, by pod name
    admission: Admission | None = None  # the group's Kueue Workload, when Kueue admits it

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
                    "firstAtSeconds": sec(self.streak_first),
                    "lastAtSeconds": sec(self.streak_last),
                    "ongoing": ongoing,
                }
            )
        self.streak = 0


@dataclass
class WorkloadState:
    """Running totals for one workload; ``area`` integrates min(serving, replicas)/replicas after TTAS."""

    name: str
    size: int
    replicas: int
    # Pods of a Deployment, StatefulSet, Job or bare Pod are not in groups: each Ready pod serves alone.
    by_pod: bool = False
    serving: int = 0
    ready_reported: int = 0
    updated_reported: int = 0
    recreations: int = 0
    rollouts: list[dict] = field(default_factory=list)
    preempted: int = 0  # pods deleted by kube-scheduler's preemption
    succeeded: int = 0
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
        point = [sec(t), self.serving, self.replicas]
        if self.over_time and self.over_time[-1][0] == point[0]:
            self.over_time[-1] = point
        elif not self.over_time or self.over_time[-1][1:] != point[1:]:
            self.over_time.append(point)


class Replay:
    """The state of every pod, group, workload and node as the records are applied one by one."""

    def __init__(self, timeline: Timeline, horizon: float | None = None) -> None:
        self.horizon = timeline.horizon if horizon is None else horizon
        self.pods: dict[tuple[str, str], PodLife] = {}  # current lives
        self.lives: list[PodLife] = []  # every life, in order of creation
        self.groups: dict[tuple[str, int], GroupState] = {}
        self.workloads: dict[str, WorkloadState] = {}
        self.lws_to_workload: dict[str, str] = {}
        self.now = 0.0
        # Kueue: each ClusterQueue's reserved quota ("flavor/resource" -> amount) and its changes over time
        self.queue_usage: dict[str, Counter[str]] = {}
        self.queue_over_time: dict[str, list[list]] = {}
        self.on_node: dict[str, dict[tuple[str, str], PodLife]] = {}
        self.images: set[tuple[str, str]] = set()  # (node, workload): a pod of the workload ran there
        self.down: set[str] = set()  # nodes not answering
        self.faults: dict[int, dict] = {}
        self.fault_hits: dict[int, dict[tuple[str, str], int]] = {}
        for w in timeline.workloads:
            self.workloads[w.name] = WorkloadState(
                w.name, w.size, w.replicas, by_pod=w.kind not in GROUP_KINDS, over_time=[[0.0, 0, w.replicas]]
            )
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
            tl.NODE_UP: self._node_up,
            tl.WORKLOAD_CREATED: self._workload_created,
            tl.WORKLOAD_PENDING: self._workload_pending,
            tl.WORKLOAD_ADMITTED: self._workload_admitted,
            tl.WORKLOAD_EVICTED: self._workload_evicted,
            tl.WORKLOAD_DELETED: self._workload_deleted,
        }
        self._pod_handlers: dict[str, Callable[[PodLife, Record], None]] = {
            tl.POD_SCHEDULED: self._scheduled,
            tl.POD_UNSCHEDULABLE: self._unschedulable,
            tl.POD_INITIALIZED: self._initialized,
            tl.POD_CONTAINERS_STARTED: self._started,
            tl.POD_READY: self._ready,
            tl.POD_NOT_READY: self._not_ready,
            tl.POD_RESTARTED: self._restarted,
            tl.POD_DELETING: self._deleting,
            tl.POD_FAILED: self._failed,
            tl.POD_DELETED: self._deleted,
            tl.POD_SUCCEEDED: self._succeeded,
            tl.POD_PREEMPTED: self._preempted,
            tl.POD_NOMINATED: self._nominated,
        }

    def counted(self, w: WorkloadState, g: GroupState) -> bool:
        """Downtime counts for desired groups once the workload has served in full."""
        return w.all_serving_at is not None and g.index < w.replicas

    def advance_groups(self, w: WorkloadState, t: float) -> None:
        if w.by_pod:
            return
        for i in range(max(w.replicas, 0)):
            self.group(w.name, i)
        for (name, _), g in self.groups.items():
            if name == w.name:
                g.advance(t, self.counted(w, g))

    def run(self, records: list[Record]) -> Replay:
        """Apply the records up to the horizon in time order. Records are written in time order; a stable
        sort keeps write order within an instant and tolerates observed timelines merged from several
        watches."""
        horizon, apply = self.horizon, self.apply
        for r in sorted(records, key=_time_of):
            if r.t > horizon:
                break
            apply(r)
        return self

    def replayed(self, records: list[Record]) -> Iterator[Record]:
        """``run``, yielding each record once applied (for readers of the states between)."""
        horizon, apply = self.horizon, self.apply
        for r in sorted(records, key=_time_of):
            if r.t > horizon:
                break
            apply(r)
            yield r

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

    def workload(self, name: str) -> WorkloadState:
        w = self.workloads.get(name)
        if w is None:  # a workload the timeline's header does not list: keep it, size from its pods
            w = self.workloads[name] = WorkloadState(name, size=1, replicas=0)
        return w

    def group(self, workload: str, index: int) -> GroupState:
        key = (workload, index)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = GroupState(index=index, last_t=self.now)
        return g

    def group_progress(self, workload: str, index: int) -> str:
        """How far a group is, with the report's idea of serving: serving; removed when it is beyond the
        desired replicas and its pods are going or gone (a surge group released as a rollout ends, a
        group scaled away: the Timeline records only the pod deletions, and the report counts no
        downtime there either); down once it has served; before that as far as its least advanced pod
        (pending while pods are missing)."""
        g = self.group(workload, index)
        if g.serving:
            return "serving"
        w = self.workload(workload)
        staying = [p for p in g.members.values() if not p.deleting]
        if index >= w.replicas and (
            not staying
            or len(staying) < len(g.members)
            or (g.serving_at is not None and len(staying) < w.size)
        ):
            return "removed"
        if g.serving_at is not None:
            return "down"
        live = [p for p in staying if not p.failed]
        if len(live) < w.size:
            return "pending"
        least = min(PROGRESS.index(p.progress) for p in live)
        return PROGRESS[min(least, PROGRESS.index("loading"))]  # not serving: at most loading

    # -- records about workloads, groups, nodes and faults
    def _admission(self, r: Record) -> Admission:
        g = self.group(r.workload, r.group)
        if g.admission is None:
            first = min((p.created_at for p in g.members.values()), default=r.t)
            g.admission = Admission(r.subject, waiting_since=min(first, r.t))
        return g.admission

    def _workload_created(self, r: Record) -> None:
        g = self.group(r.workload, r.group)
        if g.admission is not None and g.admission.workload != r.subject:  # a new Workload for the index
            g.admission = None
        self._admission(r)

    def _workload_pending(self, r: Record) -> None:
        a = self._admission(r)
        self._release(a, r.t)  # QuotaReserved=False: whatever it held is given back
        a.pending_reason, a.pending_message = str(r.get("reason", "")), str(r.get("message", ""))

    def _workload_admitted(self, r: Record) -> None:
        a = self._admission(r)
        a.waited = a.waited_until(r.t)
        a.waiting_since = None
        a.admitted_at, a.admissions = r.t, a.admissions + 1
        a.cluster_queue, a.flavors = str(r.get("cluster_queue", "")), str(r.get("flavors", ""))
        a.pending_reason = a.pending_message = ""
        usage = str(r.get("usage", ""))
        a.usage = {k: int(v) for k, _, v in (p.partition("=") for p in usage.split(",") if p)}
        self._reserve(a.cluster_queue, a.usage, 1, r.t)

    def _reserve(self, queue: str, usage: dict[str, int], sign: int, t: float) -> None:
        """A ClusterQueue's quota reserved (sign 1) or given back (-1), kept over time."""
        if not queue or not usage:
            return
        total = self.queue_usage.setdefault(queue, Counter())
        for k, v in usage.items():
            total[k] += sign * v
        points = self.queue_over_time.setdefault(queue, [[0.0, {}]])
        point = [t, {k: v for k, v in sorted(total.items()) if v}]
        if points[-1][0] == t:
            points[-1] = point
        else:
            points.append(point)

    def _release(self, a: Admission, t: float) -> None:
        if a.usage:
            self._reserve(a.cluster_queue, a.usage, -1, t)
            a.usage = {}

    def _workload_deleted(self, r: Record) -> None:
        g = self.group(r.workload, r.group)
        if g.admission is not None and g.admission.workload == r.subject:
            self._release(g.admission, r.t)

    def _workload_evicted(self, r: Record) -> None:
        a = self._admission(r)
        a.evictions.append({"atSeconds": sec(r.t), "reason": r.get("reason"), "message": r.get("message")})
        a.admitted_at, a.waiting_since = None, r.t

    def _created(self, r: Record) -> None:
        key = (r.workload, r.subject)
        old = self.pods.get(key)
        if old is not None:  # created again without a PodDeleted: the old life is over
            self._health(old, r.t, old.healthy, gone=True)
            self._unbind(old)
        pod = PodLife(
            r.subject, r.workload, r.group, r.role, r.t, as_int(r.get("gpus", 0)), str(r.get("revision", ""))
        )
        self.pods[key] = pod
        self.lives.append(pod)
        if not self.workload(r.workload).by_pod:
            self.group(r.workload, r.group).members[r.subject] = pod

    def _scaled(self, r: Record) -> None:
        w = self.workload(r.workload or r.subject)
        w.advance(r.t)
        self.advance_groups(w, r.t)
        w.replicas = as_int(r.get("replicas", w.replicas))
        self._changed(w, r.t)

    def _lws_status(self, r: Record) -> None:
        name = r.workload or self.lws_to_workload.get(r.subject, r.subject)
        ready = r.get("readyReplicas", r.get("ready", 0))
        self.workload(name).ready_reported = as_int(ready)
        self.workload(name).updated_reported = as_int(r.get("updatedReplicas", r.get("updated", 0)))

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
                "startedAtSeconds": sec(r.t),
                "finishedAtSeconds": None,
                "minServing": w.serving,
            }
        )

    def _rollout_finished(self, r: Record) -> None:
        w = self.workload(r.workload or self.lws_to_workload.get(r.subject, r.subject))
        open_ = [ro for ro in w.rollouts if ro["finishedAtSeconds"] is None]
        if open_:
            open_[-1]["finishedAtSeconds"] = sec(r.t)

    def _node_down(self, r: Record) -> None:
        self.down.add(r.subject)
        fault = as_int(r.get("fault", 0))
        if fault in self.fault_hits:
            for key, pod in self.on_node.get(r.subject, {}).items():
                if not pod.deleting:
                    self.fault_hits[fault][key] = pod.group

    def _node_up(self, r: Record) -> None:
        self.down.discard(r.subject)

    def _fault(self, r: Record) -> None:
        """A Fault record; pods it hits: the target pod, or the pods on the nodes it takes down."""
        fault = as_int(r.get("fault", len(self.faults) + 1))
        self.faults[fault] = {
            "atSeconds": sec(r.t),
            "kind": r.get("type", ""),
            "target": r.subject,
            "cause": r.get("cause", ""),
        }
        hits = self.fault_hits[fault] = {}
        pod = self.pods.get((r.workload, r.subject))
        if pod is not None and r.workload:
            hits[(pod.workload, pod.name)] = pod.group

    # -- records about one pod
    def _scheduled(self, pod: PodLife, r: Record) -> None:
        node, was = r.get("node"), pod.healthy
        pod.node = str(node) if node else None
        if pod.scheduled_at is None:
            pod.scheduled_at = r.t
            image = (str(node or ""), pod.workload)
            pod.cold_pull = image not in self.images
            self.images.add(image)
        self._health(pod, r.t, was)
        if pod.node is not None:
            self.on_node.setdefault(pod.node, {})[(pod.workload, pod.name)] = pod

    def _unschedulable(self, pod: PodLife, r: Record) -> None:
        pod.pending_reason = str(r.get("reason", "")) or None

    def _initialized(self, pod: PodLife, r: Record) -> None:
        pod.initialized = True
        if pod.initialized_at is None:
            pod.initialized_at = r.t

    def _started(self, pod: PodLife, r: Record) -> None:
        was, pod.started = pod.healthy, True
        if pod.started_at is None:
            pod.started_at = r.t
        self._health(pod, r.t, was)

    def _ready(self, pod: PodLife, r: Record) -> None:
        if pod.first_ready_at is None:
            pod.first_ready_at = r.t
        if not pod.ready:
            was = pod.healthy
            pod.ready, pod.ready_at = True, r.t
            self._health(pod, r.t, was)

    def _not_ready(self, pod: PodLife, r: Record) -> None:
        was = pod.healthy
        pod.ready, pod.ready_at = False, None
        self._health(pod, r.t, was)

    def _restarted(self, pod: PodLife, r: Record) -> None:
        # A restarted container must pass readiness again (kubelet sets ContainersReady=False).
        if pod.first_ready_at is None:
            pod.restarted_before_ready = True
        self._not_ready(pod, r)

    def _deleting(self, pod: PodLife, r: Record) -> None:
        if pod.first_ready_at is None:
            pod.restarted_before_ready = True
        was, pod.deleting = pod.healthy, True
        self._health(pod, r.t, was)

    def _failed(self, pod: PodLife, r: Record) -> None:
        was, pod.failed = pod.healthy, True
        self._health(pod, r.t, was)

    def _succeeded(self, pod: PodLife, r: Record) -> None:
        was, pod.succeeded = pod.healthy, True
        self.workload(pod.workload).succeeded += 1
        self._health(pod, r.t, was)

    def _preempted(self, pod: PodLife, r: Record) -> None:
        pod.preempted_by = str(r.get("by", "")) or None
        self.workload(pod.workload).preempted += 1

    def _nominated(self, pod: PodLife, r: Record) -> None:
        pod.nominated_node = str(r.get("node", "")) or None

    def _deleted(self, pod: PodLife, r: Record) -> None:
        self._health(pod, r.t, pod.healthy, gone=True)
        self._unbind(pod)
        pod.deleted = True
        del self.pods[(pod.workload, pod.name)]

    def _unbind(self, pod: PodLife) -> None:
        if not self.workload(pod.workload).by_pod:
            members = self.group(pod.workload, pod.group).members
            if members.get(pod.name) is pod:
                del members[pod.name]
        if pod.node is not None:
            on = self.on_node.get(pod.node)
            if on is not None and on.get((pod.workload, pod.name)) is pod:
                del on[(pod.workload, pod.name)]

    def _changed(self, w: WorkloadState, t: float) -> None:
        """Serving or replicas changed: first time all serve starts the downtime window; rollout minimum."""
        before = w.all_serving_at
        w.changed(t)
        if before is None and w.all_serving_at is not None:
            self.advance_groups(w, t)
        for ro in w.rollouts:
            if ro["finishedAtSeconds"] is None:
                ro["minServing"] = min(ro["minServing"], w.serving)

    def _health(self, pod: PodLife, t: float, was: bool, gone: bool = False) -> None:
        """The pod was ``was`` healthy before a record changed it: carry a change of health up to its
        group and workload."""
        now = pod.healthy and not gone
        if was == now:
            return
        w = self.workload(pod.workload)
        if w.by_pod:
            w.advance(t)
            w.serving += 1 if now else -1
            self._changed(w, t)
            return
        g = self.group(pod.workload, pod.group)
        g.healthy += 1 if now else -1
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
            g.serving_starts.append(t)
            g.close_streak(ongoing=False)
        self._changed(w, t)


_time_of = operator.itemgetter(0)  # a Record's time ``t``


def replay(timeline: Timeline, horizon: float | None = None) -> Replay:
    """``timeline`` replayed to its horizon (or to ``horizon``)."""
    return Replay(timeline, horizon).run(timeline.records)


def sec(v: float | None) -> float | None:
    """Seconds as every document writes them: rounded to the millisecond, never ``-0.0``."""
    return None if v is None else round(float(v), SECONDS_DECIMALS) + 0.0


def as_int(v: object) -> int:
    """A record field as an integer (0 when absent or malformed, as observed records may be)."""
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
