"""Levers other than the node count: scenario changes a plan tries when more nodes will not meet a target.

Each lever is a setting the simulator models (scenario schema, ``lwssim/engine/lws/versions.py``); a lever
that cannot be simulated is not offered. ``levers_for`` lists those that would change the scenario at
hand, ``apply_lever`` makes the variant (in the worker processes, by name, so tasks stay small).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from lwssim.engine.lws.versions import VERSIONS
from lwssim.model.lws import RECREATE_GROUP_ON_POD_RESTART, RESTART_NONE, LeaderWorkerSetSpec
from lwssim.model.quantity import format_duration
from lwssim.model.scenario import Scenario
from lwssim.model.timing import Distribution, RoleTiming
from lwssim.plan.variants import with_pool_count

FORCE_DELETE_AFTER = 600.0  # seconds a node is down before its pods are force-deleted
MODEL_LOAD_FACTOR = 0.5
NEWEST_LWS = "v{}.{}.0".format(*VERSIONS[-1].minor)


@dataclass(frozen=True)
class Lever:
    name: str  # stable identifier (JSON ``levers[].lever``)
    description: str  # what changes, in words


def _scaled(d: Distribution | None, factor: float) -> Distribution | None:
    if d is None:
        return None
    return replace(d, a=d.a * factor, b=d.b if d.kind == "lognormal" else d.b * factor)


def _exclusive_level(scenario: Scenario, pool: str) -> tuple[int, str, int] | None:
    """(level index, key, size) of the pool's generated topology level that a workload is exclusive on."""
    p = scenario.cluster.pool(pool)
    keys = {w.lws.exclusive_topology for w in scenario.workloads} - {None}
    if p is None:
        return None
    return next(((i, t.key, t.size) for i, t in enumerate(p.topology) if t.key in keys), None)


def _with_lws(scenario: Scenario, change: Callable[[LeaderWorkerSetSpec], LeaderWorkerSetSpec]) -> Scenario:
    workloads = tuple(replace(w, lws=change(w.lws)) for w in scenario.workloads)
    patches = tuple(replace(p, lws=change(p.lws)) for p in scenario.patches)
    return replace(scenario, workloads=workloads, patches=patches)


def _force_delete(s: Scenario, pool: str) -> Scenario:
    return replace(s, faults=replace(s.faults, force_delete_after=FORCE_DELETE_AFTER))


def _pre_pulled(s: Scenario, pool: str) -> Scenario:
    t = s.timing
    roles = {
        role: replace(r, image_pull_cold=r.image_pull_cached or t.image_pull_cached)
        if r.image_pull_cold is not None
        else r
        for role, r in (("leader", t.leader), ("worker", t.worker))
    }
    return replace(s, timing=replace(t, image_pull_cold=t.image_pull_cached, **roles))


def _faster_load(s: Scenario, pool: str) -> Scenario:
    t = s.timing
    roles: dict[str, RoleTiming] = {
        role: replace(r, model_load=_scaled(r.model_load, MODEL_LOAD_FACTOR))
        for role, r in (("leader", t.leader), ("worker", t.worker))
    }
    return replace(s, timing=replace(t, model_load=_scaled(t.model_load, MODEL_LOAD_FACTOR), **roles))


def _restart(policy: str) -> Callable[[Scenario, str], Scenario]:
    return lambda s, pool: _with_lws(s, lambda spec: replace(spec, restart_policy=policy))


def _gang(s: Scenario, pool: str) -> Scenario:
    return replace(s, controller=replace(s.controller, gang_scheduling="volcano"))


def _newest_lws(s: Scenario, pool: str) -> Scenario:
    return replace(s, controller=replace(s.controller, lws_version=NEWEST_LWS))


def _spare_per_domain(s: Scenario, pool: str) -> Scenario:
    """One more node in every domain of the exclusive level: as many domains, each with a spare."""
    found = _exclusive_level(s, pool)
    assert found is not None
    index, _, size = found
    p = s.cluster.pool(pool)
    assert p is not None
    domains = math.ceil(p.count / size)
    topology = tuple(replace(t, size=size + 1) if i == index else t for i, t in enumerate(p.topology))
    pools = tuple(replace(q, topology=topology) if q.name == pool else q for q in s.cluster.pools)
    return with_pool_count(replace(s, cluster=replace(s.cluster, pools=pools)), pool, domains * (size + 1))


APPLY: dict[str, Callable[[Scenario, str], Scenario]] = {
    "forceDeleteStuckPods": _force_delete,
    "imagesPrePulled": _pre_pulled,
    "fasterModelLoad": _faster_load,
    "restartPolicyNone": _restart(RESTART_NONE),
    "restartPolicyRecreateGroupOnPodRestart": _restart(RECREATE_GROUP_ON_POD_RESTART),
    "sparePerDomain": _spare_per_domain,
    "gangScheduling": _gang,
    "newerLwsVersion": _newest_lws,
}


def levers_for(scenario: Scenario, pool: str) -> list[Lever]:
    """The levers that would change ``scenario`` (in APPLY's order), each with its change in words."""
    t, c, f = scenario.timing, scenario.controller, scenario.faults
    policies = {w.lws.restart_policy for w in scenario.workloads}
    node_faults = (
        f.node_failures is not None or f.domain_failures or any(x.kind == "nodeDown" for x in f.scripted)
    )
    pulls = [(t.image_pull_cold, t.image_pull_cached)] + [
        (r.image_pull_cold, r.image_pull_cached or t.image_pull_cached)
        for r in (t.leader, t.worker)
        if r.image_pull_cold is not None
    ]
    loads = [d for d in (t.model_load, t.leader.model_load, t.worker.model_load) if d is not None]
    exclusive = _exclusive_level(scenario, pool)
    offered = {
        "forceDeleteStuckPods": (
            node_faults and f.force_delete_after is None,
            f"force-delete the pods of a node down for {format_duration(FORCE_DELETE_AFTER)} (the "
            "node.kubernetes.io/out-of-service taint), so its group is recreated on other nodes",
        ),
        "imagesPrePulled": (
            any(cold != cached for cold, cached in pulls),
            "images kept on every node, spare ones included (a pre-pull DaemonSet): no cold pull",
        ),
        "fasterModelLoad": (
            any(d.mean > 0 for d in loads),
            f"model load {1 / MODEL_LOAD_FACTOR:g}× as fast (e.g. a local model cache)",
        ),
        "restartPolicyNone": (
            RECREATE_GROUP_ON_POD_RESTART in policies,
            "restartPolicy: None: a failed pod is restarted alone, its group is not recreated",
        ),
        "restartPolicyRecreateGroupOnPodRestart": (
            RESTART_NONE in policies,
            "restartPolicy: RecreateGroupOnPodRestart: a failed pod recreates its whole group",
        ),
        "sparePerDomain": (
            exclusive is not None,
            f"one spare node in every {exclusive[1]} domain ({exclusive[2]} + 1 nodes each)"
            if exclusive
            else "",
        ),
        "gangScheduling": (c.gang_scheduling == "none", "gang scheduling (Volcano): a group is placed whole"),
        "newerLwsVersion": (
            c.version_tuple[:2] < VERSIONS[-1].minor,
            f"LWS {NEWEST_LWS} instead of {c.lws_version}",
        ),
    }
    return [Lever(name, words) for name, (applies, words) in offered.items() if applies]


def apply_lever(scenario: Scenario, pool: str, name: str) -> Scenario:
    """``scenario`` (already with the candidate's count) with lever ``name`` applied."""
    return APPLY[name](scenario, pool)
