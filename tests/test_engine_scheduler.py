"""kube-scheduler rules, as kubernetes/kubernetes v1.34.4 writes them.

Each test names one modelled rule and the source it reproduces. Paths are relative to pkg/scheduler/ in
kubernetes/kubernetes at tag v1.34.4; fit.go is framework/plugins/noderesources/fit.go.
"""

from __future__ import annotations

import pytest
from support import (
    GPU,
    PREEMPT,
    Bench,
    container,
    first_t,
    lws,
    node,
    pod,
    pool,
    recs,
    run,
    scenario_doc,
    template,
)

from lwssim.engine.scheduling.cycle import num_feasible_nodes_to_find
from lwssim.model.pod import NodeSelectorTerm, Requirement, Taint, Toleration
from lwssim.timeline import POD_SCHEDULED, POD_UNSCHEDULABLE

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
TAINT = "node(s) had untolerated taint(s)"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
GPU_TAINT = Taint(GPU, "present", "NoSchedule")


def fit_error(n: int, histogram: str, postfilter: str) -> str:
    return f"0/{n} nodes are available: {histogram}." + PREEMPT.format(n=n, parts=postfilter)


# -- FitError message (framework/types.go:763-838; preemption/preemption.go:249-278) -------------


def test_fit_error_unresolvable_request_above_allocatable_says_preemption_not_helpful() -> None:
    """No node has the GPU ⇒ UnschedulableAndUnresolvable everywhere (fit.go:526-531)."""
    b = Bench([node(f"n{i}", gpus=0) for i in range(4)])
    assert b.message(template(gpus=1)) == fit_error(4, f"4 Insufficient {GPU}", f"4 {NOT_HELPFUL}")


def test_fit_error_resolvable_shortage_says_no_preemption_victims() -> None:
    """The GPUs exist but are used by same-priority pods ⇒ Unschedulable, dry run finds no
    lower-priority victims (default_preemption.go:257)."""
    b = Bench([node(f"n{i}") for i in range(4)])
    for i in range(4):
        b.pod(template(gpus=8), node=f"n{i}")
    assert b.message(template(gpus=1)) == fit_error(4, f"4 Insufficient {GPU}", f"4 {NO_VICTIMS}")


def test_fit_error_entries_sorted_as_whole_strings_count_included() -> None:
    """FitError.Error() sort.Strings over "count reason": "10 X" sorts before "2 Y" (types.go:763-838),
    in both the filter histogram and preemption's own FitError."""
    nodes = [node(f"t{i}", taints=(GPU_TAINT,)) for i in range(10)] + [node("a0"), node("a1")]
    b = Bench(nodes)
    b.pod(template(gpus=8), node="a0")
    b.pod(template(gpus=8), node="a1")
    assert b.message(template(gpus=1)) == fit_error(
        12, f"10 {TAINT}, 2 Insufficient {GPU}", f"10 {NOT_HELPFUL}, 2 {NO_VICTIMS}"
    )


def test_node_lacking_two_resources_counts_under_each_reason() -> None:
    """fitsRequest returns every failing resource of a node; the histogram counts each
    (fit.go fitsRequest and Filter; framework/types.go FitError.Error)."""
    b = Bench([node("n0", gpus=0, cpu=1000, memory=2**30)])
    msg = b.message(template(requests={"cpu": 2000, "memory": 2**31}))
    assert msg == fit_error(1, "1 Insufficient cpu, 1 Insufficient memory", f"1 {NOT_HELPFUL}")


def test_too_many_pods_is_resolvable() -> None:
    """NodeResourcesFit "Too many pods" is never Unresolvable (fit.go:564-660)."""
    b = Bench([node("n0", pods=1)])
    b.pod(template(gpus=1), node="n0")
    assert b.message(template(gpus=1)) == fit_error(1, "1 Too many pods", f"1 {NO_VICTIMS}")


def test_first_failing_filter_decides_tainted_node_without_gpu_counts_only_as_taint() -> None:
    """RunFilterPlugins stops at the first failing plugin (runtime/framework.go:909-926): a tainted node
    with no GPU is only "untolerated taint", never also "Insufficient"."""
    b = Bench([node("t0", gpus=0, taints=(GPU_TAINT,)), node("g0")])
    b.pod(template(gpus=8), node="g0")
    assert b.message(template(gpus=1)) == fit_error(
        2, f"1 Insufficient {GPU}, 1 {TAINT}", f"1 {NO_VICTIMS}, 1 {NOT_HELPFUL}"
    )


def test_unknown_resource_is_insufficient_on_every_node() -> None:
    """A resource no node has: allocatable 0 < request ⇒ Insufficient everywhere, unresolvable."""
    b = Bench([node("n0"), node("n1")])
    msg = b.message(template(requests={GPU: 1, "example.com/foo": 1}))
    assert msg == fit_error(2, "2 Insufficient example.com/foo", f"2 {NOT_HELPFUL}")


def test_extended_resource_rdma_roce_gdr_is_counted() -> None:
    """Scalar resources are checked like any other: `Insufficient <name>` (fit.go fitsRequest)."""
    b = Bench([node("n0", extra={"rdma/roce_gdr": 1})])
    tmpl = template(requests={GPU: 1, "rdma/roce_gdr": 1})
    assert b.place(tmpl) == "n0"
    b.pod(tmpl, node="n0")
    assert b.message(tmpl) == fit_error(1, "1 Insufficient rdma/roce_gdr", f"1 {NO_VICTIMS}")


def test_no_nodes_at_all() -> None:
    """ErrNoNodesAvailable (scheduler.go:68)."""
    b = Bench([])
    assert b.message(template()) == "no nodes available to schedule pods"


# -- taints, cordon -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toleration", "fits"),
    [
        (Toleration(GPU, "Exists", "", "NoSchedule"), True),  # Exists ignores the value
        (Toleration(GPU, "Equal", "present", "NoSchedule"), True),
        (Toleration(GPU, "Equal", "absent", "NoSchedule"), False),  # value must match for Equal
        (Toleration("", "Exists"), True),  # empty key + Exists tolerates everything
        (Toleration(GPU, "Exists", "", "NoExecute"), False),  # effect mismatch
        (Toleration(GPU, "Exists", "", ""), True),  # empty effect matches all effects
        (None, False),
    ],
)
def test_taint_toleration_filter(toleration: Toleration | None, fits: bool) -> None:
    """TaintToleration filter: v1.Toleration.ToleratesTaint over NoSchedule/NoExecute taints
    (tainttoleration/taint_toleration.go:120, k8s.io/api core/v1/toleration.go)."""
    b = Bench([node("n0", taints=(GPU_TAINT,))])
    tmpl = template(tolerations=(toleration,) if toleration else ())
    result = b.fit(tmpl)
    assert isinstance(result, int) == fits
    if not fits:
        assert result[0] == fit_error(1, f"1 {TAINT}", f"1 {NOT_HELPFUL}")


def test_prefer_no_schedule_taint_does_not_filter_but_scores_lower() -> None:
    """Only NoSchedule/NoExecute filter; PreferNoSchedule lowers the TaintToleration score
    (framework/plugins/tainttoleration/taint_toleration.go Filter, Score)."""
    soft = Taint("x", "y", "PreferNoSchedule")
    for seed in range(8):
        b = Bench([node("soft", taints=(soft,)), node("clean")], seed=seed)
        assert b.place(template()) == "clean"
    b = Bench([node("soft", taints=(soft,))])
    assert b.place(template()) == "soft"


def test_no_execute_taint_filters() -> None:
    b = Bench([node("n0", taints=(Taint("k", "v", "NoExecute"),))])
    assert b.message(template()) == fit_error(1, f"1 {TAINT}", f"1 {NOT_HELPFUL}")


def test_cordoned_node_is_unschedulable_unless_tolerated() -> None:
    """NodeUnschedulable: "node(s) were unschedulable", UnschedulableAndUnresolvable, passes pods that
    tolerate node.kubernetes.io/unschedulable:NoSchedule (node_unschedulable.go:49,146)."""
    b = Bench([node("n0", unschedulable=True), node("n1")])
    b.pod(template(gpus=8), node="n1")
    assert b.message(template()) == fit_error(
        2, f"1 Insufficient {GPU}, 1 node(s) were unschedulable", f"1 {NO_VICTIMS}, 1 {NOT_HELPFUL}"
    )
    tol = Toleration("node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule")
    assert b.place(template(tolerations=(tol,))) == "n0"


def test_cordon_is_checked_before_taints() -> None:
    """NodeUnschedulable precedes TaintToleration in the default profile (default_plugins.go:30-53)."""
    b = Bench([node("n0", unschedulable=True, taints=(GPU_TAINT,))])
    assert b.message(template()) == fit_error(1, "1 node(s) were unschedulable", f"1 {NOT_HELPFUL}")


# -- node selector / required node affinity (plugins/nodeaffinity) ------------------------------


def _labelled() -> Bench:
    return Bench(
        [
            node("a", labels=(("tier", "gold"), ("gen", "3"))),
            node("b", labels=(("tier", "silver"), ("gen", "5"))),
            node("c", labels=()),
        ]
    )


def _affinity_nodes(*reqs: Requirement, fields: tuple[Requirement, ...] = ()) -> set[str]:
    """Nodes a pod with one required term ``reqs`` can land on (each checked with a fresh bench)."""
    out = set()
    for name in ("a", "b", "c"):
        b = _labelled()
        for other in {"a", "b", "c"} - {name}:
            b.pod(template(gpus=8), node=other)  # fill the others: the pod fits only on ``name`` or nowhere
        tmpl = template(required_node_terms=(NodeSelectorTerm(tuple(reqs), fields),))
        if isinstance(b.fit(tmpl), int):
            out.add(name)
    return out


@pytest.mark.parametrize(
    ("req", "nodes"),
    [
        (Requirement("tier", "In", ("gold", "bronze")), {"a"}),
        (Requirement("tier", "NotIn", ("gold",)), {"b", "c"}),  # absent label satisfies NotIn
        (Requirement("tier", "Exists"), {"a", "b"}),
        (Requirement("tier", "DoesNotExist"), {"c"}),
        (Requirement("gen", "Gt", ("4",)), {"b"}),  # integer comparison, absent fails
        (Requirement("gen", "Lt", ("4",)), {"a"}),
        (Requirement("nokey", "NotIn", ("x",)), {"a", "b", "c"}),
        (Requirement("nokey", "In", ("x",)), set()),
    ],
)
def test_required_node_affinity_operators(req: Requirement, nodes: set[str]) -> None:
    """NodeSelectorRequirement semantics (component-helpers/scheduling/corev1/nodeaffinity)."""
    assert _affinity_nodes(req) == nodes


def test_node_affinity_terms_are_ored_requirements_anded() -> None:
    b = _labelled()
    terms = (
        NodeSelectorTerm((Requirement("tier", "In", ("gold",)), Requirement("gen", "Gt", ("4",)))),  # none
        NodeSelectorTerm((Requirement("tier", "DoesNotExist"),)),  # c
    )
    assert b.place(template(required_node_terms=terms)) == "c"


def test_match_fields_metadata_name_selects_by_node_name() -> None:
    assert _affinity_nodes(fields=(Requirement("metadata.name", "In", ("b",)),)) == {"b"}


def test_match_fields_prefilter_result_message() -> None:
    b = _labelled()
    b.pod(template(gpus=8), node="b")
    tmpl = template(
        required_node_terms=(NodeSelectorTerm((), (Requirement("metadata.name", "In", ("b",)),)),)
    )
    assert b.message(tmpl) == fit_error(
        3, f"1 Insufficient {GPU}, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]", f"3 {NOT_HELPFUL}"
    ).replace(f"3 {NOT_HELPFUL}", f"1 {NO_VICTIMS}, 2 {NOT_HELPFUL}")


def test_node_selector_all_pairs_must_match() -> None:
    """nodeSelector is ANDed with required affinity; mismatch ⇒ ErrReasonPod (node_affinity.go:64)."""
    b = _labelled()
    assert b.place(template(node_selector=(("tier", "silver"),))) == "b"
    msg = b.message(template(node_selector=(("tier", "gold"), ("gen", "5"))))
    assert msg == fit_error(3, f"3 {AFFINITY}", f"3 {NOT_HELPFUL}")


# -- requests as the loader computes them (resource.PodRequests) --------------------------------


def test_requests_default_to_limits_and_init_containers_take_the_max(tmp_path) -> None:
    """Requests default to limits (core/v1 defaults SetDefaults_Container); pod request per resource =
    max(sum of app containers, largest init container) (component-helpers resource.PodRequests)."""
    init = {"name": "init", "image": "img:1", "resources": {"requests": {"cpu": "10"}}}
    app = container(gpus=2, requests={"cpu": "3"})
    doc = scenario_doc(
        [pool(count=1, gpus=8, capacity={"cpu": "12"})],
        [lws(size=1, worker_spec={"initContainers": [init], "containers": [app, container(gpus=2)]})],
    )
    world, tl = run(doc)
    tmpl = pod(world, "llm-0").template
    assert tmpl.requests() == {GPU: 4, "cpu": 10_000}
    assert recs(tl, POD_SCHEDULED, "llm-0")


# -- scoring and node choice --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 1), (99, 99), (100, 100), (199, 100), (1000, 420), (5000, 500), (6000, 300), (20000, 1000)],
)
def test_num_feasible_nodes_to_find(n: int, expected: int) -> None:
    """percentageOfNodesToScore adaptive: n<100 ⇒ n; else max(n·max(50−n/125, 5)/100, 100)
    (schedule_one.go:697-722)."""
    assert num_feasible_nodes_to_find(n) == expected


def _two_pods_nodes(strategy: str) -> list[str]:
    doc = scenario_doc(
        [pool(count=2, gpus=8, capacity={"cpu": "4", "memory": "16Gi"})],
        [lws(replicas=2, size=1, gpus=1, worker_spec={"containers": [container(1, requests={"cpu": "1"})]})],
        controller={"scoringStrategy": strategy},
    )
    world, _ = run(doc)
    return [pod(world, f"llm-{g}").node for g in range(2)]


def test_least_allocated_spreads() -> None:
    """NodeResourcesFit LeastAllocated (least_allocated.go:30-66): the emptier node scores higher."""
    a, b = _two_pods_nodes("LeastAllocated")
    assert a != b


def test_most_allocated_packs() -> None:
    """scoringStrategy MostAllocated (most_allocated.go): the fuller node scores higher."""
    a, b = _two_pods_nodes("MostAllocated")
    assert a == b


def test_ties_broken_randomly_but_deterministically_per_seed() -> None:
    """selectHost reservoir-samples among max-score nodes (schedule_one.go:890-935); lwssim draws from
    the run's seeded generator, so one seed always gives one choice."""
    nodes = [node(f"n{i}") for i in range(8)]
    picks = {seed: Bench(nodes, seed=seed).place(template()) for seed in range(16)}
    assert len(set(picks.values())) > 1
    assert all(Bench(nodes, seed=s).place(template()) == picks[s] for s in range(16))


def test_balanced_allocation_uses_actual_requests() -> None:
    """NodeResourcesBalancedAllocation scores actual requests (useRequested=true,
    noderesources/balanced_allocation.go:140, resource_allocation.go:91). Node a holds a pod requesting
    100m/200Mi, node b a pod without requests: NonZeroRequested is equal (LeastAllocated ties), actual
    requests differ, so k8s gives a 77 and b 75 on every seed."""
    mi = 2**20
    for seed in range(10):
        b = Bench(
            [node("a", gpus=0, cpu=2000, memory=2000 * mi), node("b", gpus=0, cpu=2000, memory=2000 * mi)],
            seed=seed,
        )
        b.pod(template(requests={"cpu": 100, "memory": 200 * mi}), node="a")
        b.pod(template(requests={}), node="b")
        assert b.place(template(requests={"cpu": 1000})) == "a"


# -- queue: retries and throughput (backend/queue/scheduling_queue.go) --------------------------


def test_unschedulable_pod_placed_after_scale_down_frees_a_node() -> None:
    """An assigned pod's deletion requeues pods NodeResourcesFit rejected (fit.go:305-442 QueueingHint):
    the pending pod binds once the scaled-down pod's object is gone (termination 30 s)."""
    doc = scenario_doc(
        [pool(count=2)],
        [lws("a", replicas=2, size=1), lws("b", replicas=1, size=1)],
        # apiLatency 0: both LWS are created at t=0 and this test needs a's pods created before b's.
        timing={"imagePull": {"cold": "60s"}, "modelLoad": "100s", "termination": "30s", "apiLatency": "0s"},
        events=[{"at": "10m", "scale": {"workload": "a", "replicas": 1}}],
    )
    world, tl = run(doc)
    assert recs(tl, POD_UNSCHEDULABLE, "b-0")
    bound = first_t(tl, POD_SCHEDULED, "b-0")
    assert 630.0 <= bound <= 631.0
    assert pod(world, "b-0").node == [n for n in ("gpu-0", "gpu-1") if n != pod(world, "a-0").node][0]


@pytest.mark.parametrize(("throughput", "pods"), [(100, 200), (50, 100)])
def test_scheduling_throughput_bounds_bind_times(throughput: int, pods: int) -> None:
    """timing.schedulingThroughput: one bind per 1/R s, so N pods queued at once bind over N/R s
    (the 100 pods/s gate of kubernetes/perf-tests clusterloader2)."""
    b = Bench([node(f"n{i}", pods=pods) for i in range(4)], throughput=throughput)
    for _ in range(pods):
        b.pod(template(gpus=0, requests={"cpu": 1}))
    b.env.run(until=60)
    times = sorted(r.t for r in b.timeline.records if r.kind == POD_SCHEDULED)
    assert len(times) == pods
    assert times[-1] == pytest.approx(pods / throughput)
    assert all(y - x == pytest.approx(1 / throughput) for x, y in zip(times, times[1:], strict=False))
