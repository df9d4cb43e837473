"""cluster-autoscaler's ProvisioningRequests (``--enable-provisioning-requests``): capacity asked for ahead of
the pods, in two classes.

kubernetes/autoscaler cluster-autoscaler-1.34.5 (docs/autoscaling-semantics.md §3.5):
- ``provisioningrequest/orchestrator/wrapper_orchestrator.go``: when both ProvisioningRequests and
  ordinary pods wait, loops alternate between them; pods annotated
  ``autoscaling.x-k8s.io/consume-provisioning-request`` are the requests' and are never scaled up for on
  their own. One request is processed per loop, the check-capacity class first (``orchestrator.go``).
- ``checkcapacity/provisioningclass.go``: the request's pods fit the cluster as it is (upcoming nodes
  included, no scale-up) → ``Provisioned=True`` (CapacityIsFound); else ``Provisioned=False``, retried
  after a back-off (1 min doubling to 10 min, ``provisioning-request-initial-backoff-time`` and
  ``-max-backoff-time``), or ``Failed=True`` with parameter ``noRetry: "true"``.
- ``besteffortatomic/provisioning_class.go``: the pods already fit → Provisioned (CapacityIsFound); else a
  scale-up that must take every pod in one node group (``allOrNothing``); asked for →
  ``Provisioned=True`` (CapacityIsProvisioned) at once, without waiting for the nodes; none →
  ``Provisioned=False``, retried. The increase is atomic only where the node group has
  ``AtomicIncreaseSize`` (azure); elsewhere it falls back to a plain ``IncreaseSize``
  (``core/scaleup/orchestrator/executor.go``), node by node.
- ``processors/provreq/processor.go``: while Provisioned and for ``defaultReservationTime`` (10 min) after,
  its pods are booked: placed as fake pods in the snapshot, they hold capacity from other pods and from
  scale-down; then ``BookingExpired=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lwssim.engine.objects import Pod
from lwssim.model.autoscaling import ProvisioningRequest
from lwssim.model.pod import PodTemplate

CONSUME = "autoscaling.x-k8s.io/consume-provisioning-request"
BOOKING = 600.0  # processor.go defaultReservationTime
INITIAL_BACKOFF, MAX_BACKOFF = 60.0, 600.0  # config/flags/flags.go
CAPACITY_IS_FOUND = "CapacityIsFound"
CAPACITY_IS_PROVISIONED = "CapacityIsProvisioned"
CAPACITY_IS_NOT_FOUND = "CapacityIsNotFound"
FAILED_TO_CREATE_POD = "FailedToCreatePods"  # noRetry: the check failed
BOOKING_EXPIRED = "CapacityReservationTimeExpired"


@dataclass(eq=False)
class Request:
    spec: ProvisioningRequest
    pods: list[Pod]  # its fake pods, one per count of each pod set
    provisioned_at: float | None = None
    failed: bool = False
    booking_expired: bool = False
    retry_at: float = 0.0
    backoff: float = 0.0
    last_reason: str = ""
    nodes: list[str] = field(default_factory=list)  # the nodes its scale-up asked for

    @property
    def key(self) -> str:
        return f"{self.spec.namespace}/{self.spec.name}"

    def waiting(self, now: float) -> bool:
        return self.provisioned_at is None and not self.failed and now >= max(self.retry_at, self.spec.at)

    def booked(self) -> bool:
        return self.provisioned_at is not None and not self.booking_expired

    def retry_later(self, now: float) -> None:
        self.backoff = INITIAL_BACKOFF if self.backoff == 0.0 else min(2 * self.backoff, MAX_BACKOFF)
        self.retry_at = now + self.backoff


def fake_pods(
    spec: ProvisioningRequest, templates: dict[tuple[str, str], PodTemplate], uid: int
) -> list[Pod]:
    """``pods.PodsForProvisioningRequest``: ``count`` pods of each pod set's template (not stored)."""
    out = []
    for i, (name, count) in enumerate(spec.pod_sets):
        t = templates[spec.namespace, name]
        for k in range(count):
            uid -= 1
            out.append(
                Pod(
                    kind="Pod",
                    name=f"{spec.name}-{i}-{k}",
                    namespace=spec.namespace,
                    labels=dict(t.labels),
                    template=t,
                    uid=uid,
                    affinity=t.pod_affinity,
                    anti_affinity=t.pod_anti_affinity,
                )
            )
    return out


def consumes(pod: Pod) -> bool:
    """A pod that consumes a ProvisioningRequest (``splitOut``): the request's, never scaled up for alone."""
    return any(k == CONSUME for k, _ in pod.template.annotations)
