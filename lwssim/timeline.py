"""The record of what happened: written by the simulator and by the live-cluster observer alike.

Every metric is computed from a Timeline, so one metric is right for both simulation and reality
(docs/design.md, "The one path data takes"). Records are flat and ordered by time, then by write order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

# Pod lifecycle, in the phases kube-burner and clusterloader2 measure (docs/defaults.md, "Pod latency
# phases").
POD_CREATED = "PodCreated"  # object exists (Pending)
POD_SCHEDULED = "PodScheduled"  # bound to a node; data: node
POD_UNSCHEDULABLE = "PodUnschedulable"  # a failed scheduling attempt; data: reason (kube-scheduler's words)
POD_INITIALIZED = "PodInitialized"  # images pulled, init containers done
POD_CONTAINERS_STARTED = "ContainersStarted"  # phase Running
POD_READY = "PodReady"  # Ready condition True
POD_NOT_READY = "PodNotReady"  # Ready condition False after having been True (probe, node loss)
POD_RESTARTED = "ContainerRestarted"  # restartCount incremented; data: restart_count, reason
POD_DELETING = "PodDeleting"  # deletionTimestamp set; data: reason
POD_DELETED = "PodDeleted"  # object gone
POD_FAILED = "PodFailed"  # phase Failed (e.g. evicted by kubelet)
POD_SUCCEEDED = "PodSucceeded"  # phase Succeeded (a Job's pod ran to completion)
POD_NOMINATED = "PodNominated"  # kube-scheduler preempts for this pod; data: node (nominatedNodeName)
POD_PREEMPTED = "PodPreempted"  # a victim of preemption (DisruptionTarget, then DELETE); data: by, node,
#                                 priority, by_priority

GROUP_RECREATED = "GroupRecreated"  # LWS deleted the leader to recreate the group; data: reason
LWS_STATUS = "LWSStatus"  # status as the LWS controller reports it; data: replicas, ready, updated
NODE_DOWN = "NodeDown"  # node stops answering; data: cause
NODE_NOT_READY = "NodeNotReady"  # node controller marked it NotReady
NODE_UP = "NodeUp"  # node answers again (repaired)
FAULT = "Fault"  # a fault was injected; data: kind, target, cause
ROLLOUT_STARTED = "RolloutStarted"  # a new revision of a workload; data: revision
ROLLOUT_FINISHED = "RolloutFinished"
SCALED = "Scaled"  # replicas changed; data: replicas

# Kueue's Workload of one LWS group (subject: the Workload's name; workload and group locate the group),
# from its status conditions (kueue v0.17.0 apis/kueue/v1beta2/workload_types.go).
WORKLOAD_CREATED = "WorkloadCreated"  # the group's Workload exists (queued for admission)
WORKLOAD_PENDING = "WorkloadPending"  # QuotaReserved=False; data: reason (Pending | Inadmissible), message
WORKLOAD_ADMITTED = "WorkloadAdmitted"  # Admitted=True; data: cluster_queue, flavors ("resource=flavor,..."),
#                                         usage ("flavor/resource=amount,...", the quota it reserves)
WORKLOAD_EVICTED = "WorkloadEvicted"  # Evicted=True; data: reason (Preempted, PodsReadyTimeout...), message
WORKLOAD_DELETED = "WorkloadDeleted"  # the Workload is gone (scale-down, surge released): its quota too
POD_UNGATED = "PodUngated"  # the pod's last scheduling gate was removed (kube-scheduler may now place it)

# Nodes an autoscaler adds and removes (subject: the node's name; karpenter.sh/v1 NodeClaim conditions).
NODECLAIM_CREATED = "NodeClaimCreated"  # an instance is asked for; data: pool, node_pool, gpus, pods (why)
NODE_LAUNCHED = "NodeLaunched"  # the instance runs (billed from here); data: pool, gpus
NODE_LAUNCH_FAILED = "NodeLaunchFailed"  # the create found no capacity (stockout); data: pool, reason
NODE_REGISTERED = "NodeRegistered"  # the Node is Ready: kube-scheduler sees it; data: pool, gpus_allocatable
NODE_INITIALIZED = "NodeInitialized"  # every requested resource allocatable (GPUs registered)
NODE_DELETED = "NodeDeleted"  # the node and its instance are gone; data: pool, reason
NODES_NOT_LAUNCHED = "NodesNotLaunched"  # a pending pod no NodePool launches a node for; data: reason

# cluster-autoscaler's ProvisioningRequests (subject: namespace/name), from their status conditions
# (provisioningrequest/conditions/conditions.go).
PROVREQ_PROVISIONED = "ProvisioningRequestProvisioned"  # Provisioned=True; data: reason, class_name, nodes
PROVREQ_NOT_PROVISIONED = "ProvisioningRequestNotProvisioned"  # Provisioned=False; data: reason, message
PROVREQ_FAILED = "ProvisioningRequestFailed"  # Failed=True; data: reason, message
PROVREQ_BOOKING_EXPIRED = "ProvisioningRequestBookingExpired"  # BookingExpired=True (the 10 min are over)


class Record(NamedTuple):
    """One thing that happened at time ``t`` (seconds from the start) to ``subject``.

    ``workload`` and ``group`` locate pods and groups; ``role`` is leader | worker for pods.
    ``data`` holds the event's details as sorted key/value pairs (hashable, deterministic).
    A named tuple: immutable like a frozen dataclass, and a run writes hundreds of thousands.
    """

    t: float
    kind: str
    subject: str
    workload: str = ""
    group: int = -1
    role: str = ""
    data: tuple[tuple[str, object], ...] = ()

    def get(self, key: str, default: object = None) -> object:
        for k, v in self.data:
            if k == key:
                return v
        return default


def new_record(fields: tuple) -> Record:
    """A Record from its seven fields in order, without the argument handling of ``Record(...)``
    (as ``namedtuple._make`` does): the engine writes hundreds of thousands."""
    return tuple.__new__(Record, fields)  # type: ignore[type-var]


@dataclass
class WorkloadInfo:
    """What a Timeline needs to know of a workload to compute its metrics."""

    name: str
    namespace: str
    kind: str
    lws: str
    replicas: int
    size: int


@dataclass
class Timeline:
    """An append-only list of Records plus the facts metrics need (horizon, workloads, cluster size)."""

    horizon: float
    workloads: list[WorkloadInfo] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    source: str = "simulation"  # simulation | observed
    cluster: dict[str, object] = field(default_factory=dict)  # nodes, gpus, pools: facts fixed at start
    scenario: str = ""
    seed: int = 0
    warnings: list[str] = field(default_factory=list)  # things the user should know about the setup

    def add(
        self,
        t: float,
        kind: str,
        subject: str,
        workload: str = "",
        group: int = -1,
        role: str = "",
        **data: object,
    ) -> None:
        details = tuple(sorted(data.items())) if data else ()
        self.records.append(new_record((t, kind, subject, workload, group, role, details)))

    def of(self, *kinds: str) -> Iterator[Record]:
        wanted = set(kinds)
        return (r for r in self.records if r.kind in wanted)

    def workload(self, name: str) -> WorkloadInfo | None:
        return next((w for w in self.workloads if w.name == name), None)

    # Persistence: the same JSON document for simulated and observed timelines (`apply --record`).
    def to_dict(self) -> dict:
        return {
            "apiVersion": "lwssim.io/v1alpha1",
            "kind": "Timeline",
            "source": self.source,
            "horizonSeconds": self.horizon,
            "scenario": self.scenario,
            "seed": self.seed,
            "cluster": self.cluster,
            "warnings": self.warnings,
            "workloads": [asdict(w) for w in self.workloads],
            "records": [
                {
                    "t": r.t,
                    "kind": r.kind,
                    "subject": r.subject,
                    "workload": r.workload,
                    "group": r.group,
                    "role": r.role,
                    "data": dict(r.data),
                }
                for r in self.records
            ],
        }

    @classmethod
    def from_dict(cls, doc: dict) -> Timeline:
        tl = cls(
            horizon=float(doc["horizonSeconds"]),
            workloads=[WorkloadInfo(**w) for w in doc.get("workloads", [])],
            source=doc.get("source", "observed"),
            cluster=dict(doc.get("cluster", {})),
            scenario=doc.get("scenario", ""),
            seed=int(doc.get("seed", 0)),
            warnings=list(doc.get("warnings", [])),
        )
        for r in doc.get("records", []):
            tl.records.append(
                Record(
                    float(r["t"]),
                    r["kind"],
                    r["subject"],
                    r.get("workload", ""),
                    int(r.get("group", -1)),
                    r.get("role", ""),
                    tuple(sorted(r.get("data", {}).items())),
                )
            )
        return tl

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Timeline:
        return cls.from_dict(json.loads(Path(path).read_text()))
