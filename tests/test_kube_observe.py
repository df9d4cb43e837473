"""The observer turns pod/event/LWS objects into the simulator's Timeline records; the report reads them."""

from __future__ import annotations

from lwssim import timeline as tl
from lwssim.analysis.report import build_report
from lwssim.kube.observe import TimelineBuilder, parse_time
from lwssim.timeline import Timeline, WorkloadInfo

T0 = parse_time("2026-01-01T00:00:00Z") or 0.0


def _pod(name: str, group: int, worker: int, *, ready: bool, uid: str = "", restarts: int = 0) -> dict:
    ts = "2026-01-01T00:00:{:02d}Z"
    conds = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts.format(2)},
        {"type": "Initialized", "status": "True", "lastTransitionTime": ts.format(3)},
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts.format(9)},
    ]
    return {
        "metadata": {
            "name": name,
            "uid": uid or name,
            "creationTimestamp": ts.format(1),
            "labels": {
                "leaderworkerset.sigs.k8s.io/name": "llm",
                "leaderworkerset.sigs.k8s.io/group-index": str(group),
                "leaderworkerset.sigs.k8s.io/worker-index": str(worker),
            },
        },
        "spec": {
            "nodeName": f"n{group}",
            "containers": [{"resources": {"requests": {"nvidia.com/gpu": "8"}}}],
        },
        "status": {
            "phase": "Running",
            "conditions": conds,
            "containerStatuses": [
                {
                    "restartCount": restarts,
                    "state": {"running": {"startedAt": ts.format(5)}},
                    "lastState": {"terminated": {"reason": "Error", "finishedAt": ts.format(7)}}
                    if restarts
                    else {},
                }
            ],
        },
    }


def _builder() -> TimelineBuilder:
    return TimelineBuilder(T0, [WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", 2, 2)], {"nodes": 2})


def test_records_use_object_timestamps_and_report_serving() -> None:
    b = _builder()
    now = T0 + 30
    for g in range(2):
        for w in range(2):
            b.pod(_pod(f"llm-{g}" + (f"-{w}" if w else ""), g, w, ready=True), now)
    b.lws(
        {"metadata": {"name": "llm"}, "status": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}},
        now,
    )
    assert b.all_serving() and b.lws_reports_all()
    timeline = Timeline.from_dict(b.finish(T0 + 40).to_dict())  # survives the JSON round trip
    kinds = [r.kind for r in timeline.records if r.subject == "llm-0"]
    assert kinds == [
        tl.POD_CREATED,
        tl.POD_SCHEDULED,
        tl.POD_INITIALIZED,
        tl.POD_CONTAINERS_STARTED,
        tl.POD_READY,
    ]
    ready = next(r for r in timeline.records if r.subject == "llm-0" and r.kind == tl.POD_READY)
    assert ready.t == 9.0 and timeline.horizon == 40.0 and timeline.source == "observed"
    report = build_report(timeline)
    w = report["workloads"][0]
    assert (w["groupsServing"], w["timeToAllServingSeconds"], w["groupsReadyReported"]) == (2, 9.0, 2)


def test_restart_unschedulable_delete_and_recreate() -> None:
    b = _builder()
    pending = _pod("llm-1-1", 1, 1, ready=False)
    pending["spec"]["nodeName"] = None
    pending["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
            }
        ],
    }
    b.pod(pending, T0 + 3)
    b.event(
        {
            "metadata": {"uid": "e1"},
            "reason": "FailedScheduling",
            "involvedObject": {"kind": "Pod", "name": "llm-1-1"},
            "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
        },
        T0 + 4,
    )
    unsched = [r for r in b.timeline.records if r.kind == tl.POD_UNSCHEDULABLE]
    assert len(unsched) == 1 and "Insufficient" in str(unsched[0].get("reason"))
    b.pod(_pod("llm-0", 0, 0, ready=True), T0 + 10)
    b.pod(_pod("llm-0", 0, 0, ready=True, restarts=1), T0 + 12)
    b.event(
        {
            "metadata": {"uid": "e2"},
            "reason": "RecreateGroupOnPodRestart",
            "involvedObject": {"kind": "LeaderWorkerSet", "name": "llm"},
            "message": "Worker pod llm-0-1 failed, deleted leader pod llm-0 to recreate group 0",
        },
        T0 + 13,
    )
    gone = _pod("llm-0", 0, 0, ready=True, restarts=1)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:44Z"
    gone["metadata"]["deletionGracePeriodSeconds"] = 30
    b.pod(gone, T0 + 15)
    b.pod(gone, T0 + 16, deleted=True)
    b.pod(_pod("llm-0", 0, 0, ready=False, uid="new"), T0 + 17)
    kinds = [(r.kind, r.t) for r in b.timeline.records if r.subject == "llm-0"]
    assert (tl.POD_RESTARTED, 7.0) in kinds and (tl.POD_DELETING, 14.0) in kinds
    deleted = kinds.index((tl.POD_DELETED, 16.0))
    assert kinds[deleted + 1][0] == tl.POD_CREATED  # the new life (new uid, same name)
    assert [r.group for r in b.timeline.of(tl.GROUP_RECREATED)] == [0]
    assert not b.all_serving()
