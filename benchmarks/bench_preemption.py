"""Benchmark of kube-scheduler preemption at scale: a full cluster, then a higher-priority workload.

N nodes x 8 GPUs held by G groups of 8 pods of priority 0 (bench_core's plain case); at 1 h an LWS of
priority 1000 asks for G/2 groups, which only preemption can place. Each preemption dry-runs
max(10 %, 100) candidate nodes, as kube-scheduler does. Prints the simulation's wall time and how many
pods were nominated and preempted.

    python benchmarks/bench_preemption.py [NODES GROUPS]   (default: 2000 250, then 10000 1000)
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from bench_core import scenario

from lwssim.engine.world import World
from lwssim.model.lws import Workload
from lwssim.model.scenario import ScaleEvent
from lwssim.timeline import POD_NOMINATED, POD_PREEMPTED

CASES = [(2000, 250), (10000, 1000)]


def run(nodes: int, groups: int) -> None:
    sc = scenario(nodes, groups, False)
    low = sc.workloads[0]
    high_lws = replace(
        low.lws, name="high", replicas=0, worker_template=replace(low.lws.worker_template, priority=1000)
    )
    high = Workload("high", "default", "LeaderWorkerSet", high_lws)
    sc = replace(sc, workloads=(low, high), scales=(ScaleEvent(3600.0, "high", groups // 2),))
    world = World(sc)
    started = time.perf_counter()
    timeline = world.run()
    wall = time.perf_counter() - started
    nominated = sum(1 for r in timeline.records if r.kind == POD_NOMINATED)
    preempted = sum(1 for r in timeline.records if r.kind == POD_PREEMPTED)
    print(f"{nodes:>6} nodes {groups:>5} groups: {wall:6.2f} s, {nominated} nominations, {preempted} victims")


if __name__ == "__main__":
    cases = [(int(sys.argv[1]), int(sys.argv[2]))] if len(sys.argv) > 2 else CASES
    for n, g in cases:
        run(n, g)
