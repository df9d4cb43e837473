"""Kueue's TopologyUngater (kueue v0.17.0 ``pkg/controller/tas/topology_ungater.go``): the controller that
takes the ``kueue.x-k8s.io/topology`` gate off the pods of a Workload admitted by TAS, each with the
nodeSelector of its assigned domain.

It is a controller of its own, apart from the pod reconciler that takes the admission gate off
(``pod_controller.go: prepare`` leaves the topology gate on a TAS pod), so its timing is its own:

- a Workload event (``TypedEnqueueRequestForObject`` with the ``IsAdmittedByTAS`` predicate: its admission,
  a new topology assignment after a node failure, and the owner reference the pod reconciler adds for each
  new pod of the group, ``pod_controller.go: EnsureWorkloadOwnedByAllMembers``) reconciles it at once;
- a pod event reaches it only for a TAS pod that carries the ``kueue.x-k8s.io/workload`` annotation, which
  ``prepare`` writes (``jobframework/reconciler.go: getPodSetsInfoFromStatus``), and is queued
  ``constants.UpdatesBatchPeriod`` (1 s) later (``podHandler.queueReconcileForPod``).

So a pod created after its Workload's admission — the usual case for an LWS group, whose StatefulSets create
the pods after the Workload — loses its topology gate when the next pod of its group is created, or a second
after the group's first pod lost its admission gate, whichever comes first: the leader as its first worker
comes, the last worker a second after the leader was prepared (measured on the emulator: ~0.2 s and ~1.0-1.2 s
after the admission gate).

The expectations store (a reconcile waits until the previous ungating patches are observed) costs
milliseconds and is left out. Pods take the domains in rank order, workers after the leader
(``assignGatedPodsToDomains`` with the LWS rank offsets).
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from lwssim.engine.objects import FAILED, SUCCEEDED, Pod, Workload
from lwssim.engine.store import Store
from lwssim.engine.workqueue import WorkQueue
from lwssim.timeline import POD_UNGATED, Timeline

TOPOLOGY_GATE = "kueue.x-k8s.io/topology"  # apis/kueue/v1beta2/topology_types.go: TopologySchedulingGate
UPDATES_BATCH_PERIOD = 1.0  # pkg/constants/constants.go: UpdatesBatchPeriod


def ungate(
    pod: Pod, gate: str, selector: dict[str, str], timeline: Timeline, now: float, store: Store
) -> None:
    """One gate off ``pod`` with ``selector`` merged into its nodeSelector; the pod is ungated (and the
    scheduler may take it) when its last gate is off."""
    merged = dict(pod.node_selector)
    merged.update(selector)
    pod.node_selector = tuple(sorted(merged.items()))
    pod.scheduling_gates = tuple(g for g in pod.scheduling_gates if g != gate)
    if not pod.scheduling_gates:
        pod.record(timeline, now, POD_UNGATED)
    store.update(pod)


class TopologyUngater:
    """``workload`` and ``pods`` look a group key up (the LWS integration's; ``pods`` are those ``prepare``
    labelled with their PodSet, ``podsForPodSet``); ``pod_set_of`` names a pod's PodSet in its Workload."""

    def __init__(
        self,
        env: simpy.Environment,
        store: Store,
        timeline: Timeline,
        workload: Callable[[str], Workload | None],
        pods: Callable[[str], list[Pod]],
        pod_set_of: Callable[[Workload, Pod], str],
    ) -> None:
        self.env, self.store, self.timeline = env, store, timeline
        self._workload, self._pods, self._pod_set_of = workload, pods, pod_set_of
        self.queue = WorkQueue(env, self._reconcile)

    def workload_changed(self, key: str) -> None:
        """A Workload event: reconciled at once when the Workload is admitted by TAS."""
        wl = self._workload(key)
        if wl is not None and wl.admitted and wl.topology:
            self.queue.add(key)

    def pod_changed(self, key: str, pod: Pod) -> None:
        """A pod event: only a prepared TAS pod's, one batch period later."""
        wl = self._workload(key)
        if wl is not None and wl.admitted and wl.topology.get(self._pod_set_of(wl, pod)):
            self.queue.add_after(key, UPDATES_BATCH_PERIOD)

    def _reconcile(self, key: str) -> None:
        wl = self._workload(key)
        if wl is None or not wl.admitted or wl.evicting or not wl.topology:
            return  # IsAdmittedByTAS: the safeguard against an eviction before the reconcile
        for pod in self._pods(key):
            if TOPOLOGY_GATE not in pod.scheduling_gates or pod.deleting or pod.phase in (SUCCEEDED, FAILED):
                continue
            pod_set = self._pod_set_of(wl, pod)
            by_rank = wl.topology.get(pod_set)
            if not by_rank:
                continue
            rank = 0 if pod.role == "leader" else pod.ordinal - (pod_set == "worker")
            ungate(
                pod,
                TOPOLOGY_GATE,
                dict(by_rank[min(rank, len(by_rank) - 1)]),
                self.timeline,
                self.env.now,
                self.store,
            )
