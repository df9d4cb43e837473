"""cluster-autoscaler's view of its node groups: each group's instances (its target size), which are upcoming,
the scale-ups that time out, and the back-off of a group that failed.

kubernetes/autoscaler cluster-autoscaler-1.34.5 (docs/autoscaling-semantics.md §3.2-3.3):
- ``clusterstate/clusterstate.go: updateScaleRequests``: a scale-up whose nodes have not registered
  ``max-node-provision-time`` after it was asked for times out ("Scale-up timed out"); the group is backed
  off (``registerFailedScaleUpNoLock``) and its nodes that never registered are removed (``FAQ.md``: nodes
  unregistered after max-node-provision-time "may be removed").
- ``utils/backoff/exponential_backoff.go: Backoff``: the first failure backs a group off for
  ``initial-node-group-backoff-duration``; a failure after that back-off expired doubles it (up to
  ``max-node-group-backoff-duration``); one during an active back-off does not; it resets
  ``node-group-backoff-reset-timeout`` after the last failure.
- ``GetUpcomingNodes``: target − registered nodes; and (``processors/customresources/gpu_processor.go:
  FilterOutNodesWithUnreadyResources``) a Ready node that carries the provider's GPU label but has no GPU
  allocatable yet counts as unready, so an upcoming node of its group's template; without the label it is a
  ready node with no GPUs (the cause of the double scale-up the FAQ describes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lwssim.model.autoscaling import GPU_LABELS, ClusterAutoscalerConfig
from lwssim.model.cluster import NodePool


@dataclass(eq=False)
class Instance:
    """One node of a node group, from the scale-up that asked for it to its deletion."""

    name: str
    asked: float
    stockout: bool = False  # the cloud will never deliver it
    launched: bool = False  # the instance runs (billed)
    row: int | None = None  # its Node's row once registered
    gpus_ready: bool = False
    deleting: bool = False
    pods: tuple[str, ...] = ()  # the pods its scale-up was for


@dataclass(eq=False)
class NodeGroup:
    pool: NodePool
    instances: list[Instance] = field(default_factory=list)
    backoff_until: float = -math.inf
    backoff: float = 0.0
    last_failure: float = -math.inf
    gpu_labelled: bool = False

    def __post_init__(self) -> None:
        self.gpu_labelled = any(k in GPU_LABELS for k, _ in self.pool.labels)

    @property
    def name(self) -> str:
        return self.pool.name

    @property
    def target(self) -> int:
        return sum(1 for i in self.instances if not i.deleting)

    def upcoming(self) -> list[Instance]:
        """Nodes the group will have that cluster-autoscaler counts at the template's capacity: asked for
        and not registered, and, with the GPU label, registered without their GPUs yet."""
        return [
            i
            for i in self.instances
            if not i.deleting and (i.row is None or (not i.gpus_ready and self.gpu_labelled))
        ]

    def backed_off(self, now: float) -> bool:
        return now < self.backoff_until

    def fail(self, now: float, config: ClusterAutoscalerConfig) -> None:
        """``Backoff``: a failed scale-up backs the group off from now: for the initial duration, or, if it
        failed within the reset timeout, for the same duration again, doubled when the last back-off had
        expired (``RemoveStaleBackoffData`` forgets a failure older than the reset timeout)."""
        if self.backoff == 0.0 or now - self.last_failure > config.backoff_reset:
            duration = config.initial_backoff
        elif self.backoff_until < now:
            duration = min(2 * self.backoff, config.max_backoff)
        else:
            duration = self.backoff
        self.backoff, self.backoff_until, self.last_failure = duration, now + duration, now

    def succeeded(self) -> None:
        """``RemoveBackoff``: a scale-up of the group finished (no upcoming node left)."""
        self.backoff, self.backoff_until, self.last_failure = 0.0, -math.inf, -math.inf
