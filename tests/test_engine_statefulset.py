"""StatefulSet controller rules for LWS's leader and worker sets (kubernetes/kubernetes v1.34.4
pkg/controller/statefulset/stateful_set_control.go; `L:` = kubernetes-sigs/lws at v0.7.0, which
names pods in L:pkg/webhooks/pod_webhook.go and L:pkg/controllers/pod_controller.go:358)."""

from __future__ import annotations

import pytest
from support import at, first_t, lws, pod, pool, recs, run, scenario_doc

from lwssim.engine.objects import StatefulSet
from lwssim.timeline import GROUP_RECREATED, POD_CONTAINERS_STARTED, POD_CREATED, POD_DELETED, POD_DELETING


def test_pod_names_leader_g_and_workers_from_ordinal_one() -> None:
    """Leader pods `<lws>-<g>`; worker sts `<lws>-<g>` with ordinals.start=1 ⇒ workers `<lws>-<g>-<w>`,
    w = 1..size-1 (L:pkg/controllers/pod_controller.go:358)."""
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
    wait for Running/Ready (stateful_set_control.go runForAll)."""
    _, tl = run(scenario_doc([pool(count=8)], [lws(replicas=2, size=4)]))
    created = [r.t for r in recs(tl, POD_CREATED)]
    first_running = min(r.t for r in recs(tl, POD_CONTAINERS_STARTED))
    assert len(created) == 8
    assert max(created) < first_running
    assert max(created) < 2.0


def test_deleted_pod_recreated_by_its_statefulset_restart_policy_none() -> None:
    """restartPolicy None: a deleted worker is only recreated by its sts, once the old object is gone
    (a name held by a terminating pod is not reused; processReplica); no group recreation
    (L:pkg/controllers/pod_controller.go:201-239)."""
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
    assert 630.0 < first_t(tl, POD_DELETED, "llm-0-1") < 631.0  # grace, then the kubelet's DELETE


def test_deleted_worker_recreates_group_by_default() -> None:
    """RecreateGroupOnPodRestart: a worker's deletionTimestamp makes LWS foreground-delete the leader;
    the leader sts then recreates `<lws>-<g>` (L:pkg/controllers/pod_controller.go:201-239)."""
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


@pytest.mark.patches_engine
def test_create_conflict_stops_the_sync_after_its_batch_and_retries_with_backoff() -> None:
    """A worker set recreated while the old group's workers still terminate (background deletion of the
    leader, lws#804): the first create, of ordinal 1, fails with AlreadyExists; slowStartBatch returns
    that batch's error, so ordinals 2.. are not tried, and the set is retried with the workqueue's
    per-item back-off of 5 ms doubling (stateful_set_control.go slowStartBatch, runForAll)."""
    doc = scenario_doc(
        [pool(count=4)],
        [lws(size=4, restartPolicy="None")],
        timing={"imagePull": {"cold": "60s"}, "modelLoad": "100s", "termination": "30s"},
    )
    attempts: list[tuple[float, str, bool]] = []

    def watch_creates(w) -> None:
        create = w.store.create

        def recorded(obj) -> bool:
            ok = create(obj)
            if obj.kind == "Pod" and w.env.now > 600:
                attempts.append((w.env.now, obj.name, ok))
            return ok

        w.store.create = recorded
        at(w, 600, lambda: w.gc.delete(pod(w, "llm-0")))

    world, _ = run(doc, before_run=watch_creates)
    failed = [(t, name) for t, name, ok in attempts if not ok]
    assert len(failed) >= 3
    assert {name for _, name in failed} == {"llm-0-1"}  # one failed create per sync, never 2 or 3
    gaps = [b - a for (a, _), (b, _) in zip(failed, failed[1:], strict=False)]
    assert all(gap >= 0.005 * 2**k for k, gap in enumerate(gaps))  # back-off 5 ms doubling, plus the call
    assert gaps[-1] > 1.5 * gaps[-2] > 2.25 * gaps[-3]  # once the back-off outweighs the API latency
    created = {name for _, name, ok in attempts if ok}
    assert created == {"llm-0", "llm-0-1", "llm-0-2", "llm-0-3"}
    assert all(pod(world, f"llm-0-{i}").ready for i in (1, 2, 3))


def _gated_set(unready: set[int], ready_old: bool = True, partition: int = 0, max_unavailable: int = 1):
    """A bare StatefulSet controller with the MaxUnavailableStatefulSet gate and 4 pods of revision
    "a", Running; those in ``unready`` not Ready. Then the set moves to revision "b"."""
    from lwssim.engine.context import Cluster
    from lwssim.engine.environment import Environment
    from lwssim.engine.nodetable import NodeTable
    from lwssim.engine.objects import RUNNING, PodTemplate
    from lwssim.engine.statefulset import StatefulSetController
    from lwssim.timeline import Timeline

    env = Environment()
    cluster = Cluster(env, NodeTable([]), Timeline(horizon=100))
    store = cluster.store
    ctl = StatefulSetController(cluster, max_unavailable_gate=True)
    template = PodTemplate()
    sts = StatefulSet(
        kind="StatefulSet",
        name="s",
        namespace="default",
        template=template,
        replicas=4,
        update_revision="a",
        current_revision="a",
        revision_templates={"a": template, "b": template},
    )
    store.create(sts)
    env.run(until=1)
    for p in ctl.pods_by_ordinal(sts).values():
        p.node, p.phase, p.ready = "n", RUNNING, p.ordinal not in unready
        store.update(p)
    sts.update_revision, sts.partition, sts.max_unavailable = "b", partition, max_unavailable
    sts.generation += 1
    store.update(sts)
    env.run(until=2)
    return sorted(p.ordinal for p in ctl.pods_by_ordinal(sts).values() if p.deleting)


def test_gate_counts_unavailable_pods_below_the_partition_too() -> None:
    """updateStatefulSetAfterInvariantEstablished counts unavailable pods over every replica: an unready
    pod below the partition uses up maxUnavailable 1, so nothing above it is replaced."""
    assert _gated_set(unready={0}, partition=2) == []
    assert _gated_set(unready=set(), partition=2) == [3]


def test_gate_deletes_old_pods_up_to_the_budget_available_or_not() -> None:
    """Budget maxUnavailable - unavailable = 2 - 1: one deletion, of the highest old pod (unready here);
    every deletion spends the budget (deletedPods++), not only those of available pods."""
    assert _gated_set(unready={3}, max_unavailable=2) == [3]
    assert _gated_set(unready=set(), max_unavailable=2) == [2, 3]


def test_slow_start_batches_double_from_one_up_to_500() -> None:
    """The batch of every slot matches slowStartBatch's loop: sizes 1, 2, 4, … capped at MaxBatchSize
    500 (stateful_set_control.go)."""
    from lwssim.engine.statefulset import MAX_BATCH, _batch_of

    expected, size, slot = [], 1, 0
    while slot < 3000:
        expected += [len(set(expected))] * size
        slot += size
        size = min(2 * size, MAX_BATCH)
    assert [_batch_of(s) for s in range(3000)] == expected[:3000]
