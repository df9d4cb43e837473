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
#  - API latency lognormal(median 75 ms, sigma 0.6): pod creates measured on `lwssim emulator`'s
#    kube-apiserver (apiserver_request_duration_seconds, POST pods incl. the LWS mutating webhook: mean
#    94 ms over 54 creates, 17 % <= 50 ms, 61 % <= 100 ms, all <= 200 ms). It decides how pod creations of
#    concurrent StatefulSet syncs interleave, and so which groups win a capacity shortfall.
@dataclass(frozen=True)
class Timing:
    scheduling_throughput: float = 100.0
    image_pull_cold: Distribution = field(default_factory=lambda: Distribution.fixed(420.0))
    image_pull_cached: Distribution = field(default_factory=lambda: Distribution.fixed(0.0))
    container_start: Distribution = field(default_factory=lambda: Distribution.fixed(2.0))
    model_load: Distribution = field(default_factory=lambda: Distribution.fixed(240.0))
    termination: Distribution = field(default_factory=lambda: Distribution.fixed(30.0))
    api_latency: Distribution = field(default_factory=lambda: Distribution("lognormal", 0.075, 0.6))
    leader: RoleTiming = field(default_factory=RoleTiming)
    worker: RoleTiming = field(default_factory=RoleTiming)

    def for_role(self, role: str, phase: str) -> Distribution:
        """The distribution of ``phase`` (a field name above) for ``role`` (leader | worker)."""
        override = getattr(self.leader if role == "leader" else self.worker, phase)
        return override if override is not None else getattr(self, phase)
