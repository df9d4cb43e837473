"""The scenario: everything one simulation run needs, validated and typed (docs/contract.md "Scenario
file")."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from lwssim.model.cluster import Cluster
from lwssim.model.kueue import KueueObjects
from lwssim.model.lws import LeaderWorkerSetSpec, Workload
from lwssim.model.timing import Distribution, Timing
from lwssim.model.workloads import DisruptionBudget, PodWorkload, PriorityClass

SUPPORTED_LWS_VERSIONS = ("v0.7", "v0.8", "v0.9", "v0.10")
# kubernetesVersion (v1.34 to v1.37, manifests/schema.py) changes for LWS the default of each feature gate
# below. The rest of the control plane (kube-scheduler, the StatefulSet controller, the garbage collector)
# is modelled on v1.34, whose source the simulator follows; their later changes do not touch LWS's paths.
# Feature gate -> (minor, default from that minor on), oldest first: pkg/features/kube_features.go of
# kubernetes v1.34.4, v1.35.4, v1.36.1 and v1.37.2. MaxUnavailableStatefulSet: alpha (off) from 1.24,
# beta still off in 1.35 and 1.36, beta on from 1.37.
MAX_UNAVAILABLE_STATEFULSET = "MaxUnavailableStatefulSet"
GATE_DEFAULTS: dict[str, tuple[tuple[int, bool], ...]] = {
    MAX_UNAVAILABLE_STATEFULSET: ((24, False), (37, True)),
}


@dataclass(frozen=True)
class ControllerConfig:
    lws_version: str = "v0.7.0"
    kubernetes_version: str = "v1.34"
    gang_scheduling: str = "none"  # none | volcano
    feature_gates: tuple[tuple[str, bool], ...] = ()  # e.g. MaxUnavailableStatefulSet
    scoring_strategy: str = "LeastAllocated"  # LeastAllocated | MostAllocated (NodeResourcesFit)

    @cached_property
    def version_tuple(self) -> tuple[int, int, int]:
        parts = self.lws_version.lstrip("v").split(".")
        nums = [int(p) for p in parts[:3]] + [0] * (3 - len(parts[:3]))
        return nums[0], nums[1], nums[2]

    @cached_property
    def kubernetes_minor(self) -> int:
        return int(self.kubernetes_version.lstrip("v").split(".")[1])

    def gate(self, name: str) -> bool:
        """A feature gate as the cluster runs it: set in ``featureGates``, else its default in
        ``kubernetesVersion`` (gates lwssim does not know default to off)."""
        given = dict(self.feature_gates).get(name)
        if given is not None:
            return given
        on = False
        for minor, default in GATE_DEFAULTS.get(name, ()):
            if self.kubernetes_minor >= minor:
                on = default
        return on


@dataclass(frozen=True)
class FailureCause:
    """One cause of random node failures: its share of failures and how long repair takes."""

    name: str
    weight: float
    repair: Distribution
    effect: str = "nodeDown"  # nodeDown | reboot (node returns with images kept)


@dataclass(frozen=True)
class NodeFailures:
    rate_per_node_day: float
    repair: Distribution
    causes: tuple[FailureCause, ...] = ()


@dataclass(frozen=True)
class DomainFailures:
    """Correlated failures of a topology domain (e.g. a rack's leaf switch) taking all its nodes down."""

    key: str
    rate_per_domain_day: float
    repair: Distribution


@dataclass(frozen=True)
class ScriptedFault:
    """A fault at a given time. ``kind``: podCrash | podDelete | nodeDown | nodeUp | domainDown | domainUp.

    Targets: ``pod`` (a pod name; for nodeDown, the node running it), ``node``, or ``domain`` (key=value).
    """

    at: float
    kind: str
    pod: str | None = None
    node: str | None = None
    domain: tuple[str, str] | None = None


@dataclass(frozen=True)
class Faults:
    node_failures: NodeFailures | None = None
    domain_failures: tuple[DomainFailures, ...] = ()
    container_crashes_per_pod_day: float = 0.0
    scripted: tuple[ScriptedFault, ...] = ()
    node_monitor_grace_period: float = 40.0  # kube-controller-manager default (50 s from k8s 1.32)
    force_delete_after: float | None = None  # operator/out-of-service taint: force-delete stuck pods
    repaired_nodes_keep_images: bool = False


@dataclass(frozen=True)
class PatchEvent:
    """``events[].patch``: a JSON merge patch of the workload's manifest spec, applied at ``at``.

    ``lws`` is the LeaderWorkerSet spec that results, computed and validated when the scenario loads.
    """

    at: float
    workload: str
    patch: dict
    lws: LeaderWorkerSetSpec


@dataclass(frozen=True)
class ScaleEvent:
    at: float
    workload: str
    replicas: int


@dataclass(frozen=True)
class Expectation:
    """``expect[]``: one assertion ``metric comparator value`` on a workload (or the cluster).

    metric: groupsServing | groupsReadyReported | timeToAllServing | availability | groupRecreations |
    pendingPods | podsPreempted | rolloutMinServing | rolloutDuration. Durations are in seconds.
    ``quantile`` applies over Monte Carlo runs; ``lws_versions`` (when given) are the LWS versions the
    expectation holds for.
    """

    workload: str | None
    metric: str
    comparator: str  # atLeast | atMost | equals
    value: float
    quantile: float | None = None
    index: int = 0  # position in expect[], for messages
    field_path: str = ""
    lws_versions: tuple[str, ...] = ()

    def holds_for(self, lws_version: str) -> bool:
        return not self.lws_versions or lws_version in self.lws_versions


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    seed: int
    horizon: float
    cluster: Cluster
    workloads: tuple[Workload, ...]
    timing: Timing = field(default_factory=Timing)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    faults: Faults = field(default_factory=Faults)
    patches: tuple[PatchEvent, ...] = ()
    scales: tuple[ScaleEvent, ...] = ()
    expect: tuple[Expectation, ...] = ()
    # A shared cluster's other objects (docs/contract.md, "Shared and elastic clusters").
    priority_classes: tuple[PriorityClass, ...] = ()
    budgets: tuple[DisruptionBudget, ...] = ()
    pod_workloads: tuple[PodWorkload, ...] = ()
    kueue: KueueObjects = field(default_factory=KueueObjects)  # Kueue's objects and configuration

    def workload(self, name: str) -> Workload | None:
        return next((w for w in self.workloads if w.name == name), None)

    def workload_names(self) -> list[str]:
        """Every workload a scenario names: LeaderWorkerSets (LLMInferenceServices) and pod workloads."""
        return [w.name for w in self.workloads] + [p.name for p in self.pod_workloads]
