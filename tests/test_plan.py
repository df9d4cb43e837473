"""`lwssim plan`: the search (topology where GPU arithmetic is wrong), statistics, determinism, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from support import EXCLUSIVE, H100, RACK, document, lws, pool, write_scenario

from lwssim.analysis.report import to_json
from lwssim.cli import cli
from lwssim.manifests.scenario import load_scenario
from lwssim.model.cluster import Node
from lwssim.plan import Targets, plan, search
from lwssim.plan.search import Candidate, _gallop_and_bisect
from lwssim.plan.stats import BettingTest, Verdict, bootstrap_ci, quantile
from lwssim.plan.variants import resource_lower_bound, with_pool_count
from lwssim.runner import run_seed

FAULTS = {"nodeFailures": {"ratePerNodeDay": 4, "repair": "20m"}}


def write(tmp_path: Path, name: str = "s", *, count=8, rack=4, replicas=2, size=4, horizon="1h", faults=None):
    h100 = pool("h100", count, capacity=H100, topology=[{"key": RACK, "size": rack}], costPerNodeHour=10)
    llm = lws(replicas=replicas, size=size, image="vllm:1", container_name="vllm", annotations=EXCLUSIVE)
    timing = {
        "imagePull": {"cold": {"uniform": {"min": "1m", "max": "3m"}}, "cached": "0s"},
        "modelLoad": {"uniform": {"min": "1m", "max": "2m"}},
    }
    spec: dict = {"seed": 5, "horizon": horizon, "cluster": {"nodePools": [h100]}}
    spec |= {"workloads": [{"manifest": llm}], "timing": timing}
    if faults:
        spec["faults"] = faults
    return write_scenario(tmp_path, document(name, **spec), f"{name}.yaml")


# -- the search ---------------------------------------------------------------------------------------


def test_rack_alignment_beats_gpu_arithmetic(tmp_path):
    """Groups of 3 pods in racks of 4: 6 nodes hold the GPUs, but the second rack has 2 nodes; 7 is needed."""
    s = load_scenario(write(tmp_path, count=12, rack=4, replicas=2, size=3))
    assert resource_lower_bound(s, s.cluster.pools[0])[0] == 6
    result = search(s, "h100", runs=3, jobs=1, beyond=1)
    tried = {c.size: c for c in result.candidates}
    assert sorted(tried) == [6, 7, 8]
    assert not tried[6].placement_feasible and tried[6].rejected == "placement"
    assert tried[7].meets and result.recommended == 7
    doc = plan(s, "h100", runs=3, jobs=1, beyond=1)
    assert doc["recommendedCount"] == 7
    assert doc["bindingConstraint"].startswith("placement: with 6 nodes")
    assert "domain" in doc["bindingConstraint"]  # the explanation of the failing run says why


def test_whole_racks_for_groups_of_rack_size(tmp_path):
    """Groups of 4 pods in racks of 4: the answer is groups × 4, rack-aligned, and every count below fails."""
    s = load_scenario(write(tmp_path, count=8, rack=4, replicas=2, size=4))
    doc = plan(s, "h100", runs=2, jobs=1, beyond=0)
    assert doc["recommendedCount"] == 8
    assert [c["count"] for c in doc["candidates"]] == [8]
    assert doc["bindingConstraint"].startswith("resources: fewer than 8 nodes")
    assert doc["candidates"][0]["costPerHour"] == 80.0
    doc = plan(s, "h100", runs=2, jobs=1, lo=5, beyond=0)  # --min below the bound: nothing below it is run
    assert [c["count"] for c in doc["candidates"]] == [8]


def test_racks_too_small_never_feasible(tmp_path):
    s = load_scenario(write(tmp_path, count=9, rack=3, replicas=2, size=4))
    doc = plan(s, "h100", runs=4, jobs=1, hi=10)
    assert doc["recommendedCount"] is None
    assert [c["count"] for c in doc["candidates"]] == [8, 9, 10]
    # one run proves placement fails: the rest of the candidate's runs are not spent
    assert all(c["runs"] == 1 and c["stoppedEarly"] and not c["placementFeasible"] for c in doc["candidates"])
    assert "no example.com/rack domain can hold a group" in doc["bindingConstraint"]
    assert doc["bindingConstraint"].endswith("(no count in 8..10 meets the targets)")
    kinds = {e["kind"] for e in doc["explanations"]}
    assert {"DomainTooSmall", "PartialPlacement"} <= kinds


def test_contract_shape(tmp_path):
    s = load_scenario(write(tmp_path, count=8, rack=4, replicas=2, size=4))
    doc = plan(s, "h100", runs=2, jobs=1, beyond=0)
    assert doc["apiVersion"] == "lwssim.io/v1alpha1" and doc["kind"] == "CapacityPlan"
    assert {"scenario", "pool", "recommendedCount", "bindingConstraint", "candidates"} <= set(doc)
    c = doc["candidates"][0]
    assert {
        "count",
        "placementFeasible",
        "runs",
        "availability",
        "timeToAllServingSeconds",
        "meetsTargets",
        "costPerHour",
    } <= set(c)
    assert {"mean", "p05"} <= set(c["availability"]) and {"p50", "p95"} <= set(c["timeToAllServingSeconds"])
    json.loads(to_json(doc))  # serialisable, no NaN


def test_same_json_whatever_the_number_of_workers(tmp_path):
    s = load_scenario(write(tmp_path, count=8, rack=4, replicas=2, size=4, horizon="6h", faults=FAULTS))
    options = dict(runs=6, hi=10, beyond=2, targets=Targets(availability=0.5, time_to_serving=3600))
    one = to_json(plan(s, "h100", jobs=1, **options))
    two = to_json(plan(s, "h100", jobs=2, **options))
    assert one == two
    doc = json.loads(one)
    assert doc["candidates"][0]["availability"]["mean"] < 1.0  # failures happened: the runs differ


def test_availability_target_rejects_and_explains(tmp_path):
    s = load_scenario(write(tmp_path, count=8, rack=4, replicas=2, size=4, horizon="6h", faults=FAULTS))
    doc = plan(s, "h100", runs=8, jobs=1, hi=8, targets=Targets(availability=0.9999))
    assert doc["recommendedCount"] is None
    c = doc["candidates"][0]
    assert c["rejectedBy"] == "availability" and not c["meetsTargets"]
    assert doc["bindingConstraint"].startswith("availability 0.")
    assert "< 0.9999 with 8 nodes" in doc["bindingConstraint"]
    assert "node failure stops a 4-pod group for" in doc["bindingConstraint"]


def test_time_target(tmp_path):
    s = load_scenario(write(tmp_path, count=8, rack=4, replicas=2, size=4))
    doc = plan(s, "h100", runs=3, jobs=1, hi=8, targets=Targets(time_to_serving=60.0, quantile=0.5))
    assert doc["recommendedCount"] is None
    assert doc["candidates"][0]["rejectedBy"] == "timeToServing"
    assert doc["bindingConstraint"].startswith("time to all serving p50 ")


# -- pieces ------------------------------------------------------------------------------------------


def test_variant_keeps_nodelist_nodes(tmp_path):
    s = load_scenario(write(tmp_path, count=8))
    extra = Node("gpu-box", (("nvidia.com/gpu", 8), ("pods", 110)))
    from dataclasses import replace

    s = replace(s, cluster=replace(s.cluster, nodes=s.cluster.nodes + (extra,)))
    v = with_pool_count(s, "h100", 5)
    assert [n.name for n in v.cluster.nodes] == [f"h100-{i}" for i in range(5)] + ["gpu-box"]
    assert v.cluster.pool("h100").count == 5
    labels = dict(v.cluster.nodes[4].labels)
    assert labels["example.com/rack"] == "h100-rack-1"
    # the extra node's 8 GPUs lower the bound: 64 GPUs requested, 8 elsewhere
    assert resource_lower_bound(s, s.cluster.pools[0])[0] == 7


def test_run_seeds_are_fixed_per_index():
    assert run_seed(5, 0) == run_seed(5, 0)
    assert len({run_seed(5, i) for i in range(50)}) == 50
    assert run_seed(5, 1) != run_seed(6, 1)


def test_quantile_is_inverted_cdf_with_never_last():
    assert quantile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert quantile([1.0, None, 2.0], 0.95) is None
    assert quantile([1.0, None, 2.0], 0.5) == 2.0
    assert quantile([], 0.5) is None


def test_bootstrap_is_seeded_and_brackets_the_mean():
    data = [1.0] * 18 + [0.9, 0.95]
    lo, hi = bootstrap_ci(data, 3)
    assert bootstrap_ci(data, 3) == (lo, hi)
    assert lo <= sum(data) / len(data) <= hi <= 1.0


def test_verdict_exact_bounds():
    v = Verdict(10, Targets(availability=0.95))
    for _ in range(4):
        v.add(True, 0.9, 10.0)
    assert v.rejected is None  # 3.6 + 6 remaining = 9.6 ≥ 9.5: still reachable
    v.add(True, 0.9, 10.0)
    assert v.rejected is None  # 4.5 + 5 = 9.5: reachable only if every remaining run is perfect
    v.add(True, 0.9, 10.0)
    assert v.rejected == "availability"  # 5.4 + 4 = 9.4 < 9.5: certain
    w = Verdict(10, Targets(time_to_serving=100.0, quantile=0.9))
    w.add(True, 1.0, 200.0)
    assert w.rejected is None  # one run of ten may be slow at p90
    w.add(True, 1.0, 200.0)
    assert w.rejected == "timeToServing"
    p = Verdict(10, Targets())
    p.add(False, 0.0, None)
    assert p.rejected == "placement"


# -- the command -------------------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_json_and_exit_codes(tmp_path):
    good = write(tmp_path, "good", count=8, rack=4, replicas=2, size=4)
    result = invoke("plan", str(good), "--pool", "h100", "--runs", "2", "--jobs", "1", "-o", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["recommendedCount"] == 8 and doc["pool"] == "h100" and doc["scenario"] == "good"

    bad = write(tmp_path, "bad", count=6, rack=3, replicas=1, size=4)
    result = invoke(
        "plan", str(bad), "--pool", "h100", "--runs", "2", "--jobs", "1", "--max", "7", "-o", "json"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["recommendedCount"] is None


@pytest.mark.parametrize(
    "args, field",
    [
        (["--pool", "a100"], "--pool"),
        (["--pool", "h100", "--target-time-to-serving", "soon"], "--target-time-to-serving"),
        (["--pool", "h100", "--min", "9", "--max", "3"], "--min"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, args, field):
    path = write(tmp_path)
    result = invoke("plan", str(path), *args, "-o", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    if field == "--target-time-to-serving":  # checked by the option's type, before the file is read
        assert result.stderr == (
            "error: Invalid value for '--target-time-to-serving': 'soon' is not a duration "
            "(write it like 90s, 5m or 1h30m).\n"
        )
        return
    assert result.stderr.startswith(f"error: {path}: {field}: ")
    if field == "--pool":
        assert 'no node pool named "a100"' in result.stderr and "(pools: h100)" in result.stderr


def test_cli_table_and_markdown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, count=8, rack=4, replicas=2, size=4)
    result = invoke("plan", str(path), "--pool", "h100", "--runs", "2", "--jobs", "1")
    assert result.exit_code == 0
    assert "Recommended: 8 nodes in pool h100 (80.00 per hour)." in result.stdout
    assert "Binding constraint: resources" in result.stdout
    plots = tmp_path / "plots"
    result = invoke(
        "plan",
        str(path),
        "--pool",
        "h100",
        "--runs",
        "2",
        "--jobs",
        "1",
        "-o",
        "markdown",
        "--plots-dir",
        str(plots),
    )
    assert result.exit_code == 0
    assert "| Nodes | Places |" in result.stdout
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["s-plan-availability.png", "s-plan-time-to-serving.png"]
    assert f"](plots/{pngs[0]})" in result.stdout  # piped: relative to the current directory


# -- adaptive runs, galloping search, levers ------------------------------------------------------------


def test_betting_test_decides_clear_means_and_rarely_errs():
    low = BettingTest(0.999, 0.95)
    for x in [0.9975, 0.9978, 0.9971, 0.9976, 0.9974, 0.9977, 0.9973, 0.9975]:
        low.add(x)
    assert low.below and not low.above  # a mean 0.0015 short is refused within a few runs
    near = BettingTest(0.999, 0.95)
    for _ in range(100):
        near.add(0.9997)
    assert not near.above and not near.below  # near 1 a run could still come in at 0: undecided
    # anytime valid: with the mean at m, a decision either way within 300 runs in under 5 % of sequences
    rng = np.random.default_rng(11)
    wrong = 0
    for _ in range(200):
        t = BettingTest(0.3, 0.95)
        for x in rng.random(300) < 0.3:
            t.add(float(x))
            if t.above or t.below:
                wrong += 1
                break
    assert wrong <= 10


def test_verdict_sequential_decisions():
    v = Verdict(100, Targets(availability=0.999))
    while not v.decided:
        v.add(True, 0.997, 1.0)
    assert (v.rejected, v.by) == ("availability", "test") and v.done < 20  # exact would need ~34 runs
    fast = Verdict(100, Targets(time_to_serving=100.0, quantile=0.5))
    while not fast.decided:
        fast.add(True, 1.0, 10.0)
    assert fast.accepted and fast.by == "test" and fast.done < 100
    full = Verdict(5, Targets(availability=0.999))
    for _ in range(5):
        full.add(True, 0.9995, 1.0)
    assert full.by == "allRuns" and full.rejected is None


def _fake(meets: set[int]):
    seen: list[int] = []

    def evaluate(count: int) -> Candidate:  # like search's: each count simulated once
        if count not in seen:
            seen.append(count)
        return Candidate(count, 0, rejected=None if count in meets else "placement")

    return evaluate, seen


def test_gallop_then_bisect_checks_the_neighbour_below():
    evaluate, seen = _fake(set(range(23, 41)))
    assert _gallop_and_bisect(evaluate, 10, 40, Targets()) == 23
    assert seen == [10, 11, 12, 14, 18, 26, 22, 24, 23]  # gallop +1 +2 +4 +8 +16, then bisection
    evaluate, seen = _fake({12, 30})  # not monotone: 12 passes, 13 and 14 fail
    assert _gallop_and_bisect(evaluate, 10, 40, Targets()) == 12 and seen == [10, 11, 12]
    evaluate, seen = _fake(set())
    assert _gallop_and_bisect(evaluate, 10, 20, Targets()) is None and seen[-1] == 20


def test_flat_availability_stops_and_tries_levers(tmp_path):
    """Stuck pods block a group until its node returns: spare nodes do not help, force deletion does."""
    s = load_scenario(write(tmp_path, count=8, rack=4, replicas=2, size=4, horizon="6h", faults=FAULTS))
    options = dict(runs=30, hi=16, targets=Targets(availability=0.995))
    doc = plan(s, "h100", jobs=1, **options)
    assert doc["recommendedCount"] is None and doc["moreNodesHelp"] is False
    assert doc["evaluated"] == [8, 9, 16]  # flat from 8 to 9: the top of the range next, then stop
    assert doc["notes"][-1].startswith("More nodes will not help: availability is ")
    levers = {lever["lever"]: lever for lever in doc["levers"]}
    assert {"forceDeleteStuckPods", "sparePerDomain", "gangScheduling", "restartPolicyNone"} <= set(levers)
    assert levers["sparePerDomain"]["count"] == 10 and levers["gangScheduling"]["count"] == 8
    for lever in levers.values():
        assert lever["effect"].startswith(lever["change"] + ": availability ")
        assert lever["difference"] == pytest.approx(lever["after"] - lever["before"], abs=2e-6)
    assert to_json(plan(s, "h100", jobs=2, **options)) == to_json(doc)


def test_cli_confidence(tmp_path):
    path = write(tmp_path, count=8, rack=4, replicas=2, size=4, horizon="6h", faults=FAULTS)
    args = ["plan", str(path), "--pool", "h100", "--jobs", "1", "--max", "8", "--target-availability", "0.99"]
    loose = json.loads(invoke(*args, "--confidence", "0.5", "-o", "json").stdout)
    strict = json.loads(invoke(*args, "--confidence", "0.999", "-o", "json").stdout)
    assert (loose["confidence"], strict["confidence"]) == (0.5, 0.999)
    assert loose["candidates"][0]["runs"] <= strict["candidates"][0]["runs"]
