"""Node autoscaling with Karpenter (lwssim/engine/karpenter): scale from zero, GPUs that come after Ready,
stockouts, NodePool limits, emptiness consolidation, the report's nodesOverTime and gpuHours, and the input
edge (docs/autoscaling.md; Karpenter v1.14.1 semantics in docs/autoscaling-semantics.md)."""

from __future__ import annotations

import copy

import pytest
from support import (
    GPU,
    assert_input_contract,
    autoscaled_doc,
    load,
    lws,
    pool,
    recs,
    run,
    run_cli,
    write_scenario,
)

from lwssim.analysis.explain import explain
from lwssim.analysis.report import build_report, to_json
from lwssim.errors import InputError
from lwssim.timeline import (
    NODE_DELETED,
    NODE_INITIALIZED,
    NODE_LAUNCH_FAILED,
    NODE_LAUNCHED,
    NODE_REGISTERED,
    NODECLAIM_CREATED,
    POD_SCHEDULED,
)

TIMING = {"imagePull": {"cold": "30s"}, "containerStart": "1s", "modelLoad": "60s", "termination": "5s"}
FIXED = {"vmAllocation": "30s", "nodeReady": "60s", "gpuAllocatable": "90s"}
HOST_FAILURES = {"key": "kubernetes.io/hostname", "ratePerDomainDay": 0.1, "repair": "1h"}


def doc(
    replicas: int = 2,
    size: int = 4,
    count: int = 0,
    low: int = 0,
    high: int = 16,
    node_pool: dict | None = None,
    provisioning: dict | None = None,
    events: list | None = None,
    horizon: str = "1h",
    seed: int = 0,
    **spec: object,
) -> dict:
    np_ = {
        "name": "gpu",
        "pool": "h100",
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"},
    }
    np_.update(copy.deepcopy(node_pool or {}))
    pools = [pool("h100", count, min=low, max=high)]
    autoscaling = {"provider": "karpenter", "nodePools": [np_]}
    timing = {**TIMING, "nodeProvisioning": provisioning if provisioning is not None else FIXED}
    return autoscaled_doc(
        "as", pools, autoscaling, replicas, size, timing, events, seed=seed, horizon=horizon, **spec
    )


def test_scale_from_zero_launches_one_node_per_pod_and_serves():
    world, tl = run(doc())
    claims = recs(tl, NODECLAIM_CREATED)
    assert len(claims) == 8  # one NodeClaim per 8-GPU pod, none twice though GPUs come 90 s after Ready
    assert {r.t for r in claims} == {claims[0].t} and 1.0 <= claims[0].t < 2.0  # one batch: idle 1 s
    for r in claims:
        assert recs(tl, NODE_LAUNCHED, r.subject)[0].t == pytest.approx(r.t + 30)
        assert recs(tl, NODE_REGISTERED, r.subject)[0].t == pytest.approx(r.t + 90)
        assert recs(tl, NODE_INITIALIZED, r.subject)[0].t == pytest.approx(r.t + 180)
    bound = recs(tl, POD_SCHEDULED)
    assert len(bound) == 8 and min(r.t for r in bound) >= claims[0].t + 180  # not before GPUs register
    assert len({r.get("node") for r in bound}) == 8
    report = build_report(tl)
    w = report["workloads"][0]
    assert w["groupsServing"] == 2
    assert report["nodesOverTime"][0] == [0.0, 0] and report["nodesOverTime"][-1][1] == 8
    hours = report["gpuHours"]
    assert 0 < hours["idleInPartialGroups"] <= hours["allocated"] < hours["provisioned"]
    # billed from the instance running (t ≈ 31.x s) to the horizon, 8 GPUs per node
    assert hours["provisioned"] == pytest.approx(8 * 8 * (3600 - claims[0].t - 30) / 3600, abs=1e-3)


def test_a_pending_pod_is_told_there_are_no_nodes_then_lacks_gpus_until_they_register():
    _, tl = run(doc(replicas=1, size=1))
    reasons = [str(r.get("reason")) for r in recs(tl, "PodUnschedulable", "llm-0")]
    assert reasons[0] == "no nodes available to schedule pods"
    assert reasons[-1].startswith("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")


def test_same_seed_same_bytes_and_the_seed_changes_the_delays():
    d = doc(provisioning={"vmAllocation": {"lognormal": {"median": "20s", "sigma": 0.5}}})
    a, b = to_json(build_report(run(d)[1])), to_json(build_report(run(d)[1]))
    assert a == b
    assert (
        to_json(build_report(run(doc(seed=1, provisioning=d["spec"]["timing"]["nodeProvisioning"]))[1])) != a
    )


def test_a_stockout_deletes_the_claim_and_the_pool_waits_out_the_unavailable_offering_ttl():
    prov = {**FIXED, "stockoutProbability": 0.5, "unavailableOfferingTTL": "3m"}
    world, tl = run(doc(provisioning=prov))
    failed = recs(tl, NODE_LAUNCH_FAILED)
    assert failed, "seed 0 draws at least one stockout among 8 launches at p=0.5"
    first = min(r.t for r in failed)
    later = [r for r in recs(tl, NODECLAIM_CREATED) if r.t > first]
    assert later and min(r.t for r in later) >= first + 180  # nothing launched while unavailable
    assert all(r.subject not in {x.subject for x in recs(tl, NODE_LAUNCHED)} for r in failed)
    report = build_report(tl)
    assert report["workloads"][0]["groupsServing"] == 2
    words = [e for e in explain(world.scenario, tl)["explanations"] if e["kind"] == "WaitedForNodes"]
    assert any("found no capacity (stockout" in e["message"] for e in words), words


def test_nodepool_limits_stop_launches_and_the_pending_group_is_explained():
    world, tl = run(doc(replicas=3, node_pool={"limits": {GPU: 64}}))
    assert len(recs(tl, NODECLAIM_CREATED)) == 8
    report = build_report(tl)
    # 8 of 12 pods bound; without a gang scheduler the three groups' pods interleave on the 8 nodes
    assert len(recs(tl, POD_SCHEDULED)) == 8 and len(report["pendingPods"]) == 4
    found = [e for e in explain(world.scenario, tl)["explanations"] if e["kind"] == "NodesNotLaunched"]
    assert found and "its limits (nvidia.com/gpu 64) would be exceeded" in found[0]["message"]
    assert found[0]["pods"] == 4


def test_pool_max_caps_the_nodes():
    _, tl = run(doc(replicas=3, high=10))
    assert len(recs(tl, NODECLAIM_CREATED)) == 10


def test_scale_down_consolidates_the_empty_nodes_after_consolidate_after_within_the_budget():
    world, tl = run(doc(events=[{"at": "20m", "scale": {"workload": "llm", "replicas": 1}}]))
    deleted = recs(tl, NODE_DELETED)
    assert len(deleted) == 4 and {str(r.get("reason")) for r in deleted} == {"Empty"}
    gone = {r.subject for r in deleted}
    group1 = {str(r.get("node")) for r in recs(tl, POD_SCHEDULED) if r.group == 1}
    assert gone == group1
    # pods end ≈ 20m + 5 s; consolidatable 30 s later; seen by the 10 s poll, kept 15 s to validate
    assert all(1200 + 5 + 30 <= r.t <= 1200 + 5 + 30 + 10 + 15 + 1 for r in deleted[:1])
    # the default budget, 10% of 8 nodes rounded up: one node per command
    assert len({r.t for r in deleted}) == 4
    report = build_report(tl)
    assert report["nodesOverTime"][-1][1] == 4


def test_min_nodes_are_never_consolidated():
    _, tl = run(doc(replicas=0, count=3, low=2))
    deleted = recs(tl, NODE_DELETED)
    assert [r.subject for r in deleted] == ["h100-2"]


def test_consolidate_after_never_keeps_empty_nodes():
    d = doc(count=2, replicas=0, node_pool={"disruption": {"consolidateAfter": "Never"}})
    assert recs(run(d)[1], NODE_DELETED) == []


@pytest.mark.parametrize(
    "change, field, words",
    [
        (
            lambda d: d["spec"]["cluster"]["nodePools"][0].update(min=5, max=4, count=4),
            "nodePools[0].min",
            "must not exceed max",
        ),
        (
            lambda d: d["spec"]["cluster"]["nodePools"][0].update(count=20),
            "nodePools[0].count",
            "within [min, max]",
        ),
        (
            lambda d: d["spec"]["cluster"]["autoscaling"]["nodePools"][0].update(limits={GPU: 4}),
            "limits.nvidia.com/gpu",
            "below one node",
        ),
        (
            lambda d: d["spec"]["cluster"]["autoscaling"].update(provider="clusterAutoscaler"),
            "autoscaling.nodePools",
            "is Karpenter's",
        ),
        (
            lambda d: d["spec"]["cluster"].pop("autoscaling"),
            "nodePools[0].max",
            "give spec.cluster.autoscaling",
        ),
        (
            lambda d: d["spec"]["cluster"]["autoscaling"]["nodePools"][0].update(pool="nope"),
            "nodePools[0].pool",
            'no node pool is named "nope"',
        ),
        (
            lambda d: (
                d["spec"]["cluster"]["nodePools"].append(pool("a100", 0, min=0, max=4)),
                d["spec"]["cluster"]["autoscaling"]["nodePools"][0].update(disruption={}),
            ),
            "autoscaling.nodePools",
            "with more than one NodePool",
        ),
        (
            lambda d: (
                d["spec"]["cluster"]["nodePools"][0].update(count=2),
                d["spec"].update(faults={"domainFailures": [HOST_FAILURES]}),
            ),
            "faults.domainFailures",
            "not simulated yet",
        ),
    ],
)
def test_bad_autoscaling_input_names_the_field(change, field, words):
    d = doc()
    change(d)
    with pytest.raises(InputError) as e:
        load(d)
    assert words in str(e.value) and field in e.value.render(), e.value.render()


def test_bad_autoscaling_input_exits_2_with_one_line(tmp_path):
    d = doc()
    d["spec"]["cluster"]["nodePools"][0].update(min=3, max=2, count=2)
    out = run_cli(["simulate", str(write_scenario(tmp_path, d))])
    assert_input_contract(out)
    assert out.code == 2 and "min (3) must not exceed max (2)" in out.stderr


def test_fixed_pools_report_no_autoscaling_fields():
    d = doc()
    d["spec"]["cluster"] = {"nodePools": [pool("h100", 8)]}
    report = build_report(run(d)[1])
    assert "nodesOverTime" not in report and "gpuHours" not in report


def test_node_expectations_measure_the_report_and_refuse_a_workload_or_no_autoscaling(tmp_path):
    from lwssim.check import measure, validate_expectations

    d = doc(events=[{"at": "20m", "scale": {"workload": "llm", "replicas": 1}}])
    report = build_report(run(d)[1])
    assert measure(report, None, "nodesAtEnd") == 4
    assert measure(report, None, "nodesLaunched") == 8 and measure(report, None, "nodesDeleted") == 4
    assert measure(report, None, "gpuHoursProvisioned") == report["gpuHours"]["provisioned"]
    d["spec"]["expect"] = [{"workload": "llm", "nodesAtEnd": {"equals": 4}}]
    with pytest.raises(InputError, match="of the whole cluster: give no workload"):
        validate_expectations(load(d))
    fixed = doc()
    fixed["spec"]["cluster"] = {"nodePools": [pool("h100", 8)]}
    fixed["spec"]["expect"] = [{"nodesAtEnd": {"equals": 8}}]
    with pytest.raises(InputError, match="needs spec.cluster.autoscaling"):
        validate_expectations(load(fixed))


def test_plan_of_an_autoscaled_pool_sizes_the_warm_minimum_and_costs_the_nodes_the_runs_had(tmp_path):
    from lwssim.plan import Targets, WarmNodes, plan, pool_dimension

    d = doc(replicas=1, count=0, events=[{"at": "20m", "scale": {"workload": "llm", "replicas": 2}}])
    d["spec"]["cluster"]["nodePools"][0]["costPerNodeHour"] = 10.0
    scenario = load(d)
    assert isinstance(pool_dimension(scenario, "h100"), WarmNodes)
    result = plan(
        scenario, pool_dimension(scenario, "h100"), targets=Targets(0.98, None), runs=4, hi=8, jobs=1
    )
    assert result["dimension"] == "warmNodes"
    by = {c["count"]: c for c in result["candidates"]}
    # Warm nodes serve the scale-up at once; without them group 1 waits for 4 new nodes (and its pull).
    assert result["recommendedCount"] == 8  # 4 warm for group 0 are not enough: group 1 needs its own
    assert by[0]["availability"]["mean"] < by[result["recommendedCount"]]["availability"]["mean"]
    # Cost per hour from the node-hours each run provisioned: 8 warm nodes cost 8 × 10 for the whole hour
    if 8 in by:
        assert by[8]["costPerHour"] == pytest.approx(80.0)
    assert by[0]["costPerHour"] < 80.0
    assert result["recommendedMax"] == 8
    assert result["recommendedCostPerHour"] == by[result["recommendedCount"]]["costPerHour"]


def test_warm_plan_refuses_a_max_above_the_pool(tmp_path):
    from lwssim.plan import Targets, plan, pool_dimension

    scenario = load(doc())
    with pytest.raises(InputError, match="above pool h100's max"):
        plan(scenario, pool_dimension(scenario, "h100"), targets=Targets(0.99, None), runs=2, hi=40, jobs=1)


UNDERUTILIZED = {"disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"}}


def _half_gpu(annotations: dict | None = None) -> dict:
    """4 groups of 2 pods, each asking for 4 of a node's 8 GPUs, scaled to 2 groups at 20 min, on a NodePool
    consolidating WhenEmptyOrUnderutilized."""
    scale = [{"at": "20m", "scale": {"workload": "llm", "replicas": 2}}]
    d = doc(replicas=4, size=2, node_pool=UNDERUTILIZED, events=scale)
    worker = d["spec"]["workloads"][0]["manifest"]["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    worker["spec"]["containers"][0]["resources"]["limits"][GPU] = "4"
    if annotations:
        worker["metadata"] = {"annotations": annotations}
    return d


def test_underutilized_nodes_are_consolidated_their_pods_moved_and_groups_recreated():
    d = _half_gpu()
    _, tl = run(d)
    assert len(recs(tl, NODECLAIM_CREATED)) == 4  # two 4-GPU pods per node
    deleted = recs(tl, NODE_DELETED)
    assert [str(r.get("reason")) for r in deleted] == ["Underutilized", "Underutilized"]
    assert recs(tl, "GroupRecreated")  # a moved pod is a deleted pod to LWS: its group is recreated
    report = build_report(tl)
    assert report["nodesOverTime"][-1][1] == 2 and report["workloads"][0]["groupsServing"] == 2
    # WhenEmpty keeps the half-used nodes
    d["spec"]["cluster"]["autoscaling"]["nodePools"][0]["disruption"]["consolidationPolicy"] = "WhenEmpty"
    assert recs(run(d)[1], NODE_DELETED) == []


def test_do_not_disrupt_pods_keep_their_node():
    d = _half_gpu({"karpenter.sh/do-not-disrupt": "true"})
    assert recs(run(d)[1], NODE_DELETED) == []


def test_two_half_used_nodes_are_replaced_by_one_new_node():
    """Multi-node consolidation before single-node: the pods of two nodes fit on one new node of the same
    type, which costs less than the two (multinodeconsolidation.go); the replacement comes first."""
    big = lws("big", replicas=1, size=1, gpus=8)
    small = lws("small", replicas=2, size=1, gpus=4)
    np_ = {
        "name": "gpu",
        "pool": "h100",
        "disruption": {**UNDERUTILIZED["disruption"], "budgets": [{"nodes": "100%"}]},
    }
    d = autoscaled_doc(
        "replace",
        [pool("h100", 3, min=0, max=8)],
        {"provider": "karpenter", "nodePools": [np_]},
        1,
        1,
        {**TIMING, "nodeProvisioning": FIXED},
        horizon="1h",
    )
    d["spec"]["workloads"] = [{"manifest": small}, {"manifest": big}]
    _, tl = run(d)
    created = recs(tl, NODECLAIM_CREATED)
    deleted = recs(tl, NODE_DELETED)
    assert len(created) == 1 and len(deleted) == 2
    assert all(r.t >= recs(tl, NODE_INITIALIZED, created[0].subject)[0].t for r in deleted)
    report = build_report(tl)
    assert report["nodesOverTime"][-1][1] == 2
    assert all(w["groupsServing"] == w["replicas"] for w in report["workloads"])


def test_failed_nodes_are_left_to_repair_and_their_pods_get_new_nodes():
    """With autoscaling a failed node stays (Karpenter's node repair is off by default); once its pods are
    force-deleted their replacements are pending and Karpenter launches new nodes for them; the repaired node
    comes back empty and is consolidated. No node is deleted while it does not answer."""
    faults = {"nodeFailures": {"ratePerNodeDay": 0.05, "repair": "6h"}, "forceDeleteAfter": "10m"}
    _, tl = run(doc(horizon="720h", faults=faults))
    downs = recs(tl, "NodeDown")
    assert len(downs) >= 5
    launched = recs(tl, NODECLAIM_CREATED)
    assert len(launched) > 8  # replacements for the pods of failed nodes
    down_since: dict[str, float] = {}
    for r in tl.records:
        if r.kind == "NodeDown":
            down_since[r.subject] = r.t
        elif r.kind == "NodeUp":
            down_since.pop(r.subject, None)
        elif r.kind == NODE_DELETED:
            assert r.subject not in down_since, r
    report = build_report(tl)
    assert report["nodesOverTime"][-1][1] == 8 and report["workloads"][0]["availability"] > 0.95


def test_nodes_expire_after_expire_after_and_their_pods_get_new_nodes():
    """nodeclaim/expiration/controller.go: deleted at creation + expireAfter, no budget, no replacement."""
    _, tl = run(doc(horizon="3h", node_pool={"expireAfter": "1h"}))
    expired = [r for r in recs(tl, NODE_DELETED) if str(r.get("reason")) == "Expired"]
    first = {r.subject: r.t for r in recs(tl, NODECLAIM_CREATED) if r.t < 60}
    assert len(first) == 8 and {r.subject for r in expired} >= set(first)
    for r in expired:
        if r.subject in first:  # gone MinDrainTime (5 s) after its expiry at least
            assert first[r.subject] + 3600 + 5 <= r.t <= first[r.subject] + 3600 + 60
    assert len(recs(tl, NODECLAIM_CREATED)) > 8 and recs(tl, "GroupRecreated")
    assert build_report(tl)["nodesOverTime"][-1][1] == 8
    _, tl = run(doc(horizon="3h", node_pool={"expireAfter": "Never"}))
    assert recs(tl, NODE_DELETED) == []
