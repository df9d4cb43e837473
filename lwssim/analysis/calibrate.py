"""Fit the scenario's ``timing`` block from observed Timelines (`lwssim calibrate OBSERVED... -o FILE`).

Per pod life, phase durations come from its records (the kube-burner/clusterloader2 phases):
scheduled → initialized = image pull, initialized → containers started = container start,
started → Ready = model load. A pull is *cold* the first time a node runs the image within the
timelines given, *cached* afterwards (kubelet pulls each image once per node with IfNotPresent);
records carry no image name, so a node counts as having the image once any pod of the same workload
ran there. Leader and worker are fitted apart and written as per-role overrides only when they differ.

Scheduling throughput is the most pods bound in any one second, a lower bound of the real rate that is
only meaningful when many pods wait at once; it is reported, and written only with ``min_burst`` pods.

A distribution is chosen per phase: ``fixed`` when the spread is tiny (p90 - p10 within 5% of the
median or 0.5 s), else ``lognormal`` (median, sigma of log durations) when all samples are positive,
else ``normal``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from lwssim import timeline as tl
from lwssim.analysis.replay import replay
from lwssim.timeline import Timeline

TINY_RELATIVE = 0.05
TINY_ABSOLUTE = 0.5
MIN_BURST = 20

PHASE_KEYS = ("imagePull.cold", "imagePull.cached", "containerStart", "modelLoad")


@dataclass(frozen=True)
class Fit:
    """Samples of one phase (and role) and the distribution chosen for them."""

    phase: str
    role: str  # "" for both roles
    samples: tuple[float, ...]
    tiny_absolute: float = TINY_ABSOLUTE  # a spread this small (seconds) is written as fixed

    @property
    def n(self) -> int:
        return len(self.samples)

    def quantile(self, q: float) -> float:
        xs = sorted(self.samples)
        if len(xs) == 1:
            return xs[0]
        pos = q * (len(xs) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def distribution(self) -> dict | str:
        """The timing value: a duration (fixed) or {lognormal: {...}} / {normal: {...}}."""
        med = self.median
        spread = self.quantile(0.9) - self.quantile(0.1)
        if self.n < 2 or spread <= max(self.tiny_absolute, TINY_RELATIVE * med):
            return duration(med)
        if min(self.samples) > 0:
            logs = [math.log(x) for x in self.samples]
            return {
                "lognormal": {
                    "median": duration(math.exp(statistics.median(logs))),
                    "sigma": round(statistics.stdev(logs), 3),
                }
            }
        return {
            "normal": {
                "mean": duration(statistics.mean(self.samples)),
                "stddev": duration(statistics.stdev(self.samples)),
            }
        }

    def summary(self) -> dict:
        return {
            "phase": self.phase,
            "role": self.role or "all",
            "n": self.n,
            "median": round(self.median, 3),
            "p10": round(self.quantile(0.1), 3),
            "p90": round(self.quantile(0.9), 3),
            "distribution": self.distribution(),
        }


def duration(seconds: float) -> str:
    """A Go duration string with millisecond precision: ``5m12s``, ``4.25s``, ``0s``."""
    ms = int(round(max(seconds, 0.0) * 1000))
    if ms == 0:
        return "0s"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "")
    if s or ms:
        out += f"{s}.{ms:03d}".rstrip("0").rstrip(".") + "s"
    return out


def phase_samples(timelines: list[Timeline]) -> dict[tuple[str, str], list[float]]:
    """Durations keyed (phase, role) over every pod life of every timeline (replayed to the end)."""
    out: dict[tuple[str, str], list[float]] = {}
    for timeline in timelines:
        for life in replay(timeline, horizon=math.inf).lives:
            if not life.workload or life.group < 0 or life.scheduled_at is None:
                continue
            if life.initialized_at is None:
                continue
            pull = "cold" if life.cold_pull else "cached"
            _put(out, f"imagePull.{pull}", life.role, life.initialized_at - life.scheduled_at)
            if life.started_at is None:
                continue
            _put(out, "containerStart", life.role, life.started_at - life.initialized_at)
            if life.first_ready_at is not None and not life.restarted_before_ready:
                _put(out, "modelLoad", life.role, life.first_ready_at - life.started_at)
    return out


def _put(out: dict[tuple[str, str], list[float]], phase: str, role: str, value: float) -> None:
    out.setdefault((phase, role), []).append(max(0.0, value))


def scheduling_burst(timelines: list[Timeline]) -> int:
    """The most pods bound within one second in any timeline."""
    best = 0
    for timeline in timelines:
        times = sorted(r.t for r in timeline.of(tl.POD_SCHEDULED))
        j = 0
        for i, t in enumerate(times):
            while times[j] <= t - 1.0:
                j += 1
            best = max(best, i - j + 1)
    return best


def calibrate(timelines: list[Timeline], min_burst: int = MIN_BURST) -> dict:
    """``{"timing": <scenario timing block>, "fits": [...], "notes": [...]}``."""
    samples = phase_samples(timelines)
    fits: list[Fit] = []
    timing: dict = {}
    notes: list[str] = []
    for phase in PHASE_KEYS:
        both = [x for (p, _), xs in samples.items() if p == phase for x in xs]
        if not both:
            notes.append(f"{phase}: no samples; not written (the scenario default applies)")
            continue
        shared = Fit(phase, "", tuple(both))
        fits.append(shared)
        _set(timing, phase, shared.distribution())
        per_role = [
            Fit(phase, role, tuple(samples[(phase, role)]))
            for role in ("leader", "worker")
            if samples.get((phase, role))
        ]
        if len(per_role) == 2 and per_role[0].distribution() != per_role[1].distribution():
            fits.extend(per_role)
            for f in per_role:
                _set(timing.setdefault(f.role, {}), phase, f.distribution())
    burst = scheduling_burst(timelines)
    if burst >= min_burst:
        timing["schedulingThroughput"] = burst
    else:
        notes.append(
            f"schedulingThroughput: at most {burst} pods bound in one second, too few to measure "
            f"(needs {min_burst}); not written"
        )
    return {"timing": timing, "fits": [f.summary() for f in fits], "schedulingBurst": burst, "notes": notes}


def _set(block: dict, phase: str, value: object) -> None:
    if "." in phase:
        head, tail = phase.split(".", 1)
        block.setdefault(head, {})[tail] = value
    else:
        block[phase] = value
