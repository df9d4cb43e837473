"""Karpenter v1.14.1 (KWOK provider) provisioning GPU nodes for a LeaderWorkerSet on the emulator.

The stack runs with ``--with karpenter`` and no static node (``--nodes 0``): every node a pod lands on is one
Karpenter made. NodePool ``gpu`` (KWOKNodeClass ``default``, instance type ``gpu-8x-h100`` = 8 nvidia.com/gpu,
limit 64 GPUs, WhenEmpty after 30 s); LWS ``karp`` 2 groups × 4 pods × 8 GPUs, so one pod per node.

Case 1 records the scale-up with :func:`karpenter_helpers.observe_karpenter_scale_up` and asserts what the
real system must do: 8 NodeClaims (one per pod; one Node per NodeClaim), all 8 pods Running on 8 distinct
Karpenter nodes, both groups Ready. Case 2 scales the LWS to 1 group and asserts that the 4 nodes of group 1
go (their NodeClaims deleted) once consolidateAfter has passed, and not the 4 of group 0. Each case writes its
record as JSON under the pytest tmp dir (path printed) and prints a summary.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import lws_manifest, running_stack
from karpenter_helpers import (
    DISRUPTED_TAINT,
    UNREGISTERED_TAINT,
    nodepool_manifest,
    observe_karpenter_scale_down,
    observe_karpenter_scale_up,
    summarize,
)

from lwssim.emulator import build
from lwssim.emulator.stack import Stack

pytestmark = pytest.mark.e2e

LWS = "karp"
REPLICAS, SIZE = 2, 4
CONSOLIDATE_AFTER_S = 30


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    try:
        built = build.is_built() and build.extra_is_built(build.karpenter_tool())
    except build.BuildError:
        built = False
    if shutil.which("go") is None and not built:
        pytest.skip("emulator or Karpenter binaries are not built and `go` is missing")
    with running_stack(karpenter=True, nodes=0) as s:
        yield s


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("karpenter")


@pytest.fixture(scope="module")
def scale_up(stack: Stack, out_dir: Path) -> dict[str, Any]:
    lws = lws_manifest(LWS, replicas=REPLICAS, size=SIZE, gpus=8)
    pool = nodepool_manifest("gpu", gpu_limit=64, consolidate_after=f"{CONSOLIDATE_AFTER_S}s")
    record = observe_karpenter_scale_up(stack, lws, pool, timeout_s=120)
    path = out_dir / "karpenter-scale-up.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    print(f"\nscale-up record: {path}\n{summarize(record)}")
    return record


def test_scale_up_one_node_per_pod(scale_up: dict[str, Any]) -> None:
    ncs, nodes, pods = scale_up["nodeclaims"], scale_up["nodes"], scale_up["pods"]
    assert len(ncs) == REPLICAS * SIZE, sorted(ncs)
    for name, nc in ncs.items():
        for milestone in ("Launched", "Registered", "Initialized"):
            assert milestone in nc["watch"], (name, nc)
        assert nc["instanceType"] == "gpu-8x-h100"
        assert nc["requests"].get("nvidia.com/gpu") == "8", nc["requests"]
    # One Node per NodeClaim, made by the KWOK provider, Ready through the stack's KWOK, registered.
    owners = [n["nodeclaim"] for n in nodes.values()]
    assert sorted(owners) == sorted(ncs), owners
    for name, node in nodes.items():
        assert "Ready" in node["watch"], (name, node)
        assert UNREGISTERED_TAINT in node["taints_seen"], (name, node["taints_seen"])
        assert node["labels"].get("karpenter.sh/initialized") == "true", node["labels"]
        assert node["labels"].get("kwok.x-k8s.io/node") == "fake"
    # Every pod Running and Ready on its own Karpenter node.
    assert len(pods) == REPLICAS * SIZE
    placed = [p["node"] for p in pods.values()]
    assert None not in placed and len(set(placed)) == len(placed), placed
    assert set(placed) == set(nodes), (placed, sorted(nodes))
    for p in pods.values():
        assert {"scheduled", "running", "ready"} <= set(p["watch"]), p
    # Karpenter waits for the batch, so no NodeClaim comes before the first pod.
    assert scale_up["first_nodeclaim_s"] >= scale_up["first_pod_s"]


@pytest.fixture(scope="module")
def scale_down(stack: Stack, scale_up: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    # One node at a time (the default budget, 10 % of 8 nodes rounded up) about 25 s apart: ~130 s for 4.
    record = observe_karpenter_scale_down(stack, LWS, replicas=1, expect_gone=SIZE, timeout_s=200)
    path = out_dir / "karpenter-scale-down.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    return record


def test_scale_down_removes_empty_nodes(
    scale_up: dict[str, Any], scale_down: dict[str, Any], out_dir: Path
) -> None:
    group1 = {p["node"] for p in scale_up["pods"].values() if p["group"] == "1"}
    group0 = {p["node"] for p in scale_up["pods"].values() if p["group"] == "0"}
    claims_of = {n["nodeclaim"]: name for name, n in scale_up["nodes"].items()}
    claims1 = {c for c, node in claims_of.items() if node in group1}
    claims0 = {c for c, node in claims_of.items() if node in group0}
    assert len(claims1) == SIZE and len(claims0) == SIZE
    record = scale_down
    path = out_dir / "karpenter-scale-down.json"
    gone = {n for n, row in record["nodeclaims"].items() if "deleted" in row["watch"]}
    lines = [f"\nscale-down record: {path}"]
    for name in sorted(gone):
        w, a = record["nodeclaims"][name]["watch"], record["nodeclaims"][name]["api"]
        node = record["nodes"].get(claims_of.get(name, ""), {}).get("watch", {})
        lines.append(
            f"  {name}: Consolidatable api {a.get('Consolidatable')} s, disrupted taint "
            f"{node.get('disrupted_taint')} s, NodeClaim deleting {w.get('deleting')} s, deleted "
            f"{w.get('deleted')} s, Node deleted {node.get('deleted')} s (from the scale call)"
        )
    print("\n".join(lines))
    assert gone == claims1, (sorted(gone), sorted(claims1))
    assert set(record["nodeclaims_left"]) == claims0
    for name in gone:
        w, a = record["nodeclaims"][name]["watch"], record["nodeclaims"][name]["api"]
        # Not before consolidateAfter has passed since the NodeClaim's lastPodEventTime (API times are
        # whole seconds, truncated: 1 s of slack). That time is the pod's binding, not its deletion, when
        # the deletion comes within 10 s of it (podevents/controller.go: dedupeTimeout).
        assert a["Consolidatable"] >= a["lastPodEventTime"] + CONSOLIDATE_AFTER_S - 1, (name, a)
        assert w["deleting"] >= a["lastPodEventTime"] + CONSOLIDATE_AFTER_S - 1, (name, w, a)
        node = record["nodes"][claims_of[name]]
        assert DISRUPTED_TAINT in node["taints_seen"], node["taints_seen"]
        assert "deleted" in node["watch"]
    # The default budget (nodes: 10%, rounded up: 1 of 8) disrupts one node at a time.
    spans = sorted(
        (record["nodeclaims"][n]["watch"]["deleting"], record["nodeclaims"][n]["watch"]["deleted"])
        for n in gone
    )
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.5, spans


# -- agreement: the simulator's Karpenter model against the real one, on the same case ------------------

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "e2e" / "karpenter-scale-up-down.yaml"
BATCH_SLACK_S = 1.0  # the first NodeClaim: the batch window closing, API and watch latency
BIND_SLACK_S = 1.5  # the last pod bound: the same plus launch and registration draws
POLL_S = 10.0  # the disruption controller's poll: its phase against the LWS create differs from run to run
SPACING_SLACK_S = 3.0


def simulate_case(scale_at: float) -> tuple[Any, dict[str, Any]]:
    """The scenario with its scale event at ``scale_at`` (seconds after the LWS create), simulated."""
    from dataclasses import replace

    from lwssim.analysis.report import build_report
    from lwssim.engine.world import simulate
    from lwssim.manifests.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    scenario = replace(scenario, scales=tuple(replace(s, at=scale_at) for s in scenario.scales))
    timeline = simulate(scenario)
    return timeline, build_report(timeline)


def test_simulator_agrees_with_karpenter(scale_up: dict[str, Any], scale_down: dict[str, Any]) -> None:
    from lwssim import timeline as tl

    scale_at = scale_down["t0"] - scale_up["t0"]
    timeline, report = simulate_case(scale_at)
    claims = [r for r in timeline.records if r.kind == tl.NODECLAIM_CREATED]
    bound = {r.subject: (r.t, str(r.get("node"))) for r in timeline.records if r.kind == tl.POD_SCHEDULED}
    deleted = sorted((r.t, r.subject) for r in timeline.records if r.kind == tl.NODE_DELETED)
    real_ncs = scale_up["nodeclaims"]
    real_pods = scale_up["pods"]
    rows = [
        ("NodeClaims launched", len(real_ncs), len(claims)),
        ("first NodeClaim (s)", scale_up["first_nodeclaim_s"], min(r.t for r in claims)),
        (
            "last pod bound (s)",
            max(p["watch"]["scheduled"] for p in real_pods.values()),
            max(t for t, _ in bound.values()),
        ),
    ]
    # Scale-down: which group's nodes go, how many, when the first goes and how far apart.
    real_gone = sorted(
        (row["watch"]["deleted"], name)
        for name, row in scale_down["nodeclaims"].items()
        if "deleted" in row["watch"]
    )
    node_of_claim = {n["nodeclaim"]: name for name, n in scale_up["nodes"].items()}
    real_group_gone = {
        p["group"] for p in real_pods.values() for _, c in real_gone if p["node"] == node_of_claim.get(c)
    }
    sim_group_gone = {
        str(r.group)
        for r in timeline.records
        if r.kind == tl.POD_SCHEDULED and any(n == r.get("node") for _, n in deleted)
    }
    real_first = scale_at + real_gone[0][0]
    rows += [
        ("nodes removed", len(real_gone), len(deleted)),
        ("first node removed (s from create)", real_first, deleted[0][0] if deleted else None),
    ]
    real_gaps = [b[0] - a[0] for a, b in zip(real_gone, real_gone[1:], strict=False)]
    sim_gaps = [b[0] - a[0] for a, b in zip(deleted, deleted[1:], strict=False)]
    rows.append(
        ("gaps between removals (s)", [round(g, 1) for g in real_gaps], [round(g, 1) for g in sim_gaps])
    )
    print("\nagreement with Karpenter v1.14.1 (real | simulated):")
    for what, real, sim in rows:
        print(f"  {what}: {real} | {sim}")
    assert len(claims) == len(real_ncs) == REPLICAS * SIZE
    assert abs(min(r.t for r in claims) - scale_up["first_nodeclaim_s"]) <= BATCH_SLACK_S
    assert len({n for _, n in bound.values()}) == REPLICAS * SIZE  # one pod per new node, as on the stack
    last_real = max(p["watch"]["scheduled"] for p in real_pods.values())
    assert abs(max(t for t, _ in bound.values()) - last_real) <= BIND_SLACK_S
    assert report["workloads"][0]["groupsServing"] == 1 and report["nodesOverTime"][-1][1] == SIZE
    assert len(deleted) == len(real_gone) == SIZE
    assert sim_group_gone == real_group_gone == {"1"}
    assert abs(deleted[0][0] - real_first) <= POLL_S + 1.0
    for real_gap, sim_gap in zip(real_gaps, sim_gaps, strict=True):
        assert abs(real_gap - sim_gap) <= SPACING_SLACK_S, (real_gaps, sim_gaps)
