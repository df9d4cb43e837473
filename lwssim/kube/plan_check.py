"""The preflight's simulation: the manifests' plan on the snapshot, with the pods already running.

The simulator's own engine (lwssim.engine.world.World) runs on a Scenario whose cluster is the snapshot:
nodes with their cached images (so cached pulls are fast), existing pods holding their resources. Timing
uses the documented defaults (lwssim/model/timing.py); the prediction is for placement first, times second.
"""

from __future__ import annotations

from lwssim import timeline as tl
from lwssim.errors import InputError
from lwssim.kube.checks import FAIL, PASS, WARN, Check, Shortfall
from lwssim.model.cluster import Cluster, ExistingPod, Node
from lwssim.model.lws import Workload
from lwssim.model.scenario import ControllerConfig, Scenario
from lwssim.timeline import Timeline

HORIZON = 2 * 3600.0
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"


def without_own_pods(existing: list[ExistingPod], workloads: list[Workload]) -> list[ExistingPod]:
    """Pods of the LWSs about to be applied would be replaced by the plan: do not count them twice."""
    mine = {(w.namespace, w.lws.name) for w in workloads}
    return [p for p in existing if (p.namespace, dict(p.template.labels).get(NAME_LABEL)) not in mine]


def scenario_on(
    nodes: list[Node], existing: list[ExistingPod], workloads: list[Workload], controller: ControllerConfig
) -> tuple[Scenario, list[str]]:
    """A Scenario on the snapshot; existing pods keep their own priorities (kube-scheduler's preemption is
    simulated)."""
    notes: list[str] = []
    cluster = Cluster(nodes=tuple(nodes), existing_pods=tuple(existing))
    return Scenario(
        "preflight", "preflight", 0, HORIZON, cluster, tuple(workloads), controller=controller
    ), notes


def simulate(
    nodes: list[Node], existing: list[ExistingPod], workloads: list[Workload], controller: ControllerConfig
) -> list[Check]:
    """One Check per workload: groups that would serve, pending reasons, predicted time to serving."""
    from lwssim.analysis.report import build_report
    from lwssim.engine.world import World

    if not workloads:
        return []
    scenario, notes = scenario_on(nodes, without_own_pods(existing, workloads), workloads, controller)
    try:
        timeline = World(scenario).run()
    except InputError as exc:
        return [Check("simulation", WARN, f"cannot simulate: {exc.message}", "")]
    report = build_report(timeline, lws_version=controller.lws_version)
    checks = []
    top = max(
        max(w.lws.worker_template.priority, w.lws.effective_leader_template.priority) for w in workloads
    )
    if any(p.template.priority < top for p in scenario.cluster.existing_pods):  # preemption is possible
        checks.append(preemption_check(timeline, scenario.cluster.existing_pods))
    for w in report["workloads"]:
        pending = [p for p in report["pendingPods"] if p["workload"] == w["name"]]
        reasons = sorted({p["reason"] or "not scheduled yet" for p in pending})
        details = {
            "groupsServing": w["groupsServing"],
            "replicas": w["replicas"],
            "timeToAllServingSeconds": w["timeToAllServingSeconds"],
            "groups": [{"index": g["index"], "servingAtSeconds": g["servingAtSeconds"]} for g in w["groups"]],
            "pendingPods": pending,
            "notes": notes,
        }
        tts = w["timeToAllServingSeconds"]
        if w["groupsServing"] >= w["replicas"]:
            checks.append(
                Check(
                    "simulation",
                    PASS,
                    f"all {w['replicas']} group(s) would serve after about "
                    f"{tts:.0f}s (default timing, cached images counted)",
                    subject=w["name"],
                    details=details,
                )
            )
        else:
            serving, replicas = w["groupsServing"], w["replicas"]
            msg = f"{serving}/{replicas} group(s) of {w['name']} would serve; {len(pending)} pod(s) pending"
            if reasons:
                msg += f": {reasons[0]}"
            lower = f", or lower replicas from {replicas} to {serving}" if serving else ""
            checks.append(
                Check(
                    "simulation",
                    FAIL if serving == 0 else WARN,
                    msg,
                    f"free or add capacity for the {len(pending)} pending pod(s){lower} (see `lwssim plan`)",
                    w["name"],
                    details,
                    [Shortfall("groupsServing", replicas, serving)],
                )
            )
    return checks


MAX_LISTED = 10


def preemption_check(timeline: Timeline, existing: tuple[ExistingPod, ...]) -> Check:
    """Which running pods applying the manifests would preempt (kube-scheduler's DefaultPreemption, as the
    simulation runs it): a warn naming each, its priority and node, and the pod it would make room for."""
    running = {p.name: p for p in existing}
    victims = [
        r for r in timeline.records if r.kind == tl.POD_PREEMPTED and not r.workload and r.subject in running
    ]
    if not victims:
        return Check("preemption", PASS, "no running pod would be preempted")
    rows = [
        {
            "pod": f"{running[r.subject].namespace}/{r.subject}",
            "priority": r.get("priority"),
            "node": r.get("node"),
            "preemptedBy": r.get("by"),
            "byPriority": r.get("by_priority"),
            "atSeconds": round(r.t, 3),
        }
        for r in victims
    ]
    named = ", ".join(
        f"{v['pod']} (priority {v['priority']}, on {v['node']}, for {v['preemptedBy']})"
        for v in rows[:MAX_LISTED]
    )
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return Check(
        "preemption",
        WARN,
        f"applying would preempt {len(rows)} running pod(s): {named}{more}",
        "if those pods must keep running: free capacity first, or give the manifests' pods a lower "
        "PriorityClass",
        details={"victims": rows},
    )
