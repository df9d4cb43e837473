"""Shared-cluster outcomes compared pod for pod: multisets for Deployment pods (random names), names for
LWS pods, victims by workload; each difference names the workload and the pod."""

from __future__ import annotations

from lwssim import timeline as tl
from lwssim.analysis.outcome import OUTSIDE, agreement, outcome, preempted_twice, summary
from lwssim.timeline import Timeline, WorkloadInfo

FULL = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
NO_VICTIMS = (
    f"{FULL} no new claims to deallocate, preemption: 0/4 nodes are available: "
    "4 No preemption victims found for incoming pod."
)


def _timeline(batch_suffixes: str, lws_pending_worker: bool = False, victims: int = 4) -> Timeline:
    """Case (a) of the e2e tests: a high-priority LWS (2 groups × 2) preempts a 4-pod Deployment."""
    t = Timeline(
        horizon=30.0,
        workloads=[
            WorkloadInfo("batch", "default", "Deployment", "", 4, 1),
            WorkloadInfo("serve", "default", "LeaderWorkerSet", "serve", 2, 2),
        ],
    )
    old = [f"batch-abc-{c}" for c in batch_suffixes[:4]]
    new = [f"batch-abc-{c}" for c in batch_suffixes[4:8]]
    for i, name in enumerate(old):
        t.add(0.0, tl.POD_CREATED, name, "batch")
        t.add(0.1, tl.POD_SCHEDULED, name, "batch", node=f"gpu-{i}")
    serve = ["serve-0", "serve-0-1", "serve-1", "serve-1-1"]
    for i, name in enumerate(serve):
        group, role = i // 2, "leader" if i % 2 == 0 else "worker"
        t.add(15.0, tl.POD_CREATED, name, "serve", group, role)
        t.add(15.1, tl.POD_UNSCHEDULABLE, name, "serve", group, role, reason=FULL)
        t.add(15.1, tl.POD_NOMINATED, name, "serve", group, role, node=f"gpu-{i}")
        if i < victims:
            t.add(
                15.2,
                tl.POD_PREEMPTED,
                old[i],
                "batch",
                by=name,
                node=f"gpu-{i}",
                priority=100,
                by_priority=1000,
            )
            t.add(15.3, tl.POD_DELETING, old[i], "batch")
            t.add(15.3, tl.POD_DELETED, old[i], "batch")
            t.add(15.3, tl.POD_CREATED, new[i], "batch")
            t.add(15.4, tl.POD_UNSCHEDULABLE, new[i], "batch", reason=NO_VICTIMS)
            if not (lws_pending_worker and name == "serve-1-1"):
                t.add(15.5, tl.POD_SCHEDULED, name, "serve", group, role, node=f"gpu-{i}")
    return t


def test_same_outcome_with_other_names_and_nodes_agrees() -> None:
    observed = outcome(_timeline("vwxyklmn"))
    simulated = outcome(_timeline("abcdefgh"))
    assert agreement(observed, simulated) == []
    assert agreement(observed, simulated, normalize=lambda r: r) == []
    s = summary(observed)
    assert s["pods"] == {"batch": {f"pending: {NO_VICTIMS}": 4}, "serve": {"placed": 4}}
    assert len(s["victims"]) == 4 and s["nominated"] == {"serve": 4}


def test_a_different_victim_count_and_a_pending_lws_pod_are_named() -> None:
    observed = outcome(_timeline("vwxyklmn"))
    simulated = outcome(_timeline("abcdefgh", lws_pending_worker=True, victims=3))
    diffs = agreement(observed, simulated)
    assert any(d.startswith("serve/serve-1-1: observed placed on gpu-3, simulated pending") for d in diffs), (
        diffs
    )
    assert any(d.startswith("batch: pods observed but not simulated: 1× pending") for d in diffs), diffs
    assert any(
        d.startswith("victims: pods of batch preempted by pods of serve: observed 4") and "simulated 3" in d
        for d in diffs
    ), diffs


def test_reasons_compared_normalised_or_word_for_word() -> None:
    obs_t = _timeline("vwxyklmn")
    sim_t = _timeline("abcdefgh")
    sim_t.records = [
        r._replace(data=(("reason", NO_VICTIMS.replace("No preemption victims", "Other words")),))
        if r.kind == tl.POD_UNSCHEDULABLE and r.workload == "batch"
        else r
        for r in sim_t.records
    ]
    observed, simulated = outcome(obs_t), outcome(sim_t)
    # The preemption part is what normalize_reason drops: word for word they differ, for all four pods.
    (diff,) = agreement(observed, simulated, normalize=lambda r: r)
    assert diff.startswith("batch: pods observed but not simulated: 4× pending") and "Other words" in diff


def test_lws_victims_by_name_recreations_and_outside_preemptors() -> None:
    def lws_case(victim: str, recreated: int) -> Timeline:
        t = Timeline(horizon=60.0, workloads=[WorkloadInfo("low", "default", "LeaderWorkerSet", "low", 1, 2)])
        for name, role in (("low-0", "leader"), ("low-0-1", "worker")):
            t.add(0.0, tl.POD_CREATED, name, "low", 0, role)
            t.add(0.1, tl.POD_SCHEDULED, name, "low", 0, role, node="gpu-0" if role == "leader" else "gpu-1")
        t.add(30.0, tl.POD_PREEMPTED, victim, "low", 0, "worker", by="urgent", node="gpu-1")
        for _ in range(recreated):
            t.add(30.1, tl.GROUP_RECREATED, "low-0", "low", 0, "leader")
        return t

    o, s = outcome(lws_case("low-0-1", 1)), outcome(lws_case("low-0", 2))
    assert o.victims[0].by_workload == OUTSIDE
    diffs = agreement(o, s)
    assert f"low/low-0: preempted by pods of observed nobody, simulated {OUTSIDE}" in diffs
    assert f"low/low-0-1: preempted by pods of observed {OUTSIDE}, simulated nobody" in diffs
    assert "low/group 0: recreations observed 1, simulated 2" in diffs


def test_the_state_is_the_one_at_the_horizon() -> None:
    t = _timeline("vwxyklmn")
    t.add(25.0, tl.POD_SCHEDULED, "batch-abc-k", "batch", node="gpu-9")
    assert ("placed", None) in {(p.state, p.reason) for p in outcome(t).pods if p.workload == "batch"}
    assert all(p.state == "pending" for p in outcome(t, horizon=20.0).pods if p.workload == "batch")


def test_a_preemptor_with_victims_on_two_nodes_is_found() -> None:
    t = _timeline("vwxyklmn")
    assert preempted_twice(outcome(t)) == {}
    # serve-0-1 preempts again on gpu-3 (where serve-1-1 later binds without preempting).
    t.records = [
        r._replace(data=(("by", "serve-0-1"), ("node", "gpu-3")))
        if r.kind == tl.POD_PREEMPTED and r.subject == "batch-abc-y"
        else r
        for r in t.records
    ]
    twice = preempted_twice(outcome(t))
    assert list(twice) == ["serve-0-1"] and sorted(v.node for v in twice["serve-0-1"]) == ["gpu-1", "gpu-3"]
