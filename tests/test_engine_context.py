"""The cluster handle every engine component is built from (engine/context.py)."""

from __future__ import annotations

from support import load, lws, pool, scenario_doc

from lwssim.engine.context import ApiCalls, Cluster
from lwssim.engine.environment import Environment
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import BACKGROUND, Pod, StatefulSet
from lwssim.engine.store import DELETED
from lwssim.engine.world import World
from lwssim.timeline import POD_DELETED, POD_DELETING, Timeline


def test_defer_runs_the_action_after_the_delay() -> None:
    env = Environment()
    cluster = Cluster(env, NodeTable([]), Timeline(horizon=10))
    seen: list[float] = []
    cluster.defer(2.5, lambda: seen.append(env.now))
    env.run(until=10)
    assert seen == [2.5]


def test_with_an_api_latency_model_each_cascade_level_takes_one_delete_latency() -> None:
    """Background deletion: the owner goes at once, its dependents one ``delete`` latency later (the
    GC's reaction, its live GET and its DELETE, measured together); creates take nothing from it."""
    env = Environment()
    api = ApiCalls(*(lambda: 9.0,) * 3, delete=lambda: 0.5)
    cluster = Cluster(env, NodeTable([]), Timeline(horizon=10), api)
    store = cluster.store
    sts = StatefulSet(kind="StatefulSet", name="llm-0", namespace="default")
    store.create(sts)
    pods = [Pod(kind="Pod", name=f"llm-0-{i}", namespace="default", owner=sts) for i in (1, 2)]
    for p in pods:
        store.create(p)
    gone: dict[str, float] = {}
    for kind in ("Pod", "StatefulSet"):
        store.watch(
            kind,
            lambda ev, o: (
                gone.setdefault(o.name if o.kind == "Pod" else "sts", env.now) if ev == DELETED else None
            ),
        )
    cluster.gc.delete(sts, BACKGROUND)
    assert gone == {"sts": 0.0}
    env.run(until=10)
    assert gone == {"sts": 0.0, "llm-0-1": 0.5, "llm-0-2": 0.5}
    deleted = [(r.kind, r.subject) for r in cluster.timeline.records]
    assert deleted == [(k, p.name) for p in pods for k in (POD_DELETING, POD_DELETED)]


def test_the_components_of_a_world_share_its_cluster() -> None:
    world = World(load(scenario_doc([pool(count=2)], [lws()])))
    cluster = world.cluster
    assert (world.env, world.store, world.gc, world.nodes, world.timeline) == (
        cluster.env,
        cluster.store,
        cluster.gc,
        cluster.nodes,
        cluster.timeline,
    )
    for component in (world.kubelets, world.statefulsets, world.node_lifecycle, world.faults):
        assert component.env is cluster.env and component.store is cluster.store
        assert component.timeline is cluster.timeline
