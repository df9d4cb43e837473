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
        ({"expander": "priority"}, "clusterAutoscaler.priorities", "needs priorities"),
        ({"expander": "priority", "priorities": {"high": ["x"]}}, "priorities.high", "an integer"),
        ({"expander": "priority", "priorities": {"1": ["(x"]}}, "priorities.1", "not a regular expression"),
    ],
)
def test_bad_cluster_autoscaler_input_names_the_field(ca, field, words):
    with pytest.raises(InputError) as e:
        load(doc(ca=ca))
    assert words in str(e.value) and field in e.value.render(), e.value.render()


# -- ProvisioningRequests ------------------------------------------------------------------------------

CHECK = "check-capacity.autoscaling.x-k8s.io"
ATOMIC = "best-effort-atomic-scale-up.autoscaling.x-k8s.io"


def pod_template(name: str = "gpu-pod") -> dict:
    spec = {"containers": [{"name": "c", "image": "img:1", "resources": {"limits": {GPU: "8"}}}]}
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}, "template": {"spec": spec}}


def provreq(cls: str, count: int, name: str = "capacity", **params: str) -> dict:
    spec: dict = {
        "provisioningClassName": cls,
        "podSets": [{"podTemplateRef": {"name": "gpu-pod"}, "count": count}],
    }
    if params:
        spec["parameters"] = params
    return {
        "apiVersion": "autoscaling.x-k8s.io/v1",
        "kind": "ProvisioningRequest",
        "metadata": {"name": name},
        "spec": spec,
    }


def with_provreq(
    d: dict, req: dict, count: int = 0, provider: str = "gce", replicas: int | None = None
) -> dict:
    d["spec"]["cluster"]["nodePools"][0]["count"] = count
    d["spec"]["cluster"]["autoscaling"]["clusterAutoscaler"] = {
        "enableProvisioningRequests": True,
        "cloudProvider": provider,
    }
    d["spec"]["workloads"] = [{"manifest": pod_template()}, {"manifest": req}] + (
        d["spec"]["workloads"] if replicas else []
    )
    return d


def test_check_capacity_is_found_on_the_nodes_there_else_retried_or_failed():
    """checkcapacity/provisioningclass.go: Provisioned=True when every pod fits the cluster as it is."""
    _, tl = run(with_provreq(doc(), provreq(CHECK, 2), count=2))
    found = recs(tl, "ProvisioningRequestProvisioned")
    assert [(r.t, str(r.get("reason"))) for r in found] == [(10.0, "CapacityIsFound")]
    assert recs(tl, NODECLAIM_CREATED) == []  # check-capacity never scales up
    _, tl = run(with_provreq(doc(), provreq(CHECK, 3), count=2))
    assert recs(tl, "ProvisioningRequestProvisioned") == []
    tries = recs(tl, "ProvisioningRequestNotProvisioned")  # recorded when the message changes
    assert (
        tries[0].t == 10.0
        and str(tries[0].get("message")) == "1 of its 3 pods do not fit the cluster as it is"
    )
    assert {str(r.get("reason")) for r in tries} == {"CapacityIsNotFound"}
    _, tl = run(with_provreq(doc(), provreq(CHECK, 3, noRetry="true"), count=2))
    assert [str(r.get("reason")) for r in recs(tl, "ProvisioningRequestFailed")] == ["FailedToCreatePods"]


def test_best_effort_atomic_scales_up_every_node_in_one_loop_and_books_them_for_10_minutes():
    """besteffortatomic/provisioning_class.go: Provisioned at once (CapacityIsProvisioned); the booking
    (processor.go) keeps the empty nodes from scale-down until it expires."""
    _, tl = run(with_provreq(doc(), provreq(ATOMIC, 4)))
    asked = recs(tl, NODECLAIM_CREATED)
    assert len(asked) == 4 and {r.t for r in asked} == {10.0}
    found = recs(tl, "ProvisioningRequestProvisioned")
    assert [(r.t, str(r.get("reason")), r.get("nodes")) for r in found] == [
        (10.0, "CapacityIsProvisioned", 4)
    ]
    expired = recs(tl, "ProvisioningRequestBookingExpired")
    assert [r.t for r in expired] == [610.0]
    deleted = recs(tl, NODE_DELETED)
    assert len(deleted) == 4 and min(r.t for r in deleted) >= 610.0  # nobody came to use them


def test_atomic_only_on_azure_other_providers_fall_back_to_node_by_node():
    """executor.go increaseSize: AtomicIncreaseSize, else IncreaseSize (ErrNotImplemented on gce, aws)."""
    prov = {**FIXED, "stockoutProbability": 0.5}
    mixed = False
    for seed in range(6):
        for provider in ("azure", "gce"):
            d = with_provreq(doc(provisioning=prov), provreq(ATOMIC, 4), provider=provider)
            d["spec"]["seed"] = seed
            failed = {r.subject for r in recs(run(d)[1], NODE_LAUNCH_FAILED) if r.t < 1000}
            if provider == "azure":
                assert len(failed) in (0, 4)  # one answer for all four nodes
            elif 0 < len(failed) < 4:
                mixed = True
    assert mixed  # node by node: some come, some do not


def test_pods_that_consume_a_request_are_not_scaled_up_for_on_their_own():
    """wrapper_orchestrator.go splitOut: pods annotated consume-provisioning-request are the request's."""
    d = doc(replicas=1, size=2)
    worker = d["spec"]["workloads"][0]["manifest"]["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    worker["metadata"] = {"annotations": {"autoscaling.x-k8s.io/consume-provisioning-request": "capacity"}}
    d["spec"]["cluster"]["autoscaling"]["clusterAutoscaler"] = {"enableProvisioningRequests": True}
    assert recs(run(d)[1], NODECLAIM_CREATED) == []
    # with the request served, its nodes come and the pods land on them
    d = with_provreq(d, provreq(ATOMIC, 2), replicas=1)
    _, tl = run(d)
    assert len(recs(tl, NODECLAIM_CREATED)) == 2
    assert build_report(tl)["workloads"][0]["groupsServing"] == 1


@pytest.mark.parametrize(
    "change, field, words",
    [
        (
            lambda d: d["spec"]["workloads"][1]["manifest"]["spec"].update(provisioningClassName="x"),
            "provisioningClassName",
            "not a class",
        ),
        (lambda d: d["spec"]["workloads"].pop(0), "podTemplateRef.name", "no PodTemplate default/gpu-pod"),
        (
            lambda d: d["spec"]["cluster"].update(autoscaling={"provider": "karpenter"}),
            "kind",
            "cluster-autoscaler's",
        ),
    ],
)
def test_bad_provisioning_requests_name_the_field(change, field, words):
    d = with_provreq(doc(), provreq(CHECK, 1))
    change(d)
    with pytest.raises(InputError) as e:
        load(d)
    assert words in str(e.value) and field in e.value.render(), e.value.render()


def test_an_atomic_request_on_a_provider_without_atomic_increase_is_accepted_with_a_warning():
    with pytest.warns(Warning, match="no AtomicIncreaseSize"):
        load(with_provreq(doc(), provreq(ATOMIC, 2), provider="aws"))
