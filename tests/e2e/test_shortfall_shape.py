"""Capacity shortfall without a gang scheduler, on the real control plane and in the simulator.

4 groups of 4 pods × 8 GPUs on 12 nodes. The summary of lws#810 in docs/lws-v0.7-semantics.md §4 says "one
worker of every group Pending ⇒ zero ready groups". On the real control plane the outcome depends on how
the API latencies of concurrent StatefulSet syncs interleave pod creations: 27 trials (2026-11-27 and
2026-12-01) placed {2,2,4,4} 12 times, {1,3,4,4} 9, {2,3,3,4} 5 and {0,4,4,4} once — 1 to 3 groups serving.
The simulator draws API latency per kind of call (timing.apiLatency, fitted on this control plane's audit
log) and gave {1,3,4,4} 56 %, {2,3,3,4} 20 %, {2,2,4,4} 19 %, {3,3,3,3} 4 %, {0,4,4,4} 1 % over 100 seeds.
The test compares the number of groups serving over repeated trials with a stated statistical test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from e2e_helpers import distributions_agree
from support import GPU, document, lws, write_scenario

from lwssim import runner

pytestmark = pytest.mark.e2e

LWS = lws(replicas=4, size=4, image="vllm/vllm-openai:v0.11.0", container_name="vllm")
TRIALS = 10
SEEDS = 50


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


def _trial(kubectl: list[str], name: str) -> list[int]:
    """Create the LWS as ``name``, wait until 12 of its 16 pods are bound, return pods placed per group,
    delete it and wait its pods away."""
    body = {**LWS, "metadata": {**LWS["metadata"], "name": name}}
    subprocess.run(
        [*kubectl, "apply", "-f", "-"], input=yaml.safe_dump(body), text=True, check=True, capture_output=True
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
        time.sleep(1)
    time.sleep(2)  # nothing more binds: every node is full
    per_group: dict[str, int] = {}
    for p in pods:
        group = p["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-index"]
        per_group[group] = per_group.get(group, 0) + bool(p["spec"].get("nodeName"))
    subprocess.run([*kubectl, "delete", "lws", name, "--wait=true"], check=True, capture_output=True)
    deadline = time.time() + 120
    while (
        json.loads(
            subprocess.run(
                [*kubectl, "get", "pods", "-o", "json"], check=True, capture_output=True, text=True
            ).stdout
        )["items"]
        and time.time() < deadline
    ):
        time.sleep(1)
    return sorted(per_group.values())


def test_shortfall_places_groups_with_the_same_distribution_as_the_real_control_plane(tmp_path: Path) -> None:
    """TRIALS creates on the emulator against SEEDS simulated runs: the number of groups serving (every
    pod placed) compared with Fisher's exact test on its most frequent value (2), agreement rejected
    only at p < 0.01 (issue 19: races are compared as distributions, not single runs)."""
    state = tmp_path / "emulator"
    up = _emulator_up(state)
    try:
        kubectl = [up["kubectl"], "--kubeconfig", up["kubeconfig"]]
        real = [_trial(kubectl, f"{LWS['metadata']['name']}-{i}") for i in range(TRIALS)]
    finally:
        _lwssim("emulator", "down", "--state-dir", str(state))
    print(f"\nemulator shapes: {real}")
    assert all(sum(shape) == 12 for shape in real)  # every node used, 4 pods Pending
    shapes, serving = [], []
    for seed in range(SEEDS):
        placed, groups_serving = _simulated_shape(tmp_path, seed)
        assert sum(placed) == 12
        shapes.append(tuple(placed))
        serving.append(groups_serving)
    assert len(set(shapes)) >= 2  # the interleaving varies with the drawn latencies, as on the real cluster
    real_serving = [sum(1 for n in shape if n == 4) for shape in real]
    p = distributions_agree("groups serving under a shortfall", real_serving, serving, 2)
    assert p >= 0.01
