"""Faults and node lifecycle (issue 4 items 1-2). Sources: kubernetes/kubernetes v1.34.4
pkg/controller/nodelifecycle (node-monitor-grace-period, unreachable taints, MarkPodsNotReady),
pkg/controller/tainteviction and plugin/pkg/admission/defaulttolerationseconds (tolerationSeconds);
group recreation, kubernetes-sigs/lws v0.7.0 pkg/controllers/pod_controller.go:201-239; failure
rates and causes, the Llama 3 paper (Table 5)."""

from __future__ import annotations

from support import BASE, GPU, build
from support import recs as records
from support import simulate as run

from lwssim.engine.domains import FailureDomains
from lwssim.engine.nodes import unreachable_eviction_delay
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod, StatefulSet
from lwssim.model.cluster import NodePool, TopologyLevel, expand_pool
from lwssim.model.pod import PodTemplate, Toleration
from lwssim.timeline import NODE_DOWN, NODE_NOT_READY, NODE_UP, POD_DELETED, POD_DELETING, POD_NOT_READY


def pod_node(timeline, name: str) -> str:
    return str(
        [r for r in timeline.records if r.kind == "PodScheduled" and r.subject == name][-1].get("node")
    )


def node_down_of(pod: str, at: str = "1h", extra: list | None = None, **faults) -> dict:
    return {"faults": {**faults, "scripted": [{"at": at, "nodeDown": {"pod": pod}}] + (extra or [])}}


# -- node lifecycle ----------------------------------------------------------------------------------


def test_node_goes_not_ready_after_grace_period_and_its_pods_not_ready__ref_3_8_node_monitor(tmp_path):
    world, tl, _ = run(tmp_path, node_down_of("llm-0-1", nodeMonitorGracePeriod="50s"))
    down = records(tl, NODE_DOWN)[0]
    not_ready = records(tl, NODE_NOT_READY)[0]
    assert down.subject == not_ready.subject
    assert not_ready.t - down.t == 50.0
    [pod_not_ready] = records(tl, POD_NOT_READY, "llm-0-1")
    assert pod_not_ready.t == not_ready.t


def test_unreachable_taint_keeps_scheduler_off_the_dead_node__ref_taint_NoSchedule(tmp_path):
    world, tl, report = run(tmp_path, node_down_of("llm-0-1", forceDeleteAfter="10m"))
    dead = records(tl, NODE_DOWN)[0].subject
    i = world.nodes.index[dead]
    assert any(t.key == "node.kubernetes.io/unreachable" for t in world.nodes.taints(i))
    after = [r for r in tl.records if r.kind == "PodScheduled" and r.t > records(tl, NODE_NOT_READY)[0].t]
    assert after and all(r.get("node") != dead for r in after)
    assert report["workloads"][0]["groupsServing"] == 2


def test_pods_evicted_after_default_toleration_seconds_300__ref_DefaultTolerationSeconds(tmp_path):
    _, tl, _ = run(tmp_path, node_down_of("llm-0-1"))
    not_ready = records(tl, NODE_NOT_READY)[0]
    [deleting] = records(tl, POD_DELETING, "llm-0-1")
    assert deleting.t - not_ready.t == 300.0


def test_pod_toleration_seconds_override_the_default__ref_taint_eviction_getMinTolerationTime():
    assert unreachable_eviction_delay(PodTemplate()) == 300.0
    own = Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute", 60.0)
    assert unreachable_eviction_delay(PodTemplate(tolerations=(own,))) == 60.0
    forever = Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute", None)
    assert unreachable_eviction_delay(PodTemplate(tolerations=(forever,))) is None
    everything = Toleration("", "Exists")  # tolerates every taint, for ever: admission adds nothing
    assert unreachable_eviction_delay(PodTemplate(tolerations=(everything,))) is None
    other = Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule")
    assert unreachable_eviction_delay(PodTemplate(tolerations=(other,))) == 300.0


def test_evicted_pod_stays_terminating_until_node_returns__ref_3_8_lws508(tmp_path):
    world = build(tmp_path, node_down_of("llm-0-1"))
    node = None

    def capture():
        nonlocal node
        yield world.env.timeout(3599)
        node = world.store.get("Pod", "default/llm-0-1").node

    world.env.process(capture())
    world.env.run(until=3600)
    assert node is not None
    world2 = build(
        tmp_path,
        {
            "faults": {
                "scripted": [{"at": "1h", "nodeDown": {"node": node}}, {"at": "2h", "nodeUp": {"node": node}}]
            }
        },
        name="t2.yaml",
    )
    tl = world2.run()
    deleted = [r for r in records(tl, POD_DELETED, "llm-0-1") if r.t > 3600]
    assert deleted and deleted[0].t == 7200.0  # Terminating from eviction (1h 5m 40s) until the node answers
    assert [r.t for r in records(tl, NODE_UP)] == [7200.0]


def test_group_with_worker_on_dead_node_stays_down_without_force_delete__ref_3_8(tmp_path):
    _, _, report = run(tmp_path, node_down_of("llm-0-1"))
    w = report["workloads"][0]
    assert w["groupsServing"] == 1
    g0 = w["groups"][0]
    assert [p["phase"] for p in g0["pods"]] == ["Terminating", "Terminating"]


def test_force_delete_after_releases_the_stuck_group__ref_3_8_out_of_service(tmp_path):
    _, tl, report = run(tmp_path, node_down_of("llm-0-1", forceDeleteAfter="10m"))
    not_ready = records(tl, NODE_NOT_READY)[0].t
    gone = [r.t for r in records(tl, POD_DELETED, "llm-0-1") if r.t > not_ready]
    assert gone[0] == not_ready + 600.0
    assert report["workloads"][0]["groupsServing"] == 2


def test_repaired_node_comes_back_without_images_unless_configured__ref_issue4_item2(tmp_path):
    for keep in (False, True):
        world = build(tmp_path, {"faults": {"repairedNodesKeepImages": keep}}, name=f"k{keep}.yaml")
        world.env.run(until=1800)
        node = world.store.get("Pod", "default/llm-0").node
        i = world.nodes.index[node]
        assert world.nodes.has_image(i, "vllm")
        world.node_lifecycle.down(i, "test", 0)
        world.env.run(until=1900)
        world.node_lifecycle.up(i)
        assert world.nodes.has_image(i, "vllm") is keep


def test_node_return_restarts_containers_and_recreates_group__ref_3_8_restart(tmp_path):
    world = build(tmp_path)
    world.env.run(until=3500)
    node = world.store.get("Pod", "default/llm-0-1").node
    spec = {
        "faults": {
            "scripted": [{"at": "1h", "nodeDown": {"node": node}}, {"at": "62m", "nodeUp": {"node": node}}]
        }
    }
    _, tl, report = run(tmp_path, spec)
    restarted = records(tl, "ContainerRestarted", "llm-0-1")
    assert restarted and restarted[0].get("reason") == "NodeRestarted" and restarted[0].t == 3720.0
    assert report["workloads"][0]["groupRecreations"] == 1
    assert report["workloads"][0]["groupsServing"] == 2


# -- random faults -----------------------------------------------------------------------------------


def _year(tmp_path, faults: dict, count: int = 64, seed: int = 3):
    spec = {
        "seed": seed,
        "horizon": "8760h",
        "cluster": {"nodePools": [{**BASE["spec"]["cluster"]["nodePools"][0], "count": count}]},
        "faults": faults,
    }
    return run(tmp_path, spec, {"replicas": 1})


def test_node_failures_follow_rate_per_node_day__ref_defaults_llama3(tmp_path):
    _, tl, _ = _year(tmp_path, {"nodeFailures": {"ratePerNodeDay": 0.0038, "repair": "4h"}})
    n = len(records(tl, "Fault"))
    expected = 64 * 365 * 0.0038  # 88.8; thinning removes the ~0.1% of draws that hit a node already down
    assert abs(n - expected) < 5 * expected**0.5
    assert len(records(tl, NODE_DOWN)) == n


def test_failure_causes_follow_the_llama3_mix_and_set_repair_and_effect__ref_defaults(tmp_path):
    faults = {"nodeFailures": {"ratePerNodeDay": 0.05, "repair": "4h"}}  # default causes: Llama 3 Table 5
    _, tl, _ = _year(tmp_path, faults)
    causes = [r.get("cause") for r in records(tl, "Fault")]
    share = causes.count("gpu-hardware") / len(causes)
    assert abs(share - 268 / 419) < 0.05
    effects = {r.get("cause"): r.get("effect") for r in records(tl, "Fault")}
    assert effects["gpu-hardware"] == "nodeDown" and effects["software"] == "reboot"


def test_domain_failure_takes_down_every_node_of_the_rack__ref_correlated_failures(tmp_path):
    spec = {
        "faults": {
            "scripted": [
                {"at": "1h", "domainDown": {"key": "example.com/rack", "value": "h100-rack-1"}},
                {"at": "2h", "domainUp": {"key": "example.com/rack", "value": "h100-rack-1"}},
            ]
        }
    }
    _, tl, report = run(tmp_path, spec)
    downs = records(tl, NODE_DOWN)
    assert sorted(r.subject for r in downs) == ["h100-2", "h100-3"]
    assert all(r.t == 3600.0 for r in downs)
    assert sorted(r.subject for r in records(tl, NODE_UP)) == ["h100-2", "h100-3"]
    fault = report["faults"][0]
    assert fault["kind"] == "domainDown" and fault["target"] == "example.com/rack=h100-rack-1"
    on_rack = {p["name"] for w in report["workloads"] for g in w["groups"] for p in g["pods"]}
    assert fault["podsHit"] <= len(on_rack)


def test_failure_domain_graph_nests_racks_in_zones_and_reaches_nodes__ref_issue4_item1():
    pool = NodePool(
        "h100",
        8,
        ((GPU, 8),),
        topology=(TopologyLevel("topology.kubernetes.io/zone", 4), TopologyLevel("example.com/rack", 2)),
    )
    table = NodeTable(expand_pool(pool))
    domains = FailureDomains(table, ["example.com/rack", "topology.kubernetes.io/zone"])
    zone = ("topology.kubernetes.io/zone", "h100-zone-1")
    rack = ("example.com/rack", "h100-rack-2")
    assert domains.contains(zone, rack)
    assert not domains.contains(("topology.kubernetes.io/zone", "h100-zone-0"), rack)
    assert sorted(table.names[i] for i in domains.nodes_of(zone)) == ["h100-4", "h100-5", "h100-6", "h100-7"]
    assert sorted(table.names[i] for i in domains.nodes_of(rack)) == ["h100-4", "h100-5"]
    assert len(domains.domains("example.com/rack")) == 4


def test_random_domain_failures_hit_whole_domains(tmp_path):
    faults = {"domainFailures": [{"key": "example.com/rack", "ratePerDomainDay": 0.01, "repair": "2h"}]}
    _, tl, _ = _year(tmp_path, faults, count=8)
    fault_ids = {r.get("fault") for r in records(tl, "Fault")}
    assert len(fault_ids) > 5
    by_fault: dict = {}
    for r in records(tl, NODE_DOWN):
        by_fault.setdefault(r.get("fault"), []).append(r.subject)
    assert all(len(nodes) == 2 for nodes in by_fault.values())  # racks of 2 nodes


def test_container_crashes_follow_rate_per_pod_day__ref_issue4_item1(tmp_path):
    faults = {"containerCrashes": {"ratePerPodDay": 0.05}}
    _, tl, _ = _year(tmp_path, faults)
    crashes = records(tl, "Fault")
    expected = 2 * 365 * 0.05  # 2 running pods; the few minutes each recreation takes barely matter
    assert abs(len(crashes) - expected) < 5 * expected**0.5
    assert {r.get("cause") for r in crashes} <= {"gpu-xid-error", "oom-killed"}
    assert len(records(tl, "ContainerRestarted")) == len(crashes)


def test_fault_report_names_what_each_fault_hit__ref_issue4_item7(tmp_path):
    spec = node_down_of("llm-0-1", extra=[{"at": "2h", "podCrash": "llm-1"}])
    _, _, report = run(tmp_path, spec)
    node_fault, crash = report["faults"]
    assert node_fault == node_fault | {
        "atSeconds": 3600.0,
        "kind": "nodeDown",
        "cause": "scripted",
        "podsHit": 1,
        "groupsHit": 1,
    }
    assert crash["kind"] == "podCrash" and crash["target"] == "llm-1" and crash["podsHit"] == 1


def test_faults_are_deterministic_for_a_seed__ref_contract_determinism(tmp_path):
    faults = {
        "nodeFailures": {"ratePerNodeDay": 0.05, "repair": "4h"},
        "containerCrashes": {"ratePerPodDay": 0.1},
    }
    a = _year(tmp_path, faults)[2]
    b = _year(tmp_path, faults)[2]
    c = _year(tmp_path, faults, seed=4)[2]
    assert a == b
    assert a["faults"] != c["faults"]


def test_downtime_per_group_adds_up_to_unavailability__ref_issue4_item7(tmp_path):
    _, _, report = run(tmp_path, node_down_of("llm-0-1", forceDeleteAfter="10m"))
    w = report["workloads"][0]
    window = report["horizonSeconds"] - w["timeToAllServingSeconds"]
    down = sum(g["downtimeSeconds"] for g in w["groups"])
    assert w["groups"][0]["downtimeSeconds"] > 600
    assert w["groups"][1]["downtimeSeconds"] == 0
    assert abs(1 - down / (w["replicas"] * window) - w["availability"]) < 1e-5


def test_scheduler_sees_only_objects_through_the_store(tmp_path):
    world = build(tmp_path)
    world.env.run(until=600)
    assert all(isinstance(s, StatefulSet) for s in world.store.list("StatefulSet"))
    assert all(isinstance(p, Pod) for p in world.store.list("Pod"))
