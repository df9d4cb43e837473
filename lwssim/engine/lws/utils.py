"""Reads both LWS controllers and the webhook share (pkg/utils/pod, pkg/utils/statefulset in LWS v0.7.0)."""

from __future__ import annotations

from lwssim.engine.lws.versions import LWSVersion
from lwssim.engine.objects import PENDING, RUNNING, LeaderWorkerSet, Pod, StatefulSet
from lwssim.engine.store import Store


def lws_of(store: Store, obj: Pod | StatefulSet) -> LeaderWorkerSet | None:
    """The LeaderWorkerSet named by the object's name label, if it exists."""
    lws = store.get("LeaderWorkerSet", f"{obj.namespace}/{obj.lws}")
    return lws if isinstance(lws, LeaderWorkerSet) else None


def container_restarted(pod: Pod) -> bool:
    """podutils.ContainerRestarted: a container of a running or pending pod has restarted."""
    return pod.restart_count > 0 and pod.phase in (RUNNING, PENDING)


def ready_workers(workers: StatefulSet, version: LWSVersion) -> int:
    """The worker count statefulsetutils.StatefulsetReady compares with spec.replicas
    (docs/lws-v0.7-semantics.md §3.7)."""
    return workers.available_replicas if version.ready_counts_available_workers else workers.status_replicas
