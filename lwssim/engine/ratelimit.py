"""Client-side API rate limits, as client-go's token bucket applies them to every request a
controller makes (``flowcontrol.NewTokenBucketRateLimiter``; reservations are served in order).

kube-controller-manager gives each controller its own client with ``--kube-api-qps 20`` and
``--kube-api-burst 30`` (kubernetes ``pkg/controller/apis/config/v1alpha1/defaults.go``), so the
StatefulSet controller creates at most 20 pods a second once its burst is spent.
"""

from __future__ import annotations

from collections.abc import Callable

KCM_QPS = 20.0
KCM_BURST = 30


class TokenBucket:
    def __init__(self, now: Callable[[], float], qps: float = KCM_QPS, burst: int = KCM_BURST) -> None:
        self.now, self.qps, self.burst = now, qps, burst
        self.tokens = float(burst)
        self.last = 0.0

    def reserve(self) -> float:
        """Take one token; return how long the request waits for it (0 while the burst lasts)."""
        t = self.now()
        self.tokens = min(self.burst, self.tokens + (t - self.last) * self.qps)
        self.last = t
        self.tokens -= 1.0
        return max(0.0, -self.tokens / self.qps)
