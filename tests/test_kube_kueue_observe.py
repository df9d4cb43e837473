"""The observer's Kueue records from Workload and Pod objects as the API returns them (plain dicts; the
TimelineBuilder is a pure function of them): WorkloadPending, WorkloadAdmitted, WorkloadEvicted and
PodUngated."""

from __future__ import annotations

from lwssim import timeline as tl
from lwssim.kube.observe import TimelineBuilder, admission_flavors, admission_usage, kueue_group, parse_time
from lwssim.timeline import WorkloadInfo

T0 = parse_time("2026-12-01T10:00:00Z") or 0.0
WL = "leaderworkerset-serve-2-1a2b3"
QUOTA = (
    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor "
    "default-flavor, 16 more needed"
)


def builder() -> TimelineBuilder:
    return TimelineBuilder(T0, [WorkloadInfo("serve", "default", "LeaderWorkerSet", "serve", 3, 2)], {})


def workload(conditions: list[dict], admission: dict | None = None, name: str = WL) -> dict:
    status: dict = {"conditions": conditions}
    if admission is not None:
        status["admission"] = admission
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "w-1",
            "creationTimestamp": "2026-12-01T10:00:01Z",
            "annotations": {"kueue.x-k8s.io/component-workload-index": "2"},
            "ownerReferences": [
                {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "serve"}
            ],
        },
        "status": status,
    }


def cond(kind: str, status: str, at: str, reason: str = "", message: str = "") -> dict:
    return {"type": kind, "status": status, "lastTransitionTime": at, "reason": reason, "message": message}


def test_a_workload_is_located_by_owner_and_index_annotation_or_by_its_name() -> None:
    meta = workload([])["metadata"]
    assert kueue_group(meta, ["serve"]) == ("serve", 2)
    assert kueue_group(meta, ["other"]) is None
    bare = {"name": "leaderworkerset-my-lws-0-2-abcde"}
    assert kueue_group(bare, ["my-lws-0"]) == ("my-lws-0", 2)
    assert kueue_group({"name": "job-foo-abcde"}, ["foo"]) is None


def test_flavors_are_resource_equals_flavor_sorted_over_podsets() -> None:
    admission = {
        "clusterQueue": "cq",
        "podSetAssignments": [
            {"name": "leader", "flavors": {"nvidia.com/gpu": "gpu-a", "cpu": "default"}},
            {"name": "worker", "flavors": {"nvidia.com/gpu": "gpu-a"}},
        ],
    }
    assert admission_flavors(admission) == "cpu=default,nvidia.com/gpu=gpu-a"
    assert admission_flavors({}) == ""
    admission["podSetAssignments"][0]["resourceUsage"] = {"nvidia.com/gpu": "8", "cpu": "500m"}
    admission["podSetAssignments"][1]["resourceUsage"] = {"nvidia.com/gpu": "24"}
    assert admission_usage(admission) == "default/cpu=500,gpu-a/nvidia.com/gpu=32"


def test_pending_admitted_evicted_each_once_per_transition() -> None:
    b = builder()
    now = T0 + 9.5
    pending = cond("QuotaReserved", "False", "2026-12-01T10:00:02Z", "Pending", QUOTA)
    b.kueue_workload(workload([pending]), now)
    b.kueue_workload(workload([pending]), now + 1)  # the same status again: nothing new
    # A new message without a new transition: stamped when seen.
    other = dict(pending, message=QUOTA.replace("16", "8"))
    b.kueue_workload(workload([other]), T0 + 12.0)
    admission = {
        "clusterQueue": "cq",
        "podSetAssignments": [
            {"name": "main", "flavors": {"nvidia.com/gpu": "f"}, "resourceUsage": {"nvidia.com/gpu": "16"}}
        ],
    }
    admitted = [
        cond("QuotaReserved", "True", "2026-12-01T10:00:20Z", "QuotaReserved"),
        cond("Admitted", "True", "2026-12-01T10:00:20Z", "Admitted"),
    ]
    b.kueue_workload(workload(admitted, admission), T0 + 21)
    b.kueue_workload(workload(admitted, admission), T0 + 22)
    evicted = [
        cond("QuotaReserved", "False", "2026-12-01T10:00:40Z", "Pending", "Preempted"),
        cond("Admitted", "False", "2026-12-01T10:00:40Z", "NoReservation"),
        cond("Evicted", "True", "2026-12-01T10:00:40Z", "Preempted", "Preempted to accommodate a workload"),
    ]
    b.kueue_workload(workload(evicted), T0 + 41)
    readmitted = [
        cond("QuotaReserved", "True", "2026-12-01T10:00:50Z", "QuotaReserved"),
        cond("Admitted", "True", "2026-12-01T10:00:50Z", "Admitted"),
        cond("Evicted", "True", "2026-12-01T10:00:40Z", "Preempted", "Preempted to accommodate a workload"),
    ]
    b.kueue_workload(workload(readmitted, admission), T0 + 51)
    b.kueue_workload(workload(readmitted, admission), T0 + 60.5, deleted=True)
    recs = [(r.t, r.kind, r.subject, r.workload, r.group, dict(r.data)) for r in b.timeline.records]
    usage = {"cluster_queue": "cq", "flavors": "nvidia.com/gpu=f", "usage": "f/nvidia.com/gpu=16"}
    assert recs == [
        (1.0, tl.WORKLOAD_CREATED, WL, "serve", 2, {}),
        (2.0, tl.WORKLOAD_PENDING, WL, "serve", 2, {"reason": "Pending", "message": QUOTA}),
        (12.0, tl.WORKLOAD_PENDING, WL, "serve", 2, {"reason": "Pending", "message": other["message"]}),
        (20.0, tl.WORKLOAD_ADMITTED, WL, "serve", 2, usage),
        (40.0, tl.WORKLOAD_PENDING, WL, "serve", 2, {"reason": "Pending", "message": "Preempted"}),
        (
            40.0,
            tl.WORKLOAD_EVICTED,
            WL,
            "serve",
            2,
            {"reason": "Preempted", "message": "Preempted to accommodate a workload"},
        ),
        (50.0, tl.WORKLOAD_ADMITTED, WL, "serve", 2, usage),
        (60.5, tl.WORKLOAD_DELETED, WL, "serve", 2, {}),
    ]


def test_workloads_of_other_objects_are_ignored() -> None:
    b = builder()
    doc = workload([cond("QuotaReserved", "False", "2026-12-01T10:00:02Z", "Pending", QUOTA)])
    doc["metadata"]["ownerReferences"][0]["name"] = "someone-else"
    b.kueue_workload(doc, T0 + 3)
    assert b.timeline.records == []


def pod(gates: list[str], uid: str = "p-1") -> dict:
    return {
        "metadata": {
            "name": "serve-2",
            "uid": uid,
            "creationTimestamp": "2026-12-01T10:00:02Z",
            "labels": {
                "leaderworkerset.sigs.k8s.io/name": "serve",
                "leaderworkerset.sigs.k8s.io/group-index": "2",
                "leaderworkerset.sigs.k8s.io/worker-index": "0",
            },
        },
        "spec": {"schedulingGates": [{"name": g} for g in gates], "containers": []},
        "status": {"phase": "Pending"},
    }


def test_a_pod_is_ungated_when_its_last_gate_goes() -> None:
    b = builder()
    b.pod(pod(["kueue.x-k8s.io/admission", "kueue.x-k8s.io/topology"]), T0 + 2.2)
    b.pod(pod(["kueue.x-k8s.io/topology"]), T0 + 5.0)
    b.pod(pod([]), T0 + 6.5)
    b.pod(pod([]), T0 + 7.0)
    b.pod(pod([], uid="p-2"), T0 + 8.0)  # a new life created without gates: never ungated
    ungated = [(r.t, r.subject, r.group, r.role) for r in b.timeline.of(tl.POD_UNGATED)]
    assert ungated == [(6.5, "serve-2", 2, "leader")]
