"""One Monte Carlo run of a scenario variant, reduced to the few numbers the search needs.

Runs are pure functions of (variant, run index): the seed of run ``i`` derives from the scenario seed and
``i`` alone (numpy SeedSequence spawn key), the same for every candidate size (common random numbers:
candidates are compared on the same failure and timing draws) and whatever process computes it. So
results do not depend on the number of workers or the order in which they finish.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from lwssim import timeline as tl
from lwssim.analysis.replay import replay
from lwssim.analysis.report import build_report
from lwssim.model.scenario import Scenario
from lwssim.plan.dimension import Dimension
from lwssim.runner import run_seed
from lwssim.timeline import Timeline


@dataclass(frozen=True)
class RunResult:
    """What one run says about a candidate size (all workloads together)."""

    run: int
    seed: int
    all_serving: bool  # every workload had all its replicas serving at once at some time
    availability: float  # lowest workload availability (report's definition); 0 when never all serving
    time_to_all_serving: float | None  # latest workload's first all-serving time; None when never
    node_failures: int  # NodeDown records
    outages: int  # groups that stopped serving after their workload first had all serving
    outage_seconds: float  # group-seconds lost to those outages
    worst_workload: str  # the workload setting ``availability``
    group_size: int  # pods per group of that workload
    # A run that never had every group serving: explain's findings on its end, so the plan can say why
    # without simulating the run again.
    explained: dict | None = None
    # With autoscaling: node-hours provisioned (billed) in the run, and the most nodes it had at once.
    node_hours: float | None = None
    peak_nodes: int | None = None


def summarize_run(run: int, seed: int, timeline: Timeline, report: dict) -> RunResult:
    workloads = report["workloads"]
    ttas = [w["timeToAllServingSeconds"] for w in workloads]
    all_serving = all(t is not None for t in ttas)
    worst = min(workloads, key=lambda w: (w["availability"] or 0.0, w["name"]), default=None)
    outages, lost = 0, 0.0
    for w in workloads:
        o, s = _outages(w, report["horizonSeconds"])
        outages, lost = outages + o, lost + s
    return RunResult(
        run=run,
        seed=seed,
        all_serving=all_serving,
        availability=float(worst["availability"] or 0.0) if worst else 1.0,
        time_to_all_serving=max(ttas) if all_serving and ttas else None,
        node_failures=sum(1 for _ in timeline.of(tl.NODE_DOWN)),
        outages=outages,
        outage_seconds=lost,
        worst_workload=worst["name"] if worst else "",
        group_size=int(worst["size"]) if worst else 0,
        node_hours=report["nodeHours"]["provisioned"] if "nodeHours" in report else None,
        peak_nodes=max(n for _, n in report["nodesOverTime"]) if "nodesOverTime" in report else None,
    )


def _outages(workload: dict, horizon: float) -> tuple[int, float]:
    """Group outages after the workload first served whole: groups that stopped, group-seconds lost.

    Read from ``servingOverTime`` ([t, serving, replicas] at each change); a drop of serving that a
    scale-down explains is not an outage.
    """
    start = workload["timeToAllServingSeconds"]
    if start is None:
        return 0, 0.0
    points = workload["servingOverTime"]
    count, lost = 0, 0.0
    for i, (t, serving, replicas) in enumerate(points):
        end = float(points[i + 1][0]) if i + 1 < len(points) else horizon
        if end > t >= start:
            lost += max(0, replicas - serving) * (min(end, horizon) - t)
        if i > 0 and t > start:
            _, prev_serving, prev_replicas = points[i - 1]
            count += max(0, (prev_serving - serving) - max(0, prev_replicas - replicas))
    return count, lost


def simulate_run(scenario: Scenario, run: int) -> tuple[RunResult, Timeline]:
    """Simulate run ``run`` of ``scenario`` (already the variant) and summarise it; a run that never has
    every group serving also carries the explanation of its end (one replay for report and explanation)."""
    from lwssim.analysis.explain import explain
    from lwssim.engine.world import simulate

    seed = run_seed(scenario.seed, run)
    timeline = simulate(scenario, seed)
    state = replay(timeline)
    report = build_report(timeline, lws_version=scenario.controller.lws_version, replayed=state)
    result = summarize_run(run, seed, timeline, report)
    if not result.all_serving:
        result = replace(result, explained=explain(scenario, timeline, state))
    return result, timeline


# -- worker processes: the base scenario is sent once per process, tasks carry two integers -------------

_BASE: tuple[Scenario, Dimension] | None = None
_VARIANTS: dict[tuple[int, str | None], Scenario] = {}


def init_worker(scenario: Scenario, dimension: Dimension) -> None:
    global _BASE
    _BASE = (scenario, dimension)
    _VARIANTS.clear()


def make_variant(scenario: Scenario, dimension: Dimension, size: int, lever: str | None = None) -> Scenario:
    """``scenario`` at ``size`` of ``dimension`` and, if named, with a lever applied (plan/levers.py)."""
    v = dimension.apply(scenario, size)
    return v if lever is None else dimension.with_lever(v, lever)


def variant(size: int, lever: str | None = None) -> Scenario:
    """The base scenario at ``size`` (kept for the next runs of the same candidate)."""
    assert _BASE is not None, "init_worker was not called"
    v = _VARIANTS.get((size, lever))
    if v is None:
        if len(_VARIANTS) > 8:
            _VARIANTS.clear()
        v = _VARIANTS[(size, lever)] = make_variant(*_BASE, size, lever)
    return v


def run_task(size: int, run: int, lever: str | None = None) -> RunResult:
    """Entry point of a worker task (module level, so spawned processes can import it)."""
    return simulate_run(variant(size, lever), run)[0]


def run_chunk(
    scenario: Scenario, dimension: Dimension, size: int, start: int, stop: int, lever: str | None = None
) -> tuple[list[RunResult], float]:
    """Runs ``start`` … ``stop - 1`` at ``size`` of ``dimension`` (and ``lever`` applied, plan/levers.py), and
    the seconds they took here.

    The task a Dask worker runs (lwssim.plan.dask_runs): it carries the scenario itself (a few KB pickled),
    so any worker can run any chunk, also one that joined after the plan started; the time lets the client
    size the next chunks.
    """
    t0 = time.perf_counter()
    v = make_variant(scenario, dimension, size, lever)
    return [simulate_run(v, run)[0] for run in range(start, stop)], time.perf_counter() - t0


class Runs(Protocol):
    """Where the search gets a candidate's runs: the local Runner (search.py) or Dask (dask_runs.py).

    ``results`` yields runs 0 … total-1 in run order whatever order they finish in, so the search sees the
    same sequence (and stops early at the same run) everywhere; closing it early or ``close`` drops the
    runs still in flight.
    """

    def results(self, size: int, total: int, lever: str | None = None) -> Iterator[RunResult]: ...

    def close(self) -> None: ...
