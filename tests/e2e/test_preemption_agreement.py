"""kube-scheduler preemption on the emulator against the simulator: placement, victims and pending reasons,
pod for pod (``lwssim.analysis.outcome``).

Each test runs one ``scenarios/e2e/preempt-*.yaml``: its objects are created in order (PriorityClasses,
PodDisruptionBudgets, Deployments, bare Pods, LeaderWorkerSets), each at its ``at:`` time, KWOK's pod stages
get the scenario's fixed timing, ``lwssim.kube.observe`` records what the real scheduler, controllers and
LWS v0.7.0 do until the scenario's horizon, and the simulation of the same scenario must end the same way:
per LWS pod by name, per other workload as a multiset of (state, pending reason), the same victims by
workload, the same group recreations. What the real system did is asserted too, so a change of the
emulator shows here first.

What the real system did (kube-scheduler v1.34.4, kube-controller-manager v1.34.4, LWS v0.7.0, KWOK; the
emulator's 4 nodes × 8 GPUs; times from the first apply; measured 2026-12-01):

(a) preempt-deployment. The 4 e2e-batch pods (priority 100) are Ready at ~10 s. The LWS e2e-serve
    (priority 1000) is applied at 15 s: its 4 pods are nominated 0.13-0.25 s after the apply on an idle stack
    (0.7-0.8 s under the test's watches), each preempting one e2e-batch pod. Per preemptor: its
    PodScheduled=False condition ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu.": no preemption
    part when preemption succeeds) and status.nominatedNodeName in one status update; the victim's
    DisruptionTarget condition (reason PreemptionByScheduler, message "default-scheduler: preempting to
    accommodate a higher priority pod"), then its DELETE with the pod's grace period
    (deletionGracePeriodSeconds 30; the kubelet stand-in confirms at once, termination 0s), then a `Preempted`
    event on the victim, related = the preemptor, "Preempted by pod <preemptor uid> on node <node>". Leaders
    preempt first (e2e-serve-0, e2e-serve-1), then the workers as their StatefulSets create them (~0.1 s
    later): LWS creates the worker StatefulSets as soon as the leaders exist, whether they are scheduled or
    not. A preemptor retried while its victim terminates reads "... no new claims to deallocate, preemption:
    not eligible due to a terminating pod on the nominated node."; each binds to its nominated node ~0.1-0.4 s
    after nomination, as soon as its victim is gone (nominatedNodeName stays set on the bound pod). Which
    e2e-batch pod goes for which LWS pod is random (equal victims, equal start second). The ReplicaSet creates
    4 replacements at once; each stays Pending with "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.
    no new claims to deallocate, preemption: 0/4 nodes are available: 4 No preemption victims found for
    incoming pod." The LWS serves at ~25 s (15 s + 10 s stages).
(b) preempt-lws-worker. e2e-keep (2 pods, priority 1000) and the LWS e2e-low (1 × 2, priority 100,
    LeaderReady) fill the 4 nodes; the worker starts ~10 s after the leader. The bare Pod e2e-urgent
    (priority 1000) at 30 s is nominated to the worker's node (pickOneNodeForPreemption: the latest start
    time); the worker gets DisruptionTarget + deletionTimestamp; ~20 ms later LWS deletes the leader in
    foreground (event RecreateGroupOnPodRestart "Worker pod e2e-low-0-1 failed, deleted leader pod e2e-low-0
    to recreate group 0"); the worker is gone ~40 ms after its DisruptionTarget, e2e-urgent binds ~50 ms
    after nomination. The old worker StatefulSet recreates e2e-low-0-1 (new uid, Pending "... 4 No
    preemption victims found for incoming pod.") and the garbage collector deletes it with its
    StatefulSet ~30 ms later; the leader is gone ~170 ms after LWS deleted it, the leader StatefulSet
    recreates e2e-low-0 (priority 100) and it binds to its old node (the only free one). When it is Ready
    (10 s later) LWS creates the worker StatefulSet, whose e2e-low-0-1 (priority 100) stays Pending with
    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. no new claims to deallocate, preemption: 0/4
    nodes are available: 4 No preemption victims found for incoming pod.": the recreated group never
    preempts e2e-urgent (or e2e-keep). And LWS v0.7 reports it ready: status.readyReplicas 1, condition
    Available=True ("All replicas are ready, with 1 groups ready of total 1 groups") with the worker
    Pending, since its StatefulsetReady compares spec.replicas with status.replicas (pods created), not
    ready pods (docs/lws-v0.7-semantics.md §3.7; fixed in v0.9). In 2 of 24 runs LWS wrote the
    RecreateGroupOnPodRestart event twice within the second, for one leader deletion and one new leader:
    it reconciled the worker again before its cache showed the leader terminating (and deleted it again, a
    no-op). The observer records one recreation per leader life.
(c) preempt-pdb. e2e-guarded (2 pods, PDB minAvailable 2: disruptionsAllowed 0, computed by
    kube-controller-manager's disruption controller) and e2e-spare (2 pods, no PDB), all priority 100.
    e2e-urgent (3 pods, priority 1000) at 15 s: the first two preemptors are nominated to e2e-spare's nodes
    (no PDB violated), the third to one of e2e-guarded's (the only candidates left, each violating the PDB
    once). A preemptor retried before its victim is gone may preempt the same victim again: a second
    `Preempted` event for the same victim (the observer records the victim once). Replacements: 2 of
    e2e-spare and 1 of e2e-guarded stay Pending with the "No preemption victims" message.
(d) preempt-never. e2e-polite (PriorityClass value 1000, preemptionPolicy Never) at 12 s stays Pending with
    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. no new claims to deallocate, preemption: not
    eligible due to preemptionPolicy=Never." and is never nominated; e2e-pushy (value 1000,
    PreemptLowerPriority), applied right after it, preempts one e2e-batch pod and binds there: the node
    freed is not e2e-polite's, as e2e-pushy is nominated there with the same priority.

A race of the real scheduler (v1.34.4, async preemption), in 1 of 14 runs of (a) and 1 of 14 of (c): a
preemptor is released from DefaultPreemption's PreEnqueue hold just before its last victim is patched and
deleted (``prepareCandidateAsync``); another victim's deletion moves it back to the queue, and if it is
retried before the informer shows its own victim terminating, it is eligible again and preempts on another
node. Seen in (a): e2e-serve-0-1 preempted on gpu-3, then on gpu-0, and e2e-serve-1-1 bound to gpu-3 without
preempting (same end state). Seen in (c): the third preemptor preempted e2e-guarded's pod on gpu-3, 70 ms
later the other on gpu-2, then bound to gpu-3; gpu-2 went to an e2e-guarded replacement: the PDB violated
twice. The simulator has not produced it (0 of 100 seeds of each scenario); a run that hits it is reported
as an expected failure naming the pods (``lwssim.analysis.outcome.preempted_twice``), not as agreement.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_helpers import NS, observe_at_times, wait_for

from lwssim import runner
from lwssim import timeline as tl
from lwssim.analysis.compare import compare
from lwssim.analysis.outcome import Outcome, agreement, outcome, preempted_twice, summary
from lwssim.emulator import stages
from lwssim.model.quantity import parse_duration
from lwssim.timeline import Timeline, WorkloadInfo

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "e2e"
MARGIN_S = 3.0  # watch this long past the horizon, so nothing the horizon sees is still on its way
# Time to serving, absolute: observed timestamps are truncated to the second (up to 1 s early, measured from
# a sub-second apply moment) and a real control plane adds ~0.1-0.5 s; at these 10 s timings a relative 5 %
# would be half a second.
TIME_SLACK_S = 1.5
FULL = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
NO_VICTIMS = (
    f"{FULL} no new claims to deallocate, preemption: 0/4 nodes are available: "
    "4 No preemption victims found for incoming pod."
)
NEVER = f"{FULL} no new claims to deallocate, preemption: not eligible due to preemptionPolicy=Never."


# -- the scenario as kubectl would apply it ------------------------------------------------------------


@dataclass
class Entry:
    at: float
    doc: dict[str, Any]


@dataclass
class Raw:
    """A scenario file read as YAML: its objects in order with their times, timing and horizon."""

    path: Path
    horizon: float
    entries: list[Entry]
    start_delay: float
    ready_delay: float

    @property
    def infos(self) -> list[WorkloadInfo]:
        """The workloads as the simulator's Timeline lists them (from the loaded scenario)."""
        from lwssim.kube.observe import workload_infos

        scenario = runner.load(str(self.path))
        return workload_infos(scenario.workloads, scenario.pod_workloads)


def read_raw(path: Path) -> Raw:
    doc = yaml.safe_load(path.read_text())
    spec = doc["spec"]
    entries = []
    for w in spec["workloads"]:
        body = w["manifest"] if "manifest" in w else yaml.safe_load((path.parent / w["file"]).read_text())
        entries.append(Entry(parse_duration(w["at"]) if "at" in w else 0.0, body))
    t = spec["timing"]
    pull = t["imagePull"]
    assert pull["cold"] == pull["cached"], "KWOK has no image cache: cold must equal cached"
    assert parse_duration(t["termination"]) == 0.0, "the kubelet stand-in runs with termination 0"
    start = parse_duration(pull["cold"]) + parse_duration(t["containerStart"])
    return Raw(path, parse_duration(spec["horizon"]), entries, start, parse_duration(t["modelLoad"]))


@pytest.fixture
def cluster(api: Any) -> Any:
    """Create objects through the dynamic client (as ``kubectl create``); delete them all afterwards and
    wait until no pod is left, so the next test finds the four nodes empty."""
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

    dyn = DynamicClient(api)
    made: list[dict[str, Any]] = []

    def create(doc: dict[str, Any]) -> None:
        res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        try:
            res.create(body=doc, namespace=NS if res.namespaced else None)
        except ConflictError:  # a PriorityClass left by a test that was killed: same spec by name
            if res.namespaced:
                raise
        made.append(doc)

    yield create
    for doc in reversed(made):
        res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        with contextlib.suppress(NotFoundError):
            res.delete(
                name=doc["metadata"]["name"],
                namespace=NS if res.namespaced else None,
                body={"propagationPolicy": "Foreground"},
            )
    v1 = client.CoreV1Api(api)
    wait_for("pods of the preemption test gone", lambda: not v1.list_namespaced_pod(NS).items, timeout=120)


def run_observed(api: Any, create: Callable[[dict], None], raw: Raw, tmp_path: Path) -> Timeline:
    """Apply the scenario's objects at their times on the emulator and record the Timeline to the horizon
    (saved in ``tmp_path`` at once, so a failing check can be read against it)."""
    from kubernetes import client

    from lwssim.kube.observe import TimelineBuilder

    v1 = client.CoreV1Api(api)
    wait_for("no pods left from earlier tests", lambda: not v1.list_namespaced_pod(NS).items, timeout=120)
    stages.set_pod_timing(api, start_delay_s=raw.start_delay, ready_delay_s=raw.ready_delay)
    time.sleep(1.0)  # kwok picks up Stage changes through its own watch
    try:
        observed = observe_at_times(
            api,
            [(e.at, e.doc) for e in raw.entries],
            create,
            lambda t0: TimelineBuilder(t0, raw.infos, cluster={}),
            raw.horizon + MARGIN_S,
        )
    finally:
        stages.set_pod_timing(api, 0.0, 0.0)
    observed.scenario = raw.path.stem
    path = tmp_path / f"{raw.path.stem}.timeline.json"
    observed.save(path)
    print(f"\nobserved Timeline: {path}\n{json.dumps(summary(outcome(observed, raw.horizon)))}")
    return observed


def simulate(raw: Raw) -> tuple[Any, Timeline]:
    scenario = runner.load(str(raw.path))
    _, simulated = runner.run_with_timeline(scenario)
    return scenario, simulated


def agree(raw: Raw, observed: Timeline) -> tuple[Outcome, Outcome]:
    """The simulation ends as the emulator did (pod for pod, victims, reasons normalised and word for
    word); every workload's and LWS group's time to serving within TIME_SLACK_S. Prints both."""
    obs = outcome(observed, raw.horizon)
    print(f"\n{raw.path.stem} observed: {json.dumps(summary(obs), indent=1)}")
    scenario, simulated = simulate(raw)
    sim = outcome(simulated, raw.horizon)
    print(f"{raw.path.stem} simulated: {json.dumps(summary(sim), indent=1)}")
    diffs = agreement(obs, sim)
    exact = agreement(obs, sim, normalize=lambda r: r)
    twice = preempted_twice(obs)
    if (diffs or exact) and twice and not preempted_twice(sim):
        # A real race of kube-scheduler v1.34.4 (see preempted_twice): a run that hit it may end otherwise
        # than the simulation, which has not been seen to hit it. Said, not hidden.
        race = "; ".join(
            f"{p} preempted {', '.join(f'{v.workload}/{v.name} on {v.node}' for v in vs)}"
            for p, vs in twice.items()
        )
        pytest.xfail(
            f"the emulator preempted twice for one pod ({race}); differences: " + " | ".join(diffs or exact)
        )
    assert not diffs, "\n".join(diffs)
    assert not exact, "pending reasons differ word for word:\n" + "\n".join(exact)
    doc = compare(observed, simulated, scenario)
    late = []
    for w in doc["workloads"]:
        tta = w["timeToAllServingSeconds"]
        print(f"  {w['name']}: all serving at observed {tta['observed']}, simulated {tta['simulated']}")
        pairs = [(f"{w['name']} all serving", tta["observed"], tta["simulated"])]
        for g in w["groups"]:
            at = g["servingAt"]
            print(
                f"    group {g['index']}: serving at observed {at['observed']}, simulated {at['simulated']}"
            )
            if len(at["observed"]) != len(at["simulated"]):
                late.append(f"{w['name']} group {g['index']} started serving {at}")
            pairs += [
                (f"{w['name']} group {g['index']}", o, s)
                for o, s in zip(at["observed"], at["simulated"], strict=False)
            ]
        for what, o, s in pairs:
            if (o is None) != (s is None) or (o is not None and abs(s - o) > TIME_SLACK_S):
                late.append(f"{what}: observed {o}, simulated {s}")
    assert not late, "\n".join(late)
    return obs, sim


# -- what the real system does ---------------------------------------------------------------------------


def pods(o: Outcome, workload: str) -> Counter[tuple[str, str | None]]:
    return Counter((p.state, p.reason) for p in o.pods if p.workload == workload)


def victims(o: Outcome) -> Counter[tuple[str, str]]:
    return Counter((v.workload, v.by_workload) for v in o.victims)


def records(t: Timeline, kind: str, workload: str | None = None) -> list[tl.Record]:
    return [r for r in t.records if r.kind == kind and (workload is None or r.workload == workload)]


def test_lws_preempts_a_deployment(api: Any, cluster: Any, tmp_path: Path) -> None:
    raw = read_raw(SCENARIOS / "preempt-deployment.yaml")
    observed = run_observed(api, cluster, raw, tmp_path)
    o = outcome(observed, raw.horizon)
    assert pods(o, "e2e-serve") == {("placed", None): 4}
    assert pods(o, "e2e-batch") == {("pending", NO_VICTIMS): 4}
    # 4 victims, one per node; 5 when a preemptor retried before the scheduler's informer sees its victim go
    # preempts once more (async preemption, ``preempted_twice``): seen once in a loaded CI run (2026-12-02),
    # where agree() then says so (xfail with the race named) if the ends differ.
    assert victims(o) in ({("e2e-batch", "e2e-serve"): 4}, {("e2e-batch", "e2e-serve"): 5}), victims(o)
    # The LWS pods are on the victims' nodes. Which LWS pod preempted which is not asserted: after such a
    # second preemption a later LWS pod binds to the first node without preempting.
    assert len({v.node for v in o.victims}) == 4
    assert {p.node for p in o.pods if p.workload == "e2e-serve"} == {v.node for v in o.victims}
    assert {v.by for v in o.victims} <= {r.subject for r in records(observed, tl.POD_NOMINATED)}
    nominated = records(observed, tl.POD_NOMINATED)
    assert all(15.0 <= r.t <= 17.0 for r in nominated), nominated  # within a second or two of the apply
    agree(raw, observed)


def test_pod_preempts_an_lws_worker_and_the_group_comes_back_pending(
    api: Any, cluster: Any, tmp_path: Path
) -> None:
    raw = read_raw(SCENARIOS / "preempt-lws-worker.yaml")
    observed = run_observed(api, cluster, raw, tmp_path)
    o = outcome(observed, raw.horizon)
    (victim,) = o.victims
    assert (victim.workload, victim.name, victim.by, victim.by_workload) == (
        "e2e-low",
        "e2e-low-0-1",
        "e2e-urgent",
        "e2e-urgent",
    )
    assert o.recreations == {("e2e-low", 0): 1}
    ends = {p.name: p for p in o.pods if p.workload == "e2e-low"}
    assert ends["e2e-low-0"].state == "placed" and ends["e2e-low-0-1"].state == "pending"
    assert ends["e2e-low-0-1"].reason == NO_VICTIMS
    assert pods(o, "e2e-urgent") == {("placed", None): 1}
    assert pods(o, "e2e-keep") == {("placed", None): 2}
    assert {p.node for p in o.pods if p.workload == "e2e-urgent"} == {victim.node}
    # The recreated leader went back to its own node, freed by the recreation.
    first_leader = next(r for r in records(observed, tl.POD_SCHEDULED, "e2e-low") if r.subject == "e2e-low-0")
    assert ends["e2e-low-0"].node == first_leader.get("node")
    # LWS v0.7 reports the group ready although its worker is Pending (StatefulsetReady counts pods created).
    status = records(observed, tl.LWS_STATUS, "e2e-low")
    assert status and status[-1].get("readyReplicas") == 1, status
    agree(raw, observed)


def test_pdb_protected_victims_are_spared_while_others_remain(api: Any, cluster: Any, tmp_path: Path) -> None:
    from kubernetes import client

    raw = read_raw(SCENARIOS / "preempt-pdb.yaml")
    policy = client.PolicyV1Api(api)
    seen: list[dict] = []

    def create(doc: dict) -> None:
        if doc["metadata"]["name"] == "e2e-urgent":  # the disruption controller's verdict before preemption
            pdb = policy.read_namespaced_pod_disruption_budget("e2e-guarded", NS).status
            seen.append({"healthy": pdb.current_healthy, "allowed": pdb.disruptions_allowed})
        cluster(doc)

    observed = run_observed(api, create, raw, tmp_path)
    assert seen == [{"healthy": 2, "allowed": 0}]
    o = outcome(observed, raw.horizon)
    # The preemptors nominated first took the nodes whose victims violate no PDB; a guarded node only after
    # both of those.
    victim_on = {v.node: v.workload for v in o.victims}
    nominated = [victim_on.get(str(r.get("node"))) for r in records(observed, tl.POD_NOMINATED, "e2e-urgent")]
    assert nominated[:2] == ["e2e-spare", "e2e-spare"] and "e2e-guarded" in nominated, nominated
    assert pods(o, "e2e-urgent") == {("placed", None): 3}
    assert victims(o)[("e2e-spare", "e2e-urgent")] == 2
    if not preempted_twice(o):  # else a guarded pod more may go (preempted_twice), its node then free
        assert victims(o) == {("e2e-spare", "e2e-urgent"): 2, ("e2e-guarded", "e2e-urgent"): 1}
        assert pods(o, "e2e-spare") == {("pending", NO_VICTIMS): 2}
        assert pods(o, "e2e-guarded") == {("placed", None): 1, ("pending", NO_VICTIMS): 1}
    agree(raw, observed)


def test_preemption_policy_never_waits(api: Any, cluster: Any, tmp_path: Path) -> None:
    raw = read_raw(SCENARIOS / "preempt-never.yaml")
    observed = run_observed(api, cluster, raw, tmp_path)
    o = outcome(observed, raw.horizon)
    assert pods(o, "e2e-polite") == {("pending", NEVER): 1}
    assert pods(o, "e2e-pushy") == {("placed", None): 1}
    assert pods(o, "e2e-batch") == {("placed", None): 3, ("pending", NO_VICTIMS): 1}
    assert victims(o) == {("e2e-batch", "e2e-pushy"): 1}
    assert o.nominated == {"e2e-pushy": 1}
    agree(raw, observed)
