"""Observed Timeline against simulated Timeline: does the simulator say what the cluster did?

`lwssim compare OBSERVED --scenario S` simulates S and sets both Timelines side by side, per workload,
group and pod. The observed side is the truth: relative errors are ``|sim - obs| / obs``.

What is compared, and why so:

- **Placement or pending**, per pod (the headline exact-match rate). Node *names* are not compared for the
  verdict: kube-scheduler breaks score ties at random (``selectHost`` reservoir-samples among the
  best-scoring nodes, K:pkg/scheduler/schedule_one.go), so two equally good placements differ in node
  names run to run; the simulator breaks them with its seeded generator. Same-node and same-domain rates
  are reported for information.
- **Topology**, per group: the number of topology domains the group spans (1 for an exclusive-topology
  group). The domain key is the workload's ``exclusive-topology`` annotation, else the innermost generated
  topology level of the scenario. Node labels come from the observed Timeline's ``cluster.nodeLabels``
  when the recorder wrote them, else from the scenario (right when, like the emulator, node names match).
- **Why pending**: kube-scheduler's message up to its preemption suffix. The real scheduler appends
  ``preemption: 0/N nodes are available: ...`` (K:pkg/scheduler/framework/preemption/preemption.go,
  ``PostFilter``) whatever the priorities; lwssim models no preemption, so that part is dropped.
- **Phase times**, per pod (created, scheduled, initialized, containers started, ready; first life of the
  pod). Reported, not asserted: a KWOK node marks a pod ``Initialized`` as soon as it is bound and puts
  the whole start delay between Initialized and Running, while the simulator puts the image pull before
  Initialized. Only time to serving is asserted.
- **Time to serving**, per group (each time it starts serving, in order, so a recreated group is
  compared on when it serves again) and per workload (time to all serving). ``--tolerance`` bounds the
  worst relative error; exit 1 beyond it or on any placement/pending or group-count mismatch.

Known, explained differences (the simulator is right by construction, or reality adds latency):

- Control-plane latency: the simulator has none between a pod's Ready and its group serving, and its
  controllers react instantly; a real control plane adds about 0.1-1 s per hop (watch, workqueue,
  status update). At second-scale timings this is the main source of error.
- Observed timestamps: the observer (lwssim.kube.observe) takes phase times from the API server's
  1-second timestamps, measured from a sub-second apply moment, so observed phases read up to 1 s early
  (measured on the emulator: plain placement 29.8 s observed vs 30.0 s simulated).
- Emulator only: KWOK's pod-delete stage empties *all* finalizers, the GC's ``foregroundDeletion``
  included, so a leader that LWS deletes in foreground (L:pkg/controllers/pod_controller.go:231)
  vanishes before its workers; the recreated leader is then deleted again by the old, still-terminating
  workers (the lws#804 race) - 4-11 recreations in ~4 s instead of 1, re-serving ~4 s later. A real
  kubelet never removes that finalizer, so the simulator's single recreation stands; the agreement test
  installs a delete stage without ``finalizers: empty``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from lwssim import timeline as tl
from lwssim.analysis.replay import Replay, replay, sec
from lwssim.analysis.report import name_key
from lwssim.model.scenario import Scenario
from lwssim.timeline import Timeline

DEFAULT_TOLERANCE = 0.05
PHASES = ("created", "scheduled", "initialized", "started", "ready")
HOSTNAME = "kubernetes.io/hostname"
PREEMPTION_SUFFIX = " preemption:"


@dataclass
class PodFacts:
    """One pod as a Timeline tells it: first time of each phase, where it ended up, and why not."""

    name: str
    workload: str
    group: int
    role: str
    lives: int = 0
    node: str | None = None
    deleted: bool = False
    pending_reason: str | None = None
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def placed(self) -> bool:
        return self.node is not None

    @property
    def state(self) -> str:
        if self.deleted:
            return "gone"
        return "placed" if self.placed else "pending"


def order_lives(timeline: Timeline) -> Timeline:
    """Observed records with a pod ``uid``, each life of a same-named pod kept before the next one.

    An observer stamps creation with the API server's 1-second timestamps and deletion with its own
    clock, so the next life of a recreated pod (same name) can sort before the old life's deletion; a
    replay by name would then delete the new pod. Records of an older uid are moved before the newer
    life's creation. Timelines without uids (the simulator's, whose lives never overlap) are unchanged.
    """
    out: list[tl.Record] = []
    created_at: dict[tuple[str, str], int] = {}  # index in ``out`` of the current life's PodCreated
    current: dict[tuple[str, str], object] = {}
    for r in sorted(timeline.records, key=lambda r: r.t):
        uid = r.get("uid")
        key = (r.workload, r.subject)
        if uid is None or r.group < 0:
            out.append(r)
            continue
        if r.kind == tl.POD_CREATED:
            current[key] = uid
            created_at[key] = len(out)
            out.append(r)
        elif current.get(key, uid) != uid and key in created_at:
            i = created_at[key]
            out.insert(i, tl.Record(out[i].t, r.kind, r.subject, r.workload, r.group, r.role, r.data))
            for k, j in created_at.items():
                if j >= i:
                    created_at[k] = j + 1
        else:
            out.append(r)
    return replace(timeline, records=out)


def pod_facts(state: Replay) -> dict[tuple[str, str], PodFacts]:
    """Every pod that ever existed, keyed (workload, name), from the replay's lives: the latest life
    decides node and reason; each phase time is the first over all lives."""
    pods: dict[tuple[str, str], PodFacts] = {}
    for life in state.lives:
        if not life.workload or life.group < 0:
            continue
        key = (life.workload, life.name)
        pod = pods.get(key)
        if pod is None:
            pod = pods[key] = PodFacts(life.name, life.workload, life.group, life.role)
        pod.lives += 1
        pod.node, pod.deleted = life.node, life.deleted
        pod.pending_reason = None if life.node is not None else life.pending_reason
        times = (
            life.created_at,
            life.scheduled_at,
            life.initialized_at,
            life.started_at,
            life.first_ready_at,
        )
        for phase, t in zip(PHASES, times, strict=True):
            if t is not None:
                pod.phases.setdefault(phase, t)
    return pods


def serving_starts(state: Replay) -> dict[tuple[str, int], list[float]]:
    """Each time each group started serving, in order (the report's own definition of serving)."""
    return {k: list(g.serving_starts) for k, g in state.groups.items() if g.serving_starts}


def time_to_all_serving(state: Replay) -> dict[str, float | None]:
    return {name: sec(w.all_serving_at) for name, w in state.workloads.items()}


def recreations(state: Replay) -> dict[tuple[str, int], int]:
    return {k: g.recreations for k, g in state.groups.items()}


def normalize_reason(reason: str | None) -> str | None:
    """kube-scheduler's FitError message without the preemption part lwssim does not model."""
    if reason is None:
        return None
    head = reason.split(PREEMPTION_SUFFIX, 1)[0].strip()
    return head


def relative_error(observed: float | None, simulated: float | None) -> float | None:
    """``|sim - obs| / obs``; None when either side never got there (a mismatch of its own).

    Observed times under a second are measured against 1 s, so an instant event does not divide by zero.
    """
    if observed is None or simulated is None:
        return None
    return abs(simulated - observed) / max(observed, 1.0)


# -- topology ---------------------------------------------------------------------------------------------


def _node_labels(scenario: Scenario) -> dict[str, dict[str, str]]:
    return {n.name: dict(n.labels) for n in scenario.cluster.nodes}


def domain_key(scenario: Scenario, workload: str) -> str:
    """The label key groups are compared by: exclusive topology, else the innermost generated level."""
    w = scenario.workload(workload)
    if w is not None and w.lws.exclusive_topology:
        return w.lws.exclusive_topology
    levels = [lvl.key for p in scenario.cluster.pools for lvl in p.topology]
    return levels[-1] if levels else HOSTNAME


def _observed_labels(observed: Timeline, scenario: Scenario) -> dict[str, dict[str, str]]:
    raw = observed.cluster.get("nodeLabels")
    if isinstance(raw, dict) and raw:
        return {str(n): {str(k): str(v) for k, v in dict(labels).items()} for n, labels in raw.items()}
    return _node_labels(scenario)


def _domain(labels: dict[str, dict[str, str]], node: str | None, key: str) -> str | None:
    if node is None:
        return None
    if key == HOSTNAME:
        return labels.get(node, {}).get(key, node)
    return labels.get(node, {}).get(key)


# -- the comparison ---------------------------------------------------------------------------------------


def _pod_row(
    obs: PodFacts | None,
    sim: PodFacts | None,
    obs_domain: str | None,
    sim_domain: str | None,
) -> dict:
    o_state = obs.state if obs else "absent"
    s_state = sim.state if sim else "absent"
    o_reason = normalize_reason(obs.pending_reason) if obs and not obs.placed else None
    s_reason = normalize_reason(sim.pending_reason) if sim and not sim.placed else None
    phases = {}
    for name in PHASES:
        ot = obs.phases.get(name) if obs else None
        st = sim.phases.get(name) if sim else None
        phases[name] = {
            "observed": _r(ot),
            "simulated": _r(st),
            "deltaSeconds": _r(st - ot) if ot is not None and st is not None else None,
        }
    ref = obs or sim
    assert ref is not None
    return {
        "name": ref.name,
        "role": ref.role,
        "group": ref.group,
        "observed": {
            "state": o_state,
            "node": obs.node if obs else None,
            "domain": obs_domain,
            "pendingReason": o_reason,
            "lives": obs.lives if obs else 0,
        },
        "simulated": {
            "state": s_state,
            "node": sim.node if sim else None,
            "domain": sim_domain,
            "pendingReason": s_reason,
            "lives": sim.lives if sim else 0,
        },
        "placementMatch": o_state == s_state,
        "reasonMatch": o_reason == s_reason,
        "sameNode": obs is not None and sim is not None and obs.placed and obs.node == sim.node,
        "sameDomain": obs_domain is not None and obs_domain == sim_domain,
        "phases": phases,
    }


def _group_row(
    key: tuple[str, int],
    pods: list[dict],
    obs_starts: list[float],
    sim_starts: list[float],
    obs_recreations: int,
    sim_recreations: int,
) -> dict:
    o_domains = {p["observed"]["domain"] for p in pods if p["observed"]["state"] == "placed"}
    s_domains = {p["simulated"]["domain"] for p in pods if p["simulated"]["state"] == "placed"}
    errors = [relative_error(o, s) for o, s in zip(obs_starts, sim_starts, strict=False)]
    return {
        "index": key[1],
        "servingAt": {"observed": [_r(t) for t in obs_starts], "simulated": [_r(t) for t in sim_starts]},
        "relativeErrors": [_r(e, 4) for e in errors],
        "recreations": {"observed": obs_recreations, "simulated": sim_recreations},
        "domains": {"observed": len(o_domains - {None}), "simulated": len(s_domains - {None})},
        "servingCountMatch": len(obs_starts) == len(sim_starts),
        "recreationsMatch": obs_recreations == sim_recreations,
        "domainCountMatch": len(o_domains - {None}) == len(s_domains - {None}),
    }


def compare(
    observed: Timeline, simulated: Timeline, scenario: Scenario, tolerance: float = DEFAULT_TOLERANCE
) -> dict:
    """The Comparison document (JSON-ready): per workload, group and pod, plus the summary and verdict.

    The simulation is cut at the observed horizon: what the observer did not wait for is not compared.
    """
    simulated = order_lives(replace(simulated, horizon=min(simulated.horizon, observed.horizon)))
    observed = order_lives(observed)
    obs, sim = replay(observed), replay(simulated)
    obs_pods, sim_pods = pod_facts(obs), pod_facts(sim)
    obs_starts, sim_starts = serving_starts(obs), serving_starts(sim)
    obs_rec, sim_rec = recreations(obs), recreations(sim)
    obs_ttas, sim_ttas = time_to_all_serving(obs), time_to_all_serving(sim)
    sim_labels, obs_labels = _node_labels(scenario), _observed_labels(observed, scenario)
    names = sorted(
        {k[0] for k in obs_pods}
        | {k[0] for k in sim_pods}
        | {w.name for w in observed.workloads}
        | {w.name for w in simulated.workloads},
        key=name_key,
    )
    workloads, all_rel, mismatches = [], [], []
    pod_total = pod_match = same_node = same_domain = 0
    for name in names:
        key_ = domain_key(scenario, name)
        w = scenario.workload(name)
        exclusive = bool(w and w.lws.exclusive_topology)
        pod_rows = []
        for pkey in sorted(
            {k for k in obs_pods if k[0] == name} | {k for k in sim_pods if k[0] == name},
            key=lambda k: name_key(k[1]),
        ):
            o, s = obs_pods.get(pkey), sim_pods.get(pkey)
            row = _pod_row(
                o,
                s,
                _domain(obs_labels, o.node if o else None, key_),
                _domain(sim_labels, s.node if s else None, key_),
            )
            pod_rows.append(row)
            pod_total += 1
            pod_match += row["placementMatch"]
            same_node += row["sameNode"]
            same_domain += row["sameDomain"]
            if not row["placementMatch"]:
                mismatches.append(
                    f"{name}/{row['name']}: placement observed {row['observed']['state']}, "
                    f"simulated {row['simulated']['state']}"
                )
            elif not row["reasonMatch"]:
                mismatches.append(
                    f"{name}/{row['name']}: pending reason observed "
                    f"{row['observed']['pendingReason']!r}, simulated {row['simulated']['pendingReason']!r}"
                )
        groups = sorted(
            {g for (w, g) in obs_starts if w == name}
            | {g for (w, g) in sim_starts if w == name}
            | {r["group"] for r in pod_rows}
        )
        group_rows = []
        for g in groups:
            k = (name, g)
            row = _group_row(
                k,
                [p for p in pod_rows if p["group"] == g],
                obs_starts.get(k, []),
                sim_starts.get(k, []),
                obs_rec.get(k, 0),
                sim_rec.get(k, 0),
            )
            group_rows.append(row)
            checks = [
                ("times it started serving", row["servingCountMatch"]),
                ("recreations", row["recreationsMatch"]),
            ]
            if exclusive:  # without it, the domains a group spans depend on score ties (informative only)
                checks.append((f"{key_} domains spanned", row["domainCountMatch"]))
            for what, ok in checks:
                if not ok:
                    field_ = {"times it started serving": "servingAt", "recreations": "recreations"}.get(
                        what, "domains"
                    )
                    mismatches.append(
                        f"{name}/group {g}: {what} observed {_side(row[field_], 'observed')}, "
                        f"simulated {_side(row[field_], 'simulated')}"
                    )
        rel = [e for r in group_rows for e in r["relativeErrors"] if e is not None]
        ttas_err = relative_error(obs_ttas.get(name), sim_ttas.get(name))
        if (obs_ttas.get(name) is None) != (sim_ttas.get(name) is None):
            mismatches.append(
                f"{name}: all serving observed {obs_ttas.get(name) is not None}, "
                f"simulated {sim_ttas.get(name) is not None}"
            )
        if ttas_err is not None:
            rel.append(ttas_err)
        all_rel.extend(rel)
        workloads.append(
            {
                "name": name,
                "domainKey": key_,
                "timeToAllServingSeconds": {
                    "observed": obs_ttas.get(name),
                    "simulated": sim_ttas.get(name),
                    "relativeError": _r(ttas_err, 4),
                },
                "timeToServingRelativeError": _stats(rel),
                "groups": group_rows,
                "pods": pod_rows,
            }
        )
    overall = _stats(all_rel)
    worst = overall["worst"]
    beyond = worst is not None and worst > tolerance
    if beyond:
        mismatches.append(
            f"time to serving: worst relative error {worst:.1%} exceeds tolerance {tolerance:.1%}"
        )
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Comparison",
        "scenario": scenario.name,
        "seed": simulated.seed,
        "tolerance": tolerance,
        "summary": {
            "pods": pod_total,
            "placementMatchRate": _r(pod_match / pod_total, 4) if pod_total else None,
            "sameNodeRate": _r(same_node / pod_total, 4) if pod_total else None,
            "sameDomainRate": _r(same_domain / pod_total, 4) if pod_total else None,
            "timeToServingRelativeError": overall,
            "agree": not mismatches,
        },
        "mismatches": mismatches,
        "workloads": workloads,
        "notes": list(observed.warnings),
    }


def load_observed(path: str) -> Timeline:
    """Read a recorded Timeline (``apply --record``); bad input raises InputError (exit 2)."""
    import json

    from lwssim.errors import InputError

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, "", f"not a JSON Timeline: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "Timeline":
        raise InputError(
            path, "kind", "not a Timeline (write one with `lwssim apply --observe --record FILE`)"
        )
    try:
        return Timeline.from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, "records", f"malformed Timeline: {exc}") from None


def _side(value: object, side: str) -> object:
    return value[side] if isinstance(value, dict) else value


def _stats(errors: Iterable[float]) -> dict:
    xs = sorted(errors)
    if not xs:
        return {"n": 0, "median": None, "worst": None}
    return {"n": len(xs), "median": _r(statistics.median(xs), 4), "worst": _r(xs[-1], 4)}


def _r(v: float | None, digits: int = 3) -> float | None:
    if v is None:
        return None
    return round(float(v), digits) + 0.0
