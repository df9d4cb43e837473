"""Karpenter's NodeClaims: one instance request per node, and the node's way to schedulable GPUs.

A NodeClaim is created by the provisioner (``provisioner.py``) and goes through the conditions of
kubernetes-sigs/karpenter v1.14.1 ``pkg/controllers/nodeclaim/lifecycle`` (docs/autoscaling-semantics.md
§1.2), each after a delay drawn from ``timing.nodeProvisioning``:
- Launched (``launch.go``): the cloud provider's Create returns an instance, billed from then. A create
  that finds no capacity returns InsufficientCapacityError: Karpenter deletes the NodeClaim at once and
  the provider marks the offering unavailable for a while (aws/karpenter-provider-aws v1.14.0
  ``pkg/cache/unavailableofferings.go``, ``UnavailableOfferingsTTL`` 3 min); the pods wait for a later
  batch.
- Registered: the Node object appears and turns Ready; kube-scheduler sees it from here. Its GPUs are
  not allocatable until the device plugin registers them (the kubelet reports extended resources as 0).
- Initialized (``initialization.go: RequestedResourcesRegistered``): every resource the NodeClaim's pods
  request is allocatable. Until then Karpenter counts the node at its instance type's capacity, so pods
  rejected by kube-scheduler for lack of GPUs there are not launched a second node.
A node an autoscaler deletes leaves the scheduler's table and its instance stops billing at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lwssim.engine.cloud import Cloud
from lwssim.engine.context import Cluster
from lwssim.engine.nodes import delete_pod
from lwssim.engine.objects import FAILED, SUCCEEDED, Pod
from lwssim.engine.store import DELETED
from lwssim.engine.tasks import Task
from lwssim.model.autoscaling import KarpenterNodePool
from lwssim.model.cluster import NodePool
from lwssim.model.pod import Taint
from lwssim.timeline import (
    NODE_INITIALIZED,
    NODE_LAUNCH_FAILED,
)

INSUFFICIENT_CAPACITY = "InsufficientCapacityError"
EXPIRED = "Expired"  # v1.DisruptionReasonExpired
POD_EVENT_DEDUPE = 10.0  # podevents/controller.go: dedupeTimeout
MIN_DRAIN_TIME = 5.0  # node/termination/controller.go: MinDrainTime
DISRUPTED_TAINT = Taint("karpenter.sh/disrupted", "", "NoSchedule")  # apis/v1/taints.go


@dataclass(eq=False)
class NodeClaim:
    name: str
    pool: NodePool
    node_pool: KarpenterNodePool | None  # None: one of the pool's ``min`` nodes, not Karpenter's
    capacity: np.ndarray  # the instance type's allocatable, over the node table's resource columns
    row: int | None = None  # the node table row of its Node, once registered
    launched: bool = False
    initialized: bool = False
    deleting: bool = False
    last_pod_event: float = 0.0  # status.lastPodEventTime (or the Initialized time)
    pods: list[str] = field(default_factory=list)  # the pods the provisioner launched it for

    @property
    def in_flight(self) -> bool:
        return not self.initialized and not self.deleting


class NodeClaims:
    """The NodeClaim lifecycle controller with the cloud provider behind it."""

    def __init__(
        self,
        cluster: Cluster,
        cloud: Cloud,
        node_changed: Callable[[int], None],
        pods_on: Callable[[int], list[Pod]],
    ) -> None:
        self.env, self.nodes, self.timeline = cluster.env, cluster.nodes, cluster.timeline
        self.cluster = cluster
        self.cloud, self.provisioning = cloud, cloud.provisioning
        self.node_changed, self.pods_on = node_changed, pods_on
        self.claims: list[NodeClaim] = []  # alive, in creation order
        self.empty: dict[NodeClaim, None] = {}  # initialized claims whose node holds no pod, in order
        self.by_node: dict[str, NodeClaim] = {}
        self.unavailable_until: dict[str, float] = {}  # pool -> when its offering may be tried again
        self.changed: Callable[[], None] = lambda: None  # the provisioner's trigger
        self._pod_events: dict[int, tuple[bool, bool]] = {}  # bound pods: (terminating, terminal) seen
        cluster.store.watch("Pod", self._on_pod)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        """Which nodes are empty (after kube-scheduler's cache, whose watch comes first), and the nodeclaim
        podevents controller (``podevents/controller.go``): ``status.lastPodEventTime`` is set when a pod
        is bound to the node, starts terminating or turns terminal, unless it was set less than 10 s ago
        (``dedupeTimeout``)."""
        if pod.node is None:
            return
        uid, seen = pod.uid, self._pod_events
        if event == DELETED:
            seen.pop(uid, None)
        claim = self.by_node.get(pod.node)
        if claim is None or claim.row is None:
            return
        if event != DELETED:
            state = (pod.deleting, pod.phase in (SUCCEEDED, FAILED))
            before = seen.get(uid)
            seen[uid] = state
            newly = before is None or (state[0] and not before[0]) or (state[1] and not before[1])
            now = self.env.now
            if newly and (claim.last_pod_event == 0.0 or now - claim.last_pod_event >= POD_EVENT_DEDUPE):
                claim.last_pod_event = now
        if event == DELETED or pod.phase in (SUCCEEDED, FAILED):
            if claim.initialized and not self.pods_on(claim.row):
                self.empty[claim] = None
        else:
            self.empty.pop(claim, None)

    def adopt(self, pool: NodePool, node_pool: KarpenterNodePool | None, row: int) -> None:
        """A node present at the start: initialized, its last pod event at 0."""
        claim = NodeClaim(self.nodes.names[row], pool, node_pool, self.capacity_of(pool), row, True, True)
        self.claims.append(claim)
        self.by_node[claim.name] = claim
        self.empty[claim] = None
        self._expire(claim)

    def capacity_of(self, pool: NodePool) -> np.ndarray:
        return self.cloud.capacity_of(pool)

    def create(self, pool: NodePool, node_pool: KarpenterNodePool, pods: list[str]) -> NodeClaim:
        claim = NodeClaim(
            self.cloud.fleet.next_name(pool.name), pool, node_pool, self.capacity_of(pool), pods=pods
        )
        self.claims.append(claim)
        vm, stockout = self.cloud.ask(claim.name, pool, pods, node_pool.name)
        Task(self.env, self._lifecycle(claim, vm, stockout))
        self._expire(claim)
        return claim

    def _expire(self, claim: NodeClaim) -> None:
        """``nodeclaim/expiration/controller.go``: once ``expireAfter`` has passed since its creation the
        NodeClaim is deleted, forcefully: no budget, no replacement first (its pods are evicted and the
        provisioner launches nodes for them as for any pending pod)."""
        after = claim.node_pool.expire_after if claim.node_pool is not None else None
        if after is not None:
            self.cluster.defer(after, lambda: self._expired(claim))

    def _expired(self, claim: NodeClaim) -> None:
        if claim in self.claims and not claim.deleting:
            self.delete(claim, EXPIRED)

    def _lifecycle(self, claim: NodeClaim, vm: float, stockout: bool):
        env, pool = self.env, claim.pool
        yield env.timeout(vm)
        if stockout:  # launch.go: InsufficientCapacityError → the NodeClaim is deleted, pods re-batched
            self.unavailable_until[pool.name] = env.now + self.provisioning.unavailable_offering_ttl
            self.timeline.add(
                env.now, NODE_LAUNCH_FAILED, claim.name, pool=pool.name, reason=INSUFFICIENT_CAPACITY
            )
            self._forget(claim)
            self.changed()
            return
        claim.launched = True
        yield env.timeout(self.cloud.launched(claim.name, pool))
        if claim.deleting:
            return
        self.by_node[claim.name] = claim
        row, lag = self.cloud.register(claim.name, pool)
        claim.row = row
        if lag > 0:
            yield env.timeout(lag)
            if claim.deleting:
                return
            self.cloud.gpus_registered(row, pool)
        claim.initialized = True
        claim.last_pod_event = max(claim.last_pod_event, env.now)
        if not self.pods_on(row):
            self.empty[claim] = None
        self.timeline.add(env.now, NODE_INITIALIZED, claim.name, pool=pool.name)
        self.changed()

    def delete(self, claim: NodeClaim, reason: str) -> None:
        """Disrupt a node: taint it ``karpenter.sh/disrupted:NoSchedule`` and delete its NodeClaim; the
        termination controller evicts its pods (``terminator/eviction.go``) and waits until they are gone and
        at least ``MinDrainTime`` has passed (for pods bound before the scheduler saw the taint), then the
        instance and the Node go and the row is free again."""
        claim.deleting = True
        self.empty.pop(claim, None)
        row = claim.row
        if row is not None:
            self.nodes.set_extra_taints(row, (DISRUPTED_TAINT,))
            self.node_changed(row)
            for pod in self.pods_on(row):
                if pod.phase not in (SUCCEEDED, FAILED):
                    delete_pod(self.cluster, pod, f"evicted by Karpenter ({reason})")
        Task(self.env, self._terminate(claim, reason))

    def _terminate(self, claim: NodeClaim, reason: str):
        yield self.env.timeout(MIN_DRAIN_TIME)
        while claim.row is not None and self.pods_on(claim.row):  # awaitDrain requeues every second
            yield self.env.timeout(1.0)
        self.cloud.remove(claim.name, claim.pool, claim.row, reason)
        self.by_node.pop(claim.name, None)
        self.claims.remove(claim)

    def _forget(self, claim: NodeClaim) -> None:
        claim.deleting = True
        self.empty.pop(claim, None)
        self.claims.remove(claim)
        self.by_node.pop(claim.name, None)
