"""Scenario variants for the capacity search: one pool's node count or one ClusterQueue's quota replaced,
everything else kept."""

from __future__ import annotations

import math
from dataclasses import replace

from lwssim.errors import InputError
from lwssim.model.cluster import NodePool, expand_pool
from lwssim.model.kueue import ClusterQueue, ResourceQuota
from lwssim.model.scenario import Scenario

POD_SLOTS = "pods"  # every pod takes one of the node's `pods` allocatable, whatever it requests


def find_pool(scenario: Scenario, name: str) -> NodePool:
    """The pool the user named with ``--pool``; a wrong name is bad input (exit 2)."""
    pool = scenario.cluster.pool(name)
    if pool is None:
        known = ", ".join(p.name for p in scenario.cluster.pools) or "none"
        raise InputError(
            scenario.path, "--pool", f'no node pool named "{name}" in spec.cluster.nodePools (pools: {known})'
        )
    return pool


def with_pool_count(scenario: Scenario, pool_name: str, count: int, warm: bool = False) -> Scenario:
    """``scenario`` with ``pool_name`` holding ``count`` nodes (``warm``: an autoscaled pool keeping them,
    its ``min`` and starting ``count`` both ``count``).

    Pools are re-expanded in their order (so node names and generated topology labels are exactly what the
    loader gives for that count) and NodeList nodes are kept after them, as the loader orders them.
    Snapshot pods bound to a node the variant no longer has are dropped with it.
    """
    changed = {"count": count, "min_count": count} if warm else {"count": count}
    pools = tuple(replace(p, **changed) if p.name == pool_name else p for p in scenario.cluster.pools)
    pool_names = {p.name for p in pools}
    expanded = [n for p in pools for n in expand_pool(p)]
    extra = [n for n in scenario.cluster.nodes if n.pool not in pool_names]
    names = {n.name for n in expanded}
    clash = next((n.name for n in extra if n.name in names), None)
    if clash is not None:
        raise InputError(
            scenario.path,
            "--max",
            f'with {count} nodes pool "{pool_name}" would create node "{clash}", which spec.cluster.nodes '
            "already lists; lower --max",
        )
    nodes = tuple(expanded + extra)
    names |= {n.name for n in extra}
    existing = tuple(p for p in scenario.cluster.existing_pods if p.node in names)
    cluster = replace(scenario.cluster, pools=pools, nodes=nodes, existing_pods=existing)
    return replace(scenario, cluster=cluster)


def min_replicas(scenario: Scenario, workload: str, initial: int) -> int:
    """The fewest replicas the workload asks for at any time (scale and patch events can lower it)."""
    counts = [initial]
    counts += [s.replicas for s in scenario.scales if s.workload == workload]
    counts += [p.lws.replicas for p in scenario.patches if p.workload == workload]
    return min(counts)


def resource_lower_bound(scenario: Scenario, pool: NodePool) -> tuple[int, str]:
    """Fewest nodes of ``pool`` that could hold every pod at once, by resource arithmetic alone.

    Every group serving at once needs every pod bound at once, so for each resource the pool must hold
    what the pods request beyond what all other nodes could give. This is a proof, not a guess: counts
    below it are not simulated. Topology, taints and selectors only raise the true need, which the
    simulation finds. Returns the bound and the resource that sets it (for the explanation).
    """
    need: dict[str, int] = {}
    for w in scenario.workloads:
        spec = w.lws
        replicas = max(0, min_replicas(scenario, w.name, spec.replicas))
        per_group = spec.group_requests()
        per_group[POD_SLOTS] = per_group.get(POD_SLOTS, 0) + spec.size
        for name, amount in per_group.items():
            need[name] = need.get(name, 0) + amount * replicas
    others: dict[str, int] = {}
    for n in scenario.cluster.nodes:
        if n.pool != pool.name:
            for name, amount in n.allocatable:
                others[name] = others.get(name, 0) + amount
    capacity = dict(pool.capacity)
    best, why = 0, ""
    for name in sorted(need):
        missing = need[name] - others.get(name, 0)
        if missing <= 0:
            continue
        per_node = capacity.get(name, 0)
        if per_node <= 0:
            continue  # the pool cannot supply it at any count: the simulation will say so
        nodes = math.ceil(missing / per_node)
        if nodes > best:
            best, why = nodes, f"{need[name]} {name} requested, {per_node} per node"
    return best, why


def with_quota(scenario: Scenario, cluster_queue: str, flavor: str, resource: str, nominal: int) -> Scenario:
    """``scenario`` with ClusterQueue ``cluster_queue``'s ``nominalQuota`` of ``resource`` in ``flavor`` set
    to ``nominal``; a lendingLimit above it is lowered to it (Kueue refuses one above the nominal quota)."""

    def quota(r: ResourceQuota) -> ResourceQuota:
        if r.name != resource:
            return r
        lending = None if r.lending_limit is None else min(r.lending_limit, nominal)
        return replace(r, nominal=nominal, lending_limit=lending)

    def queue(cq: ClusterQueue) -> ClusterQueue:
        if cq.name != cluster_queue:
            return cq
        groups = tuple(
            replace(
                g,
                flavors=tuple(
                    replace(f, resources=tuple(map(quota, f.resources))) if f.flavor == flavor else f
                    for f in g.flavors
                ),
            )
            for g in cq.resource_groups
        )
        return replace(cq, resource_groups=groups)

    queues = tuple(map(queue, scenario.kueue.cluster_queues))
    return replace(scenario, kueue=replace(scenario.kueue, cluster_queues=queues))
