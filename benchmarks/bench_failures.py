"""Benchmark: a simulated year of random failures on 2,000 nodes running 250 LWS groups of 8 pods.

Target: under 10 s wall on one core. Prints wall time (load, simulate, report), timeline records and
simpy events per second, and peak memory (ru_maxrss). ``--profile`` prints the top cProfile entries.

    python benchmarks/bench_failures.py [--nodes 2000] [--groups 250] [--size 8] [--days 365] [--profile]
"""

# ruff: noqa: E402  (the clock starts before the imports, so the wall figure includes loading lwssim)
from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports below: the wall figure includes loading lwssim

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
from pathlib import Path

import yaml

from lwssim.analysis.report import build_report
from lwssim.engine.world import World
from lwssim.manifests.scenario import load_scenario


def scenario_doc(nodes: int, groups: int, size: int, days: int) -> dict:
    """Llama 3 failure rate and cause mix, rack failures, container crashes: reference/defaults.md."""
    reboot = {"uniform": {"min": "5m", "max": "30m"}}
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "bench-failures"},
        "spec": {
            "seed": 1,
            "horizon": f"{24 * days}h" if days else "1h",
            "cluster": {
                "nodePools": [
                    {
                        "name": "h100",
                        "count": nodes,
                        "capacity": {"nvidia.com/gpu": 8, "cpu": "192", "memory": "2Ti", "pods": 110},
                        "topology": [
                            {"key": "topology.kubernetes.io/zone", "size": 512},
                            {"key": "example.com/rack", "size": 8},
                        ],
                    }
                ]
            },
            "workloads": [
                {
                    "manifest": {
                        "apiVersion": "leaderworkerset.x-k8s.io/v1",
                        "kind": "LeaderWorkerSet",
                        "metadata": {"name": "llm"},
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
                                                "resources": {"limits": {"nvidia.com/gpu": 8}},
                                            }
                                        ]
                                    }
                                },
                            },
                        },
                    }
                }
            ],
            "faults": {
                "nodeFailures": {
                    "ratePerNodeDay": 0.0038,
                    "repair": {"lognormal": {"median": "4h", "sigma": 0.5}},
                    "causes": [
                        {"name": "gpu-hardware", "weight": 268, "effect": "nodeDown"},
                        {"name": "software", "weight": 56, "effect": "reboot", "repair": reboot},
                        {"name": "network", "weight": 42, "effect": "nodeDown"},
                        {"name": "host-maintenance", "weight": 32, "effect": "reboot", "repair": reboot},
                        {"name": "nccl-watchdog", "weight": 7, "effect": "reboot", "repair": reboot},
                        {"name": "other-host", "weight": 14, "effect": "nodeDown"},
                    ],
                },
                "domainFailures": [{"key": "example.com/rack", "ratePerDomainDay": 0.0001, "repair": "2h"}],
                "containerCrashes": {"ratePerPodDay": 0.001},
            },
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--groups", type=int, default=250)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-failures.yaml"
        path.write_text(yaml.safe_dump(scenario_doc(args.nodes, args.groups, args.size, args.days)))
        t0 = time.perf_counter()
        scenario = load_scenario(path)
        t1 = time.perf_counter()
        world = World(scenario)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        timeline = world.run()
        if profiler:
            profiler.disable()
        t2 = time.perf_counter()
        # events processed: ids handed out (SimPy numbers every scheduled event) minus those still queued
        events = next(world.env._eid) - len(world.env._queue)
        report = build_report(timeline)
        t3 = time.perf_counter()
    w = report["workloads"][0]
    faults = report["faults"]
    sim = t2 - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"scenario: {args.nodes} nodes, {args.groups} groups x {args.size} pods, {args.days} days")
    print(
        f"faults: {len(faults)} ({sum(f['podsHit'] for f in faults)} pods hit), "
        f"group recreations: {w['groupRecreations']}, availability: {w['availability']}"
    )
    print(
        f"wall: imports {t0 - STARTED:.2f} s, load {t1 - t0:.2f} s, simulate {sim:.2f} s, "
        f"report {t3 - t2:.2f} s, total {t3 - STARTED:.2f} s"
    )
    print(
        f"simpy events: {events} ({events / sim:,.0f}/s); timeline records: {len(timeline.records)} "
        f"({len(timeline.records) / sim:,.0f}/s)"
    )
    print(f"peak memory (ru_maxrss): {peak_mb:.0f} MiB")
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(
            os.environ.get("SORT", "cumulative")
        ).print_stats(int(os.environ.get("TOP", "25")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
