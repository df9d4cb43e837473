"""Statistics over Monte Carlo runs: quantiles, a seeded bootstrap interval, the sequential verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CI_LEVEL = 0.95
CONFIDENCE = 0.95  # default confidence of the sequential verdict (--confidence)
SEQUENTIAL_RULE = (
    "two-sided test by betting on the mean against the target (Waudby-Smith & Ramdas 2024, "
    "'Estimating means of bounded random variables by betting', JRSS-B 86(1), aGRAPA bets), "
    "anytime-valid by Ville's inequality, so the runs may stop whenever it decides"
)


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


class BettingTest:
    """Anytime-valid two-sided test of the mean of values in [0, 1] against ``m``, by betting.

    Two gamblers bet each run that the mean is above (``up``) or below (``down``) ``m``; the bet is chosen
    from the runs before it (aGRAPA: the growth-rate-optimal fraction for the running mean and variance,
    staking at most 3/4 of what a worst-case value could lose). Under the null a gambler's wealth is a
    nonnegative supermartingale, so by Ville's inequality it ever reaches ``2/α`` with probability at most
    ``α/2``, however long the runs go on and whenever they stop. Only boundedness is assumed: no
    normality, which availabilities piling up at 1.0 would break. The price is that values near the top
    of the range confirm "above" slowly (a run could still come in at 0): deciding that a mean of 0.9997
    beats 0.999 takes thousands of runs, so acceptance mostly falls back to the fixed run count, while a
    mean clearly below the target is refused within a few runs.
    """

    STAKE = 0.75  # bets stake at most this share of what the worst value could lose (W-S & R's c)

    def __init__(self, m: float, confidence: float) -> None:
        self.m = m
        self.log_threshold = math.log(2.0 / (1.0 - confidence))
        self.log_up = self.log_down = 0.0
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: float) -> None:
        up, down = self._bets()
        d = x - self.m
        self.log_up += math.log1p(up * d)
        self.log_down += math.log1p(-down * d)
        self.n += 1  # Welford's running mean and variance
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def _bets(self) -> tuple[float, float]:
        if self.n == 0:
            return 0.0, 0.0
        gap = self.mean - self.m
        fraction = gap / (self.m2 / self.n + gap * gap) if gap else 0.0
        up = min(max(fraction, 0.0), self.STAKE / max(self.m, 1e-12))
        down = min(max(-fraction, 0.0), self.STAKE / max(1.0 - self.m, 1e-12))
        return up, down

    @property
    def above(self) -> bool:
        """The mean exceeds ``m`` at the confidence."""
        return self.log_up >= self.log_threshold

    @property
    def below(self) -> bool:
        """The mean is below ``m`` at the confidence."""
        return self.log_down >= self.log_threshold


class Verdict:
    """Running verdict on one candidate as its runs arrive in run order.

    ``rejected`` becomes a reason as soon as the runs so far prove the candidate cannot meet the targets
    over all ``total`` runs, whatever the remaining runs give (``by == "exact"``): one run that never has
    every group serving (placement), an availability deficit the remaining runs could not make up even at
    1.0 each, or more runs over the time target than the quantile allows. Sooner than that, a sequential
    test (BettingTest at ``confidence``) decides either way (``by == "test"``): the mean availability
    against its target, and the probability that a run serves within the time target against the
    quantile. ``accepted`` is set when every target given is shown met. Undecided after ``total`` runs,
    the candidate is judged on all its runs, as a fixed-size plan would be (``by == "allRuns"``).
    """

    def __init__(self, total: int, targets: Targets, confidence: float = CONFIDENCE) -> None:
        self.total, self.targets = total, targets
        self.accepted = False
        self.by: str | None = None
        self.tests: dict[str, BettingTest] = {}
        if targets.availability is not None:
            self.tests["availability"] = BettingTest(targets.availability, confidence)
        if targets.time_to_serving is not None:
            self.tests["timeToServing"] = BettingTest(targets.quantile, confidence)
        self.done = 0
        self.availability_sum = 0.0
        self.too_slow = 0
        self.rejected: str | None = None
        # runs allowed above the time target: the quantile is the ceil(q·total)-th smallest
        self.slow_allowed = total - max(1, math.ceil(targets.quantile * total - 1e-9))

    @property
    def decided(self) -> bool:
        return self.rejected is not None or self.accepted

    def add(self, all_serving: bool, availability: float, time_to_serving: float | None) -> None:
        self.done += 1
        self.availability_sum += availability
        target = self.targets.time_to_serving
        slow = target is not None and (time_to_serving is None or time_to_serving > target)
        self.too_slow += slow
        if "availability" in self.tests:
            self.tests["availability"].add(availability)
        if "timeToServing" in self.tests:
            self.tests["timeToServing"].add(0.0 if slow else 1.0)
        if self.decided:
            return
        if not all_serving:
            self.rejected, self.by = "placement", "exact"
        elif self.targets.availability is not None and (
            self.availability_sum + (self.total - self.done) < self.targets.availability * self.total - 1e-12
        ):
            self.rejected, self.by = "availability", "exact"
        elif target is not None and self.too_slow > self.slow_allowed:
            self.rejected, self.by = "timeToServing", "exact"
        else:
            failed = next((name for name, t in self.tests.items() if t.below), None)
            if failed is not None:
                self.rejected, self.by = failed, "test"
            elif self.tests and all(t.above for t in self.tests.values()):
                self.accepted, self.by = True, "test"
        if not self.decided and self.done == self.total:
            self.by = "allRuns"
