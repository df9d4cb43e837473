"""Garbage collector rules: foreground and background cascades (kubernetes/kubernetes v1.34.4
pkg/controller/garbagecollector/ garbagecollector.go attemptToDeleteItem, graph_builder.go
processTransitions; LWS object graph and group restart, kubernetes-sigs/lws v0.7.0
pkg/controllers/pod_controller.go)."""

from __future__ import annotations

from support import at, lws, pod, pool, run, scenario_doc, template

from lwssim.engine.context import Cluster
from lwssim.engine.environment import Environment
from lwssim.engine.gc import GarbageCollector
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import BACKGROUND, FOREGROUND, FOREGROUND_FINALIZER, Pod, StatefulSet
from lwssim.engine.store import DELETED, Store
from lwssim.timeline import Timeline


def graph(
    bound: bool, env: Environment | None = None
) -> tuple[Store, GarbageCollector, Pod, StatefulSet, list[Pod]]:
    """leader pod → worker sts → two worker pods, as LWS builds it (kubernetes-sigs/lws v0.7.0
    pkg/controllers/pod_controller.go: the worker sts is controlled by its leader pod). No API latency
    model: the garbage collector's cascades run at once."""
    cluster = Cluster(env or Environment(), NodeTable([]), Timeline(horizon=100))
    store, gc = cluster.store, cluster.gc
    leader = Pod(kind="Pod", name="llm-0", namespace="default", template=template(), node="n0")
    store.create(leader)
    sts = StatefulSet(kind="StatefulSet", name="llm-0", namespace="default", owner=leader)
    store.create(sts)
    workers = []
    for w in (1, 2):
        p = Pod(kind="Pod", name=f"llm-0-{w}", namespace="default", owner=sts, node="n1" if bound else None)
        store.create(p)
        workers.append(p)
    return store, gc, leader, sts, workers


def alive(store: Store, obj) -> bool:
    return store.get(obj.kind, obj.key) is obj


def test_foreground_owner_waits_for_blocking_dependents() -> None:
    """Foreground: the owner keeps the foregroundDeletion finalizer while dependents exist; the worker
    sts (it has dependents) is deleted in Foreground too, its pods in Background
    (garbagecollector.go:591-645)."""
    store, gc, leader, sts, workers = graph(bound=True)
    gc.delete(leader, FOREGROUND)
    leader.terminated = True  # the leader's own containers have stopped
    gc.try_finalize(leader)
    assert alive(store, leader) and FOREGROUND_FINALIZER in leader.finalizers
    assert sts.deleting and FOREGROUND_FINALIZER in sts.finalizers
    assert all(w.deleting and not w.finalizers for w in workers)
    workers[0].terminated = True
    gc.try_finalize(workers[0])
    assert not alive(store, workers[0]) and alive(store, sts) and alive(store, leader)
    workers[1].terminated = True
    gc.try_finalize(workers[1])
    assert not alive(store, sts) and not alive(store, leader)


def test_unbound_pods_are_removed_at_once() -> None:
    """Pods never bound to a node are deleted with grace 0 (pod strategy CheckGracefulDelete)."""
    store, gc, leader, sts, workers = graph(bound=False)
    gc.delete(sts, FOREGROUND)
    assert not any(alive(store, w) for w in workers)
    assert not alive(store, sts)


def test_background_cascade_removes_owner_first_then_dependents() -> None:
    """Background: the owner goes at once; the GC then deletes the orphaned dependents."""
    store, gc, leader, sts, workers = graph(bound=True)
    order: list[str] = []
    store.watch("StatefulSet", lambda ev, o: order.append(f"{o.kind}/{o.name}") if ev == DELETED else None)
    gc.delete(sts, BACKGROUND)
    assert not alive(store, sts) and order == ["StatefulSet/llm-0"]
    assert all(w.deleting and alive(store, w) for w in workers)  # kubelet still stopping them
    for w in workers:
        w.terminated = True
        gc.try_finalize(w)
    assert not any(alive(store, w) for w in workers)
    assert alive(store, leader) and not leader.deleting


def test_second_delete_changes_nothing() -> None:
    env = Environment()
    store, gc, leader, sts, workers = graph(bound=True, env=env)
    gc.delete(workers[0])
    t0 = workers[0].deletion_time
    env.run(until=5.0)
    gc.delete(workers[0], FOREGROUND)
    assert workers[0].deletion_time == t0


def test_foreground_leader_deletion_in_a_run_waits_for_worker_termination() -> None:
    """LWS group restart (pod_controller.go:201-239): the leader object is removed only after its worker
    sts and worker pods are gone, so with a 60 s worker grace period and a 10 s leader grace period it goes
    at +60 s."""
    doc = scenario_doc(
        [pool(count=3)],
        [lws(size=3, restartPolicy="None")],
        timing={
            "imagePull": {"cold": "60s"},
            "modelLoad": "100s",
            "leader": {"termination": "10s"},
            "worker": {"termination": "60s"},
        },
        horizon="640s",
    )
    gone: dict[str, float] = {}

    def setup(world) -> None:
        for kind in ("Pod", "StatefulSet"):
            world.store.watch(
                kind,
                lambda ev, o: gone.setdefault(f"{o.kind}/{o.name}", world.env.now) if ev == DELETED else None,
            )
        at(world, 500, lambda: world.gc.delete(pod(world, "llm-0"), FOREGROUND))

    run(doc, before_run=setup)
    # +60 s grace, then each kubelet's own DELETE (one drawn API latency, well under a second)
    workers = [gone["Pod/llm-0-1"], gone["Pod/llm-0-2"]]
    assert all(560.0 < t < 561.0 for t in workers)
    assert gone["StatefulSet/llm-0"] == max(workers)
    assert gone["Pod/llm-0"] == max(workers)  # not ~510: foreground waits for the blocking dependents
