"""Benchmark of the simulation core (issue 2): placement and startup at scale, on one core.

Cases: N nodes x 8 GPUs in racks of 16, G groups of 8 pods x 8 GPUs, 2 h horizon, plain placement and
exclusive rack placement. Each case runs in a fresh process so its peak RSS is its own.
Run: ``python benchmarks/bench_core.py`` (all cases) or ``python benchmarks/bench_core.py 10000 1000``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

CASES = [(1000, 100, False), (10000, 1000, False), (10000, 1000, True)]


def scenario(nodes: int, groups: int, exclusive: bool):
    from lwssim.model.cluster import Cluster, NodePool, TopologyLevel, expand_pool
    from lwssim.model.lws import EXCLUSIVE_TOPOLOGY, LeaderWorkerSetSpec, Workload
    from lwssim.model.pod import Container, PodTemplate
    from lwssim.model.scenario import Scenario
    from lwssim.model.timing import Distribution, Timing

    pool = NodePool(
        "h100",
        nodes,
        (("cpu", 192_000), ("memory", 2 * 2**40), ("nvidia.com/gpu", 8), ("pods", 110)),
        topology=(TopologyLevel("topology.kubernetes.io/zone", 2000), TopologyLevel("example.com/rack", 16)),
    )
    template = PodTemplate(
        containers=(Container("vllm", "vllm/vllm-openai:v0.11.0", (("nvidia.com/gpu", 8), ("cpu", 32_000))),)
    )
    annotations = ((EXCLUSIVE_TOPOLOGY, "example.com/rack"),) if exclusive else ()
    lws = LeaderWorkerSetSpec(
        name="llm", replicas=groups, size=8, worker_template=template, annotations=annotations
    )
    timing = Timing(
        image_pull_cold=Distribution("uniform", 300, 540), model_load=Distribution("lognormal", 240, 0.2)
    )
    return Scenario(
        "bench",
        "bench",
        0,
        7200.0,
        Cluster((pool,), tuple(expand_pool(pool))),
        (Workload("llm", "default", "LeaderWorkerSet", lws),),
        timing=timing,
    )


def run_case(nodes: int, groups: int, exclusive: bool) -> dict:
    from lwssim.analysis.report import build_report
    from lwssim.engine.world import World

    sc = scenario(nodes, groups, exclusive)
    t0 = time.perf_counter()
    world = World(sc)
    timeline = world.run()
    wall = time.perf_counter() - t0
    events = next(world.env._eid)  # SimPy's event counter: every event scheduled in the run
    report = build_report(timeline)
    w = report["workloads"][0]
    return {
        "nodes": nodes,
        "groups": groups,
        "pods": groups * 8,
        "exclusive": exclusive,
        "wallSeconds": round(wall, 2),
        "simpyEvents": events,
        "eventsPerSecond": round(events / wall),
        "records": len(timeline.records),
        "groupsServing": w["groupsServing"],
        "timeToAllServingSeconds": w["timeToAllServingSeconds"],
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    if len(sys.argv) >= 3:
        print(json.dumps(run_case(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3)))
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(
        f"{'nodes':>6} {'groups':>6} {'excl':>5} {'wall s':>7} {'events':>8} {'ev/s':>8} "
        f"{'RSS MiB':>8} {'serving':>8} {'all serving s':>14}"
    )
    for nodes, groups, exclusive in CASES:
        args = [sys.executable, __file__, str(nodes), str(groups)] + (["x"] if exclusive else [])
        cmd = ["taskset", "-c", "0", *args] if _has_taskset() else args
        r = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
        print(
            f"{r['nodes']:>6} {r['groups']:>6} {str(r['exclusive']):>5} {r['wallSeconds']:>7} "
            f"{r['simpyEvents']:>8} {r['eventsPerSecond']:>8} {r['peakRssMiB']:>8} "
            f"{r['groupsServing']:>8} {r['timeToAllServingSeconds']!s:>14}"
        )


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


if __name__ == "__main__":
    main()
