"""Node autoscaling of a scenario: the provider, its NodePools, and how long a new node takes.

Karpenter semantics are those of kubernetes-sigs/karpenter v1.14.1 (docs/autoscaling-semantics.md §1-2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lwssim.model.pod import PodTemplate

KARPENTER = "karpenter"
CLUSTER_AUTOSCALER = "clusterAutoscaler"
WHEN_EMPTY = "WhenEmpty"
WHEN_EMPTY_OR_UNDERUTILIZED = "WhenEmptyOrUnderutilized"


@dataclass(frozen=True)
class Disruption:
    """A Karpenter NodePool's ``spec.disruption``: when an empty node is removed, and how many at once."""

    consolidation_policy: str = WHEN_EMPTY_OR_UNDERUTILIZED
    consolidate_after: float | None = 0.0  # None: Never
    budget_nodes: tuple[str, ...] = ("10%",)  # each budget's ``nodes`` (a count or a percentage)

    def allowed(self, total: int) -> int:
        """Nodes the budgets let be disrupted at once out of ``total`` (the most restrictive budget;
        a percentage rounds up, ``GetScaledValueFromIntOrPercent`` with roundUp, helpers.go)."""
        allowed = total
        for nodes in self.budget_nodes:
            if nodes.endswith("%"):
                pct = int(nodes[:-1])
                n = -(-total * pct // 100)
            else:
                n = int(nodes)
            allowed = min(allowed, n)
        return allowed


@dataclass(frozen=True)
class KarpenterNodePool:
    """A Karpenter NodePool launching nodes of one lwssim pool (its capacity is the instance type)."""

    name: str
    pool: str
    weight: int = 0
    limits: tuple[tuple[str, int], ...] = ()  # resource -> amount (cpu in millicores, memory in bytes)
    disruption: Disruption = field(default_factory=Disruption)
    expire_after: float | None = 720 * 3600.0  # template.spec.expireAfter (default 720h; None: Never)


# cluster-autoscaler's expanders lwssim simulates (expander/: random, waste, priority).
EXPANDERS = ("random", "least-waste", "priority")
# The node labels by which cloud providers mark GPU nodes (CA cloudprovider/gce/gce_cloud_provider.go
# GPULabel, aws/aws_cloud_provider.go GPULabel, azure/azure_cloud_provider.go; legacy "accelerator").
GPU_LABELS = (
    "cloud.google.com/gke-accelerator",
    "k8s.amazonaws.com/accelerator",
    "kubernetes.azure.com/accelerator",
    "accelerator",
)


# ProvisioningRequest classes cluster-autoscaler 1.34 serves (provisioningrequest/supported_classes.go).
CHECK_CAPACITY_CLASS = "check-capacity.autoscaling.x-k8s.io"
ATOMIC_CLASS = "best-effort-atomic-scale-up.autoscaling.x-k8s.io"
# The classes cluster-autoscaler 1.34 serves (supported_classes.go), in the order it processes them
# (orchestrator.go: check-capacity first).
PROVISIONING_CLASSES = (CHECK_CAPACITY_CLASS, ATOMIC_CLASS)
# Cloud providers whose node groups implement AtomicIncreaseSize (azure_scale_set.go; the others return
# ErrNotImplemented and cluster-autoscaler falls back to a plain IncreaseSize: executor.go increaseSize).
CLOUD_PROVIDERS = ("gce", "aws", "azure", "clusterapi", "kwok")
ATOMIC_PROVIDERS = ("azure",)


@dataclass(frozen=True)
class PodTemplateObject:
    """A ``v1 PodTemplate``: what a ProvisioningRequest's pod set asks capacity for."""

    name: str
    namespace: str
    template: PodTemplate


@dataclass(frozen=True)
class ProvisioningRequest:
    """``autoscaling.x-k8s.io/v1 ProvisioningRequest``: capacity for ``count`` pods of each PodTemplate."""

    name: str
    namespace: str
    class_name: str
    pod_sets: tuple[tuple[str, int], ...]  # (PodTemplate name, count)
    no_retry: bool = False
    at: float = 0.0


@dataclass(frozen=True)
class ClusterAutoscalerConfig:
    """cluster-autoscaler's flags that change what it does to node groups, with their defaults at
    cluster-autoscaler-1.34.5 (config/flags/flags.go, config/const.go; docs/autoscaling-semantics.md §3).
    ``priorities``: the priority expander's ConfigMap, priority → node group name regexes."""

    expander: str = "least-waste"
    priorities: tuple[tuple[int, tuple[str, ...]], ...] = ()
    scan_interval: float = 10.0
    max_node_provision_time: float = 900.0
    scale_down_enabled: bool = True
    scale_down_unneeded_time: float = 600.0
    scale_down_delay_after_add: float = 600.0
    scale_down_utilization_threshold: float = 0.5
    scale_down_gpu_utilization_threshold: float = 0.5
    max_nodes_per_scale_up: int = 1000
    max_scale_down_parallelism: int = 10
    initial_backoff: float = 300.0
    max_backoff: float = 1800.0
    backoff_reset: float = 3 * 3600.0
    cloud_provider: str = "gce"  # whose node groups these are: decides whether an atomic scale-up is atomic
    enable_provisioning_requests: bool = False
    provisioning_requests: tuple[ProvisioningRequest, ...] = ()
    pod_templates: tuple[PodTemplateObject, ...] = ()


@dataclass(frozen=True)
class Autoscaling:
    """``spec.cluster.autoscaling``. ``enabled`` is False when the scenario has none: pools are fixed."""

    provider: str = ""
    batch_idle: float = 1.0  # Karpenter --batch-idle-duration (options.go)
    batch_max: float = 10.0  # Karpenter --batch-max-duration
    node_pools: tuple[KarpenterNodePool, ...] = ()
    cluster_autoscaler: ClusterAutoscalerConfig = field(default_factory=ClusterAutoscalerConfig)

    @property
    def enabled(self) -> bool:
        return bool(self.provider)

    def node_pool_of(self, pool: str) -> KarpenterNodePool | None:
        return next((n for n in self.node_pools if n.pool == pool), None)
