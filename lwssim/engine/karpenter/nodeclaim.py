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

from lwssim.engine.context import Cluster
from lwssim.engine.objects import FAILED, SUCCEEDED, Pod
from lwssim.engine.store import DELETED
from lwssim.engine.tasks import Task
from lwssim.model.autoscaling import KarpenterNodePool
from lwssim.model.cluster import NodePool
from lwssim.model.pod import Taint
from lwssim.model.quantity import GPU
from lwssim.model.timing import NodeProvisioning
from lwssim.timeline import (
    NODE_DELETED,
    NODE_INITIALIZED,
    NODE_LAUNCH_FAILED,
    NODE_LAUNCHED,
    NODE_REGISTERED,
    NODECLAIM_CREATED,
)

INSUFFICIENT_CAPACITY = "InsufficientCapacityError"
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


class Fleet:
    """Each autoscaled pool's node table rows: the present ones and the spare ones new nodes take."""

    def __init__(self, cluster: Cluster, pools: list[NodePool]) -> None:
        names = self._names = cluster.nodes.names
        self.spare: dict[str, list[int]] = {}
        self.serial: dict[str, int] = {}
        for pool in pools:
            rows = [i for i, name in enumerate(names) if cluster.nodes.pool[i] == pool.name]
            self.spare[pool.name] = sorted(i for i in rows if not cluster.nodes.present[i])
            self.serial[pool.name] = pool.count

    def next_name(self, pool: str) -> str:
        """Nodes are named ``<pool>-<n>`` with n counting up across the run (never reused)."""
        n = self.serial[pool]
        self.serial[pool] = n + 1
        return f"{pool}-{n}"

    def take(self, pool: str, name: str, index: dict[str, int]) -> int:
        """A spare row for node ``name``: the row named so when there is one (a name no node had yet
        owns its row), else the first whose name a deleted node had."""
        spare = self.spare[pool]
        row = index.get(name)
        if row is None or row not in spare:
            issued = self.serial[pool]
            row = next(i for i in spare if int(self._names[i].rsplit("-", 1)[1]) < issued)
        spare.remove(row)
        return row

    def give(self, pool: str, row: int) -> None:
        self.spare[pool].append(row)
        self.spare[pool].sort()


class NodeClaims:
    """The NodeClaim lifecycle controller with the cloud provider behind it."""

    def __init__(
        self,
        cluster: Cluster,
        provisioning: NodeProvisioning,
        rng: np.random.Generator,
        fleet: Fleet,
        node_replaced: Callable[[int], None],
        node_changed: Callable[[int], None],
        pods_on: Callable[[int], list[Pod]],
    ) -> None:
        self.env, self.nodes, self.timeline = cluster.env, cluster.nodes, cluster.timeline
        self.provisioning, self.rng, self.fleet = provisioning, rng, fleet
        self.node_replaced, self.node_changed, self.pods_on = node_replaced, node_changed, pods_on
        self.claims: list[NodeClaim] = []  # alive, in creation order
        self.empty: dict[NodeClaim, None] = {}  # initialized claims whose node holds no pod, in order
        self.by_node: dict[str, NodeClaim] = {}
        self.unavailable_until: dict[str, float] = {}  # pool -> when its offering may be tried again
        self.changed: Callable[[], None] = lambda: None  # the provisioner's trigger
        self._vm = provisioning.vm_allocation.sampler(rng)
        self._ready = provisioning.node_ready.sampler(rng)
        self._gpus = provisioning.gpu_allocatable.sampler(rng)
        self._stockout = provisioning.stockout_probability
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

    def capacity_of(self, pool: NodePool) -> np.ndarray:
        vec = np.zeros(len(self.nodes.resources), dtype=np.int64)
        amounts = dict(pool.capacity)
        amounts.setdefault("pods", 110)
        for r, v in amounts.items():
            vec[self.nodes.res_index[r]] = v
        return vec

    def create(self, pool: NodePool, node_pool: KarpenterNodePool, pods: list[str]) -> NodeClaim:
        claim = NodeClaim(self.fleet.next_name(pool.name), pool, node_pool, self.capacity_of(pool), pods=pods)
        self.claims.append(claim)
        self.timeline.add(
            self.env.now,
            NODECLAIM_CREATED,
            claim.name,
            pool=pool.name,
            node_pool=node_pool.name,
            gpus=self._gpus_of(pool),
            pods=",".join(pods),
        )
        # Draws in a fixed order per claim: allocation, stockout, then Ready and GPU delays.
        vm = self._vm()
        stockout = bool(self._stockout) and float(self.rng.random()) < self._stockout
        Task(self.env, self._lifecycle(claim, vm, stockout))
        return claim

    @staticmethod
    def _gpus_of(pool: NodePool) -> int:
        return int(dict(pool.capacity).get(GPU, 0))

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
        gpus = self._gpus_of(pool)
        self.timeline.add(env.now, NODE_LAUNCHED, claim.name, pool=pool.name, gpus=gpus)
        yield env.timeout(self._ready())
        if claim.deleting:
            return
        row = claim.row = self.fleet.take(pool.name, claim.name, self.nodes.index)
        allocatable = dict(pool.capacity)
        lag = self._gpus() if gpus else 0.0
        if lag > 0:
            allocatable[GPU] = 0
        self.nodes.add_node(row, claim.name, allocatable)
        self.by_node[claim.name] = claim
        self.timeline.add(
            env.now, NODE_REGISTERED, claim.name, pool=pool.name, gpus_allocatable=allocatable.get(GPU, 0)
        )
        self.node_replaced(row)
        if lag > 0:
            yield env.timeout(lag)
            if claim.deleting:
                return
            self.nodes.set_allocatable(row, GPU, gpus)
            self.nodes.generation += 1
            self.node_replaced(row)
        claim.initialized = True
        claim.last_pod_event = max(claim.last_pod_event, env.now)
        if not self.pods_on(row):
            self.empty[claim] = None
        self.timeline.add(env.now, NODE_INITIALIZED, claim.name, pool=pool.name)
        self.changed()

    def delete(self, claim: NodeClaim, reason: str) -> None:
        """Disrupt an empty node: taint it ``karpenter.sh/disrupted:NoSchedule`` and delete its NodeClaim;
        the termination controller drains it (nothing to drain) but waits ``MinDrainTime`` for pods bound
        before the scheduler saw the taint, then the instance and the Node go and the row is free again."""
        claim.deleting = True
        self.empty.pop(claim, None)
        row = claim.row
        if row is not None:
            self.nodes.set_extra_taints(row, (DISRUPTED_TAINT,))
            self.node_changed(row)
        Task(self.env, self._terminate(claim, reason))

    def _terminate(self, claim: NodeClaim, reason: str):
        yield self.env.timeout(MIN_DRAIN_TIME)
        row = claim.row
        if row is not None:
            self.nodes.remove_node(row)
            self.fleet.give(claim.pool.name, row)
            self.node_replaced(row)
        self.by_node.pop(claim.name, None)
        self.claims.remove(claim)
        self.timeline.add(self.env.now, NODE_DELETED, claim.name, pool=claim.pool.name, reason=reason)

    def _forget(self, claim: NodeClaim) -> None:
        claim.deleting = True
        self.empty.pop(claim, None)
        self.claims.remove(claim)
        self.by_node.pop(claim.name, None)
