"""StatefulSet controller rules for LWS's leader and worker sets (k8s v1.34.4
pkg/controller/statefulset/, facts Q8; LWS naming in reference §2 and pod_controller.go:358)."""

from __future__ import annotations

from test_engine_support import at, first_t, lws, pod, pool, recs, run, scenario_doc

from lwssim.engine.objects import StatefulSet
from lwssim.timeline import GROUP_RECREATED, POD_CONTAINERS_STARTED, POD_CREATED, POD_DELETED, POD_DELETING


def test_pod_names_leader_g_and_workers_from_ordinal_one() -> None:
    """Leader pods `<lws>-<g>`; worker sts `<lws>-<g>` with ordinals.start=1 ⇒ workers `<lws>-<g>-<w>`,
    w = 1..size-1 (L:pkg/controllers/pod_controller.go:358, reference §2)."""
    world, tl = run(scenario_doc([pool(count=6)], [lws(replicas=2, size=3)]))
    names = sorted(r.subject for r in recs(tl, POD_CREATED))
    assert names == ["llm-0", "llm-0-1", "llm-0-2", "llm-1", "llm-1-1", "llm-1-2"]
    sets = {s.name: s for s in world.store.list("StatefulSet") if isinstance(s, StatefulSet)}
    assert sorted(sets) == ["llm", "llm-0", "llm-1"]
    assert (sets["llm-0"].ordinal_start, sets["llm-0"].replicas) == (1, 2)
    assert sets["llm-0"].owner is pod(world, "llm-0")
    assert {p.role for p in (pod(world, "llm-1"), pod(world, "llm-1-2"))} == {"leader", "worker"}


def test_parallel_pod_management_creates_without_waiting_for_running() -> None:
    """podManagementPolicy Parallel (monotonic=false): every missing ordinal is created in one sync, no
    wait for Running/Ready (stateful_set_control.go runForAll, Q8)."""
    _, tl = run(scenario_doc([pool(count=8)], [lws(replicas=2, size=4)]))
    created = [r.t for r in recs(tl, POD_CREATED)]
    first_running = min(r.t for r in recs(tl, POD_CONTAINERS_STARTED))
    assert len(created) == 8
    assert max(created) < first_running
    assert max(created) < 2.0


def test_deleted_pod_recreated_by_its_statefulset_restart_policy_none() -> None:
    """restartPolicy None: a deleted worker is only recreated by its sts, once the old object is gone
    (a name held by a terminating pod is not reused; processReplica, Q8); no group recreation (§3.8)."""
    doc = scenario_doc(
        [pool(count=2)],
        [lws(size=2, restartPolicy="None")],
        timing={"imagePull": {"cold": "60s"}, "modelLoad": "100s", "termination": "30s"},
    )
    _, tl = run(doc, before_run=lambda w: at(w, 600, lambda: w.gc.delete(pod(w, "llm-0-1"))))
    created = [r.t for r in recs(tl, POD_CREATED, "llm-0-1")]
    assert len(created) == 2
    assert 630.0 <= created[1] <= 632.0
    assert len(recs(tl, POD_CREATED, "llm-0")) == 1
    assert not recs(tl, GROUP_RECREATED)


def test_deletion_is_recorded_in_the_timeline() -> None:
    """PodDeleting at the deletionTimestamp, PodDeleted when the object is gone (timeline.py)."""
    doc = scenario_doc(
        [pool(count=2)],
        [lws(size=2, restartPolicy="None")],
        timing={"imagePull": {"cold": "60s"}, "modelLoad": "100s", "termination": "30s"},
    )
    _, tl = run(doc, before_run=lambda w: at(w, 600, lambda: w.gc.delete(pod(w, "llm-0-1"))))
    assert first_t(tl, POD_DELETING, "llm-0-1") == 600.0
    assert first_t(tl, POD_DELETED, "llm-0-1") == 630.0


def test_deleted_worker_recreates_group_by_default() -> None:
    """RecreateGroupOnPodRestart: a worker's deletionTimestamp makes LWS foreground-delete the leader;
    the leader sts then recreates `<lws>-<g>` (reference §3.8, pod_controller.go:201-239)."""
    doc = scenario_doc(
        [pool(count=2)],
        [lws(size=2)],
        timing={"imagePull": {"cold": "60s"}, "modelLoad": "100s", "termination": "30s"},
    )
    world, tl = run(doc, before_run=lambda w: at(w, 600, lambda: w.gc.delete(pod(w, "llm-0-1"))))
    (recreated,) = recs(tl, GROUP_RECREATED)
    assert (recreated.subject, recreated.t) == ("llm-0", 600.0)
    leaders = [r.t for r in recs(tl, POD_CREATED, "llm-0")]
    assert len(leaders) == 2 and leaders[1] >= 630.0
    assert len(recs(tl, POD_CREATED, "llm-0-1")) == 2
    assert pod(world, "llm-0-1").ready
