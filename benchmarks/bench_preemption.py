"""Benchmark of kube-scheduler preemption at fleet scale (issue 14 item 7), on one core.

10,000 nodes × 8 GPUs. 80 % of the GPUs are held by low-priority pods (a Deployment of 4,000 pods × 8 GPUs
and a Job of 8,000 pods × 4 GPUs, priority 100); at 30 min a high-priority LeaderWorkerSet (priority
1000) of 1,000 groups × 8 pods × 8 GPUs arrives and must preempt about 6,000 of them. Three runs, each in
a fresh process so its peak RSS is its own:

- ``shared``: all of the above;
- ``fill``: the low-priority pods alone (what the shared run costs before the LWS arrives);
- ``empty``: the LWS alone on the empty cluster (applied at the same time).

The cost of preemption is ``shared − fill`` against ``empty`` (target: under 3×), and per preemption
``(shared − fill − empty) / victims``. Run: ``python benchmarks/bench_preemption.py [case]``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NODES, GROUPS, SIZE = 10_000, 1_000, 8
CASES = ("shared", "fill", "empty")


def _container(gpus: int, image: str) -> dict:
    amount = {"nvidia.com/gpu": str(gpus), "cpu": "16"}
    return {"name": "c", "image": image, "resources": {"requests": amount, "limits": amount}}


def _pod_spec(gpus: int, image: str, priority_class: str) -> dict:
    return {"priorityClassName": priority_class, "containers": [_container(gpus, image)]}


def scenario(case: str) -> dict:
    classes = [
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": n}, "value": v}
        for n, v in (("batch", 100), ("serving", 1000))
    ]
    batch = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "batch", "namespace": "team-a"},
            "spec": {
                "replicas": 4000,
                "selector": {"matchLabels": {"app": "batch"}},
                "template": {
                    "metadata": {"labels": {"app": "batch"}},
                    "spec": _pod_spec(8, "batch:1", "batch"),
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "sweep",
                "namespace": "team-b",
                "annotations": {"lwssim.io/run-duration": "24h"},
            },
            "spec": {
                "parallelism": 8000,
                "completions": 8000,
                "backoffLimit": 100000,
                "template": {"spec": {"restartPolicy": "Never", **_pod_spec(4, "sweep:1", "batch")}},
            },
        },
    ]
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "llm"},
        "spec": {
            "replicas": GROUPS,
            "leaderWorkerTemplate": {
                "size": SIZE,
                "workerTemplate": {"spec": _pod_spec(8, "vllm:1", "serving")},
            },
        },
    }
    workloads: list[dict] = [{"manifest": c} for c in classes]
    if case in ("shared", "fill"):
        workloads += [{"manifest": b} for b in batch]
    if case in ("shared", "empty"):
        workloads.append({"manifest": lws, "at": "30m"})
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": f"bench-preemption-{case}"},
        "spec": {
            "horizon": "2h",
            "cluster": {
                "nodePools": [
                    {
                        "name": "h100",
                        "count": NODES,
                        "capacity": {"nvidia.com/gpu": 8, "cpu": "192", "memory": "2Ti", "pods": 110},
                    }
                ]
            },
            "workloads": workloads,
            "timing": {"imagePull": {"cold": "5m", "cached": "10s"}, "modelLoad": "4m"},
        },
    }


def run_case(case: str) -> dict:
    from lwssim.analysis.report import build_report
    from lwssim.engine.world import World
    from lwssim.manifests.scenario import load_scenario

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.yaml"
        path.write_text(yaml.safe_dump(scenario(case)))
        sc = load_scenario(path)
    t0 = time.perf_counter()
    world = World(sc)
    timeline = world.run()
    wall = time.perf_counter() - t0
    report = build_report(timeline)
    by = {w["name"]: w for w in report["workloads"]}
    return {
        "case": case,
        "wallSeconds": round(wall, 2),
        "simpyEvents": next(world.env._eid),
        "records": len(timeline.records),
        "podsPreempted": sum(w.get("podsPreempted", 0) for w in report["workloads"]),
        "groupsServing": by["llm"]["groupsServing"] if "llm" in by else None,
        "timeToAllServingSeconds": by["llm"]["timeToAllServingSeconds"] if "llm" in by else None,
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(run_case(sys.argv[1])))
        return
    results = {}
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, case], capture_output=True, text=True, check=True, env=dict(os.environ)
        )
        results[case] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(results[case]))
    shared, fill, empty = (results[c]["wallSeconds"] for c in CASES)
    victims = results["shared"]["podsPreempted"] or 1
    print(
        json.dumps(
            {
                "preemptionCostVsEmpty": round((shared - fill) / empty, 2),
                "secondsPerPreemption": round(max(shared - fill - empty, 0) / victims, 5),
            }
        )
    )


if __name__ == "__main__":
    main()
