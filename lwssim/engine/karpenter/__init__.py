"""Karpenter v1.14.1 as a node autoscaler of the simulated cluster: its provisioner
(``provisioner.py``), the NodeClaim lifecycle with the cloud provider behind it (``nodeclaim.py``) and
its disruption controller for empty nodes (``disruption.py``). docs/autoscaling.md says what is
simulated and what is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lwssim.engine.cloud import Cloud, Fleet
from lwssim.engine.context import Cluster
from lwssim.engine.karpenter.disruption import Disruption
from lwssim.engine.karpenter.nodeclaim import NodeClaims
from lwssim.engine.karpenter.provisioner import Provisioner
from lwssim.engine.scheduling.framework import Scheduler
from lwssim.model.autoscaling import Autoscaling
from lwssim.model.cluster import NodePool
from lwssim.model.timing import NodeProvisioning

__all__ = ["Karpenter"]


class Karpenter:
    def __init__(
        self,
        cluster: Cluster,
        scheduler: Scheduler,
        autoscaling: Autoscaling,
        pools: list[NodePool],
        provisioning: NodeProvisioning,
        rng: np.random.Generator,
        is_down: Callable[[int], bool],
    ) -> None:
        grown = [p for p in pools if p.autoscaled]
        cloud = Cloud(cluster, provisioning, rng, Fleet(cluster, grown), scheduler.node_replaced)
        self.claims = NodeClaims(cluster, cloud, scheduler.node_changed, scheduler.cache.pods_on)
        nodes = cluster.nodes
        pool_row: dict[str, int] = {}
        for pool in grown:
            node_pool = autoscaling.node_pool_of(pool.name)
            rows = [i for i in range(len(nodes)) if nodes.pool[i] == pool.name]
            pool_row[pool.name] = rows[0]
            for k, i in enumerate(r for r in rows if nodes.present[r]):
                assert pool.min_count is not None
                self.claims.adopt(pool, None if k < pool.min_count else node_pool, i)
        self.provisioner = Provisioner(
            cluster, scheduler, self.claims, autoscaling, {p.name: p for p in grown}, pool_row
        )
        self.disruption = Disruption(cluster, self.claims, scheduler.cache, is_down)
