"""What each LWS version does differently, in one place: the controllers read a version's record.

Each version lists only what it changes from the one before (``replace``); a behaviour added by a
later release is a new field, False up to the version before it. ``spec.controller.lwsVersion``
selects the newest record not newer than it (v0.7 for anything older), as the comparisons this
table replaces did.

Version differences outside the controllers live where those components are modelled:
- admission of the LWS object (``lwssim/manifests/lws.py``, webhooks/leaderworkerset_webhook.go):
  restartPolicy RecreateGroupAfterStart from v0.9 and as v0.8's experimental annotation (lws#725),
  partition >= 0 validated from v0.8 (lws#618), at most 1,000,000 replicas from v0.10 (lws#913);
- the preflight check of maxUnavailable 0 before v0.9 (``lwssim/kube/checks.py``, lws#776).
RecreateGroupAfterStart's skip of groups with a Pending pod (lws#726) follows from the policy,
which only those versions admit, so it needs no field here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lwssim.model.scenario import ControllerConfig


@dataclass(frozen=True)
class LWSVersion:
    minor: tuple[int, int]
    # Group readiness (statefulsetutils.StatefulsetReady, §3.7) counts the worker set's
    # availableReplicas; before v0.9 its status.replicas: all worker pods exist, even Pending (lws#705).
    ready_counts_available_workers: bool = False
    # The leader set's maxUnavailable is the LWS's maxUnavailable + maxSurge; before v0.9 maxUnavailable
    # verbatim (lws#781, leaderworkerset_controller.go constructLeaderStatefulSetApplyConfiguration).
    leader_max_unavailable_adds_surge: bool = False
    # handleRestartPolicy ignores a worker whose StatefulSet a previous leader owns; before v0.9 such a
    # worker, deleted with its old group, makes LWS delete the new leader too: a deleted leader's
    # group is recreated twice (lws#804, lws#805; pod_controller.go handleRestartPolicy).
    restart_ignores_previous_leaders_workers: bool = False
    # Surge groups are reclaimed as maxUnavailable allows (replicas + max(unready - maxUnavailable, 0)),
    # several at once, and a rollout that also scales up adds no temporary surge group; before v0.9 one at
    # a time (replicas + max(unready - 1, 0)) and scale-up went through the surge (lws#778;
    # leaderworkerset_controller.go calculateRollingUpdateReplicas and rollingUpdateParameters, v0.9.0).
    surge_reclaimed_within_max_unavailable: bool = False
    # subGroupSize 1: each worker is a subgroup of its own; before v0.10 getSubGroupIndex put worker 1 in the
    # leader's subgroup 0 and worker i in i - 1 (lws#918, pkg/webhooks/pod_webhook.go v0.10.0).
    subgroup_of_one_fixed: bool = False


V0_7 = LWSVersion((0, 7))
V0_8 = replace(V0_7, minor=(0, 8))
V0_9 = replace(
    V0_8,
    minor=(0, 9),
    ready_counts_available_workers=True,
    leader_max_unavailable_adds_surge=True,
    restart_ignores_previous_leaders_workers=True,
    surge_reclaimed_within_max_unavailable=True,
)
V0_10 = replace(V0_9, minor=(0, 10), subgroup_of_one_fixed=True)
VERSIONS = (V0_7, V0_8, V0_9, V0_10)  # oldest first


def lws_version(config: ControllerConfig) -> LWSVersion:
    """The record for ``config.lws_version``: the newest listed version not newer than it."""
    wanted = config.version_tuple[:2]
    chosen = VERSIONS[0]
    for version in VERSIONS:
        if version.minor <= wanted:
            chosen = version
    return chosen
