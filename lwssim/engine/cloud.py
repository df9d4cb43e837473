"""The cloud behind a node autoscaler: instances of an autoscaled pool, how long each takes to become a
node with schedulable GPUs, stockouts, and the node table rows the nodes take.

Karpenter (``karpenter/nodeclaim.py``) and cluster-autoscaler (``cluster_autoscaler/``) ask it for instances
in their own ways; the delays and stockouts are the scenario's ``timing.nodeProvisioning``
(model/timing.NodeProvisioning), drawn from one generator in a fixed order per instance: allocation and
stockout when it is asked for, the Ready delay once it runs, the GPU delay once it is Ready.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lwssim.engine.context import Cluster
from lwssim.model.cluster import NodePool
from lwssim.model.quantity import GPU, PODS
from lwssim.model.timing import NodeProvisioning
from lwssim.timeline import NODE_DELETED, NODE_LAUNCHED, NODE_REGISTERED, NODECLAIM_CREATED

DEFAULT_PODS = 110


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


class Cloud:
    """Instances and their nodes: delays drawn, rows taken and given back, the scheduler told."""

    def __init__(
        self,
        cluster: Cluster,
        provisioning: NodeProvisioning,
        rng: np.random.Generator,
        fleet: Fleet,
        node_replaced: Callable[[int], None],
    ) -> None:
        self.env, self.nodes, self.timeline = cluster.env, cluster.nodes, cluster.timeline
        self.provisioning, self.rng, self.fleet = provisioning, rng, fleet
        self.node_replaced = node_replaced
        self._vm = provisioning.vm_allocation.sampler(rng)
        self._ready = provisioning.node_ready.sampler(rng)
        self._gpus = provisioning.gpu_allocatable.sampler(rng)
        self._stockout = provisioning.stockout_probability

    @staticmethod
    def gpus_of(pool: NodePool) -> int:
        return int(dict(pool.capacity).get(GPU, 0))

    def capacity_of(self, pool: NodePool) -> np.ndarray:
        """One node's allocatable over the node table's resource columns."""
        vec = np.zeros(len(self.nodes.resources), dtype=np.int64)
        amounts = dict(pool.capacity)
        amounts.setdefault(PODS, DEFAULT_PODS)
        for r, v in amounts.items():
            vec[self.nodes.res_index[r]] = v
        return vec

    def ask(
        self, name: str, pool: NodePool, pods: list[str] | tuple[str, ...], node_pool: str = ""
    ) -> tuple[float, bool]:
        """An instance asked for (a NodeClaim, or a node of a scale-up), recorded with the pods it is for: how
        long its allocation takes, and whether it finds no capacity."""
        self.timeline.add(
            self.env.now,
            NODECLAIM_CREATED,
            name,
            pool=pool.name,
            node_pool=node_pool,
            gpus=self.gpus_of(pool),
            pods=",".join(pods),
        )
        vm = self._vm()
        stockout = bool(self._stockout) and float(self.rng.random()) < self._stockout
        return vm, stockout

    def launched(self, name: str, pool: NodePool) -> float:
        """The instance runs (billed from now): record it; the delay until its Node is Ready."""
        self.timeline.add(self.env.now, NODE_LAUNCHED, name, pool=pool.name, gpus=self.gpus_of(pool))
        return self._ready()

    def register(self, name: str, pool: NodePool) -> tuple[int, float]:
        """The Node registers Ready in a spare row: kube-scheduler sees it, with no GPUs allocatable until
        the device plugin registers them. Returns the row and how long until the GPUs are allocatable."""
        row = self.fleet.take(pool.name, name, self.nodes.index)
        allocatable = dict(pool.capacity)
        lag = self._gpus() if self.gpus_of(pool) else 0.0
        if lag > 0:
            allocatable[GPU] = 0
        self.nodes.add_node(row, name, allocatable)
        self.timeline.add(
            self.env.now, NODE_REGISTERED, name, pool=pool.name, gpus_allocatable=allocatable.get(GPU, 0)
        )
        self.node_replaced(row)
        return row, lag

    def gpus_registered(self, row: int, pool: NodePool) -> None:
        """The device plugin registered the GPUs: allocatable (Node/UpdateNodeAllocatable)."""
        self.nodes.set_allocatable(row, GPU, self.gpus_of(pool))
        self.nodes.generation += 1
        self.node_replaced(row)

    def remove(self, name: str, pool: NodePool, row: int | None, reason: str) -> None:
        """The instance is terminated and its Node deleted: the row is free again."""
        if row is not None:
            self.nodes.remove_node(row)
            self.fleet.give(pool.name, row)
            self.node_replaced(row)
        self.timeline.add(self.env.now, NODE_DELETED, name, pool=pool.name, reason=reason)
