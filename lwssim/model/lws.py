"""The LeaderWorkerSet spec after the LWS webhook's defaulting (docs/lws-v0.7-semantics.md §1.1), as
controllers read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from lwssim.model.pod import PodTemplate

LWS_PREFIX = "leaderworkerset.sigs.k8s.io/"
EXCLUSIVE_TOPOLOGY = LWS_PREFIX + "exclusive-topology"
SUBGROUP_EXCLUSIVE_TOPOLOGY = LWS_PREFIX + "subgroup-exclusive-topology"

RECREATE_GROUP_ON_POD_RESTART = "RecreateGroupOnPodRestart"
RESTART_NONE = "None"
RECREATE_GROUP_AFTER_START = "RecreateGroupAfterStart"
LEADER_CREATED = "LeaderCreated"
LEADER_READY = "LeaderReady"


@dataclass(frozen=True)
class RollingUpdate:
    """``rolloutStrategy.rollingUpdateConfiguration``; int or percentage strings kept as given."""

    max_unavailable: int | str = 1
    max_surge: int | str = 0
    partition: int = 0


@dataclass(frozen=True)
class LeaderWorkerSetSpec:
    name: str
    namespace: str = "default"
    replicas: int = 1
    size: int = 1
    leader_template: PodTemplate | None = None  # None: the worker template is used (controller :713-718)
    worker_template: PodTemplate = field(default_factory=PodTemplate)
    restart_policy: str = RECREATE_GROUP_ON_POD_RESTART
    startup_policy: str = LEADER_CREATED
    subgroup_size: int | None = None
    subgroup_type: str = "LeaderWorker"  # LeaderWorker | LeaderExcluded
    rolling_update: RollingUpdate = field(default_factory=RollingUpdate)
    subdomain_policy: str = "Shared"  # Shared | UniquePerReplica
    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    @cached_property
    def exclusive_topology(self) -> str | None:
        return dict(self.annotations).get(EXCLUSIVE_TOPOLOGY)

    @cached_property
    def subgroup_exclusive_topology(self) -> str | None:
        return dict(self.annotations).get(SUBGROUP_EXCLUSIVE_TOPOLOGY)

    @property
    def effective_leader_template(self) -> PodTemplate:
        return self.leader_template or self.worker_template

    def group_requests(self) -> dict[str, int]:
        """What one group requests in all: its leader and its size−1 workers (leader resources first)."""
        total = dict(self.effective_leader_template.requests())
        for resource, amount in self.worker_template.requests().items():
            total[resource] = total.get(resource, 0) + amount * (self.size - 1)
        return total


@dataclass(frozen=True)
class Workload:
    """A user-facing workload and the LeaderWorkerSet that runs it.

    For an LLMInferenceService, ``name`` is the service's own name and ``lws.name`` is ``<name>-kserve-mn``
    (docs/lws-v0.7-semantics.md §5); the user refers to it by ``name`` in events, faults and expectations.
    """

    name: str
    namespace: str
    kind: str  # LeaderWorkerSet | LLMInferenceService
    lws: LeaderWorkerSetSpec
    source: str = ""  # file (and document index) it came from, for messages
    at: float = 0.0  # applied at this simulated time (``spec.workloads[].at``)
