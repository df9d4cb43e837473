"""What an autoscaled cluster's nodes did and cost, from a Timeline: ``nodesOverTime`` and ``gpuHours``
(docs/contract.md, "Shared and elastic clusters").

- ``nodeClaims``: instances asked for (created), running (launched), found no capacity (launchFailures),
  nodes deleted (deleted).
- ``nodesOverTime``: Node objects over time (what ``kubectl get nodes`` counts): the nodes at the start,
  then +1 when a node registers, −1 when it is deleted.
- ``nodeHours.provisioned``: node-hours billed, counted as ``gpuHours.provisioned`` counts GPUs (what a
  per-node price multiplies).
- ``gpuHours.provisioned``: GPUs of every instance while it is billed: nodes at the start from 0, a new
  one from its instance running (NodeLaunched) to its deletion or the horizon; a launch that failed
  is not billed.
- ``gpuHours.allocated``: GPUs the pods request, from binding to the pod's end (deleted, succeeded or
  failed) or the horizon.
- ``gpuHours.idleInPartialGroups``: the part of ``allocated`` held by pods of an LWS group while some
  pod of that group was not bound yet: GPUs paid for that serve nothing until the group is whole.
"""

from __future__ import annotations

from lwssim import timeline as tl
from lwssim.analysis.replay import as_int, sec
from lwssim.timeline import Timeline

HOURS_DECIMALS = 3
_POD_END = (tl.POD_DELETED, tl.POD_SUCCEEDED, tl.POD_FAILED)


def capacity_report(timeline: Timeline) -> dict:
    """``nodesOverTime`` and ``gpuHours`` of ``timeline``."""
    horizon = timeline.horizon
    count = as_int(timeline.cluster.get("nodes", 0))
    start_gpus = as_int(timeline.cluster.get("gpus", 0))
    over_time: list[list] = [[0.0, count]]
    billed = start_gpus * horizon  # GPU-seconds
    node_seconds = count * horizon
    launched: dict[str, tuple[float, int]] = {}
    sizes = {w.name: w.size for w in timeline.workloads}
    gpus_of: dict[str, int] = {}
    bound_at: dict[str, float] = {}
    allocated = 0.0
    # per LWS group: pods bound, their GPUs, and since when the group's held GPUs were last counted
    group_bound: dict[tuple[str, int], set[str]] = {}
    group_gpus: dict[tuple[str, int], int] = {}
    group_since: dict[tuple[str, int], float] = {}
    idle = 0.0
    claims = {"created": 0, "launched": 0, "launchFailures": 0, "deleted": 0}
    asked: set[str] = set()  # nodes an autoscaler asked for during the run
    registered: set[str] = set()  # those whose Node exists

    def settle(key: tuple[str, int], t: float) -> None:
        """Count the idle GPU-seconds of group ``key`` up to ``t`` (while it is not whole)."""
        nonlocal idle
        since = group_since.get(key)
        if since is not None and len(group_bound[key]) < sizes.get(key[0], 1):
            idle += group_gpus[key] * (t - since)
        group_since[key] = t

    for r in timeline.records:
        kind = r.kind
        if kind == tl.NODECLAIM_CREATED:
            claims["created"] += 1
            asked.add(r.subject)
        elif kind == tl.NODE_LAUNCH_FAILED:
            claims["launchFailures"] += 1
        elif kind == tl.NODE_REGISTERED:
            registered.add(r.subject)
            count += 1
            over_time.append([r.t, count])
        elif kind == tl.NODE_DELETED:
            claims["deleted"] += 1
            if r.subject in launched:
                t0, gpus = launched.pop(r.subject)
                billed += gpus * (r.t - t0)
                node_seconds += r.t - t0
            else:  # a node there from the start
                billed -= _start_gpus(timeline, r.subject) * (horizon - r.t)
                node_seconds -= horizon - r.t
            if r.subject in registered or r.subject not in asked:  # it had a Node object
                registered.discard(r.subject)
                count -= 1
                over_time.append([r.t, count])
        elif kind == tl.NODE_LAUNCHED:
            claims["launched"] += 1
            launched[r.subject] = (r.t, as_int(r.get("gpus", 0)))
        elif kind == tl.POD_CREATED:
            gpus_of[r.subject] = as_int(r.get("gpus", 0))
        elif kind == tl.POD_SCHEDULED and r.subject not in bound_at:
            bound_at[r.subject] = r.t
            if r.group >= 0 and r.workload:
                key = (r.workload, r.group)
                group_bound.setdefault(key, set())
                group_gpus.setdefault(key, 0)
                settle(key, r.t)
                group_bound[key].add(r.subject)
                group_gpus[key] += gpus_of.get(r.subject, 0)
        elif kind in _POD_END and r.subject in bound_at:
            allocated += gpus_of.get(r.subject, 0) * (r.t - bound_at.pop(r.subject))
            key = (r.workload, r.group)
            if key in group_bound and r.subject in group_bound[key]:
                settle(key, r.t)
                group_bound[key].discard(r.subject)
                group_gpus[key] -= gpus_of.get(r.subject, 0)
    for t0, gpus in launched.values():
        billed += gpus * (horizon - t0)
        node_seconds += horizon - t0
    for name, t0 in bound_at.items():
        allocated += gpus_of.get(name, 0) * (horizon - t0)
    for key in group_bound:
        settle(key, horizon)
    out: dict[str, object] = {
        "nodesOverTime": [[sec(t), n] for t, n in _last_per_instant(over_time)],
        "nodeClaims": claims,
        "nodeHours": {"provisioned": round(node_seconds / 3600, HOURS_DECIMALS)},
        "gpuHours": {
            "provisioned": round(billed / 3600, HOURS_DECIMALS),
            "allocated": round(allocated / 3600, HOURS_DECIMALS),
            "idleInPartialGroups": round(idle / 3600, HOURS_DECIMALS),
        },
    }
    requests = _provisioning_requests(timeline)
    if requests:
        out["provisioningRequests"] = requests
    return out


def _provisioning_requests(timeline: Timeline) -> list[dict]:
    """cluster-autoscaler's ProvisioningRequests: when each was Provisioned (and why), its last
    Provisioned=False message, when it Failed, when its booking expired, how many nodes it asked for."""
    found: dict[str, dict] = {}
    kinds = {
        tl.PROVREQ_PROVISIONED,
        tl.PROVREQ_NOT_PROVISIONED,
        tl.PROVREQ_FAILED,
        tl.PROVREQ_BOOKING_EXPIRED,
    }
    for r in timeline.records:
        if r.kind not in kinds:
            continue
        entry = found.setdefault(
            r.subject,
            {
                "name": r.subject,
                "class": r.get("class_name"),
                "provisionedAtSeconds": None,
                "reason": None,
                "nodesAsked": 0,
                "message": None,
                "failedAtSeconds": None,
                "bookingExpiredAtSeconds": None,
            },
        )
        if r.kind == tl.PROVREQ_PROVISIONED:
            entry.update(provisionedAtSeconds=sec(r.t), reason=r.get("reason"), nodesAsked=r.get("nodes"))
        elif r.kind == tl.PROVREQ_NOT_PROVISIONED:
            entry.update(reason=r.get("reason"), message=r.get("message"))
        elif r.kind == tl.PROVREQ_FAILED:
            entry.update(failedAtSeconds=sec(r.t), reason=r.get("reason"), message=r.get("message"))
        else:
            entry["bookingExpiredAtSeconds"] = sec(r.t)
    return [found[k] for k in sorted(found)]


def _start_gpus(timeline: Timeline, node: str) -> int:
    per_node = timeline.cluster.get("gpusPerNode")
    return as_int(per_node.get(node, 0)) if isinstance(per_node, dict) else 0


def _last_per_instant(points: list[list]) -> list[list]:
    """One point per instant: the count after everything that happened then."""
    out: list[list] = []
    for t, n in points:
        if out and out[-1][0] == t:
            out[-1][1] = n
        else:
            out.append([t, n])
    return out
