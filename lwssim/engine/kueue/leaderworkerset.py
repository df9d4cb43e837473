"""Kueue's LeaderWorkerSet integration (kueue v0.17.0, docs/kueue-v0.17-semantics.md §1): one Workload per
group index, the pod webhook's scheduling gates, and the pod-group reconciler that ungates an admitted
group, stops an evicted one and reports whether its pods are ready.

- ``pkg/controller/jobs/leaderworkerset/leaderworkerset_reconciler.go``: ``Reconcile``, ``filterWorkloads``,
  ``constructWorkload``, ``podSets``: Workloads ``leaderworkerset-<lws>-<i>-<hash>`` for every index in
  ``[0, replicas)`` (``status.replicas`` during a rolling update with surge), PodSets ``leader`` (1) and
  ``worker`` (size−1), or ``main`` (size) without a leader template; any other owned Workload is deleted.
- ``pkg/controller/jobs/pod/pod_webhook.go``: ``Default``: every pod of a managed LWS is created with the
  ``kueue.x-k8s.io/admission`` and (TopologyAwareScheduling on by default) ``kueue.x-k8s.io/topology`` gates.
- ``pkg/controller/jobs/pod/pod_controller.go`` with ``jobframework/reconciler.go``: an admitted Workload's
  gated pods get the flavor's ``nodeLabels`` as nodeSelector and lose the admission gate, and the topology
  gate too unless their PodSet has a topology assignment (``Run``, ``prepare``): that one is the
  TopologyUngater's (``topology_ungater.py``);
  recreated pods of an admitted group are ungated at once with the same admission, no quota check (§1.7);
  an evicted Workload's pods are all deleted (``Stop``) and its quota is released once none is active;
  ``PodsReady`` is every pod of the group Ready.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from lwssim.engine.context import Cluster
from lwssim.engine.kueue.topology_ungater import TOPOLOGY_GATE, TopologyUngater, ungate
from lwssim.engine.objects import FAILED, SUCCEEDED, LeaderWorkerSet, Pod, PodSet, StatefulSet, Workload
from lwssim.engine.store import ADDED, DELETED, MODIFIED
from lwssim.engine.workqueue import WorkQueue
from lwssim.model.kueue import PRIORITY_CLASS_LABEL, QUEUE_LABEL, KueueObjects
from lwssim.model.pod import PodTemplate
from lwssim.timeline import WORKLOAD_CREATED, WORKLOAD_DELETED

ADMISSION_GATE = "kueue.x-k8s.io/admission"  # pkg/controller/jobs/pod/constants: SchedulingGateName
KIND = "Workload"
TOPOLOGY_ANNOTATIONS = "kueue.x-k8s.io/podset-"  # jobframework/tas.go: the PodSet's topology request


def workload_name(lws: str, index: int, uid: int) -> str:
    """``GetWorkloadName``: the owner's kind, group, name-index and UID hashed (SHA-1, first 5 hex
    characters) behind ``leaderworkerset-<lws>-<index>``; no revision, so a rollout keeps it."""
    text = f"LeaderWorkerSet\nleaderworkerset.x-k8s.io\n{lws}-{index}\n{uid}"
    digest = hashlib.sha1(text.encode()).hexdigest()
    return f"leaderworkerset-{lws}-{index}"[:247] + f"-{digest[:5]}"


def group_key(namespace: str, lws: str, group: int) -> str:
    return f"{namespace}/{lws}/{group}"


class LWSIntegration:
    """The LWS reconciler, the pod webhook and the pod-group reconciler of one Kueue manager.

    ``admitted`` and ``released`` are the scheduler's: a Workload becomes queued when created or after its
    eviction finished (``requeue``), and its quota is given back when it is deleted or fully stopped.
    """

    def __init__(
        self,
        cluster: Cluster,
        objects: KueueObjects,
        requeue: Callable[[Workload], None],
        release: Callable[[Workload], None],
        ready_changed: Callable[[Workload], None],
        forget: Callable[[Workload], None],
    ) -> None:
        self.env, self.store, self.gc = cluster.env, cluster.store, cluster.gc
        self.timeline = cluster.timeline
        self.objects = objects
        self._requeue, self._release, self._ready_changed = requeue, release, ready_changed
        self._forget = forget
        self.workloads: dict[str, Workload] = {}  # group key -> its Workload
        self.pods: dict[str, dict[int, Pod]] = {}  # group key -> its pods (stored)
        self.tas_pods: dict[int, Pod] = {}  # stored pods prepared with a topology assignment (IsTAS)
        self.lws_queue = WorkQueue(cluster.env, self._reconcile_lws)
        self.group_queue = WorkQueue(cluster.env, self._reconcile_group)
        self.topology_ungater = TopologyUngater(
            cluster.env, self.store, self.timeline, self.workloads.get, self._prepared_pods, _pod_set_of
        )
        self.store.admit("Pod", self._default_pod)
        self.store.watch("LeaderWorkerSet", self._on_lws)
        self.store.watch("StatefulSet", self._on_statefulset)
        self.store.watch("Pod", self._on_pod)

    # -- which objects Kueue manages
    def managed(self, lws: LeaderWorkerSet) -> bool:
        """``WorkloadShouldBeSuspended``: the queue-name label on the LWS's own metadata."""
        return QUEUE_LABEL in lws.labels

    def _lws_of(self, pod: Pod) -> LeaderWorkerSet | None:
        if not pod.lws:
            return None
        lws = self.store.get("LeaderWorkerSet", f"{pod.namespace}/{pod.lws}")
        return lws if isinstance(lws, LeaderWorkerSet) and self.managed(lws) else None

    # -- pod webhook
    def _default_pod(self, pod: Pod) -> None:
        if self._lws_of(pod) is not None:
            pod.scheduling_gates = (ADMISSION_GATE, TOPOLOGY_GATE)

    # -- LWS reconciler: the Workloads
    def _on_lws(self, event: str, lws: LeaderWorkerSet) -> None:  # type: ignore[override]
        if event != DELETED and self.managed(lws):
            self.lws_queue.add(lws.key)
        elif event == DELETED:
            # Workloads are owned by the LWS: the garbage collector deletes them; their groups stop.
            for key in [k for k, w in self.workloads.items() if w.owner is lws]:
                self._delete(key)

    def _on_statefulset(self, event: str, sts: StatefulSet) -> None:  # type: ignore[override]
        """The leader StatefulSet's status.replicas is the LWS's (its status update reaches Kueue's LWS
        reconciler as an LWS update event): surge groups appear and go with it."""
        owner = sts.owner
        if event == MODIFIED and isinstance(owner, LeaderWorkerSet) and self.managed(owner):
            self.lws_queue.add(owner.key)

    def _reconcile_lws(self, key: str) -> None:
        lws = self.store.get("LeaderWorkerSet", key)
        if not isinstance(lws, LeaderWorkerSet) or lws.deleting or lws.spec is None:
            return
        spec = lws.spec
        replicas = spec.replicas
        surge = spec.rolling_update.max_surge
        leader_sts = self.store.get("StatefulSet", lws.key)
        status_replicas = leader_sts.status_replicas if isinstance(leader_sts, StatefulSet) else 0
        if (
            status_replicas > replicas
            and isinstance(surge, int)  # maxSurge.IntValue() > 0: a percentage string parses as 0
            and surge > 0
            and lws.updated_replicas < replicas
        ):
            replicas = status_replicas
        wanted = {group_key(lws.namespace, lws.name, i): i for i in range(replicas)}
        for k in [k for k, w in self.workloads.items() if w.owner is lws and k not in wanted]:
            self._delete(k)
        for k, i in wanted.items():
            if k not in self.workloads:
                self._create(lws, i, k)

    def _create(self, lws: LeaderWorkerSet, index: int, key: str) -> None:
        spec = lws.spec
        assert spec is not None
        labels = dict(lws.labels)
        sets = []
        if spec.leader_template is not None:
            sets.append(_pod_set("leader", 1, spec.leader_template))
            if spec.size > 1:
                sets.append(_pod_set("worker", spec.size - 1, spec.worker_template))
        else:
            sets.append(_pod_set("main", spec.size, spec.worker_template))
        priority_class = labels.get(PRIORITY_CLASS_LABEL)
        if priority_class is not None:  # ExtractPriority: the WorkloadPriorityClass label wins
            value = self.objects.priority(priority_class)
            if value is None:
                return  # PrepareWorkloadPriority: NotFound, retried; no Workload, the pods stay gated
            priority = value
        else:  # else the first PodSet template's pod priority
            priority = (spec.leader_template or spec.worker_template).priority
        wl = Workload(
            kind=KIND,
            name=workload_name(lws.name, index, lws.uid),
            namespace=lws.namespace,
            owner=lws,
            queue_name=labels[QUEUE_LABEL],
            pod_sets=tuple(sets),
            priority=priority,
            workload=lws.workload,
            lws=lws.name,
            group=index,
        )
        if self.store.create(wl):
            wl.order_time = wl.created_at
            self.timeline.add(self.env.now, WORKLOAD_CREATED, wl.name, wl.workload, wl.group)
            self.workloads[key] = wl
            self._requeue(wl)
            self.group_queue.add(key)

    def _delete(self, key: str) -> None:
        wl = self.workloads.pop(key)
        if wl.cluster_queue:
            self._release(wl)
        self._forget(wl)  # out of its queue: a deleted Workload is never admitted
        self.store.remove(wl)
        self.timeline.add(self.env.now, WORKLOAD_DELETED, wl.name, wl.workload, wl.group)

    # -- pod-group reconciler
    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if not pod.lws or pod.group < 0:
            return
        key = group_key(pod.namespace, pod.lws, pod.group)
        if event == ADDED:
            if not pod.scheduling_gates:
                return  # not Kueue's (created before its LWS was managed, or not managed)
            self.pods.setdefault(key, {})[pod.uid] = pod
            # EnsureWorkloadOwnedByAllMembers: the new member becomes an owner of the Workload, an update
            # the TopologyUngater reconciles at once, before this pod is prepared (its reconcile runs
            # first: its worker is woken first).
            self.topology_ungater.workload_changed(key)
        elif key not in self.pods or pod.uid not in self.pods[key]:
            return
        elif event == DELETED:
            del self.pods[key][pod.uid]
            self.tas_pods.pop(pod.uid, None)
        elif event != MODIFIED:
            return
        self.group_queue.add(key)
        if ADMISSION_GATE not in pod.scheduling_gates:  # prepared: it has the Workload annotation
            self.topology_ungater.pod_changed(key, pod)

    def group_pods(self, wl: Workload) -> list[Pod]:
        return self._group_pods(group_key(wl.namespace, wl.lws, wl.group))

    def _group_pods(self, key: str) -> list[Pod]:
        return list(self.pods.get(key, {}).values())

    def _prepared_pods(self, key: str) -> list[Pod]:
        """The pods ``prepare`` labelled with their PodSet (``kueue.x-k8s.io/podset``), the label the
        TopologyUngater lists them by: those without the admission gate."""
        return [p for p in self.pods.get(key, {}).values() if ADMISSION_GATE not in p.scheduling_gates]

    def _reconcile_group(self, key: str) -> None:
        wl = self.workloads.get(key)
        pods = list(self.pods.get(key, {}).values())
        if wl is None:
            # No Workload (yet, or any more): gated pods stay gated. A prebuilt Workload that is missing
            # is waited for; the pods of a group scaled away are deleted by LWS itself.
            return
        if wl.evicting:
            for pod in pods:
                if not pod.deleting:
                    self.gc.delete(pod)
            if not any(_active(p) for p in pods):
                self._finish_eviction(wl)
            return
        if wl.admitted:
            for pod in pods:
                if ADMISSION_GATE in pod.scheduling_gates and not pod.deleting:
                    self._prepare(wl, pod)
        self._update_ready(wl, pods)

    def _prepare(self, wl: Workload, pod: Pod) -> None:
        """``prepare``: the PodSet's flavor nodeLabels into nodeSelector, the admission gate removed, and
        the topology gate with it when the PodSet has no topology assignment."""
        pod_set = _pod_set_of(wl, pod)
        selector: dict[str, str] = {}
        for ps, _resource, flavor_name in wl.flavors:
            flavor = self.objects.flavor(flavor_name) if ps == pod_set else None
            if flavor is not None:
                selector.update(flavor.node_labels)
        if wl.topology.get(pod_set):
            self.tas_pods[pod.uid] = pod
        else:
            pod.scheduling_gates = tuple(g for g in pod.scheduling_gates if g != TOPOLOGY_GATE)
        ungate(pod, ADMISSION_GATE, selector, self.timeline, self.env.now, self.store)

    def _update_ready(self, wl: Workload, pods: list[Pod]) -> None:
        """``PodsReady``: as many pods as the Workload counts, all Ready and none terminating."""
        want = sum(ps.count for ps in wl.pod_sets)
        live = [p for p in pods if not p.deleting]
        ready = wl.admitted and len(live) >= want and all(p.ready for p in live)
        if ready != wl.pods_ready:
            wl.pods_ready = ready
            wl.ready_changed_at = self.env.now
            wl.ever_ready = wl.ever_ready or ready
            self._ready_changed(wl)

    def evict(self, wl: Workload) -> None:
        """The group of an evicted Workload is stopped: every pod deleted."""
        self.group_queue.add(group_key(wl.namespace, wl.lws, wl.group))

    def _finish_eviction(self, wl: Workload) -> None:
        """No pod of the group is active any more: the quota reservation is cleared and the Workload
        goes back to its queue (``jobframework/reconciler.go``, handle eviction)."""
        if wl.cluster_queue:
            self._release(wl)
        wl.admitted = False
        wl.pods_ready = False
        self._requeue(wl)


def _pod_set(name: str, count: int, template: PodTemplate) -> PodSet:
    topology = tuple((k, v) for k, v in template.annotations if k.startswith(TOPOLOGY_ANNOTATIONS))
    requests = tuple(sorted(template.requests().items()))
    return PodSet(name, count, requests, template.node_selector, topology, template.tolerations)


def _pod_set_of(wl: Workload, pod: Pod) -> str:
    """The role-hash annotation the LWS pod reconciler sets: leader for the leader, worker otherwise
    (main without a leader template)."""
    names = {ps.name for ps in wl.pod_sets}
    if "main" in names:
        return "main"
    return "leader" if pod.role == "leader" else "worker"


def _active(pod: Pod) -> bool:
    """``IsActive``: a pod that still runs (scheduled and not yet stopped)."""
    return pod.node is not None and not pod.terminated and pod.phase not in (SUCCEEDED, FAILED)
