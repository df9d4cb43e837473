"""Kueue's objects and configuration as a scenario gives them (Kueue v0.17.0, ``apis/kueue/v1beta2`` and
``apis/config/v1beta2``): the typed, validated form the engine's Kueue model reads
(docs/kueue-v0.17-semantics.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lwssim.model.pod import LabelSelector

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # pkg/controller/constants/constants.go: QueueLabel
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"  # WorkloadPriorityClassLabel
LWS_FRAMEWORK = "leaderworkerset.x-k8s.io/leaderworkerset"  # leaderworkerset_controller.go: FrameworkName

# clusterqueue_types.go: QueueingStrategy, PreemptionPolicy, ReclaimWithinCohort, BorrowWithinCohortPolicy
STRICT_FIFO, BEST_EFFORT_FIFO = "StrictFIFO", "BestEffortFIFO"
NEVER, LOWER_PRIORITY, LOWER_OR_NEWER_EQUAL_PRIORITY, ANY = (
    "Never",
    "LowerPriority",
    "LowerOrNewerEqualPriority",
    "Any",
)


@dataclass(frozen=True)
class ResourceFlavor:
    """``spec.nodeLabels`` go into the admitted pods' nodeSelector; ``spec.tolerations`` into theirs;
    ``spec.topologyName`` makes the flavor a TAS flavor."""

    name: str
    node_labels: tuple[tuple[str, str], ...] = ()
    topology_name: str | None = None


@dataclass(frozen=True)
class ResourceQuota:
    """One resource of one flavor in a ClusterQueue (``ResourceQuota``), in the resource's base unit
    (GPUs, millicores, bytes) as lwssim's pod requests count it."""

    name: str
    nominal: int
    borrowing_limit: int | None = None
    lending_limit: int | None = None


@dataclass(frozen=True)
class FlavorQuotas:
    flavor: str
    resources: tuple[ResourceQuota, ...]


@dataclass(frozen=True)
class ResourceGroup:
    covered_resources: tuple[str, ...]
    flavors: tuple[FlavorQuotas, ...]


@dataclass(frozen=True)
class Preemption:
    """``spec.preemption`` (defaults: Never, Never, Never)."""

    within_cluster_queue: str = NEVER
    reclaim_within_cohort: str = NEVER
    borrow_within_cohort: str = NEVER
    max_priority_threshold: int | None = None


@dataclass(frozen=True)
class ClusterQueue:
    name: str
    resource_groups: tuple[ResourceGroup, ...] = ()
    cohort: str = ""
    queueing_strategy: str = BEST_EFFORT_FIFO
    # null is a nothing selector (no namespace may use the queue); {} selects every namespace
    namespace_selector: LabelSelector | None = None
    preemption: Preemption = field(default_factory=Preemption)


@dataclass(frozen=True)
class LocalQueue:
    name: str
    namespace: str
    cluster_queue: str


@dataclass(frozen=True)
class Topology:
    """``spec.levels[].nodeLabel``, from the highest level to the lowest."""

    name: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class WorkloadPriorityClass:
    name: str
    value: int


@dataclass(frozen=True)
class WaitForPodsReady:
    """``waitForPodsReady`` (present = enabled; defaults from apis/config/v1beta2/defaults.go)."""

    timeout: float
    recovery_timeout: float | None = None  # None: same as timeout; 0 turns recovery off
    block_admission: bool = False
    backoff_base_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    backoff_limit_count: int | None = None

    @property
    def recovery(self) -> float:
        return self.timeout if self.recovery_timeout is None else self.recovery_timeout


@dataclass(frozen=True)
class KueueConfig:
    """``spec.controller.kueue``: Kueue's Configuration fields lwssim models."""

    enabled: bool = False
    frameworks: tuple[str, ...] = ("batch/job",)  # integrations.frameworks default (defaults.go)
    wait_for_pods_ready: WaitForPodsReady | None = None
    manage_jobs_without_queue_name: bool = False

    @property
    def manages_lws(self) -> bool:
        return self.enabled and LWS_FRAMEWORK in self.frameworks


@dataclass(frozen=True)
class KueueObjects:
    """Every Kueue object of a scenario, with the configuration of the Kueue that reads them."""

    config: KueueConfig = field(default_factory=KueueConfig)
    flavors: tuple[ResourceFlavor, ...] = ()
    cluster_queues: tuple[ClusterQueue, ...] = ()
    local_queues: tuple[LocalQueue, ...] = ()
    topologies: tuple[Topology, ...] = ()
    priority_classes: tuple[WorkloadPriorityClass, ...] = ()

    def local_queue(self, namespace: str, name: str) -> LocalQueue | None:
        return next((q for q in self.local_queues if q.namespace == namespace and q.name == name), None)

    def cluster_queue(self, name: str) -> ClusterQueue | None:
        return next((q for q in self.cluster_queues if q.name == name), None)

    def flavor(self, name: str) -> ResourceFlavor | None:
        return next((f for f in self.flavors if f.name == name), None)

    def topology(self, name: str) -> Topology | None:
        return next((t for t in self.topologies if t.name == name), None)

    def priority(self, name: str) -> int | None:
        return next((p.value for p in self.priority_classes if p.name == name), None)
