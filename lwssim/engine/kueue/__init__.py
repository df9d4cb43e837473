"""Kueue v0.17.0's manager, as far as the admission of LeaderWorkerSet groups depends on it
(docs/kueue-v0.17-semantics.md): its LWS integration (``leaderworkerset.py``), its scheduler
(``scheduler.py``, quota in ``quota.py``) and, here, its workload controller's ``waitForPodsReady``.

waitForPodsReady (``pkg/controller/core/workload_controller.go: admittedNotReadyWorkload,
reconcileNotReadyTimeout``; ``pkg/workload/workload.go: UpdateRequeueState``): an admitted Workload whose
pods are not all Ready ``timeout`` after admission, or not Ready again ``recoveryTimeout`` after they
stopped being, is evicted (reason PodsReadyTimeout, message "Exceeded the PodsReady timeout <ns>/<name>");
its requeue count grows and it may be admitted again only ``backoffBaseSeconds · 2^(count−1)`` (at most
``backoffMaxSeconds``) later, queued by the eviction time; past ``backoffLimitCount`` it is deactivated.
The back-off's jitter (0.01 %) is left out.
"""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.kueue.failed_nodes import FailedNodes
from lwssim.engine.kueue.leaderworkerset import LWSIntegration, group_key
from lwssim.engine.kueue.scheduler import KueueScheduler
from lwssim.engine.objects import Workload
from lwssim.model.kueue import KueueObjects

PODS_READY_TIMEOUT = "PodsReadyTimeout"
__all__ = ["Kueue"]


class Kueue:
    def __init__(self, cluster: Cluster, objects: KueueObjects) -> None:
        self.env, self.timeline, self.defer = cluster.env, cluster.timeline, cluster.defer
        self.config = objects.config
        self.scheduler = KueueScheduler(cluster, objects, self._admitted, self.evict)
        self.lws = LWSIntegration(
            cluster,
            objects,
            self.scheduler.queue,
            self.scheduler.release,
            self._ready_changed,
            self.scheduler.forget,
        )
        self.scheduler.group_pods = self.lws.group_pods
        self.scheduler.tas_pods = self.lws.tas_pods
        self.failed_nodes = FailedNodes(cluster, objects, self.scheduler, self.evict, self._reassigned)
        self.node_changed = self.failed_nodes.node_changed

    def _admitted(self, wl: Workload) -> None:
        self.failed_nodes.forget(wl)
        self.lws.group_queue.add(group_key(wl.namespace, wl.lws, wl.group))
        self._reassigned(wl)
        wait = self.config.wait_for_pods_ready
        if wait is not None:
            at = wl.admitted_at
            self.defer(wait.timeout, lambda: self._check(wl, at, None))

    def _reassigned(self, wl: Workload) -> None:
        """A new admission or topology assignment: a Workload event for the TopologyUngater."""
        self.lws.topology_ungater.workload_changed(group_key(wl.namespace, wl.lws, wl.group))

    def _ready_changed(self, wl: Workload) -> None:
        wait = self.config.wait_for_pods_ready
        if wait is None or wl.pods_ready or not wl.ever_ready or wait.recovery <= 0:
            return
        since = wl.ready_changed_at
        self.defer(wait.recovery, lambda: self._check(wl, wl.admitted_at, since))

    def _check(self, wl: Workload, admitted_at: float | None, since: float | None) -> None:
        """The timer of one admission (or one loss of readiness) ran out: evict if nothing changed."""
        if not wl.stored or not wl.admitted or wl.evicting or wl.admitted_at != admitted_at or wl.pods_ready:
            return
        if since is None and wl.ever_ready:
            return
        if since is not None and wl.ready_changed_at != since:
            return
        wait = self.config.wait_for_pods_ready
        assert wait is not None
        wl.requeue_count += 1
        if wait.backoff_limit_count is not None and wl.requeue_count > wait.backoff_limit_count:
            self.evict(wl, PODS_READY_TIMEOUT, f"Exceeded the PodsReady timeout {wl.namespace}/{wl.name}")
            wl.requeue_at = float("inf")  # deactivated: spec.active=false, RequeuingLimitExceeded
            return
        backoff = min(wait.backoff_base_seconds * 2 ** (wl.requeue_count - 1), wait.backoff_max_seconds)
        wl.requeue_at = self.env.now + backoff
        wl.order_time = self.env.now  # requeuingStrategy.timestamp: Eviction
        self.evict(wl, PODS_READY_TIMEOUT, f"Exceeded the PodsReady timeout {wl.namespace}/{wl.name}")

    def evict(self, wl: Workload, reason: str, message: str) -> None:
        self.scheduler.evicted(wl, reason, message)
        self.lws.evict(wl)
