"""LWS controller and pod-webhook rules (`L:` = kubernetes-sigs/lws at tag v0.7.0), plus KServe's
LLMInferenceService → LWS (`K:` = kserve/kserve, pkg/controller/v1alpha2/llmisvc/workload_multi_node.go)."""

from __future__ import annotations

import hashlib

import pytest
from support import EXCLUSIVE, GPU, PREEMPT, RACK, first_t, lws, pod, pool, recs, run, scenario_doc

from lwssim.analysis.report import build_report
from lwssim.engine.objects import StatefulSet
from lwssim.timeline import GROUP_RECREATED, POD_CREATED, POD_READY, POD_SCHEDULED

P = "leaderworkerset.sigs.k8s.io/"


def sha1(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


def racked(count: int, rack: int = 2) -> dict:
    return pool(count=count, topology=[{"key": RACK, "size": rack}])


def rack_of(world, name: str) -> str:
    return dict(world.nodes.node_labels[world.nodes.index[pod(world, name).node]])[RACK]


def workload(tl) -> dict:
    (w,) = build_report(tl)["workloads"]
    return w


# -- startupPolicy (L:pkg/controllers/pod_controller.go:142) ----------------------


def test_leader_created_creates_worker_sts_with_the_leader() -> None:
    _, tl = run(scenario_doc([pool(count=2)], [lws(size=2)]))
    assert first_t(tl, POD_CREATED, "llm-0-1") < first_t(tl, POD_READY, "llm-0")
    assert workload(tl)["timeToAllServingSeconds"] == pytest.approx(162.0, abs=0.5)


def test_leader_ready_creates_worker_sts_only_after_leader_ready() -> None:
    """startupPolicy LeaderReady: no worker sts until the leader's PodReady ⇒ serving later."""
    world, tl = run(scenario_doc([pool(count=2)], [lws(size=2, startupPolicy="LeaderReady")]))
    assert first_t(tl, POD_CREATED, "llm-0-1") >= first_t(tl, POD_READY, "llm-0")
    assert workload(tl)["timeToAllServingSeconds"] == pytest.approx(324.0, abs=1.0)


def test_size_one_creates_no_worker_statefulset() -> None:
    """size==1 ⇒ no worker sts at all (L:pkg/controllers/pod_controller.go:136-139)."""
    world, tl = run(scenario_doc([pool(count=2)], [lws(replicas=2, size=1)]))
    assert [s.name for s in world.store.list("StatefulSet")] == ["llm"]
    assert workload(tl)["groupsServing"] == 2


# -- labels (L:pkg/webhooks/pod_webhook.go:110-166,190-192) ----------------------------------


def test_group_labels_and_group_key() -> None:
    world, _ = run(scenario_doc([pool(count=4)], [lws(replicas=2, size=2)]))
    leader, worker = pod(world, "llm-1"), pod(world, "llm-1-1")
    rev = leader.labels[P + "template-revision-hash"]
    assert leader.labels[P + "name"] == worker.labels[P + "name"] == "llm"
    assert (leader.labels[P + "worker-index"], worker.labels[P + "worker-index"]) == ("0", "1")
    assert leader.labels[P + "group-index"] == worker.labels[P + "group-index"] == "1"
    assert leader.labels[P + "group-key"] == worker.labels[P + "group-key"] == sha1("default/llm-1")
    assert rev and worker.labels[P + "template-revision-hash"] == rev
    assert dict(worker.template.annotations)[P + "leader-name"] == "llm-1"
    assert dict(worker.template.annotations)[P + "size"] == "2"


# -- readiness per version (L:pkg/utils/statefulset/statefulset_utils.go:48-51, lws#705) ---


@pytest.mark.parametrize(
    ("version", "reported"), [("v0.7.0", 2), ("v0.8.0", 2), ("v0.9.0", 1), ("v0.10.0", 1)]
)
def test_group_ready_counting_per_lws_version(version: str, reported: int) -> None:
    """v0.7/v0.8: a group is ready when its worker pods exist, even Pending; v0.9+: when available."""
    doc = scenario_doc([pool(count=3)], [lws(replicas=2, size=2)], controller={"lwsVersion": version})
    _, tl = run(doc)
    w = workload(tl)
    assert w["groupsServing"] == 1
    assert w["groupsReadyReported"] == reported


# -- capacity shortfall without gang scheduling (L:pkg/schedulerprovider off, lws#810) ----------------


def test_capacity_shortfall_places_groups_partially_and_v07_overreports() -> None:
    """4 groups × 4 pods, 12 one-pod nodes, no gang: every pod is scheduled on its own, 12 bind,
    4 wait forever; no group is recreated for Pending pods (lws#167); v0.7 still reports all 4 ready."""
    _, tl = run(scenario_doc([pool(count=12)], [lws(replicas=4, size=4)]))
    report = build_report(tl)
    w = report["workloads"][0]
    assert len(recs(tl, POD_SCHEDULED)) == 12 and len(report["pendingPods"]) == 4
    assert w["groupsServing"] < 4
    assert any(0 < sum(p["node"] is not None for p in g["pods"]) < 4 for g in w["groups"])
    assert w["groupsReadyReported"] == 4
    assert not recs(tl, GROUP_RECREATED)


def test_capacity_shortfall_outcome_varies_with_api_interleaving_as_on_the_real_control_plane() -> None:
    """lws#810 without a gang scheduler: which groups complete depends on how the API latencies of
    concurrent StatefulSet syncs interleave pod creations. On the real control plane (lwssim emulator)
    27 trials of 4 groups x 4 pods on 12 nodes placed {2,2,4,4} 12 times, {1,3,4,4} 9, {2,3,3,4} 5 and
    {0,4,4,4} once: 1 to 3 groups serving. The simulator draws timing.apiLatency per call, so seeds give
    several shapes, always 12 pods bound and never all 4 groups; tests/e2e/test_shortfall_shape.py compares
    the two distributions."""
    shapes, serving = set(), set()
    for seed in range(20):
        _, tl = run(scenario_doc([pool(count=12)], [lws(replicas=4, size=4)], seed=seed))
        w = workload(tl)
        placed = tuple(sorted(sum(p["node"] is not None for p in g["pods"]) for g in w["groups"]))
        assert sum(placed) == 12
        shapes.add(placed)
        serving.add(w["groupsServing"])
    assert len(shapes) >= 2
    assert max(serving) <= 3 and len(serving) >= 2


# -- exclusive placement (L:pkg/webhooks/pod_webhook.go:195-257,
#    L:pkg/controllers/pod_controller.go:160-171,241-280)


def test_exclusive_topology_one_group_per_domain_workers_pinned_by_node_selector() -> None:
    world, tl = run(scenario_doc([racked(6)], [lws(replicas=3, size=2, annotations=EXCLUSIVE)]))
    assert workload(tl)["groupsServing"] == 3
    racks = [rack_of(world, f"llm-{g}") for g in range(3)]
    assert len(set(racks)) == 3  # leaders one per domain
    for g in range(3):
        worker = pod(world, f"llm-{g}-1")
        assert rack_of(world, f"llm-{g}-1") == racks[g]
        assert worker.node_selector == ((RACK, racks[g]),)
        assert worker.affinity == () and worker.anti_affinity == ()  # workers never get group affinity
        leader = pod(world, f"llm-{g}")
        key = leader.labels[P + "group-key"]
        (aff,) = leader.affinity
        (anti,) = leader.anti_affinity
        assert aff.topology_key == anti.topology_key == RACK
        assert aff.selector.matches({P + "group-key": key})
        assert anti.selector.matches({P + "group-key": "other"}) and not anti.selector.matches(
            {P + "group-key": key}
        )


def test_exclusive_domain_too_small_workers_pending_forever_leader_stays() -> None:
    """No rescheduling: a domain that cannot fit all workers leaves them Pending; the leader stays
    (the webhook's pod affinity is all there is, L:pkg/webhooks/pod_webhook.go:195-257)."""
    world, tl = run(scenario_doc([racked(4)], [lws(replicas=1, size=3, annotations=EXCLUSIVE)], horizon="2h"))
    report = build_report(tl)
    (pending,) = report["pendingPods"]
    assert pending["name"] in ("llm-0-1", "llm-0-2")
    hist = f"2 Insufficient {GPU}, 2 node(s) didn't match Pod's node affinity/selector"
    post = "2 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling"
    assert pending["reason"] == f"0/4 nodes are available: {hist}." + PREEMPT.format(n=4, parts=post)
    assert len(recs(tl, POD_CREATED, "llm-0")) == 1 and not recs(tl, GROUP_RECREATED)
    assert pod(world, "llm-0").node is not None


def test_exclusive_topology_blocks_other_lws_in_same_namespace_only() -> None:
    """lws#539: the anti-affinity term matches any pod with another group-key in the namespace, even of
    another LWS; other namespaces are not affected (term namespaces default to the pod's own)."""
    one_rack = racked(2)
    a = lws("a", size=1, gpus=1, annotations=EXCLUSIVE)
    b = lws("b", size=1, gpus=1, annotations=EXCLUSIVE)
    world, tl = run(scenario_doc([one_rack], [a, b]))
    (pending,) = build_report(tl)["pendingPods"]  # whichever leader the scheduler saw second
    placed = {"a-0", "b-0"} - {pending["name"]}
    assert all(pod(world, name).node is not None for name in placed) and len(placed) == 1
    post = "2 No preemption victims found for incoming pod"
    assert pending["reason"] == "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules." + (
        PREEMPT.format(n=2, parts=post)
    )
    b_other = lws("b", size=1, gpus=1, annotations=EXCLUSIVE, namespace="other")
    _, tl = run(scenario_doc([one_rack], [a, b_other]))
    assert build_report(tl)["pendingPods"] == []


# -- subgroups (L:pkg/webhooks/pod_webhook.go:135-166,259-265) ----------------------------------


SUBGROUP = {"subGroupPolicy": {"subGroupSize": 2}}


def test_subgroup_exclusive_placement_one_domain_per_subgroup() -> None:
    """size 4, subGroupSize 2 ⇒ (size-1)%2≠0 ⇒ index = w/2: leader+worker 1 in subgroup 0, workers 2,3
    in subgroup 1; subgroup-exclusive-topology puts each subgroup in its own rack."""
    ann = {P + "subgroup-exclusive-topology": RACK}
    world, tl = run(scenario_doc([racked(4)], [lws(size=4, annotations=ann, **SUBGROUP)]))
    names = ["llm-0", "llm-0-1", "llm-0-2", "llm-0-3"]
    assert [pod(world, n).labels[P + "subgroup-index"] for n in names] == ["0", "0", "1", "1"]
    racks = [rack_of(world, n) for n in names]
    assert racks[0] == racks[1] != racks[2] == racks[3]
    assert workload(tl)["groupsServing"] == 1


def test_subgroup_index_when_size_minus_one_divisible() -> None:
    """(size-1) % subGroupSize == 0 ⇒ index = (w-1)/subGroupSize: the leader is an extra pod of subgroup 0."""
    world, _ = run(scenario_doc([pool(count=5)], [lws(size=5, **SUBGROUP)]))
    got = [
        pod(world, n).labels[P + "subgroup-index"]
        for n in ("llm-0", "llm-0-1", "llm-0-2", "llm-0-3", "llm-0-4")
    ]
    assert got == ["0", "0", "0", "1", "1"]


@pytest.mark.parametrize(
    ("version", "indexes"), [("v0.9.0", ["0", "0", "1", "2"]), ("v0.10.0", ["0", "1", "2", "3"])]
)
def test_subgroup_of_one_is_each_pod_from_v0_10__lws_918(version: str, indexes: list[str]) -> None:
    """subGroupSize 1: (size-1) % 1 == 0, so before v0.10 worker w got index w-1 (worker 1 shared the leader's
    subgroup 0); v0.10's getSubGroupIndex also asks size % 1 != 0, which fails: index w."""
    doc = scenario_doc(
        [pool(count=4)], [lws(size=4, subGroupPolicy={"subGroupSize": 1})], controller={"lwsVersion": version}
    )
    world, _ = run(doc)
    assert [
        pod(world, n).labels[P + "subgroup-index"] for n in ("llm-0", "llm-0-1", "llm-0-2", "llm-0-3")
    ] == indexes


def test_subgroup_key_label_value() -> None:
    world, _ = run(scenario_doc([pool(count=4)], [lws(size=4, **SUBGROUP)]))
    assert pod(world, "llm-0").labels[P + "subgroup-key"] == sha1("llm-0/0")
    assert pod(world, "llm-0-3").labels[P + "subgroup-key"] == sha1("llm-0/1")


# -- KServe LLMInferenceService (kserve/kserve) --------------------------------------------------------


def test_llmisvc_runs_as_lws_kserve_mn_with_size_data_over_data_local() -> None:
    """size = data/dataLocal (K:pkg/apis/serving/v1alpha2/llm_inference_service_types_func.go:98-113);
    LWS `<name>-kserve-mn`."""
    svc = {
        "apiVersion": "serving.kserve.io/v1alpha2",
        "kind": "LLMInferenceService",
        "metadata": {"name": "ds"},
        "spec": {
            "replicas": 1,
            "parallelism": {"data": 32, "dataLocal": 8},
            "template": {
                "containers": [{"name": "main", "image": "img:1", "resources": {"limits": {GPU: 8}}}]
            },
            "worker": {"containers": [{"name": "main", "image": "img:1", "resources": {"limits": {GPU: 8}}}]},
        },
    }
    world, tl = run(scenario_doc([pool(count=4)], [svc]))
    names = sorted(r.subject for r in recs(tl, POD_CREATED))
    assert names == ["ds-kserve-mn-0", "ds-kserve-mn-0-1", "ds-kserve-mn-0-2", "ds-kserve-mn-0-3"]
    assert isinstance(world.store.get("StatefulSet", "default/ds-kserve-mn-0"), StatefulSet)
    w = workload(tl)
    assert (w["name"], w["kind"], w["size"], w["replicas"], w["groupsServing"]) == (
        "ds",
        "LLMInferenceService",
        4,
        1,
        1,
    )
