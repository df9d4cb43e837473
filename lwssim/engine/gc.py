"""Deletion as the API server and the garbage collector perform it.

Foreground deletion: the owner gets the ``foregroundDeletion`` finalizer and stays until every
dependent is gone; dependents that have dependents of their own are deleted in foreground too
(kube-controller-manager ``garbagecollector.attemptToDeleteItem``). Background deletion removes the
owner first and its dependents after. A pod's object is removed only once its containers have
stopped (the kubelet's graceful termination), or at once if it was never bound to a node
(``pod strategy CheckGracefulDelete``: unscheduled pods are deleted with grace 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lwssim.engine.objects import BACKGROUND, FOREGROUND, FOREGROUND_FINALIZER, Obj, Pod
from lwssim.engine.store import DELETED

if TYPE_CHECKING:  # the cluster builds its garbage collector
    from lwssim.engine.context import Cluster


class GarbageCollector:
    """The garbage collector sees an owner's removal through its graph builder's informers and deletes
    each orphaned dependent from its attemptToDelete workers with a live GET then a DELETE
    (garbagecollector.go attemptToDeleteItem): one ``delete`` latency per level of the owner graph,
    measured as such (owner gone → dependent deleted). Small, but it orders events: the StatefulSet
    controller may recreate a deleted leader pod (one create) before the GC has marked the old group's
    worker pods deleted (two levels down), which is what makes lws#804 happen. Without an API latency
    model (unit tests) the cascade runs at once."""

    def __init__(self, cluster: Cluster) -> None:
        store = self.store = cluster.store
        env = cluster.env
        self.now = lambda: env.now
        self._defer = cluster.defer if cluster.api_latency_modelled else None
        self._hop = cluster.api.delete
        for kind in ("Pod", "StatefulSet", "LeaderWorkerSet", "Deployment", "ReplicaSet", "Job"):
            store.watch(kind, self._on_event)

    def _delete_all(self, objs: list[Obj]) -> None:
        for obj in objs:
            self.delete(obj, BACKGROUND)

    def delete(self, obj: Obj, propagation: str = BACKGROUND) -> None:
        """The DELETE call. A second delete of an object already being deleted changes nothing."""
        if obj.deleting or not obj.stored:
            return
        obj.deletion_time = self.now()
        dependents = self.store.dependents(obj)
        if propagation == FOREGROUND and dependents:
            obj.finalizers.add(FOREGROUND_FINALIZER)
        self.store.update(obj)
        if propagation == FOREGROUND:
            for dep in dependents:
                self.delete(dep, FOREGROUND if self.store.dependents(dep) else BACKGROUND)
        self.try_finalize(obj)

    def force_delete(self, pod: Pod) -> None:
        """``kubectl delete --force --grace-period=0`` or PodGC of a pod on a deleted node."""
        if not pod.deleting:
            pod.deletion_time = self.now()
            self.store.update(pod)
        pod.terminated = True
        self.try_finalize(pod)

    def try_finalize(self, obj: Obj) -> None:
        """Remove the object once nothing holds it: no dependents under foreground, containers stopped."""
        if not obj.stored or not obj.deleting:
            return
        if FOREGROUND_FINALIZER in obj.finalizers and not self.store.dependents(obj):
            obj.finalizers.discard(FOREGROUND_FINALIZER)
        if obj.finalizers:
            return
        if isinstance(obj, Pod) and obj.node is not None and not obj.terminated:
            return  # the kubelet is still stopping its containers
        self.store.remove(obj)

    def _on_event(self, event: str, obj: Obj) -> None:
        if event != DELETED:
            return
        owner = obj.owner
        if owner is not None and owner.deleting:
            self.try_finalize(owner)
        # Background cascade: dependents of a removed owner are garbage.
        dependents = self.store.dependents(obj)
        if not dependents:
            return
        if self._defer is None:
            self._delete_all(dependents)
            return
        self._defer(self._hop(), lambda: self._delete_all(dependents))
