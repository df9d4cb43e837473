"""The scheduler's fast paths compute exactly what its full vectorised pass computes.

``FeasibleSet`` keeps the nodes a pod shape fits on up to date bind by bind; ``scores_at`` scores a
few candidates one node at a time. Both stand in for kube-scheduler's filter and score passes
(engine/scheduling/feasible.py, scoring.py), so they must agree with the full pass on every state.
"""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
from support import GPU, Bench, assert_same_diagnosis, lws, node, pool, run, scenario_doc, template

from lwssim.engine.scheduling import cycle, scoring
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.cache import PodShape
from lwssim.engine.scheduling.feasible import FeasibleSet
from lwssim.engine.scheduling.fiterror import Diagnosis
from lwssim.engine.scheduling.ties import TieBreak
from lwssim.model.pod import Taint, Toleration
from lwssim.timeline import POD_SCHEDULED


def _cluster(rng: np.random.Generator, n: int) -> list:
    nodes = []
    for i in range(n):
        taints = (Taint("dedicated", "x", "NoSchedule"),) if rng.random() < 0.1 else ()
        nodes.append(
            node(
                f"n{i}",
                gpus=int(rng.choice([0, 4, 8])),
                cpu=int(rng.choice([32_000, 96_000])),
                memory=int(rng.choice([2**36, 2**40])),
                pods=int(rng.choice([3, 110])),
                taints=taints,
            )
        )
    return nodes


def _shapes() -> list:
    """Pod templates of four shapes: whole node, half node, one GPU with cpu and memory, cpu only."""
    return [
        template(gpus=8),
        template(gpus=4),
        template(gpus=1, requests={GPU: 1, "cpu": 16_000, "memory": 2**35}),
        template(gpus=0, requests={"cpu": 8000}),
    ]


def _brute_force(b: Bench, static: PodShape) -> list[int]:
    """Nodes passing the static filters with every requested resource free, checked one by one."""
    nodes = b.nodes
    return [
        i
        for i in range(len(nodes))
        if static.stage[i] == 0
        and all(
            nodes.free_by_res[c, i] >= static.req[c] for c in range(len(nodes.resources)) if static.req[c] > 0
        )
    ]


@pytest.mark.parametrize("seed", range(5))
def test_feasible_set_tracks_binds_and_releases_exactly(seed: int) -> None:
    """After any sequence of binds and pod deletions, the incrementally kept set equals a fresh scan."""
    rng = np.random.default_rng(seed)
    b = Bench(_cluster(rng, 40))
    shapes = _shapes()
    bound = []
    for _ in range(300):
        tmpl = shapes[int(rng.integers(len(shapes)))]
        if bound and rng.random() < 0.4:
            b.store.remove(bound.pop(int(rng.integers(len(bound)))))
        else:
            pod = b.pod(tmpl)
            result = b.scheduler.find_node(pod)
            if isinstance(result, int):
                b.scheduler.bind(pod, result)
                bound.append(pod)
        for shape in shapes:
            probe = b.pod(shape)
            static = b.scheduler.cache.shape(probe)
            kept = b.scheduler.cache.feasible_set(static).members
            assert kept == _brute_force(b, static)
            assert kept == FeasibleSet(b.nodes, static.stage == 0, static.needs).members
            b.store.remove(probe)


@pytest.mark.parametrize("seed", range(5))
def test_a_pod_that_fits_nowhere_is_told_why_from_the_kept_counts(seed: int) -> None:
    """When nothing fits, the Diagnosis read from the feasible set's counts (nodes lacking each resource,
    nodes whose allocatable is too small) equals the full pass's, through binds, releases and nodes going
    NotReady and back: same statuses, FitError histogram, unresolvable nodes and rejecting plugins."""
    rng = np.random.default_rng(seed)
    b = Bench(_cluster(rng, 30))
    shapes = _shapes()
    unreachable = (Taint("node.kubernetes.io/unreachable", "", "NoSchedule"),)
    bound: list = []
    compared = 0
    for _ in range(200):
        roll = rng.random()
        if roll < 0.1:
            i = int(rng.integers(len(b.nodes)))
            b.nodes.set_extra_taints(i, () if b.nodes.extra_taints[i] else unreachable)
            b.scheduler.node_changed(i)
        elif bound and roll < 0.4:
            b.store.remove(bound.pop(int(rng.integers(len(bound)))))
        else:
            pod = b.pod(shapes[int(rng.integers(len(shapes)))])
            result = b.scheduler.find_node(pod)
            if isinstance(result, int):
                b.scheduler.bind(pod, result)
                bound.append(pod)
        cyc = b.scheduler.cycle
        for tmpl in shapes:
            probe = b.pod(tmpl)
            shape = cyc.cache.shape(probe)
            feasible = cyc.cache.feasible_set(shape)
            full = cyc.find_nodes_that_fit(probe, shape, inter_pod=False)
            if not feasible.members:
                assert isinstance(full, Diagnosis)
                assert_same_diagnosis(b.nodes.resources, cyc._rejected_by_fit(shape, feasible, None), full)
                compared += 1
            b.store.remove(probe)
    assert compared > 50  # the cluster fills: many probes fit nowhere


@pytest.mark.parametrize("strategy", ["LeastAllocated", "MostAllocated"])
@pytest.mark.parametrize("seed", range(4))
def test_scores_at_equals_vectorised_scores(strategy: str, seed: int) -> None:
    """Resource, balanced-allocation and image-locality scores, node by node, equal the NumPy pass."""
    rng = np.random.default_rng(seed)
    nodes = _cluster(rng, 60)
    b = Bench(nodes)
    table = b.nodes
    for col in (table.cpu_col, table.mem_col):
        table.free_by_res[col] = (table.alloc_by_res[col] * rng.random(len(nodes))).astype(np.int64)
    table.used_nz_cpu[:] = rng.integers(0, 100_000, len(nodes))
    table.used_nz_mem[:] = rng.integers(0, 2**41, len(nodes))
    table.alloc_by_res[table.cpu_col, :5] = 0  # a node without cpu leaves it out of its average
    for image, size in (("a:1", 15 * 10**9), ("b:1", 30 * 2**20), ("c:1", None)):
        for i in np.flatnonzero(rng.random(len(nodes)) < 0.3):
            table.add_image(int(i), image, size)
    candidates = sorted(int(i) for i in rng.choice(len(nodes), 20, replace=False))
    idx = np.array(candidates)
    for nonzero, cpu_mem, images, containers in (
        ((100, 200 * 2**20), (0, 0), ("a:1",), 1),
        ((16_000, 2**35), (16_000, 2**35), ("a:1", "b:1", "c:1"), 2),
        ((4000, 2**30), (4000, 0), ("zzz:1",), 1),
        ((4000, 2**30), (4000, 0), ("a:1", "b:1"), 1),
    ):
        expected = P.resource_score(table, idx, nonzero, strategy)
        balanced = P.balanced_allocation_score(table, idx, cpu_mem)
        if balanced is not None:
            expected = expected + balanced
        fit = scoring.fit_scores(table, nonzero, cpu_mem, strategy)
        assert fit[idx].tolist() == expected.tolist()
        assert [
            scoring.fit_score_at(table, i, nonzero, cpu_mem, strategy) for i in range(len(nodes))
        ] == fit.tolist()
        locality = P.image_locality_score(table, idx, images, containers)
        if locality is not None:
            expected = expected + locality
        assert scoring.scores_at(table, candidates, fit, images, containers) == expected.tolist()


def test_few_candidate_scoring_places_every_pod_where_numpy_scoring_does(monkeypatch) -> None:
    """A whole simulation with failures picks the same node for every pod either way."""
    doc = scenario_doc(
        [pool(count=24, topology=[{"key": "example.com/rack", "size": 4}])],
        [lws(replicas=5, size=4)],
        horizon="240h",
        seed=3,
    )
    doc["spec"]["faults"] = {
        "nodeFailures": {"ratePerNodeDay": 0.05, "repair": "2h"},
        "containerCrashes": {"ratePerPodDay": 0.05},
    }

    def placements() -> list[tuple[float, str, str]]:
        _, tl = run(doc)
        return [(r.t, r.subject, dict(r.data)["node"]) for r in tl.records if r.kind == POD_SCHEDULED]

    few = placements()
    monkeypatch.setattr(cycle, "FEW_CANDIDATES", 0)
    assert len(few) > 40
    assert placements() == few


def test_resource_scores_kept_per_node_equal_a_fresh_pass_after_a_run_with_failures() -> None:
    """Scores updated node by node on every bind and release equal scoring every node afresh."""
    doc = scenario_doc([pool(count=12)], [lws(replicas=2, size=4)], horizon="240h", seed=5)
    doc["spec"]["faults"] = {"containerCrashes": {"ratePerPodDay": 0.2}}
    world, _ = run(doc)
    scheduler = world.scheduler
    assert scheduler.cache.fit_scores
    for (nonzero, cpu_mem), kept in scheduler.cache.fit_scores.items():
        assert kept.tolist() == scoring.fit_scores(world.nodes, nonzero, cpu_mem, scheduler.strategy).tolist()


def test_templates_differing_only_in_labels_share_one_placement_and_pickle_without_cached_hash() -> None:
    """Every group's worker template shares one scheduler cache entry; the cached hash (salted per
    process) never travels to a plan worker process."""
    a = template(gpus=8)
    b = replace(a, labels=(("leaderworkerset.sigs.k8s.io/group-index", "7"),))
    assert a.placement is b.placement and hash(a) == hash(replace(a))
    copy = pickle.loads(pickle.dumps(b))
    assert copy == b and "_hash" not in copy.__dict__ and "placement" not in copy.__dict__


def test_tie_break_draws_what_generator_integers_draws() -> None:
    """Same stream, same numbers as ``rng.integers(k)`` for every k, rejections included."""
    ours, numpy = TieBreak(np.random.default_rng(11)), np.random.default_rng(11)
    ks = np.random.default_rng(0).integers(1, 3000, 20_000).tolist() + [2**31 + 5] * 50
    assert [ours.below(k) for k in ks] == [int(numpy.integers(k)) for k in ks]


def test_static_filters_kept_per_node_equal_a_fresh_pass_after_nodes_go_not_ready_and_return() -> None:
    """NotReady taints and repairs re-filter one node at a time; the result equals filtering afresh."""
    doc = scenario_doc([pool(count=16)], [lws(replicas=3, size=4)], horizon="96h", seed=4)
    doc["spec"]["faults"] = {"nodeFailures": {"ratePerNodeDay": 0.2, "repair": "40h"}}
    world, timeline = run(doc)
    assert any(r.kind == "NodeNotReady" for r in timeline.records)
    assert any(r.kind == "NodeUp" for r in timeline.records)
    assert world.node_lifecycle.not_ready, "some nodes are still tainted at the end"
    scheduler = world.scheduler
    pods = [p for p in world.store.list("Pod")]
    kept = {id(p.template.placement): scheduler.cache.shape(p) for p in pods}
    assert kept
    for p in pods:
        static = kept[id(p.template.placement)]
        scheduler.cache.shapes.clear()
        fresh = scheduler.cache.shape(p)
        assert static.stage.tolist() == fresh.stage.tolist()
        if static.feasible is not None:
            assert static.feasible.members == FeasibleSet(world.nodes, fresh.stage == 0, fresh.needs).members


def test_shapes_that_split_on_a_tainted_node_and_meet_again_both_stay_current() -> None:
    """Two pod shapes that differ only in tolerating the unreachable taint share a feasible set until a
    node goes NotReady, get their own sets, and have equal filters again when it returns: every set
    still in use must keep following binds."""
    nodes = [node(f"n{i}") for i in range(6)]
    b = Bench(nodes)
    tolerant = template(gpus=4, tolerations=(Toleration("node.kubernetes.io/unreachable", "Exists"),))
    plain = template(gpus=4)
    probes = [b.pod(tolerant), b.pod(plain)]
    for p in probes:
        b.scheduler.cache.feasible_set(b.scheduler.cache.shape(p))
    unreachable = (Taint("node.kubernetes.io/unreachable", "", "NoSchedule"),)
    b.nodes.set_extra_taints(2, unreachable)
    b.scheduler.node_changed(2)
    for p in probes:
        b.scheduler.cache.feasible_set(b.scheduler.cache.shape(p))
    b.nodes.set_extra_taints(2, ())
    b.scheduler.node_changed(2)
    for _ in range(6):  # binds everywhere after the shapes met again
        bound = b.pod(template(gpus=4))
        result = b.scheduler.find_node(bound)
        assert isinstance(result, int)
        b.scheduler.bind(bound, result)
    for p in probes:
        static = b.scheduler.cache.shape(p)
        kept = b.scheduler.cache.feasible_set(static).members
        assert kept == _brute_force(b, static)
