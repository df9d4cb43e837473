"""Benchmark: `lwssim plan` for a 64-node pool, 8 LWS groups of 4 pods, a simulated month of failures.

Target: under 60 s wall on 2 cores with 200 runs per candidate. The scenario has racks of 4 nodes and
exclusive rack placement, Llama 3's failure rate (reference/defaults.md) with 4 h repairs and stuck pods
force-deleted after 10 min. Prints wall time, runs simulated, per-run cost, and the plan's candidates.

    python benchmarks/bench_plan.py [--runs 200] [--jobs 2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import yaml

from lwssim.manifests.scenario import load_scenario
from lwssim.plan import Targets, search
from lwssim.plan.report import to_dict
from lwssim.plan.runs import simulate_run

GPU_REQUEST = {"nvidia.com/gpu": "8"}


def scenario_doc(nodes: int, groups: int, size: int, days: int) -> dict:
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "bench-plan"},
        "spec": {
            "seed": 1,
            "horizon": f"{24 * days}h",
            "cluster": {
                "nodePools": [
                    {
                        "name": "h100",
                        "count": nodes,
                        "capacity": {"nvidia.com/gpu": 8, "cpu": "192", "memory": "2Ti", "pods": 110},
                        "topology": [{"key": "example.com/rack", "size": size}],
                        "costPerNodeHour": 98.32,
                    }
                ]
            },
            "workloads": [
                {
                    "manifest": {
                        "apiVersion": "leaderworkerset.x-k8s.io/v1",
                        "kind": "LeaderWorkerSet",
                        "metadata": {
                            "name": "llm",
                            "annotations": {
                                "leaderworkerset.sigs.k8s.io/exclusive-topology": "example.com/rack"
                            },
                        },
                        "spec": {
                            "replicas": groups,
                            "leaderWorkerTemplate": {
                                "size": size,
                                "workerTemplate": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "vllm",
                                                "image": "vllm/vllm-openai:v0.8.5",
                                                "resources": {"limits": GPU_REQUEST},
                                            }
                                        ]
                                    }
                                },
                            },
                        },
                    }
                }
            ],
            "timing": {
                "imagePull": {"cold": {"uniform": {"min": "5m", "max": "10m"}}, "cached": "0s"},
                "modelLoad": {"lognormal": {"median": "4m", "sigma": 0.2}},
            },
            "faults": {"nodeFailures": {"ratePerNodeDay": 0.0038, "repair": "4h"}, "forceDeleteAfter": "10m"},
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--size", type=int, default=4)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--target-availability", type=float, default=0.995)
    ap.add_argument("--target-time-to-serving", type=float, default=20 * 60.0, help="seconds")
    ap.add_argument("--profile", action="store_true", help="profile 20 single runs in this process")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-plan.yaml"
        path.write_text(yaml.safe_dump(scenario_doc(args.nodes, args.groups, args.size, args.days)))
        scenario = load_scenario(path)

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for run in range(20):
            simulate_run(scenario, run)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        return 0

    t0 = time.perf_counter()
    one, _ = simulate_run(scenario, 0)
    t1 = time.perf_counter()
    targets = Targets(args.target_availability, args.target_time_to_serving, 0.95)
    result = search(scenario, "h100", runs=args.runs, targets=targets, jobs=args.jobs)
    t2 = time.perf_counter()
    doc = to_dict(result)
    t3 = time.perf_counter()
    total_runs = sum(len(c.results) for c in result.candidates)
    print(
        f"scenario: {args.nodes}-node pool, {args.groups} groups of {args.size} pods, "
        f"{args.days} days of failures"
    )
    print(f"one run in-process (cold imports): {t1 - t0:.2f} s")
    print(
        f"plan: {t2 - t1:.1f} s wall on {args.jobs} worker(s), {total_runs} runs "
        f"({(t2 - t1) * args.jobs / max(total_runs, 1) * 1000:.0f} ms per run per core incl. startup)"
    )
    print(f"report (binding-constraint re-run, bootstrap): {t3 - t2:.2f} s")
    print(f"recommended: {doc['recommendedCount']}  binding: {doc['bindingConstraint']}")
    for c in doc["candidates"]:
        a, t = c["availability"], c["timeToAllServingSeconds"]
        print(
            f"  {c['count']:>4} nodes  runs {c['runs']:>4}  places {c['placementFeasible']!s:5}  "
            f"avail mean {a['mean']} p05 {a['p05']}  ttas p50 {t['p50']} p95 {t['p95']}  "
            f"meets {c['meetsTargets']}"
        )
    total = t3 - t0
    print(f"total wall: {total:.1f} s (target < 60 s on 2 cores)")
    return 0 if total < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
