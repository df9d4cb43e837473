"""The capacity search: the fewest nodes of one pool that meet the targets, checked by simulation.

How it searches: counts below the resource lower bound (variants.resource_lower_bound, a proof by
arithmetic) are skipped; from there it gallops (bound, +1, +2, +4, … up to the top of the range) until a
count meets the targets, then bisects between the last failing and the first meeting count. Bisection
ends on two neighbours, so the count just below the recommendation is always simulated and failed (or is
below the bound). Feasibility is not monotone in the count (a partial rack can attract a leader its
workers cannot follow, so 33 nodes can fail where 32 pass), so a count the gallop skipped could pass
where a larger one failed; the plan names the counts it simulated. ``beyond`` more counts above the
recommendation are simulated too, to show the trend and to warn when a larger count fails again.

Every count uses the same run seeds (common random numbers, runs.py), so two counts differ by the node
count, not by their draws. Each candidate's runs stop as soon as stats.Verdict decides either way (an
exact bound, or a sequential test at the stated confidence); ``runs`` is the most a candidate gets.
When no count meets and the target's response is flat in the node count (flatness), the plan says more
nodes will not help and tries the levers that might (levers.py) at one count, on the same seeds.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from lwssim.errors import InputError
from lwssim.manifests.limits import MAX_NODES
from lwssim.model.scenario import Scenario
from lwssim.plan import runs as R
from lwssim.plan.levers import Lever, apply_lever, levers_for
from lwssim.plan.stats import CONFIDENCE, Targets, Verdict
from lwssim.plan.variants import find_pool, resource_lower_bound, with_pool_count

FLAT_SHARE = 0.5  # flat: the most nodes tried close less than this share of the fewest's shortfall
LEVER_RUNS = 20  # most runs per lever: its effect is a paired difference, precise on few common seeds


@dataclass
class Candidate:
    count: int
    total: int  # runs asked for
    results: list[R.RunResult] = field(default_factory=list)
    rejected: str | None = None  # placement | availability | timeToServing
    accepted: bool = False  # the sequential test showed every target met before ``total`` runs
    decided_by: str | None = None  # exact | test | allRuns (stats.Verdict)
    lever: str | None = None  # levers.py name, when this is a lever tried at ``count``

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
    pool: str
    lo: int
    hi: int
    runs: int
    targets: Targets
    lower_bound: int
    lower_bound_why: str
    min_given: int | None
    confidence: float = CONFIDENCE
    candidates: list[Candidate] = field(default_factory=list)  # by count once the search ends
    order: list[int] = field(default_factory=list)  # counts in the order simulated
    recommended: int | None = None
    flatness: Flatness | None = None
    levers: list[LeverTrial] = field(default_factory=list)


@dataclass
class Flatness:
    """How the failing target's response moved from the fewest to the most nodes that place every group.

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
        """More nodes will not help: the most nodes closed under FLAT_SHARE of the gap and still fail."""
        return self.gain < FLAT_SHARE * self.shortfall


@dataclass
class LeverTrial:
    lever: Lever
    baseline: Candidate  # the count the lever was tried at, without it
    trial: Candidate
    nodes: int  # pool nodes with the lever (a lever may add nodes)


class Progress:
    """What the search reports while it runs (the CLI draws it on stderr); the default says nothing."""

    def candidate(self, count: int, total: int) -> None: ...

    def advance(self) -> None: ...

    def finished(self, candidate: Candidate) -> None: ...

    def close(self) -> None: ...


class Runner:
    """Runs of one candidate in run order, computed in-process (jobs=1) or by a spawned process pool.

    At most ``jobs`` runs are in flight: a candidate decided at a run wastes only the runs already started
    (a deeper queue would keep workers busier by milliseconds and waste whole runs at every decision).
    """

    def __init__(self, scenario: Scenario, pool: str, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self.executor: ProcessPoolExecutor | None = None
        if self.jobs > 1:
            self.executor = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=R.init_worker,
                initargs=(scenario, pool),
            )
        else:
            R.init_worker(scenario, pool)

    def results(self, count: int, total: int, lever: str | None = None) -> Iterator[R.RunResult]:
        if self.executor is None:
            for run in range(total):
                yield R.run_task(count, run, lever)
            return
        window: deque[Future] = deque()
        submitted = 0
        try:
            while submitted < total or window:
                while submitted < total and len(window) < self.jobs:
                    window.append(self.executor.submit(R.run_task, count, submitted, lever))
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
    pool_name: str,
    *,
    lo: int | None = None,
    hi: int | None = None,
    runs: int = 100,
    targets: Targets | None = None,
    jobs: int | None = None,
    beyond: int = 1,
    progress: Progress | None = None,
    open_runs: Callable[[Scenario, str], R.Runs] | None = None,
    confidence: float = CONFIDENCE,
) -> Search:
    """Find the fewest nodes of ``pool_name`` meeting ``targets``, with at most ``runs`` seeded runs each.

    ``open_runs(scenario, pool)`` gives where the runs are computed (e.g. on Dask); default: local
    processes (``jobs``).
    """
    pool = find_pool(scenario, pool_name)
    targets = targets or Targets()
    progress = progress or Progress()
    bound, why = resource_lower_bound(scenario, pool)
    others = sum(n.pool != pool.name for n in scenario.cluster.nodes)
    start = max(bound, 0 if others else 1, lo if lo is not None else 0)
    room = MAX_NODES - others  # the most nodes the pool may have within lwssim's node limit
    if start > room:
        raise _beyond_node_limit(
            scenario, "--min" if start == lo else "--pool", start, pool.name, others, why
        )
    if hi is not None and hi > room:
        raise _beyond_node_limit(scenario, "--max", hi, pool.name, others, "")
    stop = hi if hi is not None else min(max(2 * pool.count, start), room)
    s = Search(scenario, pool.name, start, stop, runs, targets, bound, why, lo, confidence)
    if start > stop:
        return s
    runner: R.Runs = (
        open_runs(scenario, pool.name) if open_runs else Runner(scenario, pool.name, jobs or default_jobs())
    )
    tried: dict[int, Candidate] = {}

    def evaluate(count: int) -> Candidate:
        if count not in tried:
            tried[count] = _evaluate(runner, count, runs, targets, confidence, progress)
            s.order.append(count)
        return tried[count]

    try:
        s.recommended = _gallop_and_bisect(evaluate, start, stop, targets)
        if s.recommended is not None:
            for count in range(s.recommended + 1, min(s.recommended + beyond, stop) + 1):
                evaluate(count)
        else:
            s.flatness = flatness(sorted(tried.values(), key=lambda c: c.count), targets)
            if s.flatness is not None and s.flatness.flat:
                at = pool.count if start <= pool.count <= stop else s.flatness.most.count
                base = evaluate(at)
                for lever in levers_for(scenario, pool.name):
                    budget = min(runs, LEVER_RUNS)
                    trial = _evaluate(runner, at, budget, targets, confidence, progress, lever.name)
                    changed = apply_lever(with_pool_count(scenario, pool.name, at), pool.name, lever.name)
                    nodes = changed.cluster.pool(pool.name).count  # type: ignore[union-attr]
                    s.levers.append(LeverTrial(lever, base, trial, nodes))
    finally:
        runner.close()
        progress.close()
    s.candidates = sorted(tried.values(), key=lambda c: c.count)
    return s


def _beyond_node_limit(
    scenario: Scenario, option: str, count: int, pool: str, others: int, why: str
) -> InputError:
    """A candidate count the engine is not asked to run (lwssim/manifests/limits.py)."""
    because = f" ({why})" if why else ""
    return InputError(
        scenario.path,
        option,
        f"{count:,} nodes of pool {pool}{because} and {others:,} other nodes are beyond lwssim's limit of "
        f"{MAX_NODES:,} nodes",
    )


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
    """The failing target's response at the fewest and the most nodes that place every group (count
    order); None unless at least two such counts failed the same target."""
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
    count: int,
    total: int,
    targets: Targets,
    confidence: float,
    progress: Progress,
    lever: str | None = None,
) -> Candidate:
    c = Candidate(count, total, lever=lever)
    verdict = Verdict(total, targets, confidence)
    progress.candidate(count, total)
    results = runner.results(count, total, lever)
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
    progress.finished(c)
    return c
