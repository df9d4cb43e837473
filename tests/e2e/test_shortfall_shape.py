"""Capacity shortfall without a gang scheduler, on the real control plane and in the simulator.

4 groups of 4 pods × 8 GPUs on 12 nodes. The summary of lws#810 in docs/lws-v0.7-semantics.md §4 says "one
worker of every
group Pending ⇒ zero ready groups". On the real control plane the outcome depends on how the API
latencies of concurrent StatefulSet syncs interleave pod creations: five trials gave pods placed per
group {1,3,4,4}, {2,3,3,4}, {2,2,4,4} twice and {0,4,4,4} — 1 to 3 groups serving, never 0. The
simulator draws API latency per call (timing.apiLatency, measured on this control plane) and gives
{1,3,4,4} 65 %, {2,2,4,4} 20 %, {2,3,3,4} 15 % over 60 seeds. The test holds both to what they share.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support import GPU, document, lws, write_scenario

from lwssim import runner

pytestmark = pytest.mark.e2e

LWS = lws(replicas=4, size=4, image="vllm/vllm-openai:v0.11.0", container_name="vllm")


def _lwssim(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from lwssim.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(f"lwssim {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def _emulator_up(state: Path) -> dict:
    """This test's own 12-node emulator, started beside the session's. One retry: on this 2-core machine a
    second control plane once failed to come up within its 180 s readiness limit (1 run in 4 on
    2026-11-27), and the test is about where groups land, not about start-up; the first error is kept
    in the output."""
    args = ("emulator", "up", "--nodes", "12", "--gpus-per-node", "8", "--output", "json")
    try:
        return json.loads(_lwssim(*args, "--state-dir", str(state)))
    except AssertionError as first:
        print(f"first emulator up failed, retrying once: {first}")
        try:  # `up` stops what it started when it fails; this also clears any state it left
            _lwssim("emulator", "down", "--state-dir", str(state))
        except AssertionError as leftover:
            print(f"emulator down after the failed up: {leftover}")
        return json.loads(_lwssim(*args, "--state-dir", str(state)))


def _simulated_shape(tmp_path: Path, seed: int) -> tuple[list[int], int]:
    scenario = document(
        "shape",
        horizon="10m",
        cluster={
            "nodePools": [{"name": "gpu", "count": 12, "capacity": {GPU: 8, "cpu": "64", "memory": "512Gi"}}]
        },
        workloads=[{"manifest": LWS}],
        timing={"imagePull": {"cold": "1s"}, "modelLoad": "1s"},
    )
    path = write_scenario(tmp_path, scenario, "shape.yaml")
    report = runner.run(runner.load(str(path)), seed)
    w = report["workloads"][0]
    placed = sorted(sum(p["node"] is not None for p in g["pods"]) for g in w["groups"])
    return placed, w["groupsServing"]


def test_shortfall_places_groups_with_the_same_shape_as_the_real_control_plane(tmp_path: Path) -> None:
    state = tmp_path / "emulator"
    up = _emulator_up(state)
    try:
        kubectl = [up["kubectl"], "--kubeconfig", up["kubeconfig"]]
        subprocess.run(
            [*kubectl, "apply", "-f", "-"],
            input=yaml.safe_dump(LWS),
            text=True,
            check=True,
            capture_output=True,
        )
        deadline = time.time() + 90
        while True:
            pods = json.loads(
                subprocess.run(
                    [*kubectl, "get", "pods", "-o", "json"], check=True, capture_output=True, text=True
                ).stdout
            )["items"]
            bound = [p for p in pods if p["spec"].get("nodeName")]
            if len(pods) == 16 and len(bound) == 12 or time.time() > deadline:
                break
            time.sleep(2)
        per_group: dict[str, int] = {}
        for p in pods:
            group = p["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-index"]
            per_group[group] = per_group.get(group, 0) + bool(p["spec"].get("nodeName"))
        real = sorted(per_group.values())
    finally:
        _lwssim("emulator", "down", "--state-dir", str(state))
    assert sum(real) == 12  # every node used, 4 pods Pending
    real_serving = sum(1 for n in real if n == 4)
    assert 1 <= real_serving <= 3
    shapes, servings = set(), set()
    for seed in range(20):
        placed, serving = _simulated_shape(tmp_path, seed)
        assert sum(placed) == 12
        shapes.add(tuple(placed))
        servings.add(serving)
    assert len(shapes) >= 2  # the interleaving varies with the drawn latencies, as on the real cluster
    assert servings <= {1, 2, 3}
