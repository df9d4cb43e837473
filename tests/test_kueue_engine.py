"""Kueue's admission of LeaderWorkerSet groups in the simulator (lwssim/engine/kueue): quota, gates,
messages, preemption, cohorts, queueing strategies and waitForPodsReady, on scenario files as users write
them (docs/kueue-v0.17-semantics.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from support import GPU, container, lws, pool, run, run_cli, scenario_doc, write_scenario

from lwssim.analysis.explain import explain
from lwssim.analysis.report import build_report, to_json
from lwssim.engine.kueue.quota import QueueQuota, build, quantity_string
from lwssim.model.kueue import ClusterQueue, FlavorQuotas, ResourceGroup, ResourceQuota
from lwssim.timeline import POD_UNGATED, WORKLOAD_ADMITTED, WORKLOAD_EVICTED

KUEUE = "kueue.x-k8s.io/v1beta2"
ENABLED = {
    "kueue": {
        "enabled": True,
        "integrations": {"frameworks": ["leaderworkerset.x-k8s.io/leaderworkerset", "pod"]},
    }
}
TIMING = {"imagePull": {"cold": "5s"}, "containerStart": "0s", "modelLoad": "25s", "termination": "0s"}
GATED = "Scheduling is blocked due to non-empty scheduling gates"


def flavor(name: str = "gpu", **spec: object) -> dict:
    return {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": {"name": name}, "spec": spec}


def cluster_queue(name: str = "cq", gpus: int = 32, **spec: object) -> dict:
    resource: dict = {"name": GPU, "nominalQuota": gpus}
    for key in ("borrowingLimit", "lendingLimit"):
        if key in spec:
            resource[key] = spec.pop(key)
    body: dict = {
        "namespaceSelector": {},
        "resourceGroups": [
            {"coveredResources": [GPU], "flavors": [{"name": "gpu", "resources": [resource]}]}
        ],
        **spec,
    }
    return {"apiVersion": KUEUE, "kind": "ClusterQueue", "metadata": {"name": name}, "spec": body}


def local_queue(name: str = "lq", cq: str = "cq") -> dict:
    return {
        "apiVersion": KUEUE,
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterQueue": cq},
    }


def priority_class(name: str, value: int) -> dict:
    return {"apiVersion": KUEUE, "kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value}


def queued(manifest: dict, queue: str = "lq", priority: str | None = None) -> dict:
    labels = {"kueue.x-k8s.io/queue-name": queue}
    if priority:
        labels["kueue.x-k8s.io/priority-class"] = priority
    manifest["metadata"]["labels"] = labels
    return manifest


def doc(workloads: list[dict], nodes: int = 6, horizon: str = "5m", kueue: dict | None = None, **kw) -> dict:
    controller = {"kueue": {**ENABLED["kueue"], **(kueue or {})}}
    d = scenario_doc([pool("gpu", nodes)], [], TIMING, controller, horizon)
    d["spec"]["workloads"] = [w if "manifest" in w else {"manifest": w} for w in workloads]
    d["spec"].update(kw)
    return d


def groups(report: dict, name: str = "llm") -> list[dict]:
    return next(w for w in report["workloads"] if w["name"] == name)["groups"]


def simulate(d: dict):
    world, tl = run(d)
    return world, tl, build_report(tl)


def test_quota_for_two_of_three_groups_leaves_the_third_gated_with_kueues_message():
    world, tl, report = simulate(
        doc([flavor(), cluster_queue(gpus=32), local_queue(), queued(lws(replicas=3))])
    )
    g = groups(report)
    assert [x["admittedAtSeconds"] for x in g] == [0.0, 0.0, None]
    assert [x["serving"] for x in g] == [True, True, False]
    third = g[2]["admission"]
    assert third["pendingReason"] == "Pending"
    assert third["pendingMessage"] == (
        "couldn't assign flavors to pod set main: "
        "insufficient unused quota for nvidia.com/gpu in flavor gpu, 16 more needed"
    )
    assert third["waitingSeconds"] == 300.0
    assert {p["pendingReason"] for p in g[2]["pods"]} == {GATED}
    assert {p["node"] is None for p in g[2]["pods"]} == {True}
    ungated = {r.subject for r in tl.records if r.kind == POD_UNGATED}
    assert ungated == {"llm-0", "llm-0-1", "llm-1", "llm-1-1"}
    words = [e["message"] for e in explain(world.scenario, tl)["explanations"]]
    assert any(
        m.startswith(
            "group 2 of llm waits for admission: ClusterQueue cq has 0 of 32 nvidia.com/gpu free, "
            "a group needs 16 (Kueue: couldn't assign flavors"
        )
        for m in words
    ), words


def test_a_leader_template_makes_two_pod_sets_and_the_leader_counts_against_the_worker():
    """PodSets leader (1) then worker (size−1); the worker's check includes the leader's request
    ("previously considered podsets requests")."""
    big = queued(
        lws(
            replicas=1,
            size=3,
            leader={"containers": [{"name": "l", "image": "i", "resources": {"limits": {GPU: "8"}}}]},
        )
    )
    _, _, report = simulate(doc([flavor(), cluster_queue(gpus=16), local_queue(), big]))
    (g,) = groups(report)
    assert g["admittedAtSeconds"] is None
    assert g["admission"]["pendingMessage"] == (
        "couldn't assign flavors to pod set worker: insufficient quota for nvidia.com/gpu in flavor gpu, "
        "previously considered podsets requests (8) + current podset request (16) > maximum capacity (16)"
    )


def test_a_queue_name_without_local_queue_is_inadmissible_as_in_kueue():
    _, _, report = simulate(
        doc([flavor(), cluster_queue(), local_queue(), queued(lws(replicas=1), queue="nope")])
    )
    (g,) = groups(report)
    assert g["admission"]["pendingReason"] == "Inadmissible"
    assert g["admission"]["pendingMessage"] == "LocalQueue nope doesn't exist"
    assert g["serving"] is False and {p["pendingReason"] for p in g["pods"]} == {GATED}


def test_an_lws_without_the_queue_label_is_not_managed():
    _, tl, report = simulate(doc([flavor(), cluster_queue(gpus=0), local_queue(), lws(replicas=1)]))
    (g,) = groups(report)
    assert g["serving"] is True and "admission" not in g
    assert not [r for r in tl.records if r.kind.startswith("Workload")]


@pytest.mark.parametrize("policy, preempted", [("LowerPriority", 1), ("Never", 0)])
def test_a_higher_priority_workload_preempts_within_the_cluster_queue(policy, preempted):
    low = queued(lws("low", replicas=2), priority="low")
    high = queued(lws("high", replicas=1), priority="high")
    d = doc(
        [
            flavor(),
            cluster_queue(gpus=32, preemption={"withinClusterQueue": policy}),
            local_queue(),
            priority_class("low", 100),
            priority_class("high", 1000),
            low,
            {"at": "2m", "manifest": high},
        ],
        horizon="6m",
    )
    _, tl, report = simulate(d)
    evicted = [r for r in tl.records if r.kind == WORKLOAD_EVICTED]
    assert len(evicted) == preempted
    (h,) = groups(report, "high")
    if preempted:
        assert evicted[0].workload == "low" and evicted[0].get("reason") == "Preempted"
        assert "due to prioritization in the ClusterQueue; preemptor path: /cq; preemptee path: /cq" in str(
            evicted[0].get("message")
        )
        assert h["admittedAtSeconds"] == pytest.approx(120.0, abs=1.0) and h["serving"] is True
        lows = groups(report, "low")
        assert sorted(x["admittedAtSeconds"] is None for x in lows) == [False, True]
        waiting = next(x for x in lows if x["admittedAtSeconds"] is None)
        assert waiting["admission"]["evictions"][0]["reason"] == "Preempted"
        assert {p["pendingReason"] for p in waiting["pods"]} == {GATED}  # recreated by LWS, gated again
    else:
        assert h["admittedAtSeconds"] is None
        assert (
            "insufficient unused quota for nvidia.com/gpu in flavor gpu, 16 more needed"
            in (h["admission"]["pendingMessage"])
        )


def test_wait_for_pods_ready_evicts_a_group_that_cannot_start_and_backs_off():
    stuck = queued(lws(replicas=1, worker_spec={"nodeSelector": {"pool": "none"}}))
    d = doc(
        [flavor(), cluster_queue(), local_queue(), stuck],
        horizon="10m",
        kueue={"waitForPodsReady": {"timeout": "1m", "requeuingStrategy": {"backoffBaseSeconds": 30}}},
    )
    _, tl, report = simulate(d)
    evictions = [r.t for r in tl.records if r.kind == WORKLOAD_EVICTED]
    admissions = [r.t for r in tl.records if r.kind == WORKLOAD_ADMITTED]
    assert evictions[0] == pytest.approx(60.0)
    assert {r.get("reason") for r in tl.records if r.kind == WORKLOAD_EVICTED} == {"PodsReadyTimeout"}
    # admitted again only after the back-off: 30 s, then 60 s, then 120 s
    gaps = [a - e for e, a in zip(evictions, admissions[1:], strict=False)]
    assert gaps[:3] == pytest.approx([30.0, 60.0, 120.0], abs=0.5)
    (g,) = groups(report)
    assert g["admission"]["evictions"][0]["message"].startswith("Exceeded the PodsReady timeout default/")


def test_wait_for_pods_ready_lets_a_group_that_starts_in_time_be():
    d = doc(
        [flavor(), cluster_queue(), local_queue(), queued(lws(replicas=2))],
        kueue={"waitForPodsReady": {"timeout": "1m"}},
    )
    _, tl, report = simulate(d)
    assert not [r for r in tl.records if r.kind == WORKLOAD_EVICTED]
    assert [g["serving"] for g in groups(report)] == [True, True]


def test_a_cluster_queue_borrows_from_its_cohort_and_the_lender_reclaims():
    a = cluster_queue("a", gpus=16, cohortName="c")
    b = cluster_queue("b", gpus=16, cohortName="c", preemption={"reclaimWithinCohort": "Any"})
    borrower = queued(lws("train", replicas=2), queue="la")
    owner = queued(lws("serve", replicas=1), queue="lb")
    d = doc(
        [
            flavor(),
            a,
            b,
            local_queue("la", "a"),
            local_queue("lb", "b"),
            borrower,
            {"at": "2m", "manifest": owner},
        ],
        nodes=4,
        horizon="6m",
    )
    _, tl, report = simulate(d)
    assert [x["admittedAtSeconds"] for x in groups(report, "train")].count(0.0) == 1
    evicted = [r for r in tl.records if r.kind == WORKLOAD_EVICTED]
    assert len(evicted) == 1 and evicted[0].workload == "train"
    assert "due to reclamation within the cohort; preemptor path: /c/b; preemptee path: /c/a" in str(
        evicted[0].get("message")
    )
    (s,) = groups(report, "serve")
    assert s["serving"] is True and s["admission"]["clusterQueue"] == "b"


@pytest.mark.parametrize("strategy, small_admitted", [("BestEffortFIFO", True), ("StrictFIFO", False)])
def test_strict_fifo_holds_newer_workloads_behind_a_head_that_does_not_fit(strategy, small_admitted):
    d = doc(
        [
            flavor(),
            cluster_queue(gpus=32, queueingStrategy=strategy),
            local_queue(),
            queued(lws("first", replicas=1)),
            {"at": "1m", "manifest": queued(lws("big", replicas=1, size=4))},
            {"at": "2m", "manifest": queued(lws("small", replicas=1))},
        ]
    )
    _, _, report = simulate(d)
    assert groups(report, "big")[0]["admittedAtSeconds"] is None
    assert (groups(report, "small")[0]["admittedAtSeconds"] is not None) is small_admitted


def test_a_recreated_group_keeps_its_admission():
    """Pods LWS recreates after a failure are ungated at once with the same admission (§1.7)."""
    d = doc(
        [flavor(), cluster_queue(), local_queue(), queued(lws(replicas=1))],
        faults={"scripted": [{"at": "2m", "podCrash": "llm-0-1"}]},
    )
    _, tl, report = simulate(d)
    (g,) = groups(report)
    assert g["recreations"] == 1 and g["serving"] is True
    assert g["admission"]["admissions"] == 1
    assert len([r for r in tl.records if r.kind == POD_UNGATED]) == 4  # 2 pods, twice


def test_same_seed_same_bytes():
    d = doc([flavor(), cluster_queue(gpus=32), local_queue(), queued(lws(replicas=3))])
    assert to_json(simulate(d)[2]) == to_json(simulate(d)[2])


def _queue(
    nominal: int, borrowing: int | None = None, lending: int | None = None, cohort: str = "c"
) -> ClusterQueue:
    r = ResourceQuota(GPU, nominal, borrowing, lending)
    return ClusterQueue(cohort + str(nominal), (ResourceGroup((GPU,), (FlavorQuotas("f", (r,)),)),), cohort)


def test_quota_tree_follows_kueues_resource_node():
    """available / potentialAvailable as resource_node.go computes them."""
    alone = build((ClusterQueue("a", _queue(16).resource_groups),))["a"]
    fr = ("f", GPU)
    alone.add(fr, 8)
    assert (alone.available(fr), alone.potential(fr)) == (8, 16)
    qs = build((_queue(16, lending=4), _queue(32, borrowing=8)))
    lender, borrower = qs["c16"], qs["c32"]
    # the cohort holds what each lends: 4 of the lender's 16, all 32 of the other
    assert lender.potential(fr) == 12 + 36 and borrower.potential(fr) == min(32 + 8, 36)
    borrower.add(fr, 36)  # uses all its own 32 and borrows the lender's 4
    assert borrower.available(fr) == 0 and lender.available(fr) == 12  # 12 kept back by the lending limit
    assert isinstance(borrower, QueueQuota) and borrower.borrowing(fr)
    borrower.remove(fr, 36)
    assert lender.available(fr) == 12 + 36 and borrower.available(fr) == min(32 + 8, 36)


@pytest.mark.parametrize(
    "resource, amount, text",
    [
        (GPU, 16, "16"),
        ("cpu", 500, "500m"),
        ("cpu", 2000, "2"),
        ("memory", 64 * 2**30, "64Gi"),
        (GPU, 2000, "2k"),
    ],
)
def test_quantities_are_printed_as_kueue_prints_them(resource, amount, text):
    assert quantity_string(resource, amount) == text


RACK = "example.com/rack"
REQUIRED = "kueue.x-k8s.io/podset-required-topology"
PREFERRED = "kueue.x-k8s.io/podset-preferred-topology"
GROUP = "kueue.x-k8s.io/podset-group-name"


def topology(name: str = "t") -> dict:
    levels = [{"nodeLabel": RACK}, {"nodeLabel": "kubernetes.io/hostname"}]
    return {"apiVersion": KUEUE, "kind": "Topology", "metadata": {"name": name}, "spec": {"levels": levels}}


def tas_lws(name: str, replicas: int, size: int, annotation: str | None = REQUIRED) -> dict:
    """Leader and workers of 8 GPUs each; both templates ask for one rack, as one group."""
    m = lws(
        name,
        replicas=replicas,
        size=size,
        leader={"containers": [{"name": "l", "image": "i", "resources": {"limits": {GPU: "8"}}}]},
    )
    ann = {annotation: RACK, GROUP: "g"} if annotation else {}
    tmpl = m["spec"]["leaderWorkerTemplate"]
    for key in ("leaderTemplate", "workerTemplate"):
        tmpl[key]["metadata"] = {"annotations": dict(ann)}
    return queued(m)


def tas_doc(*workloads: dict, nodes: int = 8, rack: int = 4) -> dict:
    d = doc(
        [
            flavor(nodeLabels={"pool": "gpu"}, topologyName="t"),
            topology(),
            cluster_queue(gpus=1000),
            local_queue(),
            *workloads,
        ],
        nodes=nodes,
    )
    d["spec"]["cluster"]["nodePools"] = [
        pool("gpu", nodes, labels={"pool": "gpu"}, topology=[{"key": RACK, "size": rack}])
    ]
    return d


def racks(report: dict, name: str) -> list[set[str]]:
    """The racks each group's pods landed on (nodes gpu-<i>, racks of 4 in order)."""
    return [{f"rack-{int(n.split('-')[1]) // 4}" for n in g["nodes"]} for g in groups(report, name)]


def test_tas_required_rack_keeps_each_group_in_one_rack_tightest_first():
    _, tl, report = simulate(tas_doc(tas_lws("a", 2, 3)))
    g = groups(report, "a")
    assert [x["serving"] for x in g] == [True, True]
    assert racks(report, "a") == [{"rack-0"}, {"rack-1"}]  # BestFit: rack 0 first, then the emptier rack 1
    # pods are pinned to the assigned hosts: every pod has exactly the node TAS gave it
    assert all(len(x["nodes"]) == 3 for x in g)


def test_tas_required_rack_too_small_waits_with_the_topology_message():
    _, _, report = simulate(tas_doc(tas_lws("a", 1, 5)))
    (g,) = groups(report, "a")
    assert g["admittedAtSeconds"] is None
    assert g["admission"]["pendingMessage"].startswith(
        'couldn\'t assign flavors to pod set leader: topology "t" allows to fit only'
    )


def test_tas_preferred_rack_spreads_when_no_rack_holds_the_group():
    world, _, report = simulate(tas_doc(tas_lws("a", 1, 5, PREFERRED)))
    (g,) = groups(report, "a")
    assert g["serving"] is True and racks(report, "a") == [{"rack-0", "rack-1"}]
    assert {p["name"]: p["node"] for p in g["pods"]} == pinned(world)


def pinned(world) -> dict[str, str]:
    """Each live pod's hostname nodeSelector, as the TopologyUngater set it."""
    return {
        p.name: dict(p.node_selector).get("kubernetes.io/hostname", "")
        for p in world.store.list("Pod")
        if not p.deleting
    }


def test_tas_implied_in_a_tas_only_queue_pins_every_pod_to_a_host():
    world, _, report = simulate(tas_doc(tas_lws("a", 2, 2, None)))
    assert [x["serving"] for x in groups(report, "a")] == [True, True]
    hosts = pinned(world)
    assert len(hosts) == 4 and all(hosts.values()) and len(set(hosts.values())) == 4
    assert {p["name"]: p["node"] for g in groups(report, "a") for p in g["pods"]} == hosts


def test_tas_slices_are_refused_with_the_annotation_path():
    m = tas_lws("a", 1, 3)
    m["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["annotations"][
        "kueue.x-k8s.io/podset-slice-size"
    ] = "2"
    out = run_cli(["simulate", str(write_scenario(Path(tempfile.mkdtemp()), tas_doc(m)))])
    assert out.code == 2 and "leaderWorkerTemplate.workerTemplate.metadata.annotati" in out.stderr
    assert "TAS slices" in out.stderr and "Traceback" not in out.stderr


def test_a_priority_class_label_naming_no_class_creates_no_workload():
    _, tl, report = simulate(
        doc([flavor(), cluster_queue(), local_queue(), queued(lws(replicas=1), priority="missing")])
    )
    (g,) = groups(report)
    assert g["serving"] is False and "admission" not in g
    assert {p["pendingReason"] for p in g["pods"]} == {GATED}


def test_a_surge_group_needs_its_own_quota_during_a_rollout():
    """With maxSurge 1, LWS adds group 2 during the rollout; Kueue creates its Workload, which needs quota
    like any other (filterWorkloads, isRollingUpdateWithSurge). With quota for 2 groups it waits gated, and
    the rollout, which waits for the surge group to be ready, stalls with both old groups serving."""
    m = queued(lws(replicas=2, rolloutStrategy={"rollingUpdateConfiguration": {"maxSurge": 1}}))
    d = doc(
        [flavor(), cluster_queue(gpus=32), local_queue(), m],
        horizon="20m",
        events=[
            {
                "at": "3m",
                "patch": {
                    "workload": "llm",
                    "spec": {
                        "leaderWorkerTemplate": {
                            "workerTemplate": {"spec": {"containers": [container(8, "img:2")]}}
                        }
                    },
                },
            }
        ],
    )
    _, tl, report = simulate(d)
    created = {r.group for r in tl.records if r.kind == "WorkloadCreated"}
    assert created == {0, 1, 2}
    surge_admitted = [r for r in tl.records if r.kind == WORKLOAD_ADMITTED and r.group == 2]
    assert surge_admitted == []
    w = next(w for w in report["workloads"] if w["name"] == "llm")
    assert w["groupsServing"] == 2 and w["rollouts"][0]["finishedAtSeconds"] is None
    assert w["groups"][2]["admission"]["pendingMessage"].endswith("16 more needed")


def node_down(d: dict, node: str) -> dict:
    d["spec"]["horizon"] = "30m"
    d["spec"]["faults"] = {"scripted": [{"at": "5m", "nodeDown": {"node": node}}], "forceDeleteAfter": "2m"}
    return d


def test_tas_replaces_a_failed_node_inside_the_required_rack():
    """The worker on gpu-1 gets another host of rack 0 (gpu-3), the rest of the assignment stays."""
    world, tl, report = simulate(node_down(tas_doc(tas_lws("a", 1, 3)), "gpu-1"))
    assert not [r for r in tl.records if r.kind == WORKLOAD_EVICTED]
    (g,) = groups(report, "a")
    assert g["serving"] is True and g["admission"]["admissions"] == 1
    assert pinned(world) == {"a-0": "gpu-0", "a-0-1": "gpu-3", "a-0-2": "gpu-2"}


def test_tas_evicts_a_group_whose_rack_has_no_replacement_and_admits_it_elsewhere():
    world, tl, report = simulate(node_down(tas_doc(tas_lws("a", 1, 4)), "gpu-1"))
    (evicted,) = [r for r in tl.records if r.kind == WORKLOAD_EVICTED]
    assert evicted.get("reason") == "NodeFailures"
    assert (
        evicted.get("message")
        == "Workload was evicted as there was no replacement for unhealthy node(s): gpu-1"
    )
    assert evicted.t == pytest.approx(300 + 40 + 30)  # down, NotReady after 40 s, failed 30 s later
    (g,) = groups(report, "a")
    assert g["serving"] is True and g["admission"]["admissions"] == 2
    assert racks(report, "a") == [{"rack-1"}]


def test_the_report_keeps_each_cluster_queues_usage_over_time():
    """Reserved at admission, given back when the evicted group's quota is released (QuotaReserved=False)."""
    a = cluster_queue("a", gpus=16, cohortName="c")
    b = cluster_queue("b", gpus=16, cohortName="c", preemption={"reclaimWithinCohort": "Any"})
    d = doc(
        [
            flavor(),
            a,
            b,
            local_queue("la", "a"),
            local_queue("lb", "b"),
            queued(lws("train", replicas=2), queue="la"),
            {"at": "2m", "manifest": queued(lws("serve", replicas=1), queue="lb")},
        ],
        nodes=4,
        horizon="6m",
    )
    _, _, report = simulate(d)
    queues = {q["name"]: q for q in report["clusterQueues"]}
    gpu = "gpu/nvidia.com/gpu"
    assert queues["a"]["nominalQuota"] == {gpu: 16} and queues["a"]["usage"] == {gpu: 16}
    assert queues["a"]["usageOverTime"][0] == [0.0, {gpu: 32}]  # both groups, one borrowing
    assert queues["b"]["usage"] == {gpu: 16}
    released = next(t for t, u in queues["a"]["usageOverTime"] if u == {gpu: 16})
    admitted = next(t for t, u in queues["b"]["usageOverTime"] if u == {gpu: 16})
    assert 120.0 <= released <= admitted


def test_an_llm_inference_service_is_queued_by_the_labels_kserve_passes_to_its_lws():
    """KServe copies kueue.x-k8s.io labels to the LeaderWorkerSet it creates (<name>-kserve-mn)."""
    pod = {"containers": [{"name": "main", "image": "img", "resources": {"limits": {GPU: 8}}}]}
    svc = {
        "apiVersion": "serving.kserve.io/v1alpha2",
        "kind": "LLMInferenceService",
        "metadata": {"name": "svc", "labels": {"kueue.x-k8s.io/queue-name": "lq"}},
        "spec": {"replicas": 3, "parallelism": {"data": 2, "dataLocal": 1}, "template": pod, "worker": pod},
    }
    _, _, report = simulate(doc([flavor(), cluster_queue(gpus=32), local_queue(), svc]))
    g = groups(report, "svc")
    assert [x["admittedAtSeconds"] is not None for x in g] == [True, True, False]
    assert g[2]["admission"]["workload"].startswith("leaderworkerset-svc-kserve-mn-2-")


def test_a_workload_deleted_while_it_waits_is_never_admitted():
    """Scaling down deletes the Workloads of the groups above the new count (Reconcile); the one that was
    waiting for quota leaves its queue, so the quota freed goes to no one."""
    d = doc(
        [flavor(), cluster_queue(gpus=32), local_queue(), queued(lws(replicas=3))],
        events=[{"at": "2m", "scale": {"workload": "llm", "replicas": 1}}],
    )
    _, tl, report = simulate(d)
    assert [r.group for r in tl.records if r.kind == WORKLOAD_ADMITTED] == [0, 1]
    assert report["clusterQueues"][0]["usage"] == {"gpu/nvidia.com/gpu": 16}


def test_tas_pods_lose_the_topology_gate_at_the_next_workload_update_or_a_batch_period_later():
    """The TopologyUngater (topology_ungater.go): a pod created after its Workload's admission keeps the
    topology gate after its admission gate came off until the next Workload update (the next pod of its group
    joins the Workload's owners) or one UpdatesBatchPeriod (1 s) after the group's first pod was prepared,
    whichever is first; pods already waiting when their Workload is admitted are ungated at the admission."""
    d = tas_doc(tas_lws("a", 1, 4), tas_lws("b", 2, 4))
    d["spec"]["events"] = [{"at": "2m", "patch": {"workload": "a", "spec": {"replicas": 0}}}]
    _, tl, report = simulate(d)
    created = {r.subject: r.t for r in tl.records if r.kind == "PodCreated"}
    ungated = {r.subject: r.t for r in tl.records if r.kind == POD_UNGATED}
    admitted = {(r.subject.split("-")[1], r.group): r.t for r in tl.records if r.kind == WORKLOAD_ADMITTED}
    for lws_name, leader in (("a", "a-0"), ("b", "b-0")):
        pods = sorted((p for p in created if p == leader or p.startswith(f"{leader}-")), key=created.get)
        assert len(pods) == 4 and pods[0] == leader
        assert admitted[(lws_name, 0)] < created[leader]  # the StatefulSets come after the Workload
        batch = created[leader] + 1.0
        expected = [min(created[nxt], batch) for nxt in pods[1:]] + [batch]
        assert [ungated[p] for p in pods] == pytest.approx(expected)
        assert ungated[pods[0]] < batch - 0.5 and ungated[pods[-1]] == pytest.approx(batch)
    late = [p for p in ungated if p == "b-1" or p.startswith("b-1-")]
    # gated from the start; admitted when a's Workload is deleted (its terminating TAS pods are not usage)
    assert len(late) == 4 and created["b-1"] < 60
    assert admitted[("b", 1)] == 120 and {ungated[p] for p in late} == {admitted[("b", 1)]}
    assert [g["serving"] for g in groups(report, "b")] == [True, True]
