"""The LWS reconcilers' event filters (engine/lws/predicates.py) and the per-version records
(engine/lws/versions.py): which store events enqueue which key, and for which LWS version."""

from __future__ import annotations

import dataclasses

import pytest
import simpy

from lwssim.engine.lws.labels import NAME
from lwssim.engine.lws.predicates import (
    LEADERWORKERSET_RULES,
    POD_RULES,
    LeaderWorkerSetEventFilter,
    PodEventFilter,
)
from lwssim.engine.lws.versions import V0_7, V0_8, V0_9, V0_10, VERSIONS, LWSVersion, lws_version
from lwssim.engine.objects import Pod, StatefulSet
from lwssim.engine.store import Store
from lwssim.engine.workqueue import WorkQueue
from lwssim.model.scenario import ControllerConfig


@pytest.mark.parametrize(
    ("declared", "want"),
    [
        ("v0.6.2", V0_7),
        ("v0.7.0", V0_7),
        ("v0.8.1", V0_8),
        ("v0.9.0", V0_9),
        ("v0.10.0", V0_10),
        ("v0.12", V0_10),
    ],
)
def test_a_version_reads_the_newest_record_not_newer_than_it(declared: str, want: LWSVersion) -> None:
    assert lws_version(ControllerConfig(lws_version=declared)) is want


# The release each behaviour arrived in: lws#705 (group readiness), lws#781 (leader maxUnavailable),
# lws#804/#805 (old leader's workers), lws#778 (surge reclaim) in v0.9; lws#918 (subgroups of one) in v0.10.
ARRIVED = {
    "ready_counts_available_workers": (0, 9),
    "leader_max_unavailable_adds_surge": (0, 9),
    "restart_ignores_previous_leaders_workers": (0, 9),
    "surge_reclaimed_within_max_unavailable": (0, 9),
    "subgroup_of_one_fixed": (0, 10),
}


def test_each_version_differs_from_v0_7_exactly_where_a_release_changed_it() -> None:
    flags = [f.name for f in dataclasses.fields(LWSVersion) if f.name != "minor"]
    assert sorted(flags) == sorted(ARRIVED)
    for version in VERSIONS:
        assert all(getattr(version, f) == (version.minor >= ARRIVED[f]) for f in flags), version
    assert [v.minor for v in VERSIONS] == sorted(v.minor for v in VERSIONS)


def test_every_filter_rule_says_why_and_where_from() -> None:
    for rule in LEADERWORKERSET_RULES + POD_RULES:
        assert rule.reason and rule.source and rule.enqueues and rule.events, rule


class Watched:
    """A store with both event filters on it, and the keys each reconciler was asked to reconcile."""

    def __init__(self, version: LWSVersion, volcano: bool = False) -> None:
        self.env = simpy.Environment()
        self.store = Store(lambda: self.env.now)
        self.lws_keys: list[str] = []
        self.pod_keys: list[str] = []
        self.changed: dict[str, dict[int, Pod]] = {}
        lws_queue = WorkQueue(self.env, self._reconcile_lws)
        LeaderWorkerSetEventFilter(self.store, lws_queue, version, self.changed)
        PodEventFilter(self.store, WorkQueue(self.env, self.pod_keys.append), volcano)

    def _reconcile_lws(self, key: str) -> None:
        self.lws_keys.append(key)
        self.changed.pop(key, None)  # what the LWS reconciler's run consumes

    def drain(self) -> tuple[list[str], list[str]]:
        self.env.run()
        got = (list(self.lws_keys), list(self.pod_keys))
        self.lws_keys.clear()
        self.pod_keys.clear()
        return got

    def group(self) -> tuple[Pod, StatefulSet]:
        leader = Pod(kind="Pod", name="llm-0", namespace="ns", lws="llm", role="leader", labels={NAME: "llm"})
        self.store.create(leader)
        workers = StatefulSet(
            kind="StatefulSet", name="llm-0", namespace="ns", owner=leader, lws="llm", role="worker"
        )
        workers.replicas = 3
        self.store.create(workers)
        return leader, workers


def test_a_worker_sets_status_counters_reach_the_lws_reconciler_only_when_readiness_reads_them() -> None:
    for version, counted in ((V0_7, "status_replicas"), (V0_9, "available_replicas")):
        w = Watched(version)
        _, workers = w.group()
        assert w.drain() == (["ns/llm"], ["ns/llm-0"])  # ADDED: both reconcilers
        w.store.update(workers)  # nothing changed
        assert w.drain() == ([], [])
        other = "available_replicas" if counted == "status_replicas" else "status_replicas"
        setattr(workers, other, 3)  # a counter this version's StatefulsetReady does not read
        w.store.update(workers)
        assert w.drain() == ([], [])
        setattr(workers, counted, 3)
        w.store.update(workers)
        assert w.drain() == (["ns/llm"], [])  # the pod reconciler reads only whether it exists


def test_a_changed_leader_lets_the_next_worker_set_update_through() -> None:
    """The LWS reconciler does not watch pods; it reads changed leaders when a StatefulSet event runs it."""
    w = Watched(V0_7)
    leader, workers = w.group()
    w.drain()
    leader.ready = True
    w.store.update(leader)
    assert w.drain()[0] == []
    w.store.update(workers)
    assert w.drain()[0] == ["ns/llm"]


def test_with_volcano_every_worker_set_update_reaches_the_pod_reconciler() -> None:
    w = Watched(V0_7, volcano=True)
    _, workers = w.group()
    w.drain()
    w.store.update(workers)
    assert w.drain() == ([], ["ns/llm-0"])


def test_workers_reach_the_pod_reconciler_only_to_restart_the_group() -> None:
    w = Watched(V0_7)
    w.group()
    w.drain()
    worker = Pod(kind="Pod", name="llm-0-1", namespace="ns", lws="llm", role="worker", labels={NAME: "llm"})
    w.store.create(worker)
    unlabelled = Pod(kind="Pod", name="other", namespace="ns", role="worker", restart_count=1)
    w.store.create(unlabelled)
    assert w.drain()[1] == []
    worker.restart_count = 1
    w.store.update(worker)
    assert w.drain()[1] == ["ns/llm-0-1"]
    w.store.remove(worker)
    assert w.drain()[1] == []
