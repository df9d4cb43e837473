"""The observer on a shared cluster: pods of Deployments, StatefulSets, Jobs and bare Pods found by their
ownerReferences, and kube-scheduler's preemption (nominatedNodeName, DisruptionTarget, Preempted event)."""

from __future__ import annotations

from typing import Any

import pytest

from lwssim import timeline as tl
from lwssim.kube.observe import TimelineBuilder, manifest_workload_info, parse_time
from lwssim.timeline import Timeline, WorkloadInfo

T0 = parse_time("2026-01-01T00:00:00Z") or 0.0
TS = "2026-01-01T00:00:{:02d}Z"
DT_MESSAGE = "default-scheduler: preempting to accommodate a higher priority pod"


def _pod(
    name: str,
    *,
    owner: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
    node: str | None = "gpu-0",
    uid: str = "",
    priority: int | None = 100,
    **status: Any,
) -> dict:
    meta: dict[str, Any] = {
        "name": name,
        "uid": uid or name,
        "creationTimestamp": TS.format(1),
        "labels": labels or {},
    }
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    conds = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": TS.format(2)}] if node else []
    return {
        "metadata": meta,
        "spec": {"nodeName": node, "priority": priority, "containers": [{"name": "c"}]},
        "status": {"phase": "Running" if node else "Pending", "conditions": conds, **status},
    }


def _builder(*workloads: WorkloadInfo) -> TimelineBuilder:
    return TimelineBuilder(T0, list(workloads), {"nodes": 4})


def _deploy(name: str = "batch", replicas: int = 4) -> WorkloadInfo:
    return WorkloadInfo(name, "default", "Deployment", "", replicas, 1)


def _victim(b: TimelineBuilder, name: str, at: int, node: str = "gpu-0", uid: str = "") -> None:
    pod = _pod(
        name, owner=("ReplicaSet", "batch-5d8f"), labels={"pod-template-hash": "5d8f"}, node=node, uid=uid
    )
    pod["status"]["conditions"].append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": DT_MESSAGE,
            "lastTransitionTime": TS.format(at),
        }
    )
    b.pod(pod, T0 + at + 0.2)


def _preempted_event(
    victim: str, preemptor: str, preemptor_uid: str, node: str, related: bool = True
) -> dict:
    ev: dict[str, Any] = {
        "metadata": {"uid": f"ev-{victim}-{preemptor}"},
        "reason": "Preempted",
        "involvedObject": {"kind": "Pod", "name": victim, "uid": victim},
        "message": f"Preempted by pod {preemptor_uid} on node {node}",
        "eventTime": TS.format(20),
    }
    if related:
        ev["related"] = {"kind": "Pod", "name": preemptor}
    return ev


def test_pods_of_other_kinds_are_found_by_their_controller() -> None:
    b = _builder(
        _deploy(),
        WorkloadInfo("db", "default", "StatefulSet", "", 1, 1),
        WorkloadInfo("etl", "default", "Job", "", 1, 1),
        WorkloadInfo("solo", "default", "Pod", "", 1, 1),
    )
    now = T0 + 5
    # A Deployment's pod before its ReplicaSet was seen: the ReplicaSet's name is <deployment>-<hash>.
    b.pod(
        _pod("batch-5d8f-aaaaa", owner=("ReplicaSet", "batch-5d8f"), labels={"pod-template-hash": "5d8f"}),
        now,
    )
    # After the ReplicaSet was seen, its ownerReference decides, whatever its name.
    b.replicaset(
        {
            "metadata": {
                "name": "odd-name",
                "ownerReferences": [{"kind": "Deployment", "name": "batch", "controller": True}],
            }
        }
    )
    b.pod(_pod("odd-name-bbbbb", owner=("ReplicaSet", "odd-name"), labels={"pod-template-hash": "9"}), now)
    b.pod(_pod("db-0", owner=("StatefulSet", "db")), now)
    b.pod(_pod("etl-xyz", owner=("Job", "etl"), node="gpu-1"), now)
    b.pod(_pod("etl-xyz", owner=("Job", "etl"), node="gpu-1") | {"status": {"phase": "Succeeded"}}, now + 1)
    b.pod(_pod("solo"), now)
    # Not the scenario's: another Deployment, another bare pod, a pod owned by a DaemonSet.
    b.pod(_pod("other-7c-ccccc", owner=("ReplicaSet", "other-7c"), labels={"pod-template-hash": "7c"}), now)
    b.pod(_pod("stray"), now)
    b.pod(_pod("solo-ds", owner=("DaemonSet", "solo"), uid="u-ds"), now)
    created = {(r.subject, r.workload, r.group, r.role) for r in b.timeline.of(tl.POD_CREATED)}
    assert created == {
        ("batch-5d8f-aaaaa", "batch", -1, ""),
        ("odd-name-bbbbb", "batch", -1, ""),
        ("db-0", "db", -1, ""),
        ("etl-xyz", "etl", -1, ""),
        ("solo", "solo", -1, ""),
    }
    assert [r.subject for r in b.timeline.of(tl.POD_SUCCEEDED)] == ["etl-xyz"]
    # Serving is a LeaderWorkerSet's notion: other kinds neither count nor block all_serving.
    assert b.serving() == {} and b.all_serving() and b.lws_reports_all()


def test_preemption_nominated_and_preempted_with_the_events_preemptor() -> None:
    lws = WorkloadInfo("serve", "default", "LeaderWorkerSet", "serve", 1, 2)
    b = _builder(_deploy(), lws)
    labels = {
        "leaderworkerset.sigs.k8s.io/name": "serve",
        "leaderworkerset.sigs.k8s.io/group-index": "0",
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    pending = _pod("serve-0", labels=labels, node=None, uid="u-serve-0", priority=1000)
    b.pod(pending, T0 + 10)
    nominated = _pod(
        "serve-0", labels=labels, node=None, uid="u-serve-0", priority=1000, nominatedNodeName="gpu-3"
    )
    b.pod(nominated, T0 + 10.5)
    b.pod(nominated, T0 + 10.6)  # the same nomination again: one record
    _victim(b, "batch-5d8f-aaaaa", 10, node="gpu-3")
    assert not list(b.timeline.of(tl.POD_PREEMPTED))  # the preemptor is not known yet
    b.event(_preempted_event("batch-5d8f-aaaaa", "serve-0", "u-serve-0", "gpu-3"), T0 + 10.7)
    # The scheduler may preempt the same victim again in its next cycle: still one record.
    again = _preempted_event("batch-5d8f-aaaaa", "serve-0", "u-serve-0", "gpu-3")
    again["metadata"]["uid"] = "ev-2"
    b.event(again, T0 + 10.8)
    _victim(b, "batch-5d8f-aaaaa", 10, node="gpu-3")
    (nom,) = b.timeline.of(tl.POD_NOMINATED)
    assert (nom.subject, nom.workload, nom.group, nom.role, nom.get("node")) == (
        "serve-0",
        "serve",
        0,
        "leader",
        "gpu-3",
    )
    (pre,) = b.timeline.of(tl.POD_PREEMPTED)
    assert (pre.t, pre.subject, pre.workload, pre.group) == (10.0, "batch-5d8f-aaaaa", "batch", -1)
    assert dict(pre.data) == {
        "uid": "batch-5d8f-aaaaa",
        "by": "serve-0",
        "node": "gpu-3",
        "priority": 100,
        "by_priority": 1000,
    }
    timeline = Timeline.from_dict(b.finish(T0 + 30).to_dict())
    assert [r.kind for r in timeline.records if r.subject == "batch-5d8f-aaaaa"] == [
        tl.POD_CREATED,
        tl.POD_SCHEDULED,
        tl.POD_PREEMPTED,
    ]


def test_preempted_event_before_the_condition_and_without_related() -> None:
    b = _builder(_deploy(), WorkloadInfo("urgent", "default", "Pod", "", 1, 1))
    b.pod(_pod("urgent", node=None, uid="u-urgent", priority=1000), T0 + 3)
    b.event(_preempted_event("v1", "urgent", "u-urgent", "gpu-2", related=False), T0 + 4)
    _victim(b, "batch-5d8f-v1", 4, node="gpu-2", uid="v1")
    (pre,) = b.timeline.of(tl.POD_PREEMPTED)
    assert (pre.get("by"), pre.get("node"), pre.get("by_priority")) == ("urgent", "gpu-2", 1000)


def test_a_victim_without_event_is_named_from_the_nomination_at_the_end() -> None:
    b = _builder(_deploy(), WorkloadInfo("urgent", "default", "Pod", "", 1, 1))
    b.pod(_pod("urgent", node=None, uid="u", priority=1000, nominatedNodeName="gpu-1"), T0 + 6.2)
    _victim(b, "batch-5d8f-v", 6, node="gpu-1", uid="v")
    assert not list(b.timeline.of(tl.POD_PREEMPTED))
    timeline = b.finish(T0 + 20)
    (pre,) = timeline.of(tl.POD_PREEMPTED)
    assert (pre.t, pre.get("by"), pre.get("node")) == (6.0, "urgent", "gpu-1")


def test_a_disruption_other_than_preemption_is_not_a_preemption() -> None:
    b = _builder(_deploy())
    pod = _pod("batch-5d8f-a", owner=("ReplicaSet", "batch-5d8f"), labels={"pod-template-hash": "5d8f"})
    pod["status"]["conditions"].append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "lastTransitionTime": TS.format(3),
        }
    )
    b.pod(pod, T0 + 4)
    assert not list(b.finish(T0 + 9).of(tl.POD_PREEMPTED))


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 4}}, ("d", "Deployment", 4)),
        ({"kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {}}, ("s", "StatefulSet", 1)),
        ({"kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 3}}, ("j", "Job", 3)),
        ({"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}, "spec": {}}, ("p", "Pod", 1)),
        ({"kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000}, None),
        ({"kind": "PodDisruptionBudget", "metadata": {"name": "b"}, "spec": {}}, None),
        ({"kind": "LeaderWorkerSet", "metadata": {"name": "l"}, "spec": {}}, None),
    ],
)
def test_manifest_workload_info(doc: dict, expected: tuple | None) -> None:
    info = manifest_workload_info(doc)
    if expected is None:
        assert info is None
    else:
        assert info is not None and (info.name, info.kind, info.replicas, info.lws, info.size) == (
            *expected,
            "",
            1,
        )


def test_events_from_before_the_apply_are_not_this_runs() -> None:
    """An LWS applied again under the same name: its earlier RecreateGroupOnPodRestart event is still
    listed (events live an hour) and must not count; one stamped within the apply's second does."""
    lws = WorkloadInfo("low", "default", "LeaderWorkerSet", "low", 1, 2)
    b = TimelineBuilder(T0 + 30.4, [lws], {})
    message = "Worker pod low-0-1 failed, deleted leader pod low-0 to recreate group 0"
    for uid, stamp in (("old", TS.format(5)), ("new", TS.format(30))):
        b.event(
            {
                "metadata": {"uid": uid},
                "reason": "RecreateGroupOnPodRestart",
                "involvedObject": {"kind": "LeaderWorkerSet", "name": "low"},
                "message": message,
                "lastTimestamp": stamp,
                "count": 1,
            },
            T0 + 31,
        )
    assert [r.t for r in b.timeline.of(tl.GROUP_RECREATED)] == [0.0]


def test_a_recreation_reported_twice_is_one() -> None:
    """LWS v0.7 may reconcile the worker twice before its cache shows the leader terminating: two
    RecreateGroupOnPodRestart events for one leader life (seen on the emulator). A later recreation of the
    new leader counts again."""
    lws = WorkloadInfo("low", "default", "LeaderWorkerSet", "low", 1, 2)
    b = TimelineBuilder(T0, [lws], {})
    labels = {
        "leaderworkerset.sigs.k8s.io/name": "low",
        "leaderworkerset.sigs.k8s.io/group-index": "0",
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    b.pod(_pod("low-0", labels=labels, uid="leader-1"), T0 + 2)
    message = "Worker pod low-0-1 failed, deleted leader pod low-0 to recreate group 0"

    def recreate(uid: str, second: int) -> None:
        b.event(
            {
                "metadata": {"uid": uid},
                "reason": "RecreateGroupOnPodRestart",
                "involvedObject": {"kind": "LeaderWorkerSet", "name": "low"},
                "message": message,
                "lastTimestamp": TS.format(second),
            },
            T0 + second + 0.1,
        )

    recreate("e1", 29)
    recreate("e2", 29)  # the same recreation, reported again
    b.pod(_pod("low-0", labels=labels, uid="leader-1"), T0 + 30, deleted=True)
    new = _pod("low-0", labels=labels, uid="leader-2")
    new["metadata"]["creationTimestamp"] = TS.format(30)
    b.pod(new, T0 + 30.2)
    recreate("e3", 45)  # the new leader's group recreated again
    assert [r.t for r in b.timeline.of(tl.GROUP_RECREATED)] == [29.0, 45.0]
