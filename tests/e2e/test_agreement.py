"""Simulation against the emulated cluster: same placement-or-pending per pod, time to serving within 5%.

Each test runs one scenario of scenarios/e2e on the emulator: KWOK's pod stages get the scenario's timing
(start delay = imagePull + containerStart, ready delay = modelLoad), the scenario's LeaderWorkerSet is
created, lwssim.kube.observe records what the real controllers do, and lwssim.analysis.compare sets that
Timeline beside the simulation of the same scenario. The agreement figures are printed (``pytest -m e2e -s``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import NS, wait_for

from lwssim import runner
from lwssim import timeline as tl
from lwssim.analysis.compare import compare
from lwssim.emulator import stages
from lwssim.model.scenario import Scenario
from lwssim.timeline import Timeline

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "e2e"
MARGIN_S = 4.0  # keep watching this long after the end condition, so late simulated events fall inside
TOLERANCE = 0.05


def kwok_timing(scenario: Scenario) -> tuple[float, float]:
    """(start delay, ready delay) of the KWOK stages that reproduce the scenario's fixed timing."""
    t = scenario.timing
    for d in (t.image_pull_cold, t.image_pull_cached, t.container_start, t.model_load):
        assert d.kind == "fixed", "agreement scenarios use fixed timing"
    assert t.image_pull_cold.a == t.image_pull_cached.a, "KWOK has no image cache: cold must equal cached"
    return t.image_pull_cold.a + t.container_start.a, t.model_load.a


def manifests(path: Path) -> list[dict[str, Any]]:
    import yaml

    doc = yaml.safe_load(path.read_text())
    return [w["manifest"] for w in doc["spec"]["workloads"]]


def held_for(cond: Callable[[Any], bool], seconds: float) -> Callable[[Any], bool]:
    """A stop condition that is true once ``cond`` has held for ``seconds`` of wall time."""
    since: list[float] = []

    def check(builder: Any) -> bool:
        if not cond(builder):
            since.clear()
            return False
        if not since:
            since.append(time.monotonic())
        return time.monotonic() - since[0] >= seconds

    return check


def after(seconds: float, t0: list[float]) -> Callable[[Any], bool]:
    return lambda _builder: time.time() - t0[0] >= seconds


def run_observed(
    api: Any,
    make_lws: Any,
    path: Path,
    stop_when: Callable[[Any], bool],
    timeout: float = 120.0,
    at: list[tuple[float, Callable[[], None]]] | None = None,
    t0_box: list[float] | None = None,
    extra_stages: list[dict[str, Any]] | None = None,
    whole_second: bool = False,
) -> tuple[Scenario, Timeline]:
    """Create the scenario's workloads on the emulator and record the Timeline until ``stop_when``.

    ``whole_second`` starts just after a whole second: the API's timestamps are whole seconds, so an
    observed time then reads at most the sub-second part of the true one early, not up to 1 s (which
    matters for a group that serves after ~12 s)."""
    from kubernetes import client

    from lwssim.kube.observe import TimelineBuilder, observe, workload_infos

    scenario = runner.load(str(path))
    start, ready = kwok_timing(scenario)
    # The scenario's cluster is empty: wait out pods an earlier test deleted (the garbage collector of a
    # fresh control plane starts cascading an LWS only once its discovery has found the kind, ~30 s).
    v1 = client.CoreV1Api(api)
    wait_for("no pods left from earlier tests", lambda: not v1.list_namespaced_pod(NS).items, timeout=120)
    stages.set_pod_timing(api, start_delay_s=start, ready_delay_s=ready)
    if extra_stages:
        stages.apply_stages(api, extra_stages)
    time.sleep(1.0)  # kwok picks up Stage changes through its own watch
    if whole_second:
        time.sleep(1.02 - time.time() % 1.0)
    pending = sorted(at or [], key=lambda a: a[0])
    t0 = time.time()
    if t0_box is not None:
        t0_box[:] = [t0]
    builder = TimelineBuilder(t0, workload_infos(scenario.workloads), cluster={})
    for m in manifests(path):
        make_lws(m)

    def progress(_b: Any, now: float) -> None:
        while pending and now - t0 >= pending[0][0]:
            pending.pop(0)[1]()

    try:
        observed, _ = observe(api, NS, builder, timeout, progress=progress, stop_when=stop_when)
    finally:
        stages.set_pod_timing(api, 0.0, 0.0)
    observed.scenario = scenario.name
    return scenario, observed


def agree(scenario: Scenario, observed: Timeline, tmp_path: Path) -> dict:
    """Compare, print the figures, and check the CLI says the same (exit code, JSON)."""
    _, simulated = runner.run_with_timeline(scenario)
    doc = compare(observed, simulated, scenario, TOLERANCE)
    s = doc["summary"]
    err = s["timeToServingRelativeError"]
    print(
        f"\n{scenario.name}: placement match {s['placementMatchRate']} of {s['pods']} pods, "
        f"time to serving rel. error median {err['median']} worst {err['worst']} (n={err['n']})"
    )
    for w in doc["workloads"]:
        for g in w["groups"]:
            print(
                f"  group {g['index']}: serving at observed {g['servingAt']['observed']} "
                f"simulated {g['servingAt']['simulated']}"
            )
    path = tmp_path / f"{scenario.name}.timeline.json"
    observed.save(path)
    cli = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lwssim.cli import main; main()",
            "compare",
            str(path),
            "--scenario",
            scenario.path,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == (0 if s["agree"] else 1), cli.stderr
    assert json.loads(cli.stdout)["summary"] == s
    return doc


def _check(doc: dict) -> None:
    assert doc["summary"]["placementMatchRate"] == 1.0, doc["mismatches"]
    assert doc["summary"]["agree"], doc["mismatches"]


def test_plain_placement_agrees(api: Any, make_lws: Any, tmp_path: Path) -> None:
    from lwssim.kube.observe import TimelineBuilder

    scenario, observed = run_observed(
        api, make_lws, SCENARIOS / "plain-placement.yaml", held_for(TimelineBuilder.all_serving, MARGIN_S)
    )
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    assert doc["workloads"][0]["timeToAllServingSeconds"]["observed"] is not None
    # calibrate on the real recording recovers the KWOK stage delays (1 s timestamp resolution): KWOK
    # marks pods Initialized when bound, so the whole start delay is container start, then model load.
    from lwssim.analysis.calibrate import calibrate

    start, ready = kwok_timing(scenario)
    fits = {f["phase"]: f for f in calibrate([observed])["fits"] if f["role"] == "all"}
    assert abs(fits["containerStart"]["median"] - start) <= 1.5
    assert abs(fits["modelLoad"]["median"] - ready) <= 1.5


def test_shortfall_without_gang_agrees(api: Any, make_lws: Any, tmp_path: Path) -> None:
    t0: list[float] = [time.time()]
    scenario, observed = run_observed(
        api, make_lws, SCENARIOS / "shortfall-no-gang.yaml", after(40.0, t0), t0_box=t0
    )
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    pods = {p["name"]: p for p in doc["workloads"][0]["pods"]}
    assert [n for n, p in pods.items() if p["observed"]["state"] == "pending"] == [
        "e2e-short-0-4",
        "e2e-short-0-5",
    ]
    assert all(p["reasonMatch"] for p in pods.values())


def test_exclusive_topology_agrees(api: Any, make_lws: Any, tmp_path: Path) -> None:
    from lwssim.kube.observe import TimelineBuilder

    scenario, observed = run_observed(
        api, make_lws, SCENARIOS / "exclusive-topology.yaml", held_for(TimelineBuilder.all_serving, MARGIN_S)
    )
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    assert all(g["domains"] == {"observed": 1, "simulated": 1} for g in doc["workloads"][0]["groups"])


def test_leader_ready_agrees(api: Any, make_lws: Any, tmp_path: Path) -> None:
    from lwssim.kube.observe import TimelineBuilder

    scenario, observed = run_observed(
        api, make_lws, SCENARIOS / "leader-ready.yaml", held_for(TimelineBuilder.all_serving, MARGIN_S)
    )
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    pods = {p["name"]: p for p in doc["workloads"][0]["pods"]}
    # The worker exists only after the leader is Ready, on both sides.
    for side in ("observed", "simulated"):
        assert (
            pods["e2e-lr-0-1"]["phases"]["created"][side] >= pods["e2e-lr-0"]["phases"]["ready"][side] - 1.0
        )


def test_container_failure_recreates_group_agrees(api: Any, make_lws: Any, tmp_path: Path) -> None:
    from kubernetes import client

    v1 = client.CoreV1Api(api)
    scenario = runner.load(str(SCENARIOS / "container-failure.yaml"))
    (fault,) = scenario.faults.scripted
    crash_at = fault.at

    def crash() -> None:
        v1.patch_namespaced_pod(fault.pod, NS, {"metadata": {"labels": {stages.FAILURE_LABEL: "true"}}})

    def recovered(builder: Any) -> bool:
        return any(r.kind == tl.GROUP_RECREATED for r in builder.timeline.records) and builder.all_serving()

    stages.apply_stages(api, [stages.container_failure_stage(delay_s=0.0)])
    try:
        _, observed = run_observed(
            api,
            make_lws,
            SCENARIOS / "container-failure.yaml",
            held_for(recovered, MARGIN_S),
            timeout=150,
            at=[(crash_at, crash)],
        )
    finally:
        stages.apply_stages(api, [stages.container_failure_stage()])
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    (group,) = doc["workloads"][0]["groups"]
    assert group["recreations"] == {"observed": 1, "simulated": 1}
    assert len(group["servingAt"]["observed"]) == len(group["servingAt"]["simulated"]) == 2


def test_node_loss_keeps_the_group_down_until_the_node_is_back(
    api: Any, make_lws: Any, tmp_path: Path
) -> None:
    """lws#508 on both sides: the evicted worker stays Terminating while its node is down, so the group stays
    down; when the node returns the deletion completes and the group is recreated at the simulator's time."""
    from kubernetes import client

    from lwssim.emulator import kubelet

    path = SCENARIOS / "node-loss.yaml"
    scenario = runner.load(str(path))
    down, up = scenario.faults.scripted
    v1 = client.CoreV1Api(api)

    def label(value: str | None) -> Callable[[], None]:
        return lambda: v1.patch_node(down.node, {"metadata": {"labels": {kubelet.NODE_FAULT_LABEL: value}}})

    def recovered(builder: Any) -> bool:
        return any(r.kind == tl.GROUP_RECREATED for r in builder.timeline.records) and builder.all_serving()

    try:
        _, observed = run_observed(
            api,
            make_lws,
            path,
            held_for(recovered, MARGIN_S),
            timeout=220,
            at=[(down.at, label("true")), (up.at, label(None))],
        )
    finally:
        label(None)()
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    _, simulated = runner.run_with_timeline(scenario)
    (group,) = doc["workloads"][0]["groups"]
    assert group["recreations"] == {"observed": 1, "simulated": 1}
    starts = group["servingAt"]
    assert len(starts["observed"]) == len(starts["simulated"]) == 2
    # Back to serving after the node returns: within the agreement tolerance of the simulated time.
    back_obs, back_sim = starts["observed"][1], starts["simulated"][1]
    assert abs(back_obs - back_sim) <= TOLERANCE * back_sim, (back_obs, back_sim)
    for side, timeline in (("observed", observed), ("simulated", simulated)):
        worker = [r for r in timeline.records if r.subject == "e2e-node-0-1"]
        deleting = next(r.t for r in worker if r.kind == tl.POD_DELETING)
        deleted = next(r.t for r in worker if r.kind == tl.POD_DELETED)
        # Evicted after NotReady (40 s grace) + 5 s toleration, and held Terminating until the node is back.
        assert down.at + 40 <= deleting < up.at, (side, deleting)
        assert deleted >= up.at - 1.0, (side, deleted)  # observed timestamps have 1 s resolution
