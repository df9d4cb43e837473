"""Metrics from hand-built Timelines: what serving means, and the arithmetic of availability."""

from __future__ import annotations

import json

from lwssim import timeline as k
from lwssim.analysis.report import build_report, name_key, to_json
from lwssim.timeline import Timeline, WorkloadInfo

GPU_MSG = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


def make(replicas: int = 1, size: int = 2, horizon: float = 100.0) -> Timeline:
    return Timeline(
        horizon=horizon,
        workloads=[WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", replicas, size)],
        cluster={"nodes": 4, "gpus": 32, "pools": {"h100": 4}},
        scenario="s",
        seed=7,
    )


def pods(group: int, size: int) -> list[tuple[str, str]]:
    return [(f"llm-{group}", "leader")] + [(f"llm-{group}-{w}", "worker") for w in range(1, size)]


def bring_up(t: Timeline, group: int, size: int, at: float, ready: float, node: str = "n") -> None:
    """Create, bind, start and make Ready every pod of ``group``; Ready at ``ready``."""
    for name, role in pods(group, size):
        t.add(at, k.POD_CREATED, name, "llm", group, role, gpus=8, revision="r1")
        t.add(at, k.POD_SCHEDULED, name, "llm", group, role, node=f"{node}-{name}")
        t.add(at, k.POD_INITIALIZED, name, "llm", group, role)
        t.add(at, k.POD_CONTAINERS_STARTED, name, "llm", group, role)
        t.add(ready, k.POD_READY, name, "llm", group, role)


def workload(report: dict) -> dict:
    (w,) = report["workloads"]
    return w


def test_group_serves_only_when_every_pod_is_ready() -> None:
    t = make()
    bring_up(t, 0, 2, at=0, ready=10)
    t.records = [r for r in t.records if not (r.kind == k.POD_READY and r.subject == "llm-0-1")]
    w = workload(build_report(t))
    assert w["groupsServing"] == 0
    assert w["timeToAllServingSeconds"] is None and w["availability"] is None
    group = w["groups"][0]
    assert group["servingAtSeconds"] is None
    assert [(p["name"], p["phase"], p["readyAtSeconds"]) for p in group["pods"]] == [
        ("llm-0", "Running", 10.0),
        ("llm-0-1", "Running", None),
    ]


def test_serving_group_and_report_header() -> None:
    t = make()
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(12, k.LWS_STATUS, "llm", "llm", replicas=1, readyReplicas=1, updatedReplicas=1)
    r = build_report(t)
    assert (r["apiVersion"], r["kind"], r["scenario"], r["seed"]) == (
        "lwssim.io/v1alpha1",
        "SimulationReport",
        "s",
        7,
    )
    assert r["horizonSeconds"] == 100.0 and r["lwssimVersion"]
    assert r["cluster"] == {"nodes": 4, "gpus": 32, "gpusAllocated": 16}
    w = workload(r)
    assert (w["groupsServing"], w["groupsReadyReported"], w["timeToAllServingSeconds"]) == (1, 1, 10.0)
    assert w["availability"] == 1.0
    assert w["groups"][0]["nodes"] == ["n-llm-0", "n-llm-0-1"]
    assert r["pendingPods"] == []


def test_deleted_pod_breaks_serving_and_availability_is_time_average() -> None:
    t = make(horizon=110)
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(40, k.POD_DELETING, "llm-0-1", "llm", 0, "worker", reason="node lost")
    t.add(70, k.POD_DELETED, "llm-0-1", "llm", 0, "worker")
    w = workload(build_report(t))
    # Serving 10 → 40 of the 100 s from time-to-all-serving to the horizon.
    assert w["timeToAllServingSeconds"] == 10.0
    assert w["availability"] == 0.3
    assert w["groupsServing"] == 0
    assert [p["name"] for p in w["groups"][0]["pods"]] == ["llm-0"]
    assert w["groups"][0]["servingAtSeconds"] == 10.0  # first time, kept


def test_recreated_pod_with_same_name_serves_again() -> None:
    t = make(horizon=110)
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(30, k.POD_DELETING, "llm-0-1", "llm", 0, "worker")
    t.add(31, k.POD_DELETED, "llm-0-1", "llm", 0, "worker")
    t.add(31, k.POD_CREATED, "llm-0-1", "llm", 0, "worker", gpus=8)
    t.add(32, k.POD_SCHEDULED, "llm-0-1", "llm", 0, "worker", node="n-2")
    t.add(33, k.POD_CONTAINERS_STARTED, "llm-0-1", "llm", 0, "worker")
    t.add(60, k.POD_READY, "llm-0-1", "llm", 0, "worker")
    w = workload(build_report(t))
    assert w["groupsServing"] == 1
    assert w["availability"] == 0.7  # down 30 → 60 of 100 s
    assert w["groups"][0]["nodes"] == ["n-2", "n-llm-0"]
    assert w["servingOverTime"] == [[0.0, 0, 1], [10.0, 1, 1], [30.0, 0, 1], [60.0, 1, 1]]


def test_not_ready_and_restart_interrupt_serving() -> None:
    t = make(horizon=110)
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(20, k.POD_NOT_READY, "llm-0", "llm", 0, "leader")
    t.add(30, k.POD_READY, "llm-0", "llm", 0, "leader")
    t.add(50, k.POD_RESTARTED, "llm-0-1", "llm", 0, "worker", restartCount=1, reason="Error")
    t.add(70, k.POD_READY, "llm-0-1", "llm", 0, "worker")
    w = workload(build_report(t))
    assert w["availability"] == 0.7  # down 20→30 and 50→70
    assert w["groups"][0]["pods"][1]["readyAtSeconds"] == 70.0


def test_time_to_all_serving_waits_for_scale_up() -> None:
    t = make(replicas=1, horizon=100)
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(5, k.SCALED, "llm", "llm", replicas=2)  # before the first group serves: now 2 are desired
    bring_up(t, 1, 2, at=5, ready=20)
    t.records.sort(key=lambda r: r.t)
    w = workload(build_report(t))
    assert w["replicas"] == 2
    assert w["timeToAllServingSeconds"] == 20.0
    assert w["availability"] == 1.0
    assert [g["servingAtSeconds"] for g in w["groups"]] == [10.0, 20.0]


def test_scale_up_after_all_serving_lowers_availability() -> None:
    t = make(replicas=1, horizon=110)
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(60, k.SCALED, "llm", "llm", replicas=2)
    bring_up(t, 1, 2, at=60, ready=80)
    w = workload(build_report(t))
    # min(serving, replicas)/replicas: 1 for 10→60, 1/2 for 60→80, 1 for 80→110.
    assert w["availability"] == round((50 + 10 + 30) / 100, 6)


def test_serving_never_counts_more_than_desired() -> None:
    t = make(replicas=1, horizon=110)
    bring_up(t, 0, 2, at=0, ready=10)
    bring_up(t, 1, 2, at=0, ready=10)  # a surge group during a rollout
    t.add(60, k.POD_NOT_READY, "llm-0", "llm", 0, "leader")
    w = workload(build_report(t))
    assert w["groupsServing"] == 1 and w["availability"] == 1.0
    assert [g["index"] for g in w["groups"]] == [0, 1]  # the surge group still has pods


def test_reported_ready_differs_from_serving_with_pending_workers() -> None:
    t = make(replicas=2, size=3)
    for g in (0, 1):
        t.add(0, k.POD_CREATED, f"llm-{g}", "llm", g, "leader", gpus=8)
        t.add(1, k.POD_SCHEDULED, f"llm-{g}", "llm", g, "leader", node=f"h100-{g}")
        t.add(2, k.POD_CONTAINERS_STARTED, f"llm-{g}", "llm", g, "leader")
        t.add(9, k.POD_READY, f"llm-{g}", "llm", g, "leader")
        for w in (1, 2):
            name = f"llm-{g}-{w}"
            t.add(0, k.POD_CREATED, name, "llm", g, "worker", gpus=8)
            t.add(1, k.POD_UNSCHEDULABLE, name, "llm", g, "worker", reason="0/2 nodes are available.")
            t.add(3, k.POD_UNSCHEDULABLE, name, "llm", g, "worker", reason=GPU_MSG)
    t.add(10, k.LWS_STATUS, "llm", "llm", replicas=2, readyReplicas=2, updatedReplicas=2)
    r = build_report(t)
    w = workload(r)
    assert (w["groupsServing"], w["groupsReadyReported"]) == (0, 2)
    assert w["timeToAllServingSeconds"] is None
    assert [p["name"] for p in r["pendingPods"]] == ["llm-0-1", "llm-0-2", "llm-1-1", "llm-1-2"]
    assert {p["reason"] for p in r["pendingPods"]} == {GPU_MSG}
    assert {p["workload"] for p in r["pendingPods"]} == {"llm"}
    worker = w["groups"][0]["pods"][1]
    assert (worker["phase"], worker["node"], worker["pendingReason"]) == ("Pending", None, GPU_MSG)
    assert r["cluster"]["gpusAllocated"] == 16 and w["gpusAllocated"] == 16


def test_group_recreations_counted_per_group() -> None:
    t = make(replicas=2)
    bring_up(t, 0, 2, at=0, ready=10)
    bring_up(t, 1, 2, at=0, ready=10)
    t.add(50, k.GROUP_RECREATED, "llm-1", "llm", 1, reason="RecreateGroupOnPodRestart")
    t.add(70, k.GROUP_RECREATED, "llm-1", "llm", 1, reason="RecreateGroupOnPodRestart")
    w = workload(build_report(t))
    assert w["groupRecreations"] == 2
    assert [g["recreations"] for g in w["groups"]] == [0, 2]


def test_records_after_horizon_are_ignored_and_terminating_phase() -> None:
    t = make(horizon=50)
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(40, k.POD_DELETING, "llm-0", "llm", 0, "leader")
    t.add(60, k.POD_DELETED, "llm-0", "llm", 0, "leader")
    w = workload(build_report(t))
    assert [p["phase"] for p in w["groups"][0]["pods"]] == ["Terminating", "Running"]
    assert w["availability"] == 0.75


def test_failed_pod_does_not_serve() -> None:
    t = make()
    bring_up(t, 0, 2, at=0, ready=10)
    t.add(60, k.POD_FAILED, "llm-0-1", "llm", 0, "worker")
    w = workload(build_report(t))
    assert w["groupsServing"] == 0
    assert w["groups"][0]["pods"][1]["phase"] == "Failed"


def test_pods_and_nodes_sort_naturally() -> None:
    t = make(replicas=1, size=12)
    bring_up(t, 0, 12, at=0, ready=1)
    names = [p["name"] for p in workload(build_report(t))["groups"][0]["pods"]]
    assert names[:3] == ["llm-0", "llm-0-1", "llm-0-2"] and names[-1] == "llm-0-11"
    assert sorted(["h100-10", "h100-2"], key=name_key) == ["h100-2", "h100-10"]


def test_json_is_deterministic_sorted_and_rounded() -> None:
    def build() -> str:
        t = make(replicas=2, horizon=3 * 3600)
        bring_up(t, 1, 2, at=0.1, ready=1 / 3)
        bring_up(t, 0, 2, at=0, ready=2 / 3)
        return to_json(build_report(t))

    a, b = build(), build()
    assert a == b
    doc = json.loads(a)
    assert json.dumps(doc, indent=2, sort_keys=True) + "\n" == a  # keys sorted at every level
    w = doc["workloads"][0]
    assert w["timeToAllServingSeconds"] == 0.667
    assert [g["index"] for g in w["groups"]] == [0, 1]
    assert w["availability"] == 1.0


def test_unserved_replicas_have_empty_groups_listed() -> None:
    t = make(replicas=3)
    bring_up(t, 0, 2, at=0, ready=10)
    w = workload(build_report(t))
    assert [(g["index"], len(g["pods"])) for g in w["groups"]] == [(0, 2), (1, 0), (2, 0)]
    assert w["timeToAllServingSeconds"] is None


def test_many_records_replay_quickly() -> None:
    t = make(replicas=500, size=4, horizon=10_000)
    for g in range(500):
        bring_up(t, g, 4, at=g, ready=g + 100)
        for i in range(20):
            t.add(1000 + g + i * 300, k.POD_NOT_READY, f"llm-{g}", "llm", g, "leader")
            t.add(1010 + g + i * 300, k.POD_READY, f"llm-{g}", "llm", g, "leader")
    assert len(t.records) > 25_000
    w = workload(build_report(t))
    assert w["groupsServing"] == 500
    assert w["timeToAllServingSeconds"] == 599.0
