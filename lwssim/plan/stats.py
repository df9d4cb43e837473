"""Statistics over Monte Carlo runs: quantiles, a seeded bootstrap interval, exact early rejection."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CI_LEVEL = 0.95


def quantile(values: list[float | None], q: float) -> float | None:
    """The ``q``-quantile as the ``ceil(q·n)``-th smallest value (numpy's ``inverted_cdf``).

    ``None`` (never happened) sorts above every number, so a quantile that lands on it is ``None``.
    This definition makes "the quantile meets the bound" a count of runs, which early rejection relies on.
    """
    if not values:
        return None
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    k = max(1, math.ceil(q * len(ranked) - 1e-9))
    return ranked[k - 1]


def bootstrap_ci(values: list[float], seed: int) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean at CI_LEVEL, from a generator seeded by ``seed``.

    A percentile bootstrap rather than a normal approximation: availabilities pile up at 1.0 with a long
    tail of bad runs, and the interval should be as lopsided as the data.
    """
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(len(values), 0xB007)))
    means = data[rng.integers(0, len(data), size=(BOOTSTRAP_RESAMPLES, len(data)))].mean(axis=1)
    alpha = (1.0 - CI_LEVEL) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Targets:
    availability: float | None = None
    time_to_serving: float | None = None  # seconds
    quantile: float = 0.95

    @property
    def any(self) -> bool:
        return self.availability is not None or self.time_to_serving is not None


class Verdict:
    """Running verdict on one candidate as its runs arrive in run order.

    ``rejected`` becomes a reason as soon as the runs so far prove the candidate cannot meet the targets
    over all ``total`` runs, whatever the remaining runs give: one run that never has every group serving
    (placement), an availability deficit the remaining runs could not make up even at 1.0 each, or more
    runs over the time target than the quantile allows. These are exact bounds, not statistical guesses,
    so stopping early never changes which candidates meet the targets; it only shortens rejected ones.
    """

    def __init__(self, total: int, targets: Targets) -> None:
        self.total, self.targets = total, targets
        self.done = 0
        self.availability_sum = 0.0
        self.too_slow = 0
        self.rejected: str | None = None
        # runs allowed above the time target: the quantile is the ceil(q·total)-th smallest
        self.slow_allowed = total - max(1, math.ceil(targets.quantile * total - 1e-9))

    def add(self, all_serving: bool, availability: float, time_to_serving: float | None) -> None:
        self.done += 1
        self.availability_sum += availability
        target = self.targets.time_to_serving
        if target is not None and (time_to_serving is None or time_to_serving > target):
            self.too_slow += 1
        if self.rejected:
            return
        if not all_serving:
            self.rejected = "placement"
        elif self.targets.availability is not None and (
            self.availability_sum + (self.total - self.done) < self.targets.availability * self.total - 1e-12
        ):
            self.rejected = "availability"
        elif target is not None and self.too_slow > self.slow_allowed:
            self.rejected = "timeToServing"
