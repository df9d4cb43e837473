"""Timing distributions of the scenario's ``timing`` block, sampled from one seeded generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Distribution:
    """A non-negative duration distribution in seconds.

    kind: fixed (a), uniform (a=min, b=max), normal (a=mean, b=stddev, truncated at 0),
    lognormal (a=median, b=sigma).
    """

    kind: str = "fixed"
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Distribution:
        return cls("fixed", seconds, 0.0)

    def sample(self, rng: np.random.Generator) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return float(rng.uniform(self.a, self.b))
        if self.kind == "normal":
            return max(0.0, float(rng.normal(self.a, self.b)))
        if self.kind == "lognormal":
            return float(self.a * np.exp(rng.normal(0.0, self.b)))
        raise ValueError(f"unknown distribution {self.kind}")

    def sampler(self, rng: np.random.Generator, block: int = 512) -> Callable[[], float]:
        """``sample(rng)`` as a function drawing ``block`` values at a time: the same values in the
        same order, provided nothing else draws from ``rng`` (NumPy fills a block one draw after
        another with the scalar algorithm)."""
        if self.kind == "fixed":
            return lambda: self.a
        values: list[float] = []

        def draw() -> float:
            if not values:
                if self.kind == "uniform":
                    batch = rng.uniform(self.a, self.b, block)
                elif self.kind == "normal":
                    batch = np.maximum(0.0, rng.normal(self.a, self.b, block))
                elif self.kind == "lognormal":
                    batch = self.a * np.exp(rng.normal(0.0, self.b, block))
                else:
                    raise ValueError(f"unknown distribution {self.kind}")
                values.extend(reversed(batch.tolist()))
            return values.pop()

        return draw

    @property
    def mean(self) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "normal":
            return self.a
        return float(self.a * np.exp(self.b**2 / 2))


@dataclass(frozen=True)
class RoleTiming:
    """Per-role overrides (``timing.leader`` / ``timing.worker``); None means: use the shared value."""

    image_pull_cold: Distribution | None = None
    image_pull_cached: Distribution | None = None
    container_start: Distribution | None = None
    model_load: Distribution | None = None
    termination: Distribution | None = None


# Defaults, each with its source (docs/defaults.md):
#  - 100 pods/s: kube-scheduler throughput gate in kubernetes/perf-tests (clusterloader2).
#  - cold pull 7m: 10–20 GB serving images take 5–10 min to pull and extract (BentoML; Tensorfuse).
#  - cached pull 0s: imagePullPolicy IfNotPresent with the image on the node.
#  - container start 2s: SIG Scalability pod startup SLO (p99 <= 5 s without pull).
#  - model load 4m: node-to-serving of one vLLM replica ~240 s (inference-sim/BLIS).
#  - termination 30s: default terminationGracePeriodSeconds.
#  - API latency per kind of call (ApiLatency below), measured on `lwssim emulator`.


def _lognormal(median_s: float, sigma: float) -> Distribution:
    return Distribution("lognormal", median_s, sigma)


@dataclass(frozen=True)
class ApiLatency:
    """How long each kind of API call the simulated controllers make takes, from the event the caller
    reacts to until the call's result is stored: the informer's delivery, the work queue, the request
    (kube-apiserver and any webhook). Status updates are not here: the simulator applies them at once
    (5-10 ms on the emulator; nothing modelled turns on them).

    Defaults: lognormals fitted (median; sigma of log) to the call chains of ten surge rollouts and one
    create of a 4×2 LWS on `lwssim emulator`'s kube-apiserver audit log (2026-12-01, idle machine; `lwssim
    calibrate --audit-log` computes the same from any audit log):
    - pod_create 60 ms, 0.55: a StatefulSet created → each of its pods created (StatefulSet controller;
      the pod POST passes the LWS pod webhook), n 54;
    - statefulset_create 23 ms, 0.7: a leader pod created → its worker StatefulSet created (LWS pod
      controller), n 54;
    - delete 33 ms, 0.6: an owner gone → its dependent deleted, one level of the garbage collector's
      cascade (median 31 ms StatefulSet, 37 ms pod; n 112); also a StatefulSet controller's pod DELETE.
    """

    pod_create: Distribution = field(default_factory=lambda: _lognormal(0.044, 0.66))
    controller_revision_create: Distribution = field(default_factory=lambda: _lognormal(0.025, 0.94))
    statefulset_create: Distribution = field(default_factory=lambda: _lognormal(0.030, 0.62))
    delete: Distribution = field(default_factory=lambda: _lognormal(0.041, 0.72))

    @classmethod
    def every_call(cls, d: Distribution) -> ApiLatency:
        """One distribution for every kind of call (``timing.apiLatency: <distribution>``)."""
        return cls(d, d, d, d)


# The scenario's names for the kinds of call (``timing.apiLatency.<name>``) → ApiLatency's fields.
API_CALLS = {
    "podCreate": "pod_create",
    "controllerRevisionCreate": "controller_revision_create",
    "statefulSetCreate": "statefulset_create",
    "delete": "delete",
}


@dataclass(frozen=True)
class NodeProvisioning:
    """``timing.nodeProvisioning``: a new node's way from request to schedulable GPUs.

    - ``vm_allocation``: the cloud's create call → instance running (NodeClaim Launched); billed from then;
    - ``node_ready``: instance running → Node registered and Ready (boot, kubelet, bootstrap);
    - ``gpu_allocatable``: Ready → ``nvidia.com/gpu`` allocatable (driver and device plugin registered);
    - ``stockout_probability``: chance a create finds no capacity (InsufficientCapacityError); the
      NodeClaim is then deleted after ``vm_allocation`` and the pods wait for the next batch, which may
      only try again once ``unavailable_offering_ttl`` has passed (the provider's cache of offerings that
      returned no capacity).
    Defaults and their sources (docs/defaults.md, "Node provisioning"):
    - vm_allocation lognormal median 20 s, sigma 0.5: EC2 pending→running ~16.5 s in every instance family
      measured (brevdev/ec2-coldboot-research), 4.9 s + a 1.5 s API call for a c5.xlarge (daemonology.net,
      2021). No GPU-specific figure was found: set it for your instance type.
    - node_ready lognormal median 60 s, sigma 0.3: "~70 seconds vs ~80 seconds from instance launch to
      node registration" (aws/karpenter-provider-aws#6128, a maintainer), less the allocation above.
    - gpu_allocatable uniform 30–120 s: the device plugin finds the GPUs "approximately 90 seconds later"
      (NVIDIA/k8s-device-plugin#291); "ready but still require about a minute to allocate GPU resources"
      (cloudpilot-ai/karpenter-provider-gcp#148). With the GPU Operator installing drivers, 3–5 min
      (NVIDIA/gpu-operator#707).
    - stockout_probability 0: no published rate; a knob.
    - unavailable_offering_ttl 3 min: ``UnavailableOfferingsTTL`` (aws/karpenter-provider-aws v1.14.0
      pkg/cache/cache.go).
    """

    vm_allocation: Distribution = field(default_factory=lambda: Distribution("lognormal", 20.0, 0.5))
    node_ready: Distribution = field(default_factory=lambda: Distribution("lognormal", 60.0, 0.3))
    gpu_allocatable: Distribution = field(default_factory=lambda: Distribution("uniform", 30.0, 120.0))
    stockout_probability: float = 0.0
    unavailable_offering_ttl: float = 180.0


@dataclass(frozen=True)
class Timing:
    scheduling_throughput: float = 100.0
    image_pull_cold: Distribution = field(default_factory=lambda: Distribution.fixed(420.0))
    image_pull_cached: Distribution = field(default_factory=lambda: Distribution.fixed(0.0))
    container_start: Distribution = field(default_factory=lambda: Distribution.fixed(2.0))
    model_load: Distribution = field(default_factory=lambda: Distribution.fixed(240.0))
    termination: Distribution = field(default_factory=lambda: Distribution.fixed(30.0))
    api_latency: ApiLatency = field(default_factory=ApiLatency)
    leader: RoleTiming = field(default_factory=RoleTiming)
    worker: RoleTiming = field(default_factory=RoleTiming)
    node_provisioning: NodeProvisioning = field(default_factory=NodeProvisioning)

    def for_role(self, role: str, phase: str) -> Distribution:
        """The distribution of ``phase`` (a field name above) for ``role`` (leader | worker)."""
        override = getattr(self.leader if role == "leader" else self.worker, phase)
        return override if override is not None else getattr(self, phase)
