"""Invariants of the simulation core over random small clusters, workloads and timings (hypothesis).

- no node's allocated requests exceed its allocatable, for any resource, at any time (kube-scheduler
  NodeResourcesFit, noderesources/fit.go fitsRequest);
- a pod is bound to at most one node per life (PodCreated … PodDeleted), and never moves
  (a binding is final: pods/binding subresource);
- same scenario + seed ⇒ identical timeline records and report JSON, whatever PYTHONHASHSEED
  (one numpy Generator per run, from the seed; no iteration in hash order);
- groups serving ≤ replicas; time to all serving ≥ the fastest possible pull + start + load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import lws, pool, run, scenario_doc, write_scenario

from lwssim.analysis.report import build_report, to_json
from lwssim.engine.objects import Pod
from lwssim.engine.store import DELETED
from lwssim.timeline import POD_CREATED, POD_DELETED, POD_SCHEDULED

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenarios(draw) -> tuple[dict, float]:
    """A small scenario and the least time any pod can take from scheduling to Ready."""
    pools = [
        pool(
            name=f"p{i}",
            count=draw(st.integers(1, 5)),
            gpus=draw(st.sampled_from([4, 8])),
            capacity={"cpu": str(draw(st.sampled_from([8, 32]))), "pods": draw(st.integers(2, 8))},
            topology=[{"key": "example.com/rack", "size": 2}],
        )
        for i in range(draw(st.integers(1, 2)))
    ]
    workloads, events = [], []
    for i in range(draw(st.integers(1, 2))):
        replicas = draw(st.integers(1, 3))
        spec: dict = {}
        if draw(st.booleans()):
            spec["startupPolicy"] = "LeaderReady"
        annotations = (
            {"leaderworkerset.sigs.k8s.io/exclusive-topology": "example.com/rack"}
            if draw(st.integers(0, 3)) == 0
            else None
        )
        workloads.append(
            lws(
                f"w{i}",
                replicas=replicas,
                size=draw(st.integers(1, 3)),
                gpus=draw(st.sampled_from([1, 2, 4, 8])),
                image=draw(st.sampled_from(["img:a", "img:b"])),
                annotations=annotations,
                **spec,
            )
        )
        if draw(st.booleans()):
            t = draw(st.integers(60, 1800))
            events.append(
                {"at": f"{t}s", "scale": {"workload": f"w{i}", "replicas": draw(st.integers(0, 4))}}
            )
    cold_min = draw(st.integers(1, 300))
    cold = draw(st.sampled_from(["fixed", "uniform"]))
    start, load = draw(st.integers(0, 10)), draw(st.integers(1, 300))
    timing = {
        "imagePull": {
            "cold": f"{cold_min}s"
            if cold == "fixed"
            else {"uniform": {"min": f"{cold_min}s", "max": f"{2 * cold_min}s"}},
            "cached": f"{draw(st.integers(0, 5))}s",
        },
        "containerStart": f"{start}s",
        "modelLoad": {"uniform": {"min": f"{load}s", "max": f"{load + 60}s"}},
        "termination": f"{draw(st.integers(0, 60))}s",
    }
    seed = draw(st.integers(0, 2**16))
    doc = scenario_doc(pools, workloads, timing=timing, horizon="1h", seed=seed, events=events)
    return doc, float(cold_min + start + load)


class Ledger:
    """An independent account of what is bound where, from the store's watch events."""

    def __init__(self, world) -> None:
        self.world = world
        self.alloc = {n.name: dict(n.allocatable) for n in world.scenario.cluster.nodes}
        self.bound: dict[int, tuple[str, dict[str, int]]] = {}
        self.violations: list[str] = []
        world.store.watch("Pod", self.on_pod)

    def on_pod(self, event: str, pod: Pod) -> None:
        if event == DELETED:
            self.bound.pop(pod.uid, None)
            return
        if pod.node is None:
            return
        was = self.bound.get(pod.uid)
        if was is not None:
            if was[0] != pod.node:
                self.violations.append(f"{pod.name} moved {was[0]} -> {pod.node}")
            return
        requests = dict(pod.template.requests())
        requests["pods"] = 1
        self.bound[pod.uid] = (pod.node, requests)
        used: dict[str, int] = defaultdict(int)
        for node, req in self.bound.values():
            if node == pod.node:
                for r, v in req.items():
                    used[r] += v
        alloc = self.alloc[pod.node]
        for r, v in used.items():
            if v > alloc.get(r, 110 if r == "pods" else 0):
                self.violations.append(f"t={self.world.env.now}: {pod.node} over-committed on {r}: {v}")


@SETTINGS
@given(scenarios())
def test_no_node_over_committed_and_one_node_per_pod_life(case) -> None:
    doc, _ = case
    ledger: list[Ledger] = []
    _, tl = run(doc, before_run=lambda w: ledger.append(Ledger(w)))
    assert ledger[0].violations == []
    # Timeline view: within one life (PodCreated .. PodDeleted) at most one PodScheduled.
    binds: dict[str, int] = {}
    for r in tl.records:
        if r.kind == POD_CREATED:
            binds[r.subject] = 0
        elif r.kind == POD_SCHEDULED:
            binds[r.subject] = binds.get(r.subject, 0) + 1
            assert binds[r.subject] == 1, f"{r.subject} bound twice in one life"
        elif r.kind == POD_DELETED:
            binds.pop(r.subject, None)


@SETTINGS
@given(scenarios())
def test_same_seed_same_timeline_and_report(case) -> None:
    doc, _ = case
    _, a = run(doc)
    _, b = run(doc)
    assert a.records == b.records
    assert to_json(build_report(a)) == to_json(build_report(b))


@SETTINGS
@given(scenarios())
def test_serving_bounded_by_replicas_and_startup_by_minimum_chain(case) -> None:
    doc, minimum = case
    _, tl = run(doc)
    report = build_report(tl)
    for w in report["workloads"]:
        assert 0 <= w["groupsServing"] <= max(w["replicas"], 0)
        ttas = w["timeToAllServingSeconds"]
        if ttas is not None and w["replicas"] > 0:
            assert ttas >= minimum - 1e-6
        for g in w["groups"]:
            if g["servingAtSeconds"] is not None:
                assert g["servingAtSeconds"] >= minimum - 1e-6


def test_report_json_identical_across_python_hash_seeds(tmp_path) -> None:
    """Determinism: same scenario + seed ⇒ identical JSON whatever the Python hash seed."""
    doc = scenario_doc(
        [pool(count=6, topology=[{"key": "example.com/rack", "size": 2}])],
        [
            lws(
                "a",
                replicas=2,
                size=2,
                annotations={"leaderworkerset.sigs.k8s.io/exclusive-topology": "example.com/rack"},
            ),
            lws("b", replicas=2, size=2, gpus=4, image="img:b"),
        ],
        timing={"imagePull": {"cold": {"uniform": {"min": "60s", "max": "120s"}}}, "modelLoad": "100s"},
        events=[{"at": "20m", "scale": {"workload": "b", "replicas": 1}}],
        seed=5,
    )
    path = write_scenario(tmp_path, doc, "s.yaml")
    outs = []
    for hash_seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from lwssim.cli import main; main()",
                "simulate",
                str(path),
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1] == outs[2]
    assert yaml.safe_load(outs[0])["seed"] == 5
