"""cluster-autoscaler (lwssim/engine/cluster_autoscaler) on cases read from its source at
cluster-autoscaler-1.34.5 (docs/autoscaling-semantics.md §3). cluster-autoscaler is not served as a Go module
here, so these unit tests are its only check: there is no emulator agreement for it."""

from __future__ import annotations

import pytest
from support import GPU, autoscaled_doc, load, pool, recs, run

from lwssim.analysis.explain import explain
from lwssim.analysis.report import build_report
from lwssim.engine.cluster_autoscaler.clusterstate import NodeGroup
from lwssim.errors import InputError
from lwssim.model.autoscaling import ClusterAutoscalerConfig
from lwssim.model.cluster import NodePool
from lwssim.timeline import NODE_DELETED, NODE_LAUNCH_FAILED, NODE_REGISTERED, NODECLAIM_CREATED

TIMING = {"imagePull": {"cold": "30s"}, "containerStart": "1s", "modelLoad": "60s", "termination": "5s"}
FIXED = {"vmAllocation": "30s", "nodeReady": "60s", "gpuAllocatable": "90s"}
GKE_GPU = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}


def doc(
    replicas: int = 2,
    size: int = 4,
    pools: list[dict] | None = None,
    ca: dict | None = None,
    provisioning: dict | None = None,
    events: list | None = None,
    horizon: str = "1h",
    labels: dict | None = None,
) -> dict:
    pools = pools or [pool("h100", 0, min=0, max=16, labels=labels if labels is not None else GKE_GPU)]
    autoscaling = {"provider": "clusterAutoscaler", **({"clusterAutoscaler": ca} if ca else {})}
    timing = {**TIMING, "nodeProvisioning": provisioning or FIXED}
    return autoscaled_doc("ca", pools, autoscaling, replicas, size, timing, events, horizon=horizon)


def test_scale_up_on_the_scan_after_pods_are_unschedulable_one_node_per_8_gpu_pod():
    _, tl = run(doc())
    asked = recs(tl, NODECLAIM_CREATED)
    assert len(asked) == 8 and {r.t for r in asked} == {10.0}  # the first RunOnce, scan-interval 10 s
    assert build_report(tl)["workloads"][0]["groupsServing"] == 2


def test_gpu_label_keeps_a_node_without_allocatable_gpus_upcoming_so_no_second_scale_up():
    """gpu_processor.go FilterOutNodesWithUnreadyResources; FAQ "GPU node ... scale up twice"."""
    _, with_label = run(doc())
    _, without = run(doc(labels={}))
    assert len(recs(with_label, NODECLAIM_CREATED)) == 8
    extra = len(recs(without, NODECLAIM_CREATED)) - 8
    assert extra > 0  # Ready nodes with 0 GPUs look full: the pending pods get more nodes
    # the extra nodes are unneeded and go after scale-down-unneeded-time, out of the cooldown
    deleted = recs(without, NODE_DELETED)
    assert len(deleted) == extra and min(r.t for r in deleted) >= 600
    assert build_report(without)["nodesOverTime"][-1][1] == 8


def test_least_waste_picks_the_group_whose_nodes_the_pods_fill_best():
    """waste.go: (idle cpu + idle memory) fraction over the new nodes, GPUs not counted."""
    small = pool("small", 0, min=0, max=8, labels=GKE_GPU, capacity={"cpu": "16", "memory": "128Gi"})
    big = pool("big", 0, min=0, max=8, labels=GKE_GPU, capacity={"cpu": "192", "memory": "2Ti"})
    d = doc(replicas=1, size=2, pools=[big, small])
    container = d["spec"]["workloads"][0]["manifest"]["spec"]["leaderWorkerTemplate"]["workerTemplate"][
        "spec"
    ]
    container["containers"][0]["resources"]["requests"] = {"cpu": "12", "memory": "100Gi"}
    _, tl = run(d)
    assert {str(r.get("pool")) for r in recs(tl, NODECLAIM_CREATED)} == {"small"}
    d["spec"]["cluster"]["autoscaling"]["clusterAutoscaler"] = {"expander": "random"}
    picked = {str(r.get("pool")) for seed in range(6) for r in recs(run(d, seed=seed)[1], NODECLAIM_CREATED)}
    assert picked == {"small", "big"}  # random.go: either, by the seed


def test_priority_expander_prefers_the_highest_priority_regex():
    """priority.go: options whose group matches the highest priority's regexes."""
    a = pool("spot-h100", 0, min=0, max=8, labels=GKE_GPU)
    b = pool("ondemand-h100", 0, min=0, max=8, labels=GKE_GPU)
    ca = {"expander": "priority", "priorities": {"10": ["^spot-.*"], "50": ["ondemand"]}}
    _, tl = run(doc(replicas=1, size=2, pools=[a, b], ca=ca))
    assert {str(r.get("pool")) for r in recs(tl, NODECLAIM_CREATED)} == {"ondemand-h100"}


def test_a_stockout_times_out_after_max_node_provision_time_and_backs_the_group_off():
    """clusterstate.go updateScaleRequests; exponential_backoff.go (5 m, doubled when failing again after
    the back-off expired)."""
    prov = {**FIXED, "stockoutProbability": 1.0}
    world, tl = run(doc(replicas=1, size=1, provisioning=prov, horizon="2h"))
    asked = [r.t for r in recs(tl, NODECLAIM_CREATED)]
    failed = [r for r in recs(tl, NODE_LAUNCH_FAILED)]
    assert asked[0] == 10.0 and failed[0].t == pytest.approx(10.0 + 900, abs=10)
    assert str(failed[0].get("reason")) == "ScaleUpTimedOut"
    # backed off 5 min after the first timeout, 10 min after the second
    assert asked[1] >= failed[0].t + 300 and asked[1] - failed[0].t < 300 + 10
    assert asked[2] >= failed[1].t + 600 and asked[2] - failed[1].t < 600 + 10
    assert recs(tl, NODE_REGISTERED) == []
    found = [e for e in explain(world.scenario, tl)["explanations"] if e["kind"] == "NodesNotLaunched"]
    assert found and "backed off" in found[0]["message"] and "cluster-autoscaler" in found[0]["message"]


def test_backoff_arithmetic():
    g = NodeGroup(NodePool("g", 0, ((GPU, 8),), min_count=0, max_count=4))
    c = ClusterAutoscalerConfig()
    g.fail(0.0, c)
    assert g.backoff_until == 300.0
    g.fail(100.0, c)  # during the back-off: same duration, from now
    assert g.backoff_until == 400.0 and g.backoff == 300.0
    g.fail(500.0, c)  # after it expired: doubled
    assert g.backoff == 600.0
    for t in (1200.0, 2400.0, 4800.0):
        g.fail(t, c)
    assert g.backoff == 1800.0  # capped at 30 m
    g.fail(4800.0 + 3 * 3600 + 1, c)  # reset after 3 h without failure
    assert g.backoff == 300.0


def test_scale_down_after_unneeded_time_out_of_the_cooldown_and_not_below_min():
    d = doc(events=[{"at": "20m", "scale": {"workload": "llm", "replicas": 0}}])
    d["spec"]["cluster"]["nodePools"][0].update(min=2, count=2)
    _, tl = run(d)
    deleted = recs(tl, NODE_DELETED)
    assert len(deleted) == 6  # 8 nodes, min 2
    # pods gone ≈ 20m + 5 s; unneeded from the next scan, deleted 10 min later (10 per loop)
    assert all(1200 + 600 <= r.t <= 1200 + 600 + 30 for r in deleted)


def test_max_nodes_per_scale_up_caps_one_loop():
    _, tl = run(doc(ca={"maxNodesPerScaleUp": 3}))
    times = sorted(r.t for r in recs(tl, NODECLAIM_CREATED))
    assert times[:3] == [10.0] * 3 and times[3] > 10.0


@pytest.mark.parametrize(
    "ca, field, words",
    [
        ({"provisioningRequests": {}}, "clusterAutoscaler.provisioningRequests", "not simulated yet"),
        ({"expander": "priority"}, "clusterAutoscaler.priorities", "needs priorities"),
        ({"expander": "priority", "priorities": {"high": ["x"]}}, "priorities.high", "an integer"),
        ({"expander": "priority", "priorities": {"1": ["(x"]}}, "priorities.1", "not a regular expression"),
    ],
)
def test_bad_cluster_autoscaler_input_names_the_field(ca, field, words):
    with pytest.raises(InputError) as e:
        load(doc(ca=ca))
    assert words in str(e.value) and field in e.value.render(), e.value.render()
