"""The objects of a shared cluster besides LeaderWorkerSets (docs/contract.md, "Shared and elastic
clusters"): PriorityClasses, PodDisruptionBudgets, and the pods other teams run through Deployments,
StatefulSets, Jobs or bare Pods, each as its controller reads it after the API server's defaulting."""

from __future__ import annotations

from dataclasses import dataclass

from lwssim.model.pod import LabelSelector, PodTemplate
from lwssim.model.timing import Distribution

PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
NEVER = "Never"

DEPLOYMENT, STATEFULSET, JOB, POD = "Deployment", "StatefulSet", "Job", "Pod"
NON_INDEXED, INDEXED = "NonIndexed", "Indexed"
ORDERED_READY, PARALLEL = "OrderedReady", "Parallel"
RUN_DURATION = "lwssim.io/run-duration"  # annotation on a Job: how long each of its pods runs


@dataclass(frozen=True)
class PriorityClass:
    """scheduling.k8s.io/v1 PriorityClass (``preemptionPolicy`` defaults to PreemptLowerPriority)."""

    name: str
    value: int
    global_default: bool = False
    preemption_policy: str = PREEMPT_LOWER_PRIORITY


# The two classes every cluster has (kubernetes v1.34 pkg/apis/scheduling/types.go:
# SystemClusterCritical = 2*10^9, SystemNodeCritical = SystemClusterCritical + 1000).
SYSTEM_PRIORITY_CLASSES = (
    PriorityClass("system-cluster-critical", 2_000_000_000),
    PriorityClass("system-node-critical", 2_000_001_000),
)


@dataclass(frozen=True)
class DisruptionBudget:
    """policy/v1 PodDisruptionBudget: at most one of ``min_available`` / ``max_unavailable`` (int or "N%")."""

    name: str
    namespace: str
    selector: LabelSelector
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    at: float = 0.0  # applied at this simulated time


@dataclass(frozen=True)
class PodWorkload:
    """A Deployment, StatefulSet, Job or bare Pod: ``replicas`` pods from ``template``.

    Job: ``replicas`` is ``parallelism``; ``completions`` None is the work-queue mode (done once one pod
    succeeded); pods run for ``run_duration`` then succeed (None: until the horizon).
    StatefulSet: ``pod_management`` OrderedReady (the default) or Parallel.
    """

    kind: str
    name: str
    namespace: str
    replicas: int
    template: PodTemplate
    labels: tuple[tuple[str, str], ...] = ()
    selector: LabelSelector = LabelSelector()
    at: float = 0.0
    source: str = ""
    completions: int | None = None
    completion_mode: str = NON_INDEXED
    backoff_limit: int = 6
    run_duration: Distribution | None = None
    pod_management: str = ORDERED_READY
