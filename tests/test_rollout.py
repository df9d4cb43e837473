"""Rolling updates (issue 4 item 5): the leader StatefulSet partition as LWS v0.7 moves it, checked
against the LWS integration tests (kubernetes-sigs/lws v0.7.0
pkg/controllers/leaderworkerset_controller.go rollingUpdateParameters,
test/integration/controllers/leaderworkerset_test.go)."""

from __future__ import annotations

import pytest
from support import build
from support import recs as records

from lwssim.analysis.report import build_report
from lwssim.engine.lws.controllers.leaderworkerset import rolling_update_partition, rolling_update_replicas
from lwssim.engine.store import MODIFIED

NODES = {"cluster": {"nodePools": [{"name": "h100", "count": 14, "capacity": {"nvidia.com/gpu": 8}}]}}


def patch(at: str, rev: str = "2", **extra) -> dict:
    spec = {**extra, "leaderWorkerTemplate": {"workerTemplate": {"metadata": {"annotations": {"rev": rev}}}}}
    return {"at": at, "patch": {"workload": "llm", "spec": spec}}


def rollout(tmp_path, events: list, lws: dict | None = None, spec: dict | None = None):
    """Run N=4 groups with ``events``; return the leader StatefulSet (partition, replicas) steps after 1h."""
    world = build(tmp_path, {**NODES, "events": events, **(spec or {})}, {"replicas": 4, **(lws or {})})
    steps: list[tuple[int, int]] = []

    def watch(event: str, obj) -> None:
        if event == MODIFIED and obj.role == "leader" and world.env.now >= 3600:
            step = (obj.partition, obj.replicas)
            if not steps or steps[-1] != step:
                steps.append(step)

    world.store.watch("StatefulSet", watch)
    timeline = world.run()
    return steps, timeline, build_report(timeline)


def strategy(**cfg) -> dict:
    return {"rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": cfg}}


def test_default_strategy_moves_partition_4_3_2_1_0__ref_3_9_leaderworkerset_test_526(tmp_path):
    steps, tl, report = rollout(tmp_path, [patch("1h")])
    assert [p for p, _ in steps] == [4, 3, 2, 1, 0]
    assert {s for _, s in steps} == {4}
    w = report["workloads"][0]
    assert w["groupsUpdated"] == 4 and w["groupsServing"] == 4
    [ro] = w["rollouts"]
    assert ro["startedAtSeconds"] == 3600.0 and ro["finishedAtSeconds"] is not None
    # v0.7 counts a group ready once its leader is Ready (lws#705): serving dips to N-2
    assert ro["minServing"] == 2


def test_one_leader_at_a_time_from_the_highest_index__ref_3_9_statefulset_rolling_update(tmp_path):
    _, tl, _ = rollout(tmp_path, [patch("1h")])
    leaders = [
        r.subject for r in tl.records if r.kind == "PodDeleting" and r.role == "leader" and r.t >= 3600
    ]
    assert leaders == ["llm-3", "llm-2", "llm-1", "llm-0"]


def test_max_unavailable_2_sets_partition_2_at_once__ref_3_9_leaderworkerset_test_624(tmp_path):
    steps, tl, _ = rollout(tmp_path, [patch("1h")], strategy(maxUnavailable=2))
    assert [p for p, _ in steps] == [4, 2, 1, 0]
    # without the MaxUnavailableStatefulSet gate the StatefulSet still replaces one leader at a time
    deleted = [r.t for r in tl.records if r.kind == "PodDeleting" and r.role == "leader" and r.t >= 3600]
    first_two = deleted[:2]
    assert first_two[1] > first_two[0]


def test_max_unavailable_2_with_the_gate_replaces_two_leaders_together__ref_3_9_MaxUnavailableStatefulSet(
    tmp_path,
):
    gate = {"controller": {"featureGates": {"MaxUnavailableStatefulSet": True}}}
    _, tl, _ = rollout(tmp_path, [patch("1h")], strategy(maxUnavailable=2), gate)
    deleted = [r for r in tl.records if r.kind == "PodDeleting" and r.role == "leader" and r.t >= 3600]
    assert [r.subject for r in deleted[:2]] == ["llm-3", "llm-2"] and deleted[0].t == deleted[1].t


def test_max_surge_1_adds_group_4_and_removes_it_last__ref_3_9_leaderworkerset_test_983(tmp_path):
    steps, tl, report = rollout(tmp_path, [patch("1h")], strategy(maxUnavailable=1, maxSurge=1))
    assert steps[:2] == [(4, 5), (3, 5)]
    assert [p for p, _ in steps] == [4, 3, 2, 1, 0, 0]
    assert steps[-1] == (0, 4)
    surge = records(tl, "PodCreated", "llm-4")
    assert surge and surge[0].get("revision") == report["workloads"][0]["rollouts"][0]["revision"]
    assert report["workloads"][0]["groupsUpdated"] == 4


def test_max_unavailable_above_replicas_rolls_everything_at_once__ref_3_9_leaderworkerset_test_702(tmp_path):
    steps, _, _ = rollout(tmp_path, [patch("1h")], strategy(maxUnavailable=5))
    assert [p for p, _ in steps] == [4, 0]


def test_partition_is_a_canary_boundary__ref_3_9_leaderworkerset_test_2010(tmp_path):
    steps, _, report = rollout(tmp_path, [patch("1h")], strategy(maxUnavailable=1, partition=2))
    assert [p for p, _ in steps] == [4, 3, 2]
    w = report["workloads"][0]
    assert w["groupsUpdated"] == 2 and w["rollouts"][0]["finishedAtSeconds"] is None


def test_template_and_replicas_changed_together__ref_3_9_case2_leaderworkerset_test_751(tmp_path):
    steps, _, report = rollout(tmp_path, [patch("1h", replicas=6)])
    assert steps[0] == (4, 6)  # the new groups 4 and 5 start at the new revision
    assert steps[-1] == (0, 6)
    assert report["workloads"][0]["groupsServing"] == 6


def test_replicas_increase_during_rollout_keeps_partition__ref_3_9_case4_leaderworkerset_test_811(tmp_path):
    steps, _, report = rollout(
        tmp_path, [patch("1h"), {"at": "3750s", "scale": {"workload": "llm", "replicas": 6}}]
    )
    i = steps.index((2, 6))
    assert steps[i - 1] == (2, 4)
    assert steps[-1] == (0, 6)
    assert report["workloads"][0]["groupsUpdated"] == 6


def test_new_template_mid_rollout_resets_partition__ref_3_9_case2(tmp_path):
    steps, _, report = rollout(tmp_path, [patch("1h"), patch("3750s", rev="3")])
    parts = [p for p, _ in steps]
    assert parts[:3] == [4, 3, 2] and parts[3] == 4 and parts[-1] == 0
    ros = report["workloads"][0]["rollouts"]
    assert len(ros) == 2 and ros[0]["finishedAtSeconds"] is None and ros[1]["finishedAtSeconds"] is not None


def test_only_template_changes_roll_pods__ref_1_3_revision(tmp_path):
    steps, tl, report = rollout(
        tmp_path, [{"at": "1h", "patch": {"workload": "llm", "spec": {"replicas": 4}}}]
    )
    assert records(tl, "RolloutStarted") == []
    strategy_only = {
        "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 2}}
    }
    _, tl2, _ = rollout(tmp_path, [{"at": "1h", "patch": {"workload": "llm", "spec": strategy_only}}])
    assert records(tl2, "RolloutStarted") == []
    assert not [r for r in tl2.records if r.kind == "PodDeleting" and r.t >= 3600]


def test_partition_drops_past_unready_groups_so_updates_cannot_stick__ref_3_9_lws567():
    # "rolling update with no ready replicas" (leaderworkerset_test.go:1897): nothing ready, one step down,
    # then each updated group that turns ready moves it further although the others stay unready
    assert rolling_update_partition([(False, False)] * 4, 4, 1, 4) == 3
    assert rolling_update_partition([(False, False)] * 3 + [(True, True)], 4, 1, 3) == 2
    assert rolling_update_partition([(False, False)] * 2 + [(True, True)] * 2, 4, 1, 2) == 1
    # partition only moves down
    assert rolling_update_partition([(True, False)] * 4, 4, 1, 2) == 2
    # an updated ready tail lets the next step go below it
    assert rolling_update_partition([(True, False), (True, False), (True, True), (True, True)], 4, 1, 3) == 1
    # a not-ready group below the step base raises the partition: maxUnavailable 1 is used up, nothing rolls
    assert (
        rolling_update_partition([(False, False), (True, False), (True, False), (True, False)], 4, 1, 4) == 4
    )


def _leaders_deleted_together(tmp_path, controller: dict) -> bool:
    tmp_path.mkdir()
    _, tl, _ = rollout(tmp_path, [patch("1h")], strategy(maxUnavailable=2), {"controller": controller})
    deleted = [r for r in tl.records if r.kind == "PodDeleting" and r.role == "leader" and r.t >= 3600]
    return deleted[0].t == deleted[1].t


def test_kubernetes_version_sets_the_max_unavailable_gate_default__kube_features_go(tmp_path):
    """MaxUnavailableStatefulSet: alpha off to v1.34, beta off in v1.35 and v1.36, beta on from v1.37
    (kubernetes pkg/features/kube_features.go at v1.34.4, v1.35.4, v1.36.1, v1.37.2); featureGates wins."""
    assert not _leaders_deleted_together(tmp_path / "a", {"kubernetesVersion": "v1.36"})
    assert _leaders_deleted_together(tmp_path / "b", {"kubernetesVersion": "v1.37.2"})
    off = {"kubernetesVersion": "v1.37", "featureGates": {"MaxUnavailableStatefulSet": False}}
    assert not _leaders_deleted_together(tmp_path / "c", off)


@pytest.mark.parametrize(
    ("n", "surge", "max_unavailable", "unready", "want"),
    [(1, 1, 0, 1, 2), (4, 2, 1, 2, 5), (2, 2, 1, 2, 3), (1, 1, 0, 0, 1), (1, 1, 1, 1, 1), (3, 0, 0, 1, 3)],
)
def test_v0_9_keeps_surge_until_max_unavailable_covers_the_unready__TestCalculateRollingUpdateReplicas(
    n, surge, max_unavailable, unready, want
):
    """The six cases of pkg/controllers/leaderworkerset_controller_test.go at v0.9.0 (lws#778)."""
    assert rolling_update_replicas(n, surge, max_unavailable, unready, v09=True) == want


def test_before_v0_9_surge_goes_one_group_at_a_time__lws_v0_7_0_rollingUpdateParameters():
    assert [rolling_update_replicas(4, 2, 2, u, v09=False) for u in (3, 2, 1, 0)] == [6, 5, 4, 4]
    assert [rolling_update_replicas(4, 2, 2, u, v09=True) for u in (3, 2, 1, 0)] == [6, 4, 4, 4]


def test_v0_9_reclaims_two_surge_groups_at_once_and_keeps_them_with_max_unavailable_0__lws_778(tmp_path):
    def run(version: str, **cfg) -> tuple[list, dict]:
        path = tmp_path / f"{version}-{cfg['maxUnavailable']}"
        path.mkdir()
        steps, _, report = rollout(
            path, [patch("1h")], strategy(**cfg), {"controller": {"lwsVersion": version}}
        )
        return steps, report["workloads"][0]["rollouts"][0]

    v07, _ = run("v0.7.0", maxUnavailable=2, maxSurge=2)
    v09, _ = run("v0.9.0", maxUnavailable=2, maxSurge=2)
    assert [r for _, r in v07[-3:]] == [6, 5, 4] and [r for _, r in v09[-2:]] == [6, 4]
    steps, ro = run("v0.9.0", maxUnavailable=0, maxSurge=1)
    assert steps[-2:] == [(0, 5), (0, 4)]  # the surge group stays until every group is back
    assert ro["minServing"] == 4  # so no group stops serving
