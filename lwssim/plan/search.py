"""The capacity search: the fewest nodes of one pool that meet the targets, checked by simulation.

How it searches: counts below the resource lower bound (variants.resource_lower_bound, a proof by
arithmetic) are skipped; from there every count is simulated in ascending order until one meets the
targets. Feasibility is not assumed monotone in the count (a partial rack can attract a leader its
workers cannot follow, so 33 nodes can fail where 32 pass), which is why no count is inferred from its
neighbours: the recommendation is the smallest count in range whose own runs meet the targets, and every
smaller count in range was simulated and failed. ``beyond`` more counts above the recommendation are
simulated too, to show the trend and to warn when a larger count fails again (non-monotone).
Each candidate's runs stop early only when they prove a failure exactly (stats.Verdict).
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
from lwssim.plan.stats import Targets, Verdict
from lwssim.plan.variants import find_pool, resource_lower_bound


@dataclass
class Candidate:
    count: int
    total: int  # runs asked for
    results: list[R.RunResult] = field(default_factory=list)
    rejected: str | None = None  # placement | availability | timeToServing

    @property
    def complete(self) -> bool:
        return len(self.results) == self.total

    @property
    def meets(self) -> bool:
        return self.complete and self.rejected is None

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
    candidates: list[Candidate] = field(default_factory=list)
    recommended: int | None = None


class Progress:
    """What the search reports while it runs (the CLI draws it on stderr); the default says nothing."""

    def candidate(self, count: int, total: int) -> None: ...

    def advance(self) -> None: ...

    def finished(self, candidate: Candidate) -> None: ...

    def close(self) -> None: ...


class Runner:
    """Runs of one candidate in run order, computed in-process (jobs=1) or by a spawned process pool.

    At most ``2 × jobs`` runs are in flight, so a candidate rejected at its first run wastes little.
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

    def results(self, count: int, total: int) -> Iterator[R.RunResult]:
        if self.executor is None:
            for run in range(total):
                yield R.run_task(count, run)
            return
        window: deque[Future] = deque()
        submitted = 0
        try:
            while submitted < total or window:
                while submitted < total and len(window) < 2 * self.jobs:
                    window.append(self.executor.submit(R.run_task, count, submitted))
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
) -> Search:
    """Find the fewest nodes of ``pool_name`` meeting ``targets`` over ``runs`` seeded runs each."""
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
    s = Search(scenario, pool.name, start, stop, runs, targets, bound, why, lo)
    if start > stop:
        return s
    runner = Runner(scenario, pool.name, jobs or default_jobs())
    try:
        count = start
        extra = 0
        while count <= stop:
            c = _evaluate(runner, count, runs, targets, progress)
            s.candidates.append(c)
            if s.recommended is None and c.meets:
                s.recommended = count
            elif s.recommended is not None:
                extra += 1
            if s.recommended is not None and extra >= beyond:
                break
            count += 1
    finally:
        runner.close()
        progress.close()
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


def _evaluate(runner: Runner, count: int, total: int, targets: Targets, progress: Progress) -> Candidate:
    c = Candidate(count, total)
    verdict = Verdict(total, targets)
    progress.candidate(count, total)
    results = runner.results(count, total)
    try:
        for result in results:
            c.results.append(result)
            verdict.add(result.all_serving, result.availability, result.time_to_all_serving)
            progress.advance()
            if verdict.rejected:
                c.rejected = verdict.rejected
                break
    finally:
        close: Callable[[], None] | None = getattr(results, "close", None)
        if close is not None:
            close()
    progress.finished(c)
    return c
