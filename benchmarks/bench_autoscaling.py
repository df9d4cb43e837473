"""Benchmark of node autoscaling at fleet scale (issue 18), on one core.

A month of diurnal load on a 2,000-node H100 pool: one LeaderWorkerSet of 8-pod groups (one pod per
8-GPU node) scaled every hour by a scripted ``scale`` event between 50 and 250 groups (400 to 2,000 nodes'
worth), peaking at 14:00. Cases, each in a fresh process so its peak RSS is its own:

- ``fixed``: 2,000 nodes, no autoscaling (kube-scheduler, LWS and the kubelets alone);
- ``karpenter``: min 400 (warm), max 2,000, Karpenter with WhenEmpty consolidation after 5 min: nodes
  are launched for each scale-up and removed after each scale-down.

What autoscaling costs is ``karpenter − fixed``. Run: ``python benchmarks/bench_autoscaling.py [case]
[days]`` (default 30 days).
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NODES, WARM, SIZE = 2_000, 400, 8
CASES = ("fixed", "karpenter")
GPU = "nvidia.com/gpu"


def replicas_at(hour: int) -> int:
    """Groups wanted at ``hour``: 150 ± 100 over the day, peaking at 14:00."""
    return round(150 + 100 * math.sin(2 * math.pi * (hour % 24 - 8) / 24))


def scenario(case: str, days: int) -> dict:
    pod = {"containers": [{"name": "c", "image": "vllm:1", "resources": {"limits": {GPU: "8"}}}]}
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "llm", "namespace": "serving"},
        "spec": {
            "replicas": replicas_at(0),
            "leaderWorkerTemplate": {"size": SIZE, "workerTemplate": {"spec": pod}},
        },
    }
    pool: dict = {
        "name": "h100",
        "count": NODES,
        "capacity": {GPU: 8, "cpu": "96", "memory": "1Ti", "pods": 110},
    }
    cluster: dict = {"nodePools": [pool]}
    if case == "karpenter":
        pool.update(count=WARM, min=WARM, max=NODES)
        cluster["autoscaling"] = {
            "provider": "karpenter",
            "nodePools": [
                {
                    "name": "gpu",
                    "pool": "h100",
                    "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"},
                }
            ],
        }
    events = [
        {"at": f"{h}h", "scale": {"workload": "llm", "replicas": replicas_at(h)}}
        for h in range(1, 24 * days)
        if replicas_at(h) != replicas_at(h - 1)
    ]
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": f"autoscaling-{case}"},
        "spec": {
            "seed": 1,
            "horizon": f"{24 * days}h",
            "cluster": cluster,
            "workloads": [{"manifest": lws}],
            "timing": {"imagePull": {"cold": "3m"}, "modelLoad": "5m"},
            "events": events,
        },
    }


def run_case(case: str, days: int) -> dict:
    from lwssim.analysis.report import build_report
    from lwssim.engine.world import World
    from lwssim.manifests.scenario import load_scenario

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.yaml"
        path.write_text(yaml.safe_dump(scenario(case, days)))
        t0 = time.perf_counter()
        world = World(load_scenario(path))
        timeline = world.run()
        report = build_report(timeline)
        seconds = time.perf_counter() - t0
    w = report["workloads"][0]
    out = {
        "case": case,
        "days": days,
        "seconds": round(seconds, 1),
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "availability": w["availability"],
        "events": len(timeline.records),
    }
    if "gpuHours" in report:
        out["gpuHours"] = report["gpuHours"]
        out["nodeClaims"] = report["nodeClaims"]
        out["mostNodes"] = max(n for _, n in report["nodesOverTime"])
    return out


def main() -> None:
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    if len(sys.argv) > 1 and sys.argv[1] in CASES:
        print(json.dumps(run_case(sys.argv[1], days)))
        return
    for case in CASES:
        out = subprocess.run(
            ["taskset", "-c", "0", sys.executable, __file__, case, str(days)],
            capture_output=True,
            text=True,
            check=True,
        )
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
