"""Benchmark of Kueue's admission at fleet scale (issue 17), on one core.

2,000 nodes × 8 GPUs in racks of 16, one LeaderWorkerSet of 250 groups × 8 pods × 8 GPUs, simulated for
2 h. Cases, each in a fresh process so its peak RSS is its own:

- ``plain``: no Kueue (kube-scheduler alone);
- ``quota``: queued to a ClusterQueue with quota for 200 groups (50 wait for admission, gated);
- ``tas``: the same with a Topology [rack, hostname] and one rack per group required (leader and workers
  together, podset-group-name).

What Kueue costs is ``quota − plain`` and ``tas − plain``. Run: ``python benchmarks/bench_kueue.py [case]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NODES, GROUPS, SIZE, RACK = 2_000, 250, 8, 16
CASES = ("plain", "quota", "tas")
KUEUE = "kueue.x-k8s.io/v1beta2"
GPU = "nvidia.com/gpu"


def scenario(case: str) -> dict:
    pod = {"containers": [{"name": "c", "image": "vllm:1", "resources": {"limits": {GPU: "8"}}}]}
    template: dict = {"spec": pod}
    lws: dict = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "llm", "namespace": "serving"},
        "spec": {"replicas": GROUPS, "leaderWorkerTemplate": {"size": SIZE, "workerTemplate": template}},
    }
    workloads: list[dict] = []
    spec: dict = {
        "seed": 1,
        "horizon": "2h",
        "cluster": {
            "nodePools": [
                {
                    "name": "h100",
                    "count": NODES,
                    "labels": {"pool": "h100"},
                    "capacity": {GPU: 8, "cpu": "96", "memory": "1Ti", "pods": 110},
                    "topology": [{"key": "example.com/rack", "size": RACK}],
                }
            ]
        },
        "timing": {"imagePull": {"cold": "3m"}, "modelLoad": "5m"},
    }
    if case != "plain":
        flavor: dict = {"nodeLabels": {"pool": "h100"}}
        if case == "tas":
            flavor["topologyName"] = "racks"
            levels = [{"nodeLabel": "example.com/rack"}, {"nodeLabel": "kubernetes.io/hostname"}]
            workloads.append(
                {
                    "manifest": {
                        "apiVersion": KUEUE,
                        "kind": "Topology",
                        "metadata": {"name": "racks"},
                        "spec": {"levels": levels},
                    }
                }
            )
            ann = {
                "kueue.x-k8s.io/podset-required-topology": "example.com/rack",
                "kueue.x-k8s.io/podset-group-name": "g",
            }
            lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"] = {
                "metadata": {"annotations": ann},
                "spec": pod,
            }
            template["metadata"] = {"annotations": dict(ann)}
        quota = {"name": GPU, "nominalQuota": 200 * SIZE * 8}
        cq = {
            "namespaceSelector": {},
            "resourceGroups": [
                {"coveredResources": [GPU], "flavors": [{"name": "h100", "resources": [quota]}]}
            ],
        }
        workloads += [
            {
                "manifest": {
                    "apiVersion": KUEUE,
                    "kind": "ResourceFlavor",
                    "metadata": {"name": "h100"},
                    "spec": flavor,
                }
            },
            {
                "manifest": {
                    "apiVersion": KUEUE,
                    "kind": "ClusterQueue",
                    "metadata": {"name": "inference"},
                    "spec": cq,
                }
            },
            {
                "manifest": {
                    "apiVersion": KUEUE,
                    "kind": "LocalQueue",
                    "metadata": {"name": "q", "namespace": "serving"},
                    "spec": {"clusterQueue": "inference"},
                }
            },
        ]
        lws["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "q"}
        spec["controller"] = {
            "kueue": {
                "enabled": True,
                "integrations": {"frameworks": ["leaderworkerset.x-k8s.io/leaderworkerset"]},
            }
        }
    spec["workloads"] = [*workloads, {"manifest": lws}]
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": f"kueue-{case}"},
        "spec": spec,
    }


def run_case(case: str) -> dict:
    from lwssim.analysis.report import build_report
    from lwssim.engine.world import World
    from lwssim.manifests.scenario import load_scenario

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.yaml"
        path.write_text(yaml.safe_dump(scenario(case)))
        t0 = time.perf_counter()
        sc = load_scenario(path)
        world = World(sc)
        timeline = world.run()
        report = build_report(timeline)
        seconds = time.perf_counter() - t0
    w = report["workloads"][0]
    admitted = sum(1 for g in w["groups"] if g.get("admittedAtSeconds") is not None)
    return {
        "case": case,
        "seconds": round(seconds, 2),
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "groupsServing": w["groupsServing"],
        "groupsAdmitted": admitted if case != "plain" else None,
        "events": len(timeline.records),
    }


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(run_case(sys.argv[1])))
        return
    for case in CASES:
        out = subprocess.run(
            ["taskset", "-c", "0", sys.executable, __file__, case], capture_output=True, text=True, check=True
        )
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
