"""Where every pod ended up and who preempted whom: the outcome of a shared cluster, compared pod for pod.

On a shared cluster the pods of a Deployment, Job or ReplicaSet-owned workload have random name suffixes,
and kube-scheduler breaks ties between equally good nodes and equally good victims at random
(``selectHost``; ``pickOneNodeForPreemption``'s last rule takes the first of the candidates, whose order
starts at a random offset: K:pkg/scheduler/framework/preemption/preemption.go). So two runs agree when:

- per LeaderWorkerSet, pod by pod (its names are fixed): the same state (placed, pending, succeeded,
  failed, terminating) and, for a pending pod, the same reason;
- per other workload, the same multiset of (state, reason) over its pods;
- the same victims: per (victim's workload, preemptor's workload) the same number of pods preempted, and
  for a LeaderWorkerSet the same victims by name;
- the same number of LWS group recreations per group.

Node names are reported, not compared. The state is each pod life's at the horizon: lives deleted before
it are gone (their preemption is counted among the victims). Both Timelines are read through the one
replay (:mod:`lwssim.analysis.replay`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lwssim import timeline as tl
from lwssim.analysis.compare import normalize_reason, order_lives
from lwssim.analysis.replay import Replay
from lwssim.timeline import Timeline

OUTSIDE = "(not in the scenario)"  # a preemptor whose pod the Timeline does not know


@dataclass(frozen=True)
class PodEnd:
    """One pod life that exists at the horizon."""

    workload: str
    name: str
    group: int
    state: str  # placed | pending | succeeded | failed | terminating
    node: str | None
    reason: str | None  # the scheduler's last message, for a pending pod


@dataclass(frozen=True)
class Victim:
    workload: str
    name: str
    group: int
    node: str
    by: str  # the preemptor pod's name
    by_workload: str


@dataclass
class Outcome:
    pods: list[PodEnd] = field(default_factory=list)
    victims: list[Victim] = field(default_factory=list)
    nominated: Counter[str] = field(default_factory=Counter)  # pods nominated (preemptors), per workload
    recreations: Counter[tuple[str, int]] = field(default_factory=Counter)
    lws: set[str] = field(default_factory=set)  # workloads whose pods have groups (names fixed)


def outcome(timeline: Timeline, horizon: float | None = None) -> Outcome:
    """What ``timeline`` says at ``horizon`` (default: its own)."""
    ordered = order_lives(timeline)
    state = Replay(ordered, horizon)
    out = Outcome()
    succeeded: set[int] = set()
    preempted: list[tl.Record] = []
    nominated: set[tuple[str, str]] = set()
    workload_of: dict[str, str] = {}  # pod name → workload, as lives are created
    for r in state.replayed(ordered.records):
        if r.kind == tl.POD_CREATED:
            workload_of[r.subject] = r.workload
        elif r.kind == tl.POD_PREEMPTED:
            preempted.append(r)
        elif r.kind == tl.POD_NOMINATED:
            nominated.add((r.workload, r.subject))
        elif r.kind == tl.POD_SUCCEEDED:
            life = state.pods.get((r.workload, r.subject))
            if life is not None:
                succeeded.add(id(life))
    for r in preempted:
        by = str(r.get("by") or "")
        node = str(r.get("node") or "")
        out.victims.append(Victim(r.workload, r.subject, r.group, node, by, workload_of.get(by, OUTSIDE)))
    out.nominated = Counter(w for w, _ in nominated)
    for life in state.lives:
        if life.group >= 0:
            out.lws.add(life.workload)
        if life.deleted:
            continue
        if id(life) in succeeded:
            st = "succeeded"
        elif life.deleting:
            st = "terminating"
        elif life.failed:
            st = "failed"
        else:
            st = "placed" if life.node is not None else "pending"
        out.pods.append(
            PodEnd(
                life.workload,
                life.name,
                life.group,
                st,
                life.node,
                life.pending_reason if st == "pending" else None,
            )
        )
    out.recreations = Counter({k: g.recreations for k, g in state.groups.items() if g.recreations})
    return out


def preempted_twice(o: Outcome) -> dict[str, list[Victim]]:
    """Preemptors with victims on more than one node: kube-scheduler v1.34 releases a preemptor from its
    PreEnqueue hold just before it preempts the last victim (``prepareCandidateAsync``), so a retry before
    its informer sees that victim terminating finds the pod eligible again and may preempt on another node
    (kubernetes#134730 checks for the ongoing preemption first; not in v1.34.4)."""
    by: dict[str, list[Victim]] = {}
    for v in o.victims:
        by.setdefault(v.by, []).append(v)
    return {p: vs for p, vs in by.items() if len({v.node for v in vs}) > 1}


def _shown(counts: Counter) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{n}× {_key(k)}" for k, n in sorted(counts.items(), key=lambda kv: str(kv[0])))


def _key(k: tuple[str, str | None]) -> str:
    st, reason = k
    return st if reason is None else f"{st} {reason!r}"


def agreement(
    observed: Outcome,
    simulated: Outcome,
    normalize: Callable[[str | None], str | None] = normalize_reason,
) -> list[str]:
    """Every difference between two outcomes, one sentence each naming the workload and pod (empty when
    they agree). ``normalize`` maps a pending reason before it is compared (identity: word for word)."""
    out: list[str] = []
    lws = observed.lws | simulated.lws
    workloads = sorted({p.workload for p in observed.pods + simulated.pods})
    for w in workloads:
        obs = [p for p in observed.pods if p.workload == w]
        sim = [p for p in simulated.pods if p.workload == w]
        if w in lws:
            by_name_o = {p.name: p for p in obs}
            by_name_s = {p.name: p for p in sim}
            for name in sorted(by_name_o.keys() | by_name_s.keys()):
                o, s = by_name_o.get(name), by_name_s.get(name)
                ko = (o.state, normalize(o.reason)) if o else ("absent", None)
                ks = (s.state, normalize(s.reason)) if s else ("absent", None)
                if ko != ks:
                    out.append(f"{w}/{name}: observed {_key(ko)}{_on(o)}, simulated {_key(ks)}{_on(s)}")
        else:
            co = Counter((p.state, normalize(p.reason)) for p in obs)
            cs = Counter((p.state, normalize(p.reason)) for p in sim)
            if co != cs:
                only_o, only_s = co - cs, cs - co
                out.append(
                    f"{w}: pods observed but not simulated: {_shown(only_o)}; "
                    f"simulated but not observed: {_shown(only_s)} (pods so: observed "
                    f"{_names(obs, only_o, normalize)}; simulated {_names(sim, only_s, normalize)})"
                )
    vo = Counter((v.workload, v.by_workload) for v in observed.victims)
    vs = Counter((v.workload, v.by_workload) for v in simulated.victims)
    for key in sorted(vo.keys() | vs.keys()):
        if vo[key] != vs[key]:
            out.append(
                f"victims: pods of {key[0]} preempted by pods of {key[1]}: observed {vo[key]} "
                f"({_victims(observed, key)}), simulated {vs[key]} ({_victims(simulated, key)})"
            )
    named_o = {(v.workload, v.name): v.by_workload for v in observed.victims if v.workload in lws}
    named_s = {(v.workload, v.name): v.by_workload for v in simulated.victims if v.workload in lws}
    for key in sorted(named_o.keys() | named_s.keys()):
        if named_o.get(key) != named_s.get(key):
            out.append(
                f"{key[0]}/{key[1]}: preempted by pods of observed {named_o.get(key, 'nobody')}, "
                f"simulated {named_s.get(key, 'nobody')}"
            )
    for key in sorted(observed.recreations.keys() | simulated.recreations.keys()):
        o_n, s_n = observed.recreations[key], simulated.recreations[key]
        if o_n != s_n:
            out.append(f"{key[0]}/group {key[1]}: recreations observed {o_n}, simulated {s_n}")
    return out


def _on(p: PodEnd | None) -> str:
    return f" on {p.node}" if p is not None and p.node else ""


def _names(pods: list[PodEnd], keys: Counter, normalize: Callable[[str | None], str | None]) -> str:
    names = [p.name for p in pods if (p.state, normalize(p.reason)) in keys]
    return ", ".join(sorted(names)) or "-"


def _victims(o: Outcome, key: tuple[str, str]) -> str:
    names = [f"{v.name} by {v.by} on {v.node}" for v in o.victims if (v.workload, v.by_workload) == key]
    return "; ".join(names) or "-"


def summary(o: Outcome) -> dict:
    """The outcome as plain data (JSON-ready), for printing beside a comparison."""
    pods: dict[str, dict[str, int]] = {}
    for p in o.pods:
        k = p.state if p.reason is None else f"{p.state}: {p.reason}"
        pods.setdefault(p.workload, {})
        pods[p.workload][k] = pods[p.workload].get(k, 0) + 1
    return {
        "pods": pods,
        "victims": [f"{v.workload}/{v.name} by {v.by_workload}/{v.by} on {v.node}" for v in o.victims],
        "nominated": dict(o.nominated),
        "recreations": {f"{w}/{g}": n for (w, g), n in o.recreations.items()},
    }
