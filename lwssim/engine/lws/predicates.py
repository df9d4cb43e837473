"""The event filters of the two LWS reconcilers: which watch events enqueue which key, and why.

controller-runtime reconciles a key for every watch event that passes the controller's predicates
(``builder.WithEventFilter``, ``predicate.Funcs``). LWS v0.7.0 filters only on the name label and
otherwise reconciles on every event of what it watches; most of those reconciles find nothing to do.
The simulator leaves them out, each rule saying why the reconcile it drops would change nothing, so
results are those of the real controllers at a fraction of the reconciles. Each controller's rules are
declared once, as ``Rule`` records (``LEADERWORKERSET_RULES``, ``POD_RULES``); the filter class below
them implements exactly those rules, one handler per watched kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwssim.engine.lws.labels import NAME
from lwssim.engine.lws.utils import container_restarted, lws_of, ready_workers
from lwssim.engine.lws.versions import LWSVersion
from lwssim.engine.objects import LeaderWorkerSet, Pod, StatefulSet
from lwssim.engine.store import DELETED, MODIFIED, Store
from lwssim.engine.workqueue import WorkQueue


@dataclass(frozen=True)
class Rule:
    """One rule of a controller's event filter."""

    watch: str  # the watched kind, and which of its objects
    events: str  # ADDED, MODIFIED, DELETED or "any"
    enqueues: str  # the reconcile key, "nothing" when filtered out, and on what condition
    reason: str  # why, in one line
    source: str  # where the real controller does it (kubernetes-sigs/lws v0.7.0 unless said)


_LWS_SETUP = "pkg/controllers/leaderworkerset_controller.go SetupWithManager"
_POD_SETUP = "pkg/controllers/pod_controller.go SetupWithManager"

LEADERWORKERSET_RULES = (
    Rule("LeaderWorkerSet", "any", "the LWS", "For(): every change of the LWS", _LWS_SETUP),
    Rule(
        "StatefulSet, leader set",
        "any",
        "the LWS of its name label",
        "its status and spec are what the reconcile applies to and sums (§3.3)",
        _LWS_SETUP + " Owns + Watches(StatefulSet, name label)",
    ),
    Rule(
        "StatefulSet, worker set",
        "ADDED, DELETED",
        "the LWS of its name label",
        "a group gains or loses its worker set: its readiness changes (§3.7)",
        _LWS_SETUP + " Watches(StatefulSet, name label)",
    ),
    Rule(
        "StatefulSet, worker set",
        "MODIFIED",
        "the LWS, only if what group readiness reads of it changed or a leader changed since",
        "other updates (status counters) leave every group state, hence the reconcile, as it was",
        "simulator filter; what StatefulsetReady reads: pkg/utils/statefulset (§3.7)",
    ),
    Rule(
        "Pod, leader",
        "any",
        "nothing; marks the group for the status memo",
        "the LWS reconciler lists leader pods when it runs, it does not watch them",
        "leaderworkerset_controller.go updateConditions",
    ),
)

POD_RULES = (
    Rule("Pod", "any", "nothing without the name label", "WithEventFilter: only LWS pods", _POD_SETUP),
    Rule(
        "Pod",
        "DELETED",
        "nothing",
        "Get finds nothing; a pod of the same name that replaces it comes with its own events",
        "pkg/controllers/pod_controller.go Reconcile (IgnoreNotFound)",
    ),
    Rule(
        "Pod, worker",
        "ADDED, MODIFIED",
        "the pod, only if being deleted or a container restarted",
        "a worker's only rule is the restart policy, which fires on nothing else (§3.8)",
        "pkg/controllers/pod_controller.go Reconcile, handleRestartPolicy",
    ),
    Rule(
        "Pod, leader",
        "ADDED, MODIFIED",
        "the pod, unless settled: not restarted, and deleting or its revision and worker set known",
        "a settled leader's reconcile creates nothing; what unsettles it is an event of the leader itself",
        "pkg/controllers/pod_controller.go Reconcile (§3.4)",
    ),
    Rule(
        "StatefulSet, worker set",
        "ADDED, DELETED",
        "the leader pod that owns it",
        "Owns(): whether the worker set exists is what the reconcile reads",
        _POD_SETUP + " Owns",
    ),
    Rule(
        "StatefulSet, worker set",
        "MODIFIED",
        "the leader pod, only with volcano gang scheduling",
        "its status is read by nothing but CreatePodGroupIfNotExists, run on every reconcile",
        _POD_SETUP + " Owns; pkg/schedulerprovider/volcano_provider.go",
    ),
    Rule(
        "StatefulSet, leader set",
        "any",
        "nothing",
        "Owns() enqueues the owner, an LWS, which is not this controller's kind",
        _POD_SETUP + " Owns",
    ),
)


class LeaderWorkerSetEventFilter:
    """``LEADERWORKERSET_RULES`` as the LWS reconciler's watch handlers."""

    def __init__(
        self, store: Store, queue: WorkQueue, version: LWSVersion, changed: dict[str, dict[int, Pod]]
    ) -> None:
        self.queue, self.version = queue, version
        self.changed = changed  # the reconciler's memo: LWS key -> leaders changed since its last run
        self._views: dict[int, tuple] = {}  # worker set uid -> what group readiness last read of it
        store.watch("LeaderWorkerSet", self.on_lws)
        store.watch("StatefulSet", self.on_statefulset)
        store.watch("Pod", self.on_pod)

    def on_lws(self, event: str, lws: LeaderWorkerSet) -> None:
        self.queue.add(lws.key)

    def on_statefulset(self, event: str, sts: StatefulSet) -> None:
        leader = sts.owner
        if not isinstance(leader, Pod):  # the leader set
            if sts.lws:
                self.queue.add(f"{sts.namespace}/{sts.lws}")
            return
        key = f"{sts.namespace}/{sts.lws}"
        if event == DELETED:
            self._views.pop(sts.uid, None)
        else:
            view = (sts.replicas, ready_workers(sts, self.version), sts.current_revision, sts.update_revision)
            if event == MODIFIED and self._views.get(sts.uid) == view and not self.changed.get(key):
                return
            self._views[sts.uid] = view
        self.changed.setdefault(key, {})[leader.uid] = leader
        if sts.lws:
            self.queue.add(key)

    def on_pod(self, event: str, pod: Pod) -> None:
        if pod.role == "leader" and pod.lws:
            self.changed.setdefault(f"{pod.namespace}/{pod.lws}", {})[pod.uid] = pod


class PodEventFilter:
    """``POD_RULES`` as the pod reconciler's watch handlers."""

    def __init__(self, store: Store, queue: WorkQueue, volcano: bool) -> None:
        self.store, self.queue, self.volcano = store, queue, volcano
        store.watch("StatefulSet", self.on_statefulset)
        store.watch("Pod", self.on_pod)

    def on_statefulset(self, event: str, sts: StatefulSet) -> None:
        leader = sts.owner
        if isinstance(leader, Pod) and (event != MODIFIED or self.volcano):
            self.queue.add(leader.key)

    def on_pod(self, event: str, pod: Pod) -> None:
        if event == DELETED or NAME not in pod.labels:
            return
        restarted = container_restarted(pod)
        if pod.role == "leader":
            if restarted or not self._leader_settled(pod):
                self.queue.add(pod.key)
        elif pod.deleting or restarted:
            self.queue.add(pod.key)

    def _leader_settled(self, leader: Pod) -> bool:
        """True when the pod reconciler has nothing to do for this leader whatever its state: it is
        being deleted, or its worker set exists and its revision is known. What could change that
        (a restart, the worker set going away) is an event that enqueues the leader itself."""
        if self.volcano:
            return False
        if leader.deleting:
            return True
        lws = lws_of(self.store, leader)
        return (
            lws is not None
            and leader.revision in lws.revisions
            and self.store.get("StatefulSet", leader.key) is not None
        )
