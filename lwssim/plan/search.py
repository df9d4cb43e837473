"""The capacity search: the smallest size of one dimension (dimension.py: a pool's node count, a
ClusterQueue's quota) that meets the targets, checked by simulation. Below, "count" is the size in steps
(nodes; groups' worth of quota).

How it searches: counts below the dimension's lower bound (variants.resource_lower_bound for nodes, one
group's request for quota: a proof by arithmetic) are skipped; from there it gallops (bound, +1, +2, +4, …
up to the top of the range) until a count meets the targets, then bisects between the last failing and the
first meeting count. Bisection ends on two neighbours, so the count just below the recommendation is always
simulated and failed (or is below the bound). Feasibility is not monotone in the count (a partial rack can
attract a leader its workers cannot follow, so 33 nodes can fail where 32 pass), so a count the gallop
skipped could pass where a larger one failed; the plan names the counts it simulated. ``beyond`` more counts
above the recommendation are simulated too, to show the trend and to warn when a larger count fails again.

Every count uses the same run seeds (common random numbers, runs.py), so two counts differ by the size,
not by their draws. Each candidate's runs stop as soon as stats.Verdict decides either way (an
exact bound, or a sequential test at the stated confidence); ``runs`` is the most a candidate gets.
When no count meets and the target's response is flat in the size (flatness), the plan says more will not
help and tries the levers that might (levers.py, for nodes) at one count, on the same seeds.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from lwssim.model.scenario import Scenario
from lwssim.plan import runs as R
from lwssim.plan.dimension import Dimension, PoolNodes, Span
from lwssim.plan.levers import Lever
from lwssim.plan.stats import CONFIDENCE, Targets, Verdict

FLAT_SHARE = 0.5  # flat: the largest size tried closes less than this share of the smallest's shortfall
LEVER_RUNS = 20  # most runs per lever: its effect is a paired difference, precise on few common seeds


@dataclass
class Candidate:
    size: int  # nodes, or quota in the resource's unit
    total: int  # runs asked for
    results: list[R.RunResult] = field(default_factory=list)
    rejected: str | None = None  # placement | availability | timeToServing
    accepted: bool = False  # the sequential test showed every target met before ``total`` runs
    decided_by: str | None = None  # exact | test | allRuns (stats.Verdict)
    lever: str | None = None  # levers.py name, when this is a lever tried at ``size``

    @property
    def complete(self) -> bool:
        return len(self.results) == self.total

    @property
    def meets(self) -> bool:
        return self.rejected is None and (self.complete or self.accepted)

    @property
    def placement_feasible(self) -> bool:
        return all(r.all_serving for r in self.results)


@dataclass
class Search:
    scenario: Scenario
    dimension: Dimension
    span: Span  # the sizes searched
    runs: int
    targets: Targets
    min_given: int | None  # --min and --max as given
    max_given: int | None
    confidence: float = CONFIDENCE
    candidates: list[Candidate] = field(default_factory=list)  # by size once the search ends
    order: list[int] = field(default_factory=list)  # sizes in the order simulated
    recommended: int | None = None
    flatness: Flatness | None = None
    levers: list[LeverTrial] = field(default_factory=list)


@dataclass
class Flatness:
    """How the failing target's response moved from the smallest to the largest size placing every group.

    ``response`` is the mean availability, or the share of runs serving within the time target; both
    means are over the runs the two counts share (same seeds), so ``gain`` is a paired difference.
    """

    target: str  # availability | timeToServing
    fewest: Candidate
    most: Candidate
    fewest_response: float
    most_response: float
    wanted: float  # the target: availability, or the quantile

    @property
    def gain(self) -> float:
        return self.most_response - self.fewest_response

    @property
    def shortfall(self) -> float:
        return self.wanted - self.fewest_response

    @property
    def flat(self) -> bool:
        """More will not help: the largest size closed under FLAT_SHARE of the gap and still fails."""
        return self.gain < FLAT_SHARE * self.shortfall


@dataclass
class LeverTrial:
    lever: Lever
    baseline: Candidate  # the size the lever was tried at, without it
    trial: Candidate
    nodes: int  # the size with the lever (pool nodes: a lever may add nodes)


class Progress:
    """What the search reports while it runs (the CLI draws it on stderr); the default says nothing."""

    def candidate(self, label: str, total: int) -> None: ...

    def advance(self) -> None: ...

    def finished(self, label: str, candidate: Candidate) -> None: ...

    def close(self) -> None: ...


class Runner:
    """Runs of one candidate in run order, computed in-process (jobs=1) or by a spawned process pool.

    At most ``jobs`` runs are in flight: a candidate decided at a run wastes only the runs already started
    (a deeper queue would keep workers busier by milliseconds and waste whole runs at every decision).
    """

    def __init__(self, scenario: Scenario, dimension: Dimension, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self.executor: ProcessPoolExecutor | None = None
        if self.jobs > 1:
            self.executor = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=R.init_worker,
                initargs=(scenario, dimension),
            )
        else:
            R.init_worker(scenario, dimension)

    def results(self, size: int, total: int, lever: str | None = None) -> Iterator[R.RunResult]:
        if self.executor is None:
            for run in range(total):
                yield R.run_task(size, run, lever)
            return
        window: deque[Future] = deque()
        submitted = 0
        try:
            while submitted < total or window:
                while submitted < total and len(window) < self.jobs:
                    window.append(self.executor.submit(R.run_task, size, submitted, lever))
                    submitted += 1
                yield window.popleft().result()
        finally:
            for f in window:
                f.cancel()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def search(
    scenario: Scenario,
    dimension: Dimension | str,
    *,
    lo: int | None = None,
    hi: int | None = None,
    runs: int = 100,
    targets: Targets | None = None,
    jobs: int | None = None,
    beyond: int = 1,
    progress: Progress | None = None,
    open_runs: Callable[[Scenario, Dimension], R.Runs] | None = None,
    confidence: float = CONFIDENCE,
) -> Search:
    """Find the smallest size of ``dimension`` (a pool's name stands for its node count) meeting
    ``targets``, with at most ``runs`` seeded runs each; ``lo`` and ``hi`` are sizes (nodes, quota).

    ``open_runs(scenario, dimension)`` gives where the runs are computed (e.g. on Dask); default: local
    processes (``jobs``).
    """
    dim = PoolNodes(dimension) if isinstance(dimension, str) else dimension
    targets = targets or Targets()
    progress = progress or Progress()
    span = dim.span(scenario, lo, hi)
    step = span.step
    s = Search(scenario, dim, span, runs, targets, lo, hi, confidence)
    if span.start > span.stop:
        return s
    runner: R.Runs = open_runs(scenario, dim) if open_runs else Runner(scenario, dim, jobs or default_jobs())
    tried: dict[int, Candidate] = {}

    def evaluate(count: int) -> Candidate:
        size = count * step
        if size not in tried:
            tried[size] = _evaluate(runner, size, runs, targets, confidence, progress, dim.words(size))
            s.order.append(size)
        return tried[size]

    start, stop = span.start // step, span.stop // step
    try:
        found = _gallop_and_bisect(evaluate, start, stop, targets)
        if found is not None:
            s.recommended = found * step
            for count in range(found + 1, min(found + beyond, stop) + 1):
                evaluate(count)
        else:
            s.flatness = flatness(sorted(tried.values(), key=lambda c: c.size), targets)
            if s.flatness is not None and s.flatness.flat:
                now = dim.current(scenario)
                at = now if span.start <= now <= span.stop and now % step == 0 else s.flatness.most.size
                base = evaluate(at // step)
                for lever in dim.levers(scenario):
                    budget = min(runs, LEVER_RUNS)
                    words = dim.words(at)
                    trial = _evaluate(runner, at, budget, targets, confidence, progress, words, lever.name)
                    changed = R.make_variant(scenario, dim, at, lever.name)
                    s.levers.append(LeverTrial(lever, base, trial, dim.current(changed)))
    finally:
        runner.close()
        progress.close()
    s.candidates = sorted(tried.values(), key=lambda c: c.size)
    return s


def _gallop_and_bisect(
    evaluate: Callable[[int], Candidate], start: int, stop: int, targets: Targets
) -> int | None:
    """The first meeting count found by galloping from ``start`` (+1, +2, +4, …, capped at ``stop``), then
    the smallest meeting count by bisection down to its failing neighbour; None when none meets.

    When the first two counts fail flat (flatness), the top of the range is simulated next: if it fails
    flat too, more nodes will not help and the gallop stops there.
    """
    failed, count, step = None, start, 0
    while not evaluate(count).meets:
        if count >= stop:
            return None
        if step == 1 and _flat(evaluate(start), evaluate(count), targets):
            top = evaluate(stop)
            if not top.meets and _flat(evaluate(start), top, targets):
                return None
        failed, step = count, max(1, 2 * step)
        count = min(start + step, stop)
    if failed is None:
        return count
    while count - failed > 1:
        middle = (failed + count) // 2
        if evaluate(middle).meets:
            count = middle
        else:
            failed = middle
    return count


def _flat(fewest: Candidate, most: Candidate, targets: Targets) -> bool:
    f = flatness([fewest, most], targets)
    return f is not None and f.flat


def response(c: Candidate, target: str, targets: Targets, runs: int | None = None) -> float:
    """Mean availability, or share of runs serving within the time target, over ``c``'s first ``runs``."""
    results = c.results[:runs]
    if target == "availability":
        return sum(r.availability for r in results) / len(results)
    limit = targets.time_to_serving
    within = sum(1 for r in results if r.time_to_all_serving is not None and r.time_to_all_serving <= limit)
    return within / len(results)


def flatness(candidates: list[Candidate], targets: Targets) -> Flatness | None:
    """The failing target's response at the smallest and the largest size that place every group (size
    order); None unless at least two such sizes failed the same target."""
    placing = [
        c for c in candidates if c.placement_feasible and c.rejected in ("availability", "timeToServing")
    ]
    if len(placing) < 2 or placing[0].rejected != placing[-1].rejected:
        return None
    fewest, most = placing[0], placing[-1]
    target = most.rejected
    assert target is not None
    shared = min(len(fewest.results), len(most.results))
    wanted = targets.availability if target == "availability" else targets.quantile
    assert wanted is not None
    return Flatness(
        target,
        fewest,
        most,
        response(fewest, target, targets, shared),
        response(most, target, targets, shared),
        wanted,
    )


def _evaluate(
    runner: R.Runs,
    size: int,
    total: int,
    targets: Targets,
    confidence: float,
    progress: Progress,
    label: str,
    lever: str | None = None,
) -> Candidate:
    c = Candidate(size, total, lever=lever)
    verdict = Verdict(total, targets, confidence)
    progress.candidate(label, total)
    results = runner.results(size, total, lever)
    try:
        for result in results:
            c.results.append(result)
            verdict.add(result.all_serving, result.availability, result.time_to_all_serving)
            progress.advance()
            if verdict.decided:
                break
    finally:
        close: Callable[[], None] | None = getattr(results, "close", None)
        if close is not None:
            close()
    c.rejected, c.accepted, c.decided_by = verdict.rejected, verdict.accepted, verdict.by
    progress.finished(label, c)
    return c
