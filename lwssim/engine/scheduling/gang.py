"""Gang scheduling as LWS v0.7 sets it up with Volcano (docs/lws-v0.7-semantics.md §4).

- LWS creates one PodGroup per group and revision, named ``<lws>-<group>-<revision>``, owned by the
  leader pod: ``minMember`` = size with LeaderCreated, 1 with LeaderReady; ``minResources`` = leader +
  (size−1) × worker requests (``pkg/schedulerprovider/volcano_provider.go``, ``CalculatePGMinResources``).
  Its pod webhook puts the group name in every pod's ``scheduling.k8s.io/group-name`` annotation.
- Volcano's scheduler (default actions enqueue, allocate) runs a session every second: a PodGroup is
  admitted (Pending → Inqueue) only while its ``minResources`` fit the cluster's idle resources
  (overcommit plugin, factor 1.2); then its pending pods are placed all-or-nothing: they bind only if at
  least ``minMember`` pods of the group can be bound at once (gang plugin, JobReady).
Only pods that name ``schedulerName: volcano`` are gang-scheduled; kube-scheduler ignores them.
Placement of each pod uses the same filters and scores as kube-scheduler (Volcano's predicates and
nodeorder plugins wrap the same plugins); Volcano's binpack ordering is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from lwssim.engine.context import Cluster
from lwssim.engine.objects import Obj, Pod
from lwssim.engine.scheduling.framework import Scheduler
from lwssim.engine.store import ADDED, DELETED
from lwssim.engine.tasks import Task

VOLCANO = "volcano"
GROUP_NAME_ANNOTATION = "scheduling.k8s.io/group-name"
SCHEDULE_PERIOD = 1.0  # volcano-scheduler --schedule-period default
OVERCOMMIT_FACTOR = 1.2  # overcommit plugin default


@dataclass(eq=False)
class PodGroup(Obj):
    min_member: int = 1
    min_resources: dict[str, int] = field(default_factory=dict)
    phase: str = "Pending"  # Pending | Inqueue | Running


class VolcanoScheduler:
    def __init__(self, cluster: Cluster, scheduler: Scheduler) -> None:
        env, store = cluster.env, cluster.store
        self.env, self.store, self.kube = env, store, scheduler
        self._pending: dict[int, Pod] = {}
        self._last_version = -1
        self._wake: simpy.Event | None = None
        store.watch("Pod", self._on_pod)
        Task(env, self._run())  # a SimPy process nobody waits on

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if pod.template.scheduler_name != VOLCANO:
            return
        if event == ADDED and pod.node is None:
            self._pending[pod.uid] = pod
            self._last_version = -1
            if self._wake is not None and not self._wake.triggered:
                self._wake.succeed()
        elif event == DELETED or pod.deleting:
            self._pending.pop(pod.uid, None)

    def _run(self):
        while True:
            if not self._pending or self._last_version == self.kube.version:
                self._wake = self.env.event()
                yield self._wake | self.env.timeout(SCHEDULE_PERIOD * 30)
                continue
            yield self.env.timeout(SCHEDULE_PERIOD)
            self._last_version = self.kube.version
            self.session()
            if self._last_version != self.kube.version:
                self._last_version = -1  # something bound: run again next period

    def _groups(self) -> dict[str, list[Pod]]:
        groups: dict[str, list[Pod]] = {}
        for pod in sorted(self._pending.values(), key=lambda p: (p.created_at, p.uid)):
            groups.setdefault(pod.annotations.get(GROUP_NAME_ANNOTATION, ""), []).append(pod)
        return groups

    def session(self) -> None:
        """One scheduling session: enqueue then allocate, PodGroups in creation order."""
        nodes = self.kube.nodes
        idle = (nodes.alloc_by_res * OVERCOMMIT_FACTOR - (nodes.alloc_by_res - nodes.free_by_res)).sum(axis=1)
        for name, pods in self._groups().items():
            group = self.store.get("PodGroup", f"{pods[0].namespace}/{name}")
            if not isinstance(group, PodGroup):
                self._pend(pods, f'podgroup "{name}" does not exist yet; Volcano waits for it')
                continue
            if group.phase == "Pending":
                short = [
                    r
                    for r, v in group.min_resources.items()
                    if v > idle[nodes.res_index[r]]
                    if r in nodes.res_index
                ] + [r for r, v in group.min_resources.items() if v > 0 and r not in nodes.res_index]
                if short:
                    self._pend(
                        pods,
                        f"podgroup {name} is Pending: minResources do not fit idle "
                        f"cluster resources ({', '.join(sorted(short))})",
                    )
                    continue
                group.phase = "Inqueue"
                for r, v in group.min_resources.items():
                    if r in nodes.res_index:
                        idle[nodes.res_index[r]] -= v
            bound = sum(1 for p in self._members(group) if p.node is not None)
            self._allocate(group, pods, max(group.min_member - bound, 1))

    def _members(self, group: PodGroup) -> list[Pod]:
        return [
            p
            for p in self.store.list("Pod")
            if isinstance(p, Pod)
            and p.annotations.get(GROUP_NAME_ANNOTATION) == group.name
            and p.namespace == group.namespace
            and not p.deleting
        ]

    def _allocate(self, group: PodGroup, pods: list[Pod], needed: int) -> None:
        """Place pods tentatively; bind them all if at least ``needed`` fit, else undo every one."""
        if len(pods) < needed:
            self._pend(pods, f"pod group is not ready, {len(pods)} Pending, {group.min_member} minAvailable")
            return
        placed: list[Pod] = []
        reason = ""
        for pod in pods:
            result = self.kube.find_node(pod)
            if isinstance(result, (int, np.integer)):
                pod.node = self.kube.nodes.names[int(result)]
                self.kube.account(pod)
                placed.append(pod)
            elif not reason:
                reason = result[0]
        if len(placed) >= needed:
            for pod in placed:
                self._pending.pop(pod.uid, None)
                self.kube.bind_placed(pod)
            group.phase = "Running"
            if len(placed) < len(pods):
                self._pend([p for p in pods if p.node is None], reason)
            return
        for pod in placed:
            self.kube.unaccount(pod)
            pod.node = None
        self._pend(
            pods,
            f"{len(pods) - len(placed)}/{len(pods)} tasks in gang unschedulable: "
            f"pod group is not ready, {needed} needed at once; {reason}",
        )

    def _pend(self, pods: list[Pod], reason: str) -> None:
        for pod in pods:
            self.kube.pend(pod, reason)
