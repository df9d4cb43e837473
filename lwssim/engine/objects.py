"""API objects of the simulated cluster: only the fields the modelled controllers read or write."""

from __future__ import annotations

from dataclasses import dataclass, field

from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.model.pod import LabelSelector, PodAffinityTerm, PodTemplate, Toleration
from lwssim.model.timing import Distribution
from lwssim.timeline import Timeline, new_record

FOREGROUND = "Foreground"
BACKGROUND = "Background"
FOREGROUND_FINALIZER = "foregroundDeletion"  # metav1.FinalizerDeleteDependents

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"


@dataclass(eq=False, slots=True)
class Obj:
    """ObjectMeta: identity, labels, one controller owner reference, deletion state."""

    kind: str
    name: str
    namespace: str
    uid: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    owner: Obj | None = None  # controller ownerReference (blockOwnerDeletion=true, as sts and LWS set it)
    created_at: float = 0.0
    deletion_time: float | None = None
    finalizers: set[str] = field(default_factory=set)
    generation: int = 1  # bumped by writers of the spec, like metadata.generation
    resource_version: int = 0  # set by the store on every write, like metadata.resourceVersion
    stored: bool = False  # created and not yet removed: ``store.get(kind, key) is self``
    key: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.key = f"{self.namespace}/{self.name}"  # names never change: computed once, read often

    @property
    def deleting(self) -> bool:
        return self.deletion_time is not None


@dataclass(eq=False, slots=True)
class Pod(Obj):
    """A pod: its template, what the LWS webhook and StatefulSet added, and its status."""

    template: PodTemplate = field(default_factory=PodTemplate)
    workload: str = ""
    lws: str = ""
    role: str = ""  # leader | worker
    group: int = -1
    ordinal: int = 0  # StatefulSet ordinal: group index for leaders, worker index for workers
    revision: str = ""
    # Added by the worker StatefulSet template (exclusive placement, docs/lws-v0.7-semantics.md §3.4 step 10)
    # and by the LWS pod webhook (leader (anti-)affinity, docs/lws-v0.7-semantics.md §3.5).
    node_selector: tuple[tuple[str, str], ...] = ()
    affinity: tuple[PodAffinityTerm, ...] = ()
    anti_affinity: tuple[PodAffinityTerm, ...] = ()
    # status
    node: str | None = None
    phase: str = PENDING
    initialized: bool = False
    started: bool = False  # all containers running
    ready: bool = False
    restart_count: int = 0
    terminated: bool = False  # containers stopped after deletion; the object may go once finalizers clear
    pending_reason: str | None = None
    scheduled_at: float | None = None
    ready_at: float | None = None
    nominated_node: str | None = None  # status.nominatedNodeName, set by preemption
    preempted_by: str = ""  # DisruptionTarget condition (reason PreemptionByScheduler): the preemptor's name
    run_duration: Distribution | None = None  # a Job's pod: containers exit 0 this long after starting
    completion_index: int = -1  # an Indexed Job's pod
    scheduling_gates: tuple[str, ...] = ()  # spec.schedulingGates (Kueue's admission and topology gates)

    def record(self, timeline: Timeline, t: float, kind: str, **data: object) -> None:
        """Write an event of this pod to the Timeline, located by its workload, group and role."""
        details = tuple(sorted(data.items())) if data else ()
        timeline.records.append(
            new_record((t, kind, self.name, self.workload, self.group, self.role, details))
        )

    @property
    def running_and_ready(self) -> bool:
        return self.phase == RUNNING and self.ready and not self.deleting


@dataclass(eq=False, slots=True)
class StatefulSet(Obj):
    """apps/v1 StatefulSet with Parallel pod management and a RollingUpdate strategy."""

    template: PodTemplate = field(default_factory=PodTemplate)
    replicas: int = 0
    ordinal_start: int = 0
    partition: int = 0
    max_unavailable: int = 1
    update_revision: str = ""
    current_revision: str = ""
    # Pod-level facts stamped on every pod this set creates (what its template would carry).
    workload: str = ""
    lws: str = ""
    role: str = ""
    group: int = -1  # worker sets: the group they belong to
    node_selector: tuple[tuple[str, str], ...] = ()
    revision_templates: dict[str, PodTemplate] = field(default_factory=dict)
    # status (computeReplicaStatus)
    status_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    ordered: bool = False  # podManagementPolicy OrderedReady (user StatefulSets; LWS uses Parallel)


@dataclass(eq=False, slots=True)
class LeaderWorkerSet(Obj):
    """The LWS object: spec (current revision), revision history and the status its controller writes."""

    spec: LeaderWorkerSetSpec | None = None
    workload: str = ""
    revision: str = ""
    revisions: dict[str, LeaderWorkerSetSpec] = field(default_factory=dict)
    template_changed: bool = False  # a new revision was created since the last reconcile
    status_replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0


@dataclass(eq=False, slots=True)
class PodDisruptionBudget(Obj):
    """policy/v1 PodDisruptionBudget: the spec and the status the disruption controller writes, which
    kube-scheduler's preemption reads (``disruptionsAllowed``)."""

    selector: LabelSelector = field(default_factory=LabelSelector)
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    # status
    expected_pods: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    disruptions_allowed: int = 0


@dataclass(eq=False, slots=True)
class Deployment(Obj):
    """apps/v1 Deployment: one ReplicaSet of its template (rollouts of Deployments are not simulated)."""

    template: PodTemplate = field(default_factory=PodTemplate)
    replicas: int = 0
    workload: str = ""


@dataclass(eq=False, slots=True)
class ReplicaSet(Obj):
    template: PodTemplate = field(default_factory=PodTemplate)
    replicas: int = 0
    workload: str = ""
    ready_replicas: int = 0


@dataclass(eq=False, slots=True)
class Job(Obj):
    """batch/v1 Job with the counters its controller keeps in status."""

    template: PodTemplate = field(default_factory=PodTemplate)
    parallelism: int = 1
    completions: int | None = None
    indexed: bool = False
    backoff_limit: int = 6
    run_duration: Distribution | None = None
    workload: str = ""
    # status
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    complete: bool = False
    failed_condition: bool = False  # BackoffLimitExceeded


@dataclass(frozen=True)
class PodSet:
    """One PodSet of a Kueue Workload: ``count`` pods of ``template`` (its requests per pod)."""

    name: str  # leader | worker | main (pkg/controller/jobs/leaderworkerset/leaderworkerset_reconciler.go)
    count: int
    requests: tuple[tuple[str, int], ...]
    node_selector: tuple[tuple[str, str], ...] = ()
    topology: tuple[tuple[str, str], ...] = ()  # the template's kueue.x-k8s.io/podset-* annotations
    tolerations: tuple[Toleration, ...] = ()


@dataclass(eq=False, slots=True)
class Workload(Obj):
    """Kueue's Workload (kueue.x-k8s.io/v1beta2) of one LWS group: the spec its LWS integration writes and
    the status Kueue's scheduler and workload controller keep (docs/kueue-v0.17-semantics.md §1.4, §2)."""

    queue_name: str = ""
    pod_sets: tuple[PodSet, ...] = ()
    priority: int = 0
    workload: str = ""  # the scenario workload (LWS) it belongs to
    lws: str = ""
    group: int = -1
    # status
    cluster_queue: str = ""  # status.admission.clusterQueue while quota is reserved
    usage: tuple[tuple[str, str, int], ...] = ()  # (flavor, resource, amount) reserved
    flavors: tuple[tuple[str, str, str], ...] = ()  # (pod set, resource, flavor) assigned
    # TAS: per pod set, the nodeSelector each pod gets, by rank (the TopologyUngater's)
    topology: dict[str, list[tuple[tuple[str, str], ...]]] = field(default_factory=dict)
    admitted: bool = False
    admitted_at: float | None = None
    evicting: str = ""  # Evicted=True reason while the group's pods are stopped
    pods_ready: bool = False
    ever_ready: bool = False
    ready_changed_at: float = 0.0
    pending_reason: str = ""  # QuotaReserved=False: Pending | Inadmissible
    pending_message: str = ""
    requeue_count: int = 0
    requeue_at: float = 0.0
    order_time: float = 0.0  # queue ordering timestamp: creation, or the PodsReady eviction
