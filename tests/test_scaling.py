"""Scaling (issue 4 item 6): the leader StatefulSet adds and removes groups at the highest index
(kubernetes-sigs/lws v0.7.0 integration tests "scale up/down number of groups", "scale down to 0",
"scale up from 0")."""

from __future__ import annotations

from support import recs as records
from support import simulate as run

NODES = {"cluster": {"nodePools": [{"name": "h100", "count": 8, "capacity": {"nvidia.com/gpu": 8}}]}}


def scale(at: str, replicas: int) -> dict:
    return {"at": at, "scale": {"workload": "llm", "replicas": replicas}}


def test_scale_down_deletes_highest_index_groups_first__ref_3_10(tmp_path):
    _, tl, report = run(tmp_path, {**NODES, "events": [scale("1h", 2)]}, {"replicas": 4})
    leaders = [r for r in tl.records if r.kind == "PodDeleting" and r.role == "leader"]
    # processCondemned in slow-start batches of 1, 2, …: highest ordinal first, one API round trip each
    assert [r.subject for r in leaders] == ["llm-3", "llm-2"]
    assert 3600.0 < leaders[0].t < leaders[1].t < 3601.0
    workers = {r.subject for r in tl.records if r.kind == "PodDeleted" and r.role == "worker"}
    assert workers == {"llm-2-1", "llm-3-1"}  # cascade through the worker StatefulSets
    w = report["workloads"][0]
    assert w["replicas"] == 2 and w["groupsServing"] == 2 and w["availability"] == 1.0
    assert w["groupRecreations"] == 0


def test_scale_up_adds_the_next_indices__ref_3_10(tmp_path):
    _, tl, report = run(tmp_path, {**NODES, "events": [scale("1h", 4)]}, {"replicas": 2})
    created = [r.subject for r in tl.records if r.kind == "PodCreated" and r.role == "leader" and r.t >= 3600]
    assert sorted(created) == ["llm-2", "llm-3"]
    assert report["workloads"][0]["groupsServing"] == 4


def test_scale_to_zero_and_back__ref_3_10_leaderworkerset_test(tmp_path):
    _, tl, report = run(tmp_path, {**NODES, "events": [scale("1h", 0), scale("2h", 2)]}, {"replicas": 2})
    assert not [r for r in tl.records if r.kind == "PodCreated" and 3600 <= r.t < 7200]
    w = report["workloads"][0]
    assert w["groupsServing"] == 2 and w["groupsReadyReported"] == 2 and w["groupRecreations"] == 0
    # zero desired replicas count as fully available (nothing is missing)
    assert w["availability"] > 0.98
    assert records(tl, "Scaled")[0].get("replicas") == 0


def test_scale_event_changes_no_revision__ref_1_3(tmp_path):
    _, tl, _ = run(tmp_path, {**NODES, "events": [scale("1h", 3)]}, {"replicas": 2})
    assert records(tl, "RolloutStarted") == []
    assert not [r for r in tl.records if r.kind == "PodDeleting"]
