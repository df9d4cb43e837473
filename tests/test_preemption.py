"""kube-scheduler's DefaultPreemption, as kubernetes/kubernetes v1.34.4 writes it.

Paths are relative to pkg/scheduler/ at tag v1.34.4. Cases named after a Go test case are that case
rebuilt here (same nodes, pods, priorities, requests, PDBs; Go's ``NodeToStatus`` as a hand-made
Diagnosis where the Go test hands one in): default_preemption_test.go is
framework/plugins/defaultpreemption/default_preemption_test.go. Priorities and resources are its own:
lowPriority 0, midPriority 100, highPriority 1000, veryHighPriority 10000, negPriority -100; smallRes
100m/100, mediumRes 200m/200, largeRes 300m/300, veryLargeRes 500m/500 (cpu/memory).
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import GPU, Bench, assert_same_diagnosis, lws, node, pool, recs, run, scenario_doc, template

from lwssim.engine.context import ApiCalls, Cluster
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod, PodDisruptionBudget
from lwssim.engine.scheduling.fiterror import (
    POST_FILTER_SUCCESS,
    POST_FILTER_UNSCHEDULABLE,
    Diagnosis,
)
from lwssim.engine.scheduling.framework import Scheduler
from lwssim.engine.scheduling.preemption import (
    Candidate,
    calculate_num_candidates,
    filter_pods_with_pdb_violation,
    pick_one_node_for_preemption,
)
from lwssim.engine.scheduling.profile import F_FIT, F_NODE_AFFINITY, F_PREFILTERED
from lwssim.engine.store import no_latency
from lwssim.kube.plan_check import scenario_on
from lwssim.model.cluster import ExistingPod
from lwssim.model.pod import LabelSelector, PodAffinityTerm, Requirement, Taint
from lwssim.model.scenario import ControllerConfig
from lwssim.timeline import (
    GROUP_RECREATED,
    POD_DELETING,
    POD_NOMINATED,
    POD_PREEMPTED,
    POD_SCHEDULED,
    POD_UNSCHEDULABLE,
    Timeline,
)

NEG, LOW, MID, HIGH, VERY_HIGH = -100, 0, 100, 1000, 10000
SMALL = {"cpu": 100, "memory": 100}
MEDIUM = {"cpu": 200, "memory": 200}
LARGE = {"cpu": 300, "memory": 300}
VERY_LARGE = {"cpu": 500, "memory": 500}
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
CLAIMS = "no new claims to deallocate"


# -- building blocks ------------------------------------------------------------------------------


def cpu_nodes(names: list[str], res: dict[str, int] | None = None, pods: int = 110, **kw) -> list:
    """Nodes with only cpu/memory (st.MakeNode().Capacity(res)); ``res=None``: onePodRes (pods only)."""
    res = res or {"cpu": 0, "memory": 0}
    return [node(n, gpus=0, cpu=res["cpu"], memory=res["memory"], pods=pods, **kw) for n in names]


def put(
    b: Bench,
    name: str,
    priority: int,
    on: str | None = None,
    req: dict[str, int] | None = None,
    start: float = 0.0,
    labels: dict[str, str] | None = None,
    policy: str = "PreemptLowerPriority",
    anti: tuple[PodAffinityTerm, ...] = (),
) -> Pod:
    """st.MakePod(): a pod of ``priority`` requesting ``req``, bound to ``on`` (started at ``start``) or
    pending."""
    tmpl = template(requests=dict(req or {}), priority=priority, preemption_policy=policy)
    pod = Pod(
        kind="Pod",
        name=name,
        namespace="default",
        labels=dict(labels or {}),
        template=tmpl,
        node=on,
        anti_affinity=anti,
        scheduled_at=start if on is not None else None,
    )
    assert b.store.create(pod)
    return pod


def pdb(b: Bench, name: str, match: dict[str, str], allowed: int) -> PodDisruptionBudget:
    """A PodDisruptionBudget whose status the disruption controller would keep (set directly here)."""
    budget = PodDisruptionBudget(
        kind="PodDisruptionBudget",
        name=name,
        namespace="default",
        selector=LabelSelector(match_labels=tuple(sorted(match.items()))),
        disruptions_allowed=allowed,
    )
    assert b.store.create(budget)
    return budget


def statuses(b: Bench, codes: dict[str, int]) -> Diagnosis:
    """Go's filteredNodesStatuses: F_FIT for Unschedulable (no reason), F_NODE_AFFINITY for
    UnschedulableAndUnresolvable, nodes not named absent (F_PREFILTERED: UnschedulableAndUnresolvable)."""
    n = len(b.nodes)
    stage = np.full(n, F_PREFILTERED, dtype=np.int8)
    for name, code in codes.items():
        stage[b.nodes.index[name]] = code
    return Diagnosis(stage, {}, np.zeros(n, dtype=bool), [])


def popped(b: Bench, *pods: Pod) -> None:
    """Take pending pods out of the scheduling queue, as its loop pops them, so that a test runs their
    scheduling cycles itself."""
    for pod in pods:
        b.scheduler.queue.forget(pod)


def all_unschedulable(b: Bench) -> Diagnosis:
    return statuses(b, {name: F_FIT for name in b.nodes.names})


def post_filter(b: Bench, pod: Pod, diagnosis: Diagnosis):
    return b.scheduler.preemption.post_filter(pod, diagnosis)


def dry_run(b: Bench, pod: Pod, offset: int = 0, pct: int = 10, absolute: int = 100) -> list[tuple]:
    """DryRunPreemption over every node (as TestDryRunPreemption calls it), candidates and their
    victims sorted by name as the Go test sorts them."""
    pre = b.scheduler.preemption
    n = len(b.nodes)
    found, _, _ = pre.dry_run(pod, list(range(n)), offset, calculate_num_candidates(n, pct, absolute))
    return sorted((b.nodes.names[c.node], sorted(v.name for v in c.victims), c.pdb_violations) for c in found)


def select(b: Bench, pod: Pod) -> str:
    pre = b.scheduler.preemption
    n = len(b.nodes)
    found, _, _ = pre.dry_run(pod, list(range(n)), 0, calculate_num_candidates(n))
    best = found[0] if len(found) == 1 else pick_one_node_for_preemption(found)
    return b.nodes.names[best.node]


# -- TestPostFilter (default_preemption_test.go) --------------------------------------------------


def test_higher_priority_pod_is_made_schedulable() -> None:
    """TestPostFilter "pod with higher priority can be made schedulable": Success, node1 nominated."""
    b = Bench(cpu_nodes(["node1"], pods=1))
    put(b, "p1", LOW, "node1")
    p = put(b, "p", HIGH)
    code, message, result = post_filter(b, p, statuses(b, {"node1": F_FIT}))
    assert (code, message) == (POST_FILTER_SUCCESS, "")
    assert result is not None and result.nominated_node == "node1"
    assert [v.name for v in result.victims] == ["p1"]


def test_tied_priority_is_still_unschedulable() -> None:
    """TestPostFilter "pod with tied priority is still unschedulable": the nomination is cleared."""
    b = Bench(cpu_nodes(["node1"], pods=1))
    put(b, "p1", LOW, "node1")
    p = put(b, "p", LOW)
    code, message, result = post_filter(b, p, statuses(b, {"node1": F_FIT}))
    assert code == POST_FILTER_UNSCHEDULABLE
    assert message == f"preemption: 0/1 nodes are available: 1 {NO_VICTIMS}."
    assert result is not None and result.nominated_node == "" and not result.victims


@pytest.mark.parametrize("codes", [{"node1": F_NODE_AFFINITY}, {}], ids=["unresolvable", "absent"])
def test_preemption_respects_unresolvable_and_absent_statuses(codes: dict[str, int]) -> None:
    """TestPostFilter "preemption should respect filteredNodesStatuses" and "... absent NodeToStatusMap
    entry meaning UnschedulableAndUnresolvable" (nodesWherePreemptionMightHelp)."""
    b = Bench(cpu_nodes(["node1"], pods=1))
    put(b, "p1", LOW, "node1")
    p = put(b, "p", HIGH)
    code, message, result = post_filter(b, p, statuses(b, codes))
    assert code == POST_FILTER_UNSCHEDULABLE
    assert message == f"preemption: 0/1 nodes are available: 1 {NOT_HELPFUL}."
    assert result is not None and result.nominated_node == ""


def test_made_schedulable_on_the_node_with_a_lower_priority_pod() -> None:
    """TestPostFilter "pod can be made schedulable on one node"."""
    b = Bench(cpu_nodes(["node1", "node2"], pods=1))
    put(b, "p1", HIGH, "node1")
    put(b, "p2", LOW, "node2")
    p = put(b, "p", MID)
    _, _, result = post_filter(b, p, all_unschedulable(b))
    assert result is not None and result.nominated_node == "node2"


def test_min_highest_priority_node_wins_at_equal_pdb_violations() -> None:
    """TestPostFilter "pod can be made schedulable on minHighestPriority node": one PDB violation on
    each node; node2's highest victim (mid) is lower than node1's (high)."""
    b = Bench(cpu_nodes(["node1", "node2"], pods=1))
    key = "test.kubernetes.io/is-violating-pdb"
    put(b, "p1", HIGH, "node1", labels={key: "non-violating"})
    put(b, "p2", LOW, "node1", labels={key: "violating"})
    put(b, "p3", MID, "node2", labels={key: "violating"})
    pdb(b, "violating-pdb", {key: "violating"}, 0)  # MinAvailable 100%
    pdb(b, "non-violating-pdb", {key: "non-violating"}, 2**31 - 1)
    p = put(b, "p", VERY_HIGH)
    assert dry_run(b, p) == [("node1", ["p1", "p2"], 1), ("node2", ["p3"], 1)]
    _, _, result = post_filter(b, p, all_unschedulable(b))
    assert result is not None and result.nominated_node == "node2"


def test_no_candidate_when_removing_every_victim_is_not_enough() -> None:
    """TestPostFilter "no candidate nodes found, no enough resource after removing low priority pods"."""
    b = Bench(cpu_nodes(["node1", "node2"], {"cpu": 200, "memory": 400}))
    put(b, "p1", LOW, "node1")
    put(b, "p2", LOW, "node2")
    p = put(b, "p", HIGH, req=LARGE)
    code, message, result = post_filter(b, p, all_unschedulable(b))
    assert code == POST_FILTER_UNSCHEDULABLE
    assert message == "preemption: 0/2 nodes are available: 2 Insufficient cpu."
    assert result is not None and result.nominated_node == ""


def test_no_candidate_with_mixed_reasons() -> None:
    """TestPostFilter "no candidate nodes found with mixed reasons, no lower priority pod and no enough
    CPU resource"."""
    nodes = cpu_nodes(["node1"], pods=1)
    nodes += cpu_nodes(["node2"], {"cpu": 200, "memory": 400})
    nodes += cpu_nodes(["node3"], pods=1)
    b = Bench(nodes)
    put(b, "p1", HIGH, "node1")
    put(b, "p2", LOW, "node2")
    put(b, "p3", HIGH, "node3")
    p = put(b, "p", HIGH, req=LARGE)
    _, message, _ = post_filter(b, p, all_unschedulable(b))
    assert message == f"preemption: 0/3 nodes are available: 1 Insufficient cpu, 2 {NO_VICTIMS}."


def test_no_candidate_with_unresolvable_and_absent_nodes() -> None:
    """TestPostFilter "no candidate nodes found with mixed reason, 2 UnschedulableAndUnresolvable nodes and
    2 nodes don't have enough CPU resource": node3 absent, node4 unresolvable."""
    b = Bench(cpu_nodes(["node1", "node2", "node3", "node4"], {"cpu": 200, "memory": 400}))
    put(b, "p1", LOW, "node1")
    put(b, "p2", LOW, "node2")
    p = put(b, "p", HIGH, req=LARGE)
    diagnosis = statuses(b, {"node1": F_FIT, "node2": F_FIT, "node4": F_NODE_AFFINITY})
    _, message, _ = post_filter(b, p, diagnosis)
    assert message == f"preemption: 0/4 nodes are available: 2 Insufficient cpu, 2 {NOT_HELPFUL}."


# -- TestDryRunPreemption (default_preemption_test.go): SelectVictimsOnNode ------------------------


def test_fits_on_both_nodes_when_lower_priority_pods_are_preempted() -> None:
    """TestDryRunPreemption "a pod that fits on both nodes when lower priority pods are preempted"."""
    b = Bench(cpu_nodes(["node1", "node2"], VERY_LARGE))
    put(b, "p1", MID, "node1", LARGE)
    put(b, "p2", MID, "node2", LARGE)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p) == [("node1", ["p1"], 0), ("node2", ["p2"], 0)]


def test_no_victims_when_running_pods_have_higher_priority() -> None:
    """TestDryRunPreemption "a pod that would fit on the nodes, but other pods running are higher
    priority, no preemption would happen"."""
    b = Bench(cpu_nodes(["node1", "node2"], VERY_LARGE))
    put(b, "p1", MID, "node1", LARGE)
    put(b, "p2", MID, "node2", LARGE)
    p = put(b, "p", LOW, req=LARGE)
    assert dry_run(b, p) == []


def test_small_lower_priority_pod_is_reprieved() -> None:
    """TestDryRunPreemption "medium priority pod is preempted, but lower priority one stays as it is
    small"."""
    b = Bench(cpu_nodes(["node1", "node2"], VERY_LARGE))
    put(b, "p1.1", LOW, "node1", SMALL)
    put(b, "p1.2", MID, "node1", LARGE)
    put(b, "p2", MID, "node2", LARGE)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p) == [("node1", ["p1.2"], 0), ("node2", ["p2"], 0)]


def test_mixed_priority_pods_are_preempted() -> None:
    """TestDryRunPreemption "mixed priority pods are preempted"."""
    b = Bench(cpu_nodes(["node1", "node2"], VERY_LARGE))
    put(b, "p1.1", MID, "node1", SMALL)
    put(b, "p1.2", LOW, "node1", SMALL)
    put(b, "p1.3", MID, "node1", MEDIUM)
    put(b, "p1.4", HIGH, "node1", SMALL)
    put(b, "p2", HIGH, "node2", LARGE)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p) == [("node1", ["p1.2", "p1.3"], 0)]


def test_equal_priority_the_later_started_pod_is_the_victim() -> None:
    """TestDryRunPreemption "mixed priority pods are preempted, pick later StartTime one when priorities
    are equal" (MoreImportantPod: the older pod is more important, so it is reprieved first)."""
    b = Bench(cpu_nodes(["node1", "node2"], VERY_LARGE))
    put(b, "p1.1", LOW, "node1", SMALL, start=5)
    put(b, "p1.2", LOW, "node1", SMALL, start=4)
    put(b, "p1.3", MID, "node1", MEDIUM, start=3)
    put(b, "p1.4", HIGH, "node1", SMALL, start=2)
    put(b, "p2", HIGH, "node2", LARGE, start=1)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p) == [("node1", ["p1.1", "p1.3"], 0)]


def test_pod_with_anti_affinity_to_the_preemptor_is_preempted() -> None:
    """TestDryRunPreemption "pod with anti-affinity is preempted": InterPodAffinity's existing-pod
    anti-affinity is re-evaluated with the victims removed and reprieved."""
    host = [("hostname", "node1")], [("hostname", "node2")]
    nodes = [
        node(n, gpus=0, cpu=500, memory=500, labels=tuple(h))
        for n, h in zip(["node1", "node2"], host, strict=True)
    ]
    b = Bench(nodes)
    foo = PodAffinityTerm(LabelSelector(match_expressions=(Requirement("foo", "Exists", ()),)), "hostname")
    put(b, "p1.1", LOW, "node1", SMALL, labels={"foo": ""}, anti=(foo,))
    put(b, "p1.2", MID, "node1", SMALL)
    put(b, "p1.3", HIGH, "node1", SMALL)
    put(b, "p2", HIGH, "node2", SMALL)
    p = put(b, "p", HIGH, req=SMALL, labels={"foo": ""})
    assert dry_run(b, p) == [("node1", ["p1.1"], 0)]


def test_victims_violating_the_same_pdb() -> None:
    """TestDryRunPreemption "preemption with violation of same pdb": the budget allows one of the two."""
    b = Bench(cpu_nodes(["node1"], VERY_LARGE))
    put(b, "p1.1", MID, "node1", MEDIUM, labels={"app": "foo"})
    put(b, "p1.2", MID, "node1", MEDIUM, labels={"app": "foo"})
    pdb(b, "foo", {"app": "foo"}, 1)
    p = put(b, "p", HIGH, req=VERY_LARGE)
    assert dry_run(b, p) == [("node1", ["p1.1", "p1.2"], 1)]


def test_candidates_limited_by_the_arguments() -> None:
    """TestDryRunPreemption "all nodes are possible candidates, but DefaultPreemptionArgs limits to 2"
    (40 %, 1; offset 4, as rand.NewSource(4) draws it): node5 then node1, and stop."""
    names = [f"node{i}" for i in range(1, 6)]
    b = Bench(cpu_nodes(names, VERY_LARGE))
    for i, n in enumerate(names, 1):
        put(b, f"p{i}", MID, n, LARGE)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p, offset=4, pct=40, absolute=1) == [("node1", ["p1"], 0), ("node5", ["p5"], 0)]


def test_nodes_without_victims_are_passed_over_towards_the_limit() -> None:
    """TestDryRunPreemption "some nodes are not possible candidates, DefaultPreemptionArgs limits to 2"."""
    names = [f"node{i}" for i in range(1, 6)]
    b = Bench(cpu_nodes(names, VERY_LARGE))
    for i, (n, prio) in enumerate(zip(names, [MID, VERY_HIGH, MID, MID, VERY_HIGH], strict=True), 1):
        put(b, f"p{i}", prio, n, LARGE)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p, offset=4, pct=40, absolute=1) == [("node1", ["p1"], 0), ("node3", ["p3"], 0)]


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(4, ["node1", "node5"]), (1, ["node2", "node3"]), (3, ["node4", "node5"])],
    ids=["cycle0", "cycle1", "cycle2"],
)
def test_offset_wraps_around(offset: int, expected: list[str]) -> None:
    """TestDryRunPreemption "preemption offset across multiple scheduling cycles and wrap around"
    (rand.NewSource(4) draws 4, 1, 3)."""
    names = [f"node{i}" for i in range(1, 6)]
    b = Bench(cpu_nodes(names, VERY_LARGE))
    for i, n in enumerate(names, 1):
        put(b, f"p{i}", MID, n, LARGE)
    p = put(b, "tp", HIGH, req=LARGE)
    assert [c[0] for c in dry_run(b, p, offset=offset, pct=40, absolute=1)] == expected


def test_dry_run_looks_past_the_limit_for_a_node_violating_no_pdb() -> None:
    """TestDryRunPreemption "preemption looks past numCandidates until a non-PDB violating node is found":
    node5, node1 violate (node2 would too, but the violating list is full), node3 does not."""
    names = [f"node{i}" for i in range(1, 6)]
    b = Bench(cpu_nodes(names, VERY_LARGE))
    for i, n in enumerate(names, 1):
        put(b, f"p{i}", MID, n, LARGE, labels={"app": "foo"} if i in (1, 2, 5) else {})
    pdb(b, "foo", {"app": "foo"}, 0)
    p = put(b, "p", HIGH, req=LARGE)
    assert dry_run(b, p, offset=4, pct=40, absolute=2) == [
        ("node1", ["p1"], 1),
        ("node3", ["p3"], 0),
        ("node5", ["p5"], 1),
    ]


def test_a_pdb_violating_victim_is_reprieved_before_a_more_important_one() -> None:
    """SelectVictimsOnNode reprieves PDB-violating victims first, so a PDB can change which pod goes:
    without it the less important pod (a) is the victim; with a's budget spent, b goes instead."""
    for guarded, expected in ((False, "a"), (True, "b")):
        b = Bench([node("n0", gpus=8)])
        put(b, "a", 1, "n0", {GPU: 4}, labels={"app": "a"})
        put(b, "b", 2, "n0", {GPU: 4})
        if guarded:
            pdb(b, "a", {"app": "a"}, 0)
        p = put(b, "p", 10, req={GPU: 4})
        assert dry_run(b, p) == [("n0", [expected], 0)]


def test_pdb_selection_rules() -> None:
    """filterPodsWithPDBViolation: the PDB's namespace, a non-empty selector, the pod's labels; each
    match spends one disruption, in the given order."""
    b = Bench([node("n0")])
    pods = [put(b, f"q{i}", 0, "n0", labels={"app": "x"}) for i in range(3)] + [put(b, "bare", 0, "n0")]
    pdb(b, "x", {"app": "x"}, 2)
    empty = PodDisruptionBudget(kind="PodDisruptionBudget", name="all", namespace="default")
    elsewhere = PodDisruptionBudget(
        kind="PodDisruptionBudget", name="x", namespace="other", selector=LabelSelector((("app", "x"),))
    )
    budgets = [o for o in b.store.list("PodDisruptionBudget")] + [empty, elsewhere]
    violating, fine = filter_pods_with_pdb_violation(pods, budgets)  # type: ignore[arg-type]
    assert [p.name for p in violating] == ["q2"]
    assert [p.name for p in fine] == ["q0", "q1", "bare"]


# -- TestSelectBestCandidate (default_preemption_test.go): pickOneNodeForPreemption --------------


def _select_case(pods: list[tuple[str, int, dict[str, int], float]], preemptor: int = HIGH) -> str:
    names = sorted({f"node{p[0][1]}" for p in pods})
    b = Bench(cpu_nodes(names, VERY_LARGE))
    for name, prio, req, start in pods:
        put(b, name, prio, f"node{name[1]}", req, start=start)
    return select(b, put(b, "p", preemptor, req=VERY_LARGE))


def test_node_with_min_highest_priority_pod_is_picked() -> None:
    """TestSelectBestCandidate "node with min highest priority pod is picked"."""
    pods = [
        ("p1.1", MID, MEDIUM, 0),
        ("p1.2", MID, LARGE, 0),
        ("p2.1", MID, MEDIUM, 0),
        ("p2.2", LOW, MEDIUM, 0),
        ("p3.1", LOW, MEDIUM, 0),
        ("p3.2", LOW, MEDIUM, 0),
    ]
    assert _select_case(pods) == "node3"


def test_min_sum_of_priorities_when_highest_priorities_tie() -> None:
    """TestSelectBestCandidate "when highest priorities are the same, minimum sum of priorities is
    picked"."""
    pods = [
        ("p1.1", MID, MEDIUM, 0),
        ("p1.2", MID, LARGE, 0),
        ("p2.1", MID, LARGE, 0),
        ("p2.2", LOW, MEDIUM, 0),
        ("p3.1", MID, MEDIUM, 0),
        ("p3.2", MID, MEDIUM, 0),
    ]
    assert _select_case(pods) == "node2"


def test_fewest_victims_when_highest_priority_and_sum_tie() -> None:
    """TestSelectBestCandidate "when highest priority and sum are the same, minimum number of pods is
    picked"."""
    pods = [
        ("p1.1", MID, SMALL, 0),
        ("p1.2", NEG, SMALL, 0),
        ("p1.3", MID, SMALL, 0),
        ("p1.4", NEG, SMALL, 0),
        ("p2.1", MID, LARGE, 0),
        ("p2.2", NEG, MEDIUM, 0),
        ("p3.1", MID, MEDIUM, 0),
        ("p3.2", NEG, SMALL, 0),
        ("p3.3", LOW, SMALL, 0),
    ]
    assert _select_case(pods) == "node2"


def test_sum_of_adjusted_priorities() -> None:
    """TestSelectBestCandidate "sum of adjusted priorities is considered" (each priority + MaxInt32 + 1:
    two negative-priority victims do not beat one)."""
    pods = [
        ("p1.1", MID, SMALL, 0),
        ("p1.2", NEG, SMALL, 0),
        ("p1.3", NEG, SMALL, 0),
        ("p2.1", MID, LARGE, 0),
        ("p2.2", NEG, MEDIUM, 0),
        ("p3.1", MID, MEDIUM, 0),
        ("p3.2", NEG, SMALL, 0),
        ("p3.3", LOW, SMALL, 0),
    ]
    assert _select_case(pods) == "node2"


def test_non_overlapping_lowest_high_priority_sum_and_count() -> None:
    """TestSelectBestCandidate "non-overlapping lowest high priority, sum priorities, and number of
    pods"."""
    pods = [
        ("p1.1", MID, SMALL, 0),
        ("p1.2", LOW, SMALL, 0),
        ("p1.3", LOW, SMALL, 0),
        ("p2.1", HIGH, LARGE, 0),
        ("p3.1", MID, MEDIUM, 0),
        ("p3.2", LOW, SMALL, 0),
        ("p3.3", LOW, SMALL, 0),
        ("p3.4", LOW, MEDIUM, 0),
        ("p4.1", MID, MEDIUM, 0),
        ("p4.2", MID, SMALL, 0),
        ("p4.3", MID, SMALL, 0),
        ("p4.4", NEG, SMALL, 0),
    ]
    assert _select_case(pods, VERY_HIGH) == "node1"


@pytest.mark.parametrize(
    ("starts", "expected"),
    [((2, 2, 3, 3, 1, 1), "node2"), ((4, 2, 5, 1, 3, 6), "node3")],
    ids=["per-node start", "per-pod start"],
)
def test_latest_start_of_the_highest_priority_victims(starts: tuple, expected: str) -> None:
    """TestSelectBestCandidate "same priority, same number of victims, different start time for each
    node's pod" and "... for all pods": the node whose earliest highest-priority victim started last."""
    names = ["p1.1", "p1.2", "p2.1", "p2.2", "p3.1", "p3.2"]
    assert _select_case([(n, MID, MEDIUM, s) for n, s in zip(names, starts, strict=True)]) == expected


def test_latest_start_counts_only_the_highest_priority_victims() -> None:
    """TestSelectBestCandidate "different priority, same number of victims, different start time for all
    pods"."""
    pods = [
        ("p1.1", LOW, MEDIUM, 4),
        ("p1.2", MID, MEDIUM, 2),
        ("p2.1", MID, MEDIUM, 6),
        ("p2.2", LOW, MEDIUM, 1),
        ("p3.1", LOW, MEDIUM, 3),
        ("p3.2", MID, MEDIUM, 5),
    ]
    assert _select_case(pods) == "node2"


def test_pick_one_node_order_of_rules() -> None:
    """pickOneNodeForPreemption's rules in precedence order, each deciding between two candidates that
    tie on every rule before it; the first candidate wins a full tie."""
    b = Bench([node("n0"), node("n1")])

    def v(name: str, prio: int, start: float = 0.0) -> Pod:
        return put(b, name, prio, "n0", start=start)

    def pick(x: list[Pod], xv: int, y: list[Pod], yv: int) -> int:
        return pick_one_node_for_preemption([Candidate(0, x, xv), Candidate(1, y, yv)]).node

    assert pick([v("a", 5)], 1, [v("b", 9)], 0) == 1  # fewest PDB violations first
    assert pick([v("c", 9)], 0, [v("d", 5)], 0) == 1  # then the lowest highest priority
    assert pick([v("e", 5), v("f", 4)], 0, [v("g", 5), v("h", 3)], 0) == 1  # then the smallest sum
    # then the fewest victims: equal sums once each priority counts + 2^31 (5 - 2^31 + 2*2^31 = 5 + 2^31)
    assert pick([v("i", 5), v("j", -(2**31))], 0, [v("l", 5)], 0) == 1
    assert pick([v("n", 5, 1.0)], 0, [v("o", 5, 2.0)], 0) == 1  # then the latest start
    assert pick([v("p", 5, 2.0)], 0, [v("q", 5, 2.0)], 0) == 0  # then the first


def test_num_candidates() -> None:
    """calculateNumCandidates with the default DefaultPreemptionArgs (10 %, 100)."""
    assert [calculate_num_candidates(n) for n in (5, 100, 999, 1000, 5000)] == [5, 100, 100, 100, 500]


# -- TestPodEligibleToPreemptOthers (default_preemption_test.go) ----------------------------------


def _terminating(pod: Pod, by_preemption: bool) -> None:
    pod.deletion_time = 0.0
    if by_preemption:
        pod.preempted_by = "someone"


@pytest.mark.parametrize(
    ("case", "nominated", "victim", "status", "expected"),
    [
        ("Pod with nominated node", True, "terminating", F_NODE_AFFINITY, True),
        ("Pod without nominated node", False, None, None, True),
        (
            "preemption victim pod terminating, as indicated by the dedicated DisruptionTarget condition",
            True,
            "preempted",
            None,
            False,
        ),
        ("non-victim Pods terminating", True, "terminating", None, True),
        # podTerminatingByPreemption needs the deletionTimestamp too: DisruptionTarget alone (its DELETE
        # not sent yet) does not hold the preemptor back
        ("DisruptionTarget set, DELETE not yet sent", True, "patched", None, True),
        ("a higher-priority pod preempted on the nominated node", True, "preempted-high", None, True),
    ],
)
def test_eligible_to_preempt_others(case: str, nominated: bool, victim: str | None, status, expected) -> None:
    """TestPodEligibleToPreemptOthers (the first four cases): a pod whose nominated node still holds a
    lower-priority pod the scheduler preempted waits, unless that node became UnschedulableAndUnresolvable."""
    b = Bench(cpu_nodes(["node1"], VERY_LARGE))
    if victim == "patched":
        put(b, "p1", LOW, "node1").preempted_by = "someone"
    elif victim is not None:
        other = put(b, "p1", VERY_HIGH if victim == "preempted-high" else LOW, "node1")
        _terminating(other, victim.startswith("preempted"))
    p = put(b, "p", HIGH)
    if nominated:
        p.nominated_node = "node1"
    diagnosis = statuses(b, {"node1": status if status is not None else F_FIT})
    assert b.scheduler.preemption.eligible_to_preempt_others(p, diagnosis)[0] is expected


def test_preempt_never_is_not_eligible() -> None:
    """TestPodEligibleToPreemptOthers "Pod with 'PreemptNever' preemption policy"."""
    b = Bench(cpu_nodes(["node1"], VERY_LARGE))
    p = put(b, "p", HIGH, policy="Never")
    assert b.scheduler.preemption.eligible_to_preempt_others(p, all_unschedulable(b)) == (
        False,
        "not eligible due to preemptionPolicy=Never.",
    )


# -- the whole FailedScheduling message (schedule_one.go, framework/types.go FitError.Error) ------


def _gpu_bench(n: int = 2, low: int = 0) -> tuple[Bench, list[Pod]]:
    b = Bench([node(f"n{i}") for i in range(n)])
    return b, [put(b, f"low{i}", low, f"n{i}", {GPU: 8}) for i in range(n)]


def test_message_when_preemption_nominates_has_no_postfilter_part() -> None:
    """DefaultPreemption's Success returns from RunPostFilterPlugins at once: PostFilterMsg is empty, the
    FailedScheduling message is the filters' sentence alone."""
    b, _ = _gpu_bench()
    hi = put(b, "hi", 10, req={GPU: 8})
    message, _, result = b.scheduler.find_node(hi)  # type: ignore[misc]
    assert message == f"0/2 nodes are available: 2 Insufficient {GPU}."
    assert result is not None and result.nominated_node in ("n0", "n1") and len(result.victims) == 1


def test_message_for_preempt_never() -> None:
    b, _ = _gpu_bench()
    hi = put(b, "hi", 10, req={GPU: 8}, policy="Never")
    message, _, result = b.scheduler.find_node(hi)  # type: ignore[misc]
    assert message == (
        f"0/2 nodes are available: 2 Insufficient {GPU}. {CLAIMS}, "
        "preemption: not eligible due to preemptionPolicy=Never."
    )
    assert result is None  # the nomination is left as it is


def test_message_while_victims_terminate_on_the_nominated_node() -> None:
    b, low = _gpu_bench()
    hi = put(b, "hi", 10, req={GPU: 8})
    hi.nominated_node = "n1"
    _terminating(low[1], by_preemption=True)
    message, _, result = b.scheduler.find_node(hi)  # type: ignore[misc]
    assert message == (
        f"0/2 nodes are available: 2 Insufficient {GPU}. {CLAIMS}, "
        "preemption: not eligible due to a terminating pod on the nominated node."
    )
    assert result is None


def test_message_when_victims_would_not_be_enough() -> None:
    """The dry run's own FitError: the filters' reasons on the nodes it tried (n0: only 4 GPUs would be
    freed), "not helpful" on the others (n1 has 4 GPUs in all: unresolvable)."""
    b = Bench([node("n0"), node("n1", gpus=4)])
    put(b, "low0", 5, "n0", {GPU: 4})
    put(b, "high0", 20, "n0", {GPU: 4})
    put(b, "low1", 5, "n1", {GPU: 4})
    hi = put(b, "hi", 10, req={GPU: 8})
    message, _, result = b.scheduler.find_node(hi)  # type: ignore[misc]
    assert message == (
        f"0/2 nodes are available: 2 Insufficient {GPU}. "
        f"{CLAIMS}, preemption: 0/2 nodes are available: 1 Insufficient {GPU}, 1 {NOT_HELPFUL}."
    )
    assert result is not None and result.nominated_node == ""


# -- nominations: addGENominatedPods, evaluateNominatedNode, clearing ----------------------------


def test_lower_priority_pod_does_not_take_the_nominated_nodes_freed_gpus() -> None:
    """The preemptor is nominated; once its victim is gone, a pending pod of lower (or equal) priority
    still sees the node's GPUs as used (RunFilterPluginsWithNominatedPods), a higher one does not; the
    preemptor itself lands there, its nominated node tried first."""
    b, low = _gpu_bench()
    hi = put(b, "hi", 10, req={GPU: 8})
    popped(b, hi)
    b.scheduler.schedule_one(hi, 0.0)
    target = hi.nominated_node
    assert target is not None
    victim = next(p for p in low if p.node == target)
    b.env.run(until=1)  # the preemption's patch and DELETE (no API latency here)
    assert victim.preempted_by == "hi" and victim.deleting
    b.store.remove(victim)  # the kubelet stopped it: the object is gone, its GPUs free
    assert b.nodes.free_by_res[b.nodes.res_index[GPU]][b.nodes.index[target]] == 8
    for prio in (0, 10):
        message = b.message(template(gpus=8, priority=prio))
        assert message.startswith(f"0/2 nodes are available: 2 Insufficient {GPU}."), prio
    assert b.place(template(gpus=8, priority=11)) == target
    assert b.scheduler.find_node(hi) == b.nodes.index[target]


def test_nominated_node_is_evaluated_first() -> None:
    """evaluateNominatedNode: a nominated pod that fits its nominated node goes there, whatever the
    scores and the rotating start index say."""
    b = Bench([node(f"n{i}") for i in range(4)])
    for i in range(3):
        put(b, f"busy{i}", 0, f"n{i}", {GPU: 4})
    # n3 is empty: LeastAllocated prefers it; n1 is the pod's nominated node
    p = put(b, "p", 0, req={GPU: 4})
    assert b.scheduler.find_node(p) == 3
    p.nominated_node = "n1"
    assert b.scheduler.find_node(p) == 1


def _hosts(n: int = 2) -> Bench:
    return Bench([node(f"n{i}", labels=(("kubernetes.io/hostname", f"n{i}"),)) for i in range(n)])


def _term(app: str) -> PodAffinityTerm:
    return PodAffinityTerm(LabelSelector((("app", app),)), "kubernetes.io/hostname")


@pytest.mark.parametrize(("waiting", "avoids"), [(10, True), (5, True), (1, False)])
def test_nominated_pods_count_for_anti_affinity(waiting: int, avoids: bool) -> None:
    """addGENominatedPods also updates InterPodAffinity's state: a pod nominated to n0 with at least the
    incoming pod's priority keeps off it a pod with anti-affinity to it, and a pod its own anti-affinity
    rejects; a lower-priority nomination does not count."""
    for own_term in (True, False):
        b = _hosts()
        put(b, "full", 99, "n1", {GPU: 8})  # only n0 has room
        w = put(b, "w", waiting, req={GPU: 1}, labels={"app": "w"}, anti=() if own_term else (_term("p"),))
        b.scheduler.nominate(w, "n0")
        p = put(b, "p", 5, req={GPU: 1}, labels={"app": "p"}, anti=(_term("w"),) if own_term else ())
        result = b.scheduler.find_node(p)
        if avoids:
            rule = (
                "match pod anti-affinity rules" if own_term else "satisfy existing pods anti-affinity rules"
            )
            assert not isinstance(result, int) and f"1 node(s) didn't {rule}" in result[0], result
        else:
            assert result == 0


def test_affinity_to_a_nominated_pod_must_hold_without_it_too() -> None:
    """RunFilterPluginsWithNominatedPods requires both passes: required affinity to a pod that is only
    nominated (not running) fails, with it (pass one) passing and without it (pass two) failing."""
    b = _hosts()
    w = put(b, "w", 10, req={GPU: 1}, labels={"app": "w"})
    b.scheduler.nominate(w, "n0")
    p = Pod(
        kind="Pod",
        name="p",
        namespace="default",
        labels={"app": "p"},
        template=template(gpus=1, priority=5),
        affinity=(_term("w"),),
    )
    assert b.store.create(p)
    message = b.scheduler.find_node(p)[0]  # type: ignore[index]
    assert message.startswith("0/2 nodes are available: 2 node(s) didn't match pod affinity rules."), message


def test_lower_priority_nominations_on_the_node_are_cleared() -> None:
    """prepareCandidateAsync clears the nominatedNodeName of lower-priority pods nominated to the chosen
    node (getLowerPriorityNominatedPods); a higher-priority nomination elsewhere stays."""
    b = Bench([node("n0"), node("n1")])
    put(b, "top", 100, "n0", {GPU: 8})
    put(b, "low", 0, "n1", {GPU: 8})
    mid = put(b, "mid", 5, req={GPU: 8})
    b.scheduler.nominate(mid, "n1")
    other = put(b, "other", 50, req={GPU: 8})
    b.scheduler.nominate(other, "n0")
    hi = put(b, "hi", 10, req={GPU: 8})
    popped(b, mid, other, hi)
    b.scheduler.schedule_one(hi, 0.0)
    assert hi.nominated_node == "n1"
    b.env.run(until=1)
    assert mid.nominated_node is None and b.scheduler.nominator.node_of(mid) is None
    assert other.nominated_node == "n0" and b.scheduler.nominator.node_of(other) == 0


@pytest.mark.parametrize("seed", range(8))
def test_counting_requests_equals_filtering_node_by_node(seed: int) -> None:
    """Without inter-pod terms the dry run counts requests for every node at once; it finds the same
    victims, PDB violations and statuses as SelectVictimsOnNode filtering node by node, and the cycle's
    fast path keeps the same nodes as the full filter pass, with pods nominated at several priorities."""
    rng = np.random.default_rng(seed)
    b = Bench([node(f"n{i}", gpus=8, pods=6) for i in range(10)])
    for i in range(10):
        used = 0
        for j in range(int(rng.integers(0, 5))):
            gpus = int(rng.integers(1, 4))
            if used + gpus <= 8:
                used += gpus
                labels = {"app": "guarded"} if rng.random() < 0.3 else {}
                put(
                    b, f"v{i}-{j}", int(rng.integers(0, 4)), f"n{i}", {GPU: gpus}, float(rng.random()), labels
                )
    pdb(b, "guarded", {"app": "guarded"}, int(rng.integers(0, 3)))
    for k in range(3):
        waiting = put(b, f"w{k}", int(rng.integers(0, 5)), req={GPU: int(rng.integers(1, 5))})
        b.scheduler.nominate(waiting, f"n{int(rng.integers(0, 10))}")
    pre, cycle = b.scheduler.preemption, b.scheduler.cycle
    pdbs = list(b.store.list("PodDisruptionBudget"))
    for priority in (1, 2, 4):
        pod = put(b, f"p{priority}", priority, req={GPU: int(rng.integers(1, 9))})
        shape = b.scheduler.cache.shape(pod)
        view = pre._requests_view(pod, shape)
        for i in range(10):
            counted = pre._select_by_requests(pod, shape, i, pdbs, view)  # type: ignore[arg-type]
            filtered = pre.select_victims_on_node(pod, shape, i, pdbs)  # type: ignore[arg-type]
            assert ([v.name for v in counted[0]], counted[1:]) == (
                [v.name for v in filtered[0]],
                filtered[1:],
            )
        assert_fast_path_agrees(b, pod)
    # Higher-priority pods nominated to take every free GPU: the nodes that fit, fit no more, and the
    # nodes lacking GPUs are counted with the nominated requests.
    free = b.nodes.free_by_res[b.nodes.res_index[GPU]]
    for i in np.flatnonzero(free > 0).tolist():
        taker = put(b, f"t{i}", 9, req={GPU: int(free[i])})
        b.scheduler.nominate(taker, f"n{i}")
    pod = put(b, "late", 5, req={GPU: 1})
    assert (
        b.scheduler.nominator.others_at_least(pod)
        and cycle.cache.feasible_set(cycle.cache.shape(pod)).members
    )
    assert assert_fast_path_agrees(b, pod)
    # Each taker in turn (the kept nominated part read again, with its own requests left out): where it
    # is nominated it fits again, unless a pod nominated there before it holds the room.
    for taker in [p for p in b.store.list("Pod") if p.name.startswith(("t", "w"))]:
        assert_fast_path_agrees(b, taker)


@pytest.mark.parametrize("seed", range(6))
def test_nominated_requests_kept_current_equal_a_full_pass(seed: int) -> None:
    """The nominated nodes' fit, kept node by node, through binds, releases, nominations, nominations
    cleared and nodes going NotReady and back, keeps the same nodes as the full filter pass with the
    nominated pods added (each pod's own nomination left out), and says the same when nothing fits."""
    rng = np.random.default_rng(seed)
    b = Bench([node(f"n{i}", gpus=8, pods=int(rng.choice([3, 110]))) for i in range(12)])
    nominator = b.scheduler.nominator
    unreachable = (Taint("node.kubernetes.io/unreachable", "", "NoSchedule"),)
    bound: list[Pod] = []
    pending: list[Pod] = []
    compared = 0
    for step in range(150):
        roll = rng.random()
        name = f"n{int(rng.integers(12))}"
        if roll < 0.25:
            bound.append(put(b, f"b{step}", int(rng.integers(0, 3)), name, {GPU: int(rng.integers(1, 5))}))
        elif roll < 0.4 and bound:
            b.store.remove(bound.pop(int(rng.integers(len(bound)))))
        elif roll < 0.65:
            pod = put(b, f"w{step}", int(rng.integers(0, 4)), req={GPU: int(rng.integers(1, 9))})
            popped(b, pod)
            b.scheduler.nominate(pod, name)
            pending.append(pod)
        elif roll < 0.75 and pending:
            b.scheduler.nominate(pending[int(rng.integers(len(pending)))], "")
        elif roll < 0.8 and pending:
            b.store.remove(pending.pop(int(rng.integers(len(pending)))))
        elif roll < 0.9:
            i = b.nodes.index[name]
            b.nodes.set_extra_taints(i, () if b.nodes.extra_taints[i] else unreachable)
            b.scheduler.node_changed(i)
        probes = pending[-3:] + [
            put(b, f"p{step}", int(rng.integers(0, 4)), req={GPU: int(rng.integers(1, 9))})
        ]
        for pod in probes:
            if assert_fast_path_agrees(b, pod):
                compared += nominator.others_at_least(pod)
        b.store.remove(probes[-1])
    assert compared > 10


def assert_fast_path_agrees(b: Bench, pod: Pod) -> bool:
    """The cycle's fast path (the feasible set, the nominated nodes' kept fit, the kept counts) finds
    what the full filter pass with the nominated pods added finds for ``pod``: the same nodes, or the same
    Diagnosis. Whether nothing fit."""
    cycle, nominator = b.scheduler.cycle, b.scheduler.nominator
    shape = cycle.cache.shape(pod)
    feasible = cycle.cache.feasible_set(shape)
    full = cycle.find_nodes_that_fit(pod, shape, False, nominator.requests_at_least(pod))
    near = nominator.others_at_least(pod)
    fast, extra = cycle._fit_with_held(pod, shape, feasible) if near else (feasible.members, None)
    assert fast == ([] if isinstance(full, Diagnosis) else full)
    if isinstance(full, Diagnosis):
        assert_same_diagnosis(b.nodes.resources, cycle._rejected_by_fit(shape, feasible, extra), full)
    return isinstance(full, Diagnosis)


# -- the preemption's API calls: async (SchedulerAsyncPreemption on in v1.34) -------------------


def _latency_bench(delete_latency: float) -> tuple[Cluster, Scheduler]:
    env = simpy.Environment()
    api = ApiCalls(no_latency, no_latency, no_latency, lambda: delete_latency)
    cluster = Cluster(env, NodeTable([node(f"n{i}") for i in range(2)]), Timeline(horizon=3600), api)
    return cluster, Scheduler(cluster, np.random.default_rng(0), 100.0)


def _two_victims_per_node(cluster: Cluster) -> Pod:
    """Two 4-GPU pods of priority 0 on each 8-GPU node, and a pending 8-GPU pod of priority 10."""
    for i in range(2):
        for j in range(2):
            tmpl = template(gpus=4)
            cluster.store.create(
                Pod(kind="Pod", name=f"low{i}{j}", namespace="default", template=tmpl, node=f"n{i}")
            )
    hi = Pod(kind="Pod", name="hi", namespace="default", template=template(gpus=8, priority=10))
    cluster.store.create(hi)
    return hi


def test_victims_deleted_after_the_delete_latency_while_the_preemptor_waits() -> None:
    """prepareCandidateAsync: every victim but the last gets DisruptionTarget at once and its DELETE one
    API latency later (in parallel); then the preemptor leaves the preempting set and the last victim gets
    its patch and DELETE."""
    cluster, sched = _latency_bench(2.0)
    hi = _two_victims_per_node(cluster)
    tl = cluster.timeline
    cluster.env.run(until=1.0)
    (nominated,) = recs(tl, POD_NOMINATED, "hi")
    t0, target = nominated.t, nominated.get("node")
    i = target[-1]
    (first,) = recs(tl, POD_PREEMPTED)
    assert (first.subject, first.t, first.get("node"), first.get("by")) == (f"low{i}0", t0, target, "hi")
    assert (first.get("priority"), first.get("by_priority")) == (0, 10)
    assert sched.queue.preempting == {hi.uid} and not recs(tl, POD_DELETING)
    cluster.env.run(until=t0 + 3.0)
    assert [(r.subject, r.t) for r in recs(tl, POD_DELETING)] == [(f"low{i}0", pytest.approx(t0 + 2.0))]
    assert sched.queue.preempting == set()
    assert [(r.subject, r.t) for r in recs(tl, POD_PREEMPTED)][1] == (f"low{i}1", pytest.approx(t0 + 2.0))
    cluster.env.run(until=t0 + 5.0)
    assert [r.subject for r in recs(tl, POD_DELETING)] == [f"low{i}0", f"low{i}1"]
    assert recs(tl, POD_DELETING)[1].t == pytest.approx(t0 + 4.0)


def test_preemptor_is_gated_until_its_preemption_finishes() -> None:
    """A Pod/Delete event while the preemption runs does not move the preemptor: PreEnqueue holds it
    (DefaultPreemption, "waiting for the preemption for this pod to be finished"); the next deletion once
    it is released does, and the retry finds its victim still terminating."""
    cluster, sched = _latency_bench(5.0)
    hi = _two_victims_per_node(cluster)
    other = Pod(kind="Pod", name="other", namespace="default", template=template(gpus=0), node="n0")
    cluster.store.create(other)
    cluster.env.run(until=1.0)
    assert hi.uid in sched.queue.preempting
    cluster.store.remove(other)  # an assigned pod deleted: NodeResourcesFit alone would queue the pod
    assert hi.uid in sched.queue.gated and hi.uid in sched.queue.unschedulable and len(sched.queue) == 0
    cluster.env.run(until=12.0)  # both DELETEs sent (at 5 and 10 s); no kubelet here to finish them
    assert not sched.queue.preempting and hi.uid in sched.queue.gated
    first = recs(cluster.timeline, POD_PREEMPTED)[0].subject
    cluster.store.remove(cluster.store.get("Pod", f"default/{first}"))  # the first victim's object goes
    assert hi.uid not in sched.queue.gated
    cluster.env.run(until=20.0)
    assert (
        recs(cluster.timeline, POD_UNSCHEDULABLE, "hi")[-1]
        .get("reason")
        .endswith("preemption: not eligible due to a terminating pod on the nominated node.")
    )


# -- determinism and the no-preemption fast path --------------------------------------------------


def test_no_random_draw_without_lower_priority_pods() -> None:
    """The dry run's offset is drawn only when some node holds a lower-priority pod: a cluster of one
    priority keeps the scheduler's random stream as it was (results without preemption unchanged)."""
    b, _ = _gpu_bench(3, low=10)
    before = b.scheduler.rng.bit_generator.state
    message = b.message(template(gpus=8, priority=10))
    assert message.endswith(f"preemption: 0/3 nodes are available: 3 {NO_VICTIMS}.")
    assert b.scheduler.rng.bit_generator.state == before
    b.message(template(gpus=8, priority=11))
    assert b.scheduler.rng.bit_generator.state != before


def test_offset_comes_from_the_schedulers_seed() -> None:
    """Same seed, same choice; the node chosen among equal candidates follows the seeded offset."""

    def chosen(seed: int) -> str:
        b = Bench([node(f"n{i}") for i in range(8)], seed=seed)
        for i in range(8):
            put(b, f"low{i}", 0, f"n{i}", {GPU: 8})
        _, _, result = b.scheduler.find_node(put(b, "hi", 10, req={GPU: 8}))  # type: ignore[misc]
        return result.nominated_node

    assert chosen(1) == chosen(1)
    assert len({chosen(seed) for seed in range(12)}) > 1


# -- the engine end to end -------------------------------------------------------------------------


def _two_priorities() -> dict:
    """Two 8-GPU nodes held by two one-pod groups of priority 0; at 10 min a two-pod group of priority
    1000 is asked for."""
    low = lws(
        "low",
        replicas=2,
        size=1,
        leader={
            "containers": [{"name": "main", "image": "img:1", "resources": {"limits": {GPU: "8"}}}],
        },
    )
    high = lws(
        "high",
        replicas=0,
        size=2,
        worker_spec={"priorityClassName": "serving"},
        leader={
            "priorityClassName": "serving",
            "containers": [{"name": "main", "image": "img:1", "resources": {"limits": {GPU: "8"}}}],
        },
    )
    serving = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "serving"},
        "value": 1000,
    }
    return scenario_doc(
        [pool("gpu", 2)],
        [serving, low, high],
        events=[{"at": "10m", "scale": {"workload": "high", "replicas": 1}}],
    )


def test_engine_high_priority_group_preempts_the_low_one() -> None:
    """A World with two LWSs of different priorities (no longer refused): scaling the high one up preempts
    the low groups' leaders (DisruptionTarget, then a graceful DELETE one API latency later), whose groups
    are recreated with the reason in words; each high pod lands on the node it was nominated to; the
    recreated low pods stay Pending, unable to preempt anyone."""
    world, tl = run(_two_priorities())
    nominated = {r.subject: r.get("node") for r in recs(tl, POD_NOMINATED)}
    assert "high-0" in nominated and set(nominated) <= {"high-0", "high-0-1"}
    scheduled = {r.subject: r.get("node") for r in recs(tl, POD_SCHEDULED) if r.subject in nominated}
    assert scheduled == nominated
    preempted = recs(tl, POD_PREEMPTED)
    assert preempted and all(r.get("by") in nominated for r in preempted)
    assert {(r.get("priority"), r.get("by_priority")) for r in preempted} == {(0, 1000)}
    for r in preempted:  # each victim runs until its DELETE lands, one API latency later
        assert recs(tl, POD_DELETING, r.subject)[0].t > r.t
    reasons = sorted(str(r.get("reason")) for r in recs(tl, GROUP_RECREATED))
    assert reasons == sorted(
        f"{r.subject}: preempted by {r.get('by')} (priority 1000 > 0)" for r in preempted
    )
    for name in ("high-0", "high-0-1"):
        assert world.store.get("Pod", f"default/{name}").ready  # type: ignore[union-attr]
    pending = [p for p in world.store.list("Pod") if isinstance(p, Pod) and p.node is None]
    assert pending and all(p.workload == "low" for p in pending)
    assert all(p.pending_reason.endswith(f"{NO_VICTIMS}.") for p in pending)  # type: ignore[union-attr]
    assert recs(tl, POD_UNSCHEDULABLE, "high-0")[0].get("reason") == (
        f"0/2 nodes are available: 2 Insufficient {GPU}."
    )


def test_engine_runs_are_reproducible() -> None:
    _, first = run(_two_priorities(), seed=3)
    _, second = run(_two_priorities(), seed=3)
    assert first.records == second.records


def test_preflight_keeps_existing_pods_priorities() -> None:
    """The preflight simulation no longer aligns a snapshot's pods to the workloads' priority."""
    existing = [ExistingPod("old", "default", "n0", template(gpus=8, priority=7))]
    scenario, notes = scenario_on([node("n0")], existing, [], ControllerConfig())
    assert [p.template.priority for p in scenario.cluster.existing_pods] == [7]
    assert notes == []


# -- the dry run for every node at once against the node-by-node reference ---------------------------

_PRIORITIES = (-5, 0, 3, 3, 7, 10)


@st.composite
def _node_states(draw):
    """A few nodes of cpu/memory/GPUs, pods of several priorities, requests and start times (ties
    included) bound to them, some deleted again, pods nominated, and a preemptor."""
    n = draw(st.integers(1, 7))
    caps = [draw(st.sampled_from([(4, 400, 8), (6, 800, 8), (2, 300, 4)])) for _ in range(n)]
    pods = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.sampled_from(_PRIORITIES),
                st.integers(0, 3),  # cpu
                st.sampled_from([0, 100, 200]),  # memory
                st.sampled_from([0, 2, 2, 4]),  # GPUs
                st.sampled_from([0.0, 1.0, 1.0, 2.5]),  # start
                st.booleans(),  # deleted again
            ),
            min_size=4,
            max_size=30,
        )
    )
    nominated = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.sampled_from(_PRIORITIES), st.integers(0, 2)), max_size=3
        )
    )
    preemptor = (
        draw(st.sampled_from([3, 5, 8, 11, 11])),
        draw(st.integers(0, 3)),
        draw(st.sampled_from([0, 100, 300])),
        draw(st.sampled_from([0, 4, 4, 8])),
    )
    unschedulable = draw(st.lists(st.sampled_from([True, True, True, False]), min_size=n, max_size=n))
    offset = draw(st.integers(0, 10))
    wanted = draw(st.integers(1, 6))
    return caps, pods, nominated, preemptor, unschedulable, offset, wanted


def _reqs(cpu: int, mem: int, gpus: int) -> dict[str, int]:
    req = {"cpu": cpu * 1000, "memory": mem}
    if gpus:
        req[GPU] = gpus
    return req


def _bench_of(state) -> tuple[Bench, Pod, list[int], int, int]:
    """The cluster a drawn state describes, its pending preemptor, the nodes preemption might help, the
    offset and how many candidates are wanted."""
    caps, pods, nominated, (prio, cpu, mem, gpus), unschedulable, offset, wanted = state
    b = Bench([node(f"n{i}", gpus=g, cpu=c * 1000, memory=m) for i, (c, m, g) in enumerate(caps)])
    made = []
    for k, (i, p, c, m, g, start, _) in enumerate(pods):
        made.append(put(b, f"v{k}", p, f"n{i}", _reqs(c, m, g), start=start))
    for pod, (*_, deleted) in zip(made, pods, strict=True):
        if deleted:
            b.store.remove(pod)
    for k, (i, p, g) in enumerate(nominated):
        waiting = put(b, f"w{k}", p, req=_reqs(1, 0, g))
        popped(b, waiting)
        b.scheduler.nominator.add(waiting, i, b.scheduler.cache.shape(waiting).needs)
    pod = put(b, "p", prio, req=_reqs(cpu, mem, gpus))
    popped(b, pod)
    potential = [i for i, u in enumerate(unschedulable) if u]
    return b, pod, potential, offset % max(len(potential), 1), wanted


def _assert_picks_as_node_by_node(b: Bench, pod: Pod, potential: list[int], offset: int, wanted: int) -> None:
    """``dry_run_and_pick_by_requests`` chooses the node and the victims, in order, that ``dry_run`` +
    ``pick_one_node_for_preemption`` choose, or no node when they find no candidate."""
    pre = b.scheduler.preemption
    found, _, _ = pre.dry_run(pod, potential, offset, wanted)
    fast = pre.dry_run_and_pick_by_requests(pod, np.array(potential, dtype=np.int64), offset, wanted)
    if not found:
        assert fast is None
        return
    best = found[0] if len(found) == 1 else pick_one_node_for_preemption(found)
    assert fast is not None
    assert (fast.node, [v.name for v in fast.victims]) == (best.node, [v.name for v in best.victims])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_node_states())
def test_dry_run_for_every_node_at_once_equals_node_by_node(state) -> None:
    """Without inter-pod terms or PDBs, the dry run over every node at once picks what the node-by-node
    dry run picks."""
    b, pod, potential, offset, wanted = _bench_of(state)
    if potential:
        _assert_picks_as_node_by_node(b, pod, potential, offset, wanted)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _node_states(),
    st.lists(
        st.tuples(
            st.sampled_from(["bind", "release", "nominate", "clear", "start"]),
            st.integers(0, 5),  # node
            st.sampled_from(_PRIORITIES),
            st.sampled_from([0, 2, 4, 8]),  # GPUs
        ),
        max_size=10,
    ),
    st.booleans(),
)
def test_kept_verdicts_follow_every_change(state, changes, self_nominated: bool) -> None:
    """The verdicts kept between preemptions are judged again on every node whose pods, free resources
    or nominated pods changed: after each change the pick is still the node-by-node dry run's; a
    preemptor nominated itself is judged afresh without its own requests."""
    b, pod, potential, offset, wanted = _bench_of(state)
    if not potential:
        return
    n = len(b.nodes)
    if self_nominated:
        b.scheduler.nominator.add(pod, 0, b.scheduler.cache.shape(pod).needs)
    _assert_picks_as_node_by_node(b, pod, potential, offset, wanted)
    for k, (what, i, priority, gpus) in enumerate(changes):
        bound = [q for q in b.store.list("Pod") if q.node is not None]
        waiting = [q for q in b.store.list("Pod") if q.node is None and q.name.startswith("w")]
        if what == "bind":
            put(b, f"c{k}", priority, f"n{i % n}", _reqs(1, 0, gpus), start=float(k))
        elif what == "release" and bound:
            b.store.remove(bound[k % len(bound)])
        elif what == "nominate":
            q = put(b, f"w-{k}", max(priority, pod.template.priority), req=_reqs(1, 0, gpus))
            popped(b, q)
            b.scheduler.nominator.add(q, i % n, b.scheduler.cache.shape(q).needs)
        elif what == "clear" and waiting:
            b.scheduler.nominator.delete(waiting[k % len(waiting)])
        elif what == "start" and bound:
            q = bound[k % len(bound)]
            q.scheduled_at = -float(k)
            b.scheduler.cache.started(q)
        _assert_picks_as_node_by_node(b, pod, potential, offset, wanted)


def test_kept_verdicts_judged_node_by_node_prefer_the_latest_start() -> None:
    """Among candidates alike in victims, pickOneNodeForPreemption takes the node whose victims started
    last; after a change on a few nodes their verdicts are judged one by one, and the choice follows the
    start times as the node-by-node dry run's does."""
    b = Bench([node(f"n{i}", gpus=8) for i in range(3)])
    victims = [put(b, f"v{i}", 0, f"n{i}", {GPU: 8}, start=float(i)) for i in range(3)]
    pod = put(b, "p", 10, req={GPU: 8})
    popped(b, pod)
    pre = b.scheduler.preemption

    def picked() -> int:
        chosen = pre.dry_run_and_pick_by_requests(pod, np.arange(3), 0, 3)
        assert chosen is not None
        _assert_picks_as_node_by_node(b, pod, [0, 1, 2], 0, 3)
        return chosen.node

    assert picked() == 2  # every node judged at once
    for at, start in ((0, 5.0), (2, -1.0)):  # two nodes change: judged one by one
        victims[at].scheduled_at = start
        b.scheduler.cache.started(victims[at])
    assert picked() == 0
    victims[1].scheduled_at = 9.0
    b.scheduler.cache.started(victims[1])
    assert picked() == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "add", "remove", "start"]),
            st.integers(0, 2),  # node
            st.sampled_from(_PRIORITIES),
            st.sampled_from([0.0, 1.0, 2.0]),
            st.integers(0, 30),  # which pod
        ),
        max_size=60,
    )
)
def test_node_pods_rows_stay_in_importance_order(ops) -> None:
    """NodePods keeps each node's row most important first, equals in the order they came, through
    adds, removals and start times set after the binding (slots and rows grow past their first size)."""
    from lwssim.engine.scheduling.nodepods import NodePods
    from lwssim.engine.scheduling.preemption import importance

    table = NodePods(3, 2)
    on: list[dict[int, Pod]] = [{} for _ in range(3)]
    made = 0
    for op, i, prio, start, which in ops:
        held = [(p, k) for k in range(3) for p in on[k].values()]
        if op == "add" or not held:
            made += 1
            pod = Pod(kind="Pod", name=f"p{made}", namespace="d", template=template(priority=prio))
            pod.created_at = start
            pod.uid = made
            on[i][pod.uid] = pod
            table.add(pod, i, ((0, made),), start)
        elif op == "remove":
            pod, k = held[which % len(held)]
            del on[k][pod.uid]
            table.remove(pod)
        else:
            pod, _ = held[which % len(held)]
            pod.scheduled_at = start
            table.started(pod, start)
    for k in range(3):
        expected = sorted(on[k].values(), key=importance)  # stable: the order they came in
        row = table.rows[: int(table.length[k]), k].tolist()
        assert [table.pods[s] for s in row] == expected
        assert [int(table.requests[0, s]) for s in row] == [p.uid for p in expected]
