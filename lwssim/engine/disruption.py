"""The disruption controller (kubernetes v1.34 ``pkg/controller/disruption/disruption.go``): keeps each
PodDisruptionBudget's status, whose ``disruptionsAllowed`` kube-scheduler's preemption reads.

``trySync``: the pods the selector matches in the budget's namespace; ``getExpectedPodCount``: an integer
``minAvailable`` expects every matching pod and desires that many healthy; a percentage or
``maxUnavailable`` scales from the pods' controllers (``getExpectedScale``: the sum of the replicas of
each distinct controller — ReplicaSet/Deployment or StatefulSet; a pod of a Job, which has no scale
subresource, makes the sync fail and the status keeps 0 allowed); ``countHealthyPods``: Ready and not
being deleted; ``updatePdbStatus``: allowed = healthy − desired, 0 when negative or nothing expected.
The status is written as the pods change (the real controller's sync takes milliseconds).
"""

from __future__ import annotations

import math

from lwssim.engine.context import Cluster
from lwssim.engine.objects import Job, Obj, Pod, PodDisruptionBudget, ReplicaSet, StatefulSet
from lwssim.engine.store import ADDED, DELETED


def scaled(value: int | str, expected: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``."""
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * expected / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def _scale_of(owner: Obj | None) -> int | None:
    if isinstance(owner, ReplicaSet | StatefulSet):
        return owner.replicas
    return None


class DisruptionController:
    def __init__(self, cluster: Cluster) -> None:
        self.store = cluster.store
        self._budgets: dict[str, list[PodDisruptionBudget]] = {}  # namespace -> budgets
        self._pods: dict[int, dict[int, Pod]] = {}  # budget uid -> matching pods
        self.store.watch("PodDisruptionBudget", self._on_budget)
        self.store.watch("Pod", self._on_pod)

    def _on_budget(self, event: str, pdb: PodDisruptionBudget) -> None:  # type: ignore[override]
        if event == ADDED:
            self._budgets.setdefault(pdb.namespace, []).append(pdb)
            pods = self._pods[pdb.uid] = {}
            for obj in self.store.list("Pod"):
                assert isinstance(obj, Pod)
                if obj.namespace == pdb.namespace and pdb.selector.matches(obj.labels):
                    pods[obj.uid] = obj
            self._sync(pdb)
        elif event == DELETED:
            self._budgets[pdb.namespace].remove(pdb)
            self._pods.pop(pdb.uid, None)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        budgets = self._budgets.get(pod.namespace)
        if not budgets:
            return
        for pdb in budgets:
            if not pdb.selector.matches(pod.labels):
                continue
            pods = self._pods[pdb.uid]
            if event == DELETED:
                pods.pop(pod.uid, None)
            else:
                pods[pod.uid] = pod
            self._sync(pdb)

    def _sync(self, pdb: PodDisruptionBudget) -> None:
        pods = list(self._pods[pdb.uid].values())
        expected, desired = self._expected(pdb, pods)
        healthy = sum(1 for p in pods if not p.deleting and p.ready)
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status = (expected, healthy, desired, allowed)
        if status != (pdb.expected_pods, pdb.current_healthy, pdb.desired_healthy, pdb.disruptions_allowed):
            pdb.expected_pods, pdb.current_healthy, pdb.desired_healthy, pdb.disruptions_allowed = status
            self.store.update(pdb)

    def _expected(self, pdb: PodDisruptionBudget, pods: list[Pod]) -> tuple[int, int]:
        """(expectedCount, desiredHealthy); (0, 0) where the real sync fails."""
        if isinstance(pdb.min_available, int):
            return len(pods), pdb.min_available
        owners: dict[int, int] = {}
        for p in pods:
            if isinstance(p.owner, Job):
                return 0, 0  # no scale subresource: getExpectedScale errors
            scale = _scale_of(p.owner)
            if scale is not None and p.owner is not None:
                owners[p.owner.uid] = scale
        expected = sum(owners.values())
        if pdb.max_unavailable is not None:
            return expected, max(expected - scaled(pdb.max_unavailable, expected, True), 0)
        if pdb.min_available is not None:
            return expected, scaled(pdb.min_available, expected, True)
        return 0, 0  # neither given: nothing expected, so nothing may be disrupted
