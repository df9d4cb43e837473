"""Karpenter's provisioner: pending pods batched, packed onto nodes that exist or are coming, and a
NodeClaim launched for each node still missing.

kubernetes-sigs/karpenter v1.14.1 (docs/autoscaling-semantics.md §1.3):
- Which pods (``pkg/utils/pod/scheduling.go: IsProvisionable``): not bound, PodScheduled=False with reason
  Unschedulable (so gated pods are not), no nominatedNodeName (not preempting).
- When (``pkg/controllers/provisioning/controller.go``, ``batcher.go``): every event of such a pod
  triggers the batcher, and the pod controller requeues each one every 10 s while it stays
  provisionable; a batch closes ``batchIdleDuration`` after its last trigger or ``batchMaxDuration``
  after its first.
- How (``scheduling/scheduler.go: Solve``, ``queue.go``): pods sorted by cpu, then memory, descending,
  then by creation; each goes to the first node it fits of those that exist or are in flight (a
  NodeClaim not yet Initialized counts at its instance type's capacity), else to a new NodeClaim from
  the NodePools in weight order, whose limits count every node of the NodePool, in flight included.
  One NodeClaim is one node. A pool whose offering found no capacity is skipped until its
  unavailable-offering time runs out (``nodeclaim.py``).
Karpenter's own simulation checks taints, node selectors and node affinity against the NodePool, as the
pods' static kube-scheduler filters do on a row of that pool; pod (anti-)affinity is not needed by the
cases lwssim accepts (topology keys other than the hostname are refused with autoscaling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from lwssim.engine.context import Cluster
from lwssim.engine.karpenter.nodeclaim import NodeClaim, NodeClaims
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling.framework import SCHEDULING_GATED, Scheduler
from lwssim.engine.store import DELETED
from lwssim.engine.tasks import Task
from lwssim.model.autoscaling import Autoscaling, KarpenterNodePool
from lwssim.model.cluster import NodePool
from lwssim.timeline import NODES_NOT_LAUNCHED

POD_REQUEUE = 10.0  # provisioning/controller.go: PodController RequeueAfter


@dataclass
class _Bin:
    """A node a solve may put pods on: one in flight (``pods`` None) or one it launches."""

    pool: NodePool
    room: list[int]  # free per node table resource column
    pods: list[str] | None
    node_pool: KarpenterNodePool | None = None


class Provisioner:
    def __init__(
        self,
        cluster: Cluster,
        scheduler: Scheduler,
        claims: NodeClaims,
        autoscaling: Autoscaling,
        pools: dict[str, NodePool],
        pool_row: dict[str, int],
    ) -> None:
        self.env, self.nodes, self.store = cluster.env, cluster.nodes, cluster.store
        self.timeline = cluster.timeline
        self.scheduler, self.cache, self.claims = scheduler, scheduler.cache, claims
        self.autoscaling, self.pools, self.pool_row = autoscaling, pools, pool_row
        # NodePools in the order Karpenter tries them: weight, highest first, then name.
        self.node_pools = sorted(autoscaling.node_pools, key=lambda n: (-n.weight, n.name))
        self.pending: dict[int, Pod] = {}  # provisionable pods by uid
        self.why: dict[int, str] = {}  # a pod no NodePool could launch a node for -> why
        self._wake: simpy.Event | None = None
        self._requeue_at: float | None = None
        claims.changed = self.trigger
        scheduler.unschedulable_hooks.append(self._unschedulable)
        cluster.store.watch("Pod", self._on_pod)
        Task(self.env, self._run())

    # -- which pods, and when
    def _unschedulable(self, pod: Pod) -> None:
        """kube-scheduler set PodScheduled=False/Unschedulable: the pod is provisionable (unless it is
        nominated, i.e. preempting)."""
        if pod.pending_reason == SCHEDULING_GATED:
            return
        self.pending[pod.uid] = pod
        self.trigger()

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if pod.uid in self.pending and (event == DELETED or pod.node is not None or pod.deleting):
            del self.pending[pod.uid]
            self.why.pop(pod.uid, None)

    def trigger(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _provisionable(self) -> list[Pod]:
        return [p for p in self.pending.values() if p.node is None and p.nominated_node is None]

    def _run(self):
        env, idle, most = self.env, self.autoscaling.batch_idle, self.autoscaling.batch_max
        while True:
            self._wake = env.event()
            yield self._wake
            opened = last = env.now
            while True:  # batcher.go: idle window after the last trigger, bounded by the max window
                self._wake = env.event()
                end = min(last + idle, opened + most)
                if end <= env.now:
                    break
                timeout = env.timeout(end - env.now)
                yield self._wake | timeout
                if self._wake.triggered:
                    last = env.now
                else:
                    break
            self._wake = None
            self.solve()
            if self._provisionable():
                self._requeue()

    def _requeue(self) -> None:
        """PodController requeues a provisionable pod every 10 s: a trigger 10 s on."""
        at = self.env.now + POD_REQUEUE
        if self._requeue_at is not None and self._requeue_at > self.env.now:
            return
        self._requeue_at = at
        self.scheduler.defer(POD_REQUEUE, self._requeued)

    def _requeued(self) -> None:
        self._requeue_at = None
        if self._provisionable():
            self.trigger()
            if self._wake is None:  # a batch is being solved: try again later
                self._requeue()

    # -- Solve
    def solve(self) -> None:
        pods = self._provisionable()
        if not pods:
            return
        cache, nodes = self.cache, self.nodes
        pods.sort(key=lambda p: (-self._cpu_mem(p)[0], -self._cpu_mem(p)[1], p.uid))
        in_flight = [c for c in self.claims.claims if c.in_flight]
        flight_rows = [c.row for c in in_flight if c.row is not None]
        # Existing nodes: what kube-scheduler's cache has free, on nodes that are initialized.
        free = nodes.free_copy()
        # Bins: nodes in flight, then the NodeClaims this solve launches; their room only shrinks, so a
        # shape that did not fit a bin never fits it later in the solve (where each shape resumes).
        bins: list[_Bin] = [_Bin(c.pool, self._free_of(c), None) for c in in_flight]
        resume: dict[int, int] = {}
        no_existing: set[int] = set()
        fits_pool: dict[tuple[int, str], bool] = {}
        counts = self._pool_counts()
        used = self._pool_usage()
        now = self.env.now
        for pod in pods:
            shape = cache.shape(pod)
            key, needs = id(shape), shape.needs
            if key not in no_existing:
                ok = shape.stage == 0
                if flight_rows:
                    ok = ok.copy()
                    ok[flight_rows] = False
                for col, need in needs:
                    ok = ok & (free[col] >= need)
                hits = np.flatnonzero(ok)
                if len(hits):
                    i = int(hits[0])
                    for col, need in needs:
                        free[col][i] -= need
                    self.why.pop(pod.uid, None)
                    continue
                no_existing.add(key)
            placed = False
            k = resume.get(key, 0)
            while k < len(bins):
                b = bins[k]
                compatible = fits_pool.get((key, b.pool.name))
                if compatible is None:
                    compatible = fits_pool[key, b.pool.name] = cache.passes_static_at(
                        pod, self.pool_row[b.pool.name]
                    )
                if compatible and all(b.room[col] >= need for col, need in needs):
                    for col, need in needs:
                        b.room[col] -= need
                    if b.pods is not None:
                        b.pods.append(pod.name)
                    placed = True
                    break
                k += 1
            resume[key] = k
            if placed:
                self.why.pop(pod.uid, None)
                continue
            reasons = []
            for np_ in self.node_pools:
                pool = self.pools[np_.pool]
                why = self._cannot_launch(pod, needs, np_, pool, counts, used, now)
                if why is None:
                    room = self.claims.capacity_of(pool)
                    used[np_.name] = used[np_.name] + room
                    for col, need in needs:
                        room[col] -= need
                    bins.append(_Bin(pool, room.tolist(), [pod.name], np_))
                    counts[pool.name] += 1
                    placed = True
                    break
                reasons.append(f"NodePool {np_.name}: {why}")
            if placed:
                self.why.pop(pod.uid, None)
            else:
                why = "; ".join(reasons) or "no NodePool"
                if self.why.get(pod.uid) != why:  # recorded when the reason changes
                    pod.record(self.timeline, now, NODES_NOT_LAUNCHED, reason=why)
                self.why[pod.uid] = why
        for b in bins[len(in_flight) :]:
            assert b.node_pool is not None and b.pods is not None
            self.claims.create(b.pool, b.node_pool, b.pods)

    def _cpu_mem(self, pod: Pod) -> tuple[int, int]:
        return self.cache.shape(pod).cpu_mem

    def _free_of(self, claim: NodeClaim) -> list[int]:
        room = claim.capacity.tolist()
        if claim.row is not None:
            for pod in self.cache.pods_on(claim.row):
                for col, need in self.cache.needs_of(pod):
                    room[col] -= need
        return room

    def _pool_counts(self) -> dict[str, int]:
        """Nodes of each autoscaled pool: present and in flight."""
        counts = {name: 0 for name in self.pools}
        for c in self.claims.claims:
            if not c.deleting:
                counts[c.pool.name] += 1
        return counts

    def _pool_usage(self) -> dict[str, np.ndarray]:
        """What each NodePool's nodes have, in flight included (limits count them pessimistically)."""
        used = {n.name: np.zeros(len(self.nodes.resources), dtype=np.int64) for n in self.node_pools}
        for c in self.claims.claims:
            if c.node_pool is not None and not c.deleting:
                used[c.node_pool.name] += c.capacity
        return used

    def _cannot_launch(
        self,
        pod: Pod,
        needs,  # noqa: ANN001
        np_: KarpenterNodePool,
        pool: NodePool,
        counts: dict[str, int],
        used: dict[str, np.ndarray],
        now: float,
    ) -> str | None:
        """Why ``np_`` cannot launch a node for ``pod`` now, or None."""
        capacity = self.claims.capacity_of(pool)
        if any(capacity[col] < need for col, need in needs):
            return f"its instance type ({pool.name}) is too small for the pod"
        if not self.cache.passes_static_at(pod, self.pool_row[pool.name]):
            return "the pod does not tolerate its taints or match its labels"
        until = self.claims.unavailable_until.get(pool.name)
        if until is not None and until > now:
            return (
                f"its offering ({pool.name}) found no capacity and is unavailable for {until - now:.0f}s more"
            )
        assert pool.max_count is not None
        if counts[pool.name] >= pool.max_count:
            return f"pool {pool.name} is at its max ({pool.max_count} nodes)"
        total = used[np_.name] + capacity
        for r, limit in np_.limits:
            col = self.nodes.res_index.get(r)
            if col is not None and total[col] > limit:
                return f"its limits ({r} {limit}) would be exceeded"
        return None
