"""Explanations a user can act on, computed from the end of a run: why groups do not serve, what fits.

Three findings, each from the final placement (the scenario's templates on the pods the one replay of
the Timeline ends with, lwssim.analysis.replay, so an observed Timeline works too):

- partial placement: without a gang scheduler kube-scheduler binds a group's pods one at a time, so a
  group can hold GPUs while some of its pods stay Pending and it never serves;
- exclusive-topology domain too small: with ``leaderworkerset.sigs.k8s.io/exclusive-topology`` every pod
  of a group must share the leader's domain and no two groups share one (pod (anti-)affinity the LWS
  webhook adds, docs/lws-v0.7-semantics.md §3.5), so a domain that cannot hold a whole group strands any
leader put there;
- fragmentation: free GPUs that cannot hold one more group because they are scattered across nodes or
  domains (how many more groups of each workload fit, and how many GPUs stay stranded).

"How many more groups fit" places the leader and the workers on nodes whose taints, node selector and
required node affinity admit them and that are up, with each template's own requests (leader and
worker may differ); inter-pod affinity other than exclusive topology is not considered.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from lwssim import timeline as tl
from lwssim.analysis.replay import GROUP_KINDS, Replay, replay, sec
from lwssim.analysis.report import name_key
from lwssim.engine.lws.labels import GROUP_KEY, revision_key
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.scheduling.plugins import node_affinity_mask, taint_mask, unschedulable_mask
from lwssim.model.cluster import Node
from lwssim.model.kueue import QUEUE_LABEL
from lwssim.model.lws import LeaderWorkerSetSpec, Workload
from lwssim.model.pod import PodTemplate
from lwssim.model.quantity import GPU, format_duration
from lwssim.model.scenario import Scenario
from lwssim.timeline import Timeline

MAX_EXTRA_GROUPS = 10_000  # stop counting beyond this many: "at least" is enough to act on
MAX_NAMED = 4


@dataclass
class FinalPod:
    name: str
    workload: str
    namespace: str
    group: int
    role: str
    template: PodTemplate
    labels: dict[str, str] = field(default_factory=dict)
    node: str | None = None
    pending_reason: str | None = None
    deleting: bool = False


@dataclass
class FinalState:
    """Nodes (in NodeTable order), what is requested on each at the end, and the pods still there."""

    table: NodeTable
    used: np.ndarray  # (nodes, resources)
    down: np.ndarray  # bool per node: not answering at the end
    pods: list[FinalPod]

    @property
    def free(self) -> np.ndarray:
        return np.maximum(self.table.alloc - self.used, 0)

    def vector(self, template: PodTemplate) -> np.ndarray | None:
        """The template's requests as a row (one pod slot included); None if no node has a resource."""
        vec, unknown = self.table.request_vector(template.requests())
        return None if unknown else vec


def _final_nodes(scenario: Scenario, timeline: Timeline) -> list[Node]:
    """The nodes at the horizon: the scenario's, less those an autoscaler deleted, plus those it added
    (with their pool's capacity and labels)."""
    nodes = {n.name: n for n in scenario.cluster.nodes}
    if not timeline.cluster.get("autoscaling"):
        return list(nodes.values())
    pools = {p.name: p for p in scenario.cluster.pools}
    for r in timeline.records:
        if r.kind == tl.NODE_REGISTERED and str(r.get("pool")) in pools:
            pool = pools[str(r.get("pool"))]
            labels = dict(pool.labels) | {"kubernetes.io/hostname": r.subject}
            nodes[r.subject] = Node(
                r.subject, pool.capacity, tuple(sorted(labels.items())), pool.taints, pool=pool.name
            )
        elif r.kind == tl.NODE_DELETED:
            nodes.pop(r.subject, None)
    return list(nodes.values())


def _templates(scenario: Scenario) -> dict[tuple[str, str], LeaderWorkerSetSpec]:
    """(workload, revision) → the LWS spec of that revision, from the initial spec and every patch."""
    specs: dict[tuple[str, str], LeaderWorkerSetSpec] = {}
    for w in scenario.workloads:
        specs[(w.name, revision_key(w.lws))] = w.lws
    for p in scenario.patches:
        specs.setdefault((p.workload, revision_key(p.lws)), p.lws)
    return specs


def final_state(scenario: Scenario, timeline: Timeline, replayed: Replay | None = None) -> FinalState:
    """Which pod holds what where at the horizon, and which nodes are down, from the replay of
    ``timeline`` (``replayed`` when the caller has it). A Failed pod no longer holds resources."""
    state = replay(timeline) if replayed is None else replayed
    table = NodeTable(_final_nodes(scenario, timeline))
    specs = _templates(scenario)
    workloads = {w.name: w for w in scenario.workloads}
    final = []
    for life in state.pods.values():
        w = workloads.get(life.workload)
        if w is None or life.failed:
            continue
        spec = specs.get((life.workload, life.revision), w.lws)
        template = spec.effective_leader_template if life.role == "leader" else spec.worker_template
        labels = dict(template.labels)
        labels[GROUP_KEY] = f"{w.namespace}/{spec.name}-{life.group}"  # any value: presence is what counts
        final.append(
            FinalPod(
                life.name,
                life.workload,
                w.namespace,
                life.group,
                life.role,
                template,
                labels,
                life.node,
                life.pending_reason,
                life.deleting,
            )
        )
    others = {p.name: p for p in scenario.pod_workloads}
    for life in state.pods.values():
        o = others.get(life.workload)
        if o is not None and life.holds_resources:  # a Deployment's, StatefulSet's, Job's or bare pod
            t = o.template
            final.append(
                FinalPod(life.name, life.workload, o.namespace, -1, "", t, dict(t.labels), life.node)
            )
    for p in scenario.cluster.existing_pods:
        final.append(FinalPod(p.name, "", p.namespace, -1, "", p.template, dict(p.template.labels), p.node))
    used = np.zeros_like(table.alloc)
    for pod in final:
        if pod.node is not None and pod.node in table.index:
            vec, _ = table.request_vector(pod.template.requests())
            used[table.index[pod.node]] += vec
    down_mask = np.array([name in state.down for name in table.names], dtype=bool)
    return FinalState(table, used, down_mask, final)


# -- placement arithmetic (exact for one leader plus identical workers) ----------------------------------


def _slots(free: np.ndarray, req: np.ndarray) -> np.ndarray:
    """How many pods requesting ``req`` fit on each row of ``free``."""
    need = req > 0
    return (free[:, need] // req[need]).min(axis=1)


def _eligible(state: FinalState, template: PodTemplate) -> np.ndarray:
    t = state.table
    return unschedulable_mask(t, template) & taint_mask(t, template) & node_affinity_mask(t, template, ())


@dataclass(frozen=True)
class GroupShape:
    """A group as placement sees it: leader and worker requests and where each may go."""

    workers: int
    leader: np.ndarray
    worker: np.ndarray
    leader_ok: np.ndarray
    worker_ok: np.ndarray
    gpus: int

    @classmethod
    def of(cls, state: FinalState, spec: LeaderWorkerSetSpec) -> GroupShape | None:
        leader, worker = state.vector(spec.effective_leader_template), state.vector(spec.worker_template)
        if leader is None or worker is None:
            return None
        gpu = state.table.res_index.get(GPU)
        gpus = 0 if gpu is None else int(leader[gpu] + worker[gpu] * (spec.size - 1))
        return cls(
            spec.size - 1,
            leader,
            worker,
            _eligible(state, spec.effective_leader_template),
            _eligible(state, spec.worker_template),
            gpus,
        )


def place_group(free: np.ndarray, idx: np.ndarray, shape: GroupShape) -> bool:
    """Place one group on nodes ``idx`` of ``free`` (modified in place); False if it does not fit.

    The leader goes where it leaves the most worker slots; workers then fill nodes in order. With
    identical workers this finds a placement whenever one exists.
    """
    if len(idx) == 0:
        return False
    sub = free[idx]
    wslots = np.where(shape.worker_ok[idx], _slots(sub, shape.worker), 0)
    lfits = shape.leader_ok[idx] & np.all(sub >= shape.leader, axis=1)
    if not lfits.any():
        return False
    after = np.where(shape.worker_ok[idx], _slots(np.maximum(sub - shape.leader, 0), shape.worker), 0)
    remaining = np.where(lfits, wslots.sum() - wslots + after, -1)
    j = int(np.argmax(remaining))
    if remaining[j] < shape.workers:
        return False
    free[idx[j]] -= shape.leader
    wslots[j] = after[j]
    left = shape.workers
    for k in np.flatnonzero(wslots):
        if left == 0:
            break
        take = int(min(left, wslots[k]))
        free[idx[k]] -= shape.worker * take
        left -= take
    return True


def _domains(state: FinalState, key: str) -> dict[str, np.ndarray]:
    """Node indices per value of ``key`` (nodes without the label are in no domain)."""
    col = state.table.node_labels
    out: dict[str, list[int]] = defaultdict(list)
    for i, labels in enumerate(col):
        if key in labels:
            out[labels[key]].append(i)
    return {v: np.array(out[v], dtype=np.int64) for v in sorted(out, key=name_key)}


@dataclass
class Headroom:
    workload: str
    extra_groups: int
    free_gpus: int  # on up nodes where a pod of the workload may go
    stranded_gpus: int  # of those, left free after the extra groups
    group_gpus: int
    capped: bool = False
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "workload": self.workload,
            "extraGroupsFit": self.extra_groups,
            "extraGroupsCapped": self.capped,
            "freeGpus": self.free_gpus,
            "strandedGpus": self.stranded_gpus,
            "groupGpus": self.group_gpus,
        }


def _occupied(state: FinalState, namespace: str) -> set[int]:
    """Nodes holding a pod of any LWS group in ``namespace``: exclusive anti-affinity keeps others out."""
    nodes = set()
    for p in state.pods:
        if p.node is not None and p.namespace == namespace and GROUP_KEY in p.labels:
            nodes.add(state.table.index.get(p.node, -1))
    nodes.discard(-1)
    return nodes


def headroom(state: FinalState, workload: Workload) -> Headroom | None:
    spec = workload.lws
    shape = GroupShape.of(state, spec)
    if shape is None:
        return None
    free = state.free.copy()
    up = ~state.down
    usable = up & (shape.leader_ok | shape.worker_ok)
    gpu = state.table.res_index.get(GPU)
    gpus_free = 0 if gpu is None else int(free[usable, gpu].sum())
    extra, capped, detail = 0, False, ""
    key = spec.exclusive_topology
    if key:
        occupied = _occupied(state, workload.namespace)
        domains = _domains(state, key)
        blocked = 0
        for nodes in domains.values():
            if any(int(i) in occupied for i in nodes):
                blocked += 1
                continue
            if place_group(free, nodes[up[nodes]], shape):
                extra += 1
        detail = f"{len(domains)} {key} domains, {blocked} already hold a group"
    else:
        idx = np.flatnonzero(up)
        while extra < MAX_EXTRA_GROUPS and place_group(free, idx, shape):
            extra += 1
        capped = extra >= MAX_EXTRA_GROUPS
    stranded = 0 if gpu is None else int(free[usable, gpu].sum())
    return Headroom(workload.name, extra, gpus_free, stranded, shape.gpus, capped, detail)


# -- the explanations --------------------------------------------------------------------------------


def _gpus(n: int) -> str:
    return f"{n} GPU" + ("" if n == 1 else "s")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_NAMED])
    return shown + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def partial_placement(state: FinalState, scenario: Scenario) -> list[dict]:
    if scenario.controller.gang_scheduling != "none":
        return []
    out = []
    gpu = state.table.res_index.get(GPU)
    for w in scenario.workloads:
        groups: dict[int, list[FinalPod]] = defaultdict(list)
        for p in state.pods:
            if p.workload == w.name and not p.deleting:
                groups[p.group].append(p)
        partial = []
        for g in sorted(groups):
            pods = groups[g]
            placed = [p for p in pods if p.node is not None]
            if placed and (len(placed) < len(pods) or len(pods) < w.lws.size):
                partial.append((g, placed, [p for p in pods if p.node is None]))
        if not partial:
            continue
        held = 0
        nodes: set[str] = set()
        for _, placed, _ in partial:
            for p in placed:
                vec, _ = state.table.request_vector(p.template.requests())
                held += 0 if gpu is None else int(vec[gpu])
                nodes.add(str(p.node))
        pending = [p for _, _, pend in partial for p in pend]
        reason = next((p.pending_reason for p in pending if p.pending_reason), None)
        whole = any(len(v) == w.lws.size and all(p.node for p in v) for v in groups.values())
        serving_note = "" if whole else " while none serves"
        msg = (
            f"{w.name}: {_plural(len(partial), 'group')} ({_names([str(g) for g, _, _ in partial])}) "
            f"hold {_gpus(held)} on {_plural(len(nodes), 'node')}{serving_note}: "
            f"{_plural(len(pending), 'pod')} of theirs stay Pending"
            + (f" ({reason})" if reason else "")
            + ". kube-scheduler binds pods one at a time, so a partly placed group holds GPUs no group can "
            "use; a gang scheduler (spec.controller.gangScheduling: volcano) places a group whole or not at "
            "all."
        )
        out.append(
            {
                "kind": "PartialPlacement",
                "severity": "warning",
                "workload": w.name,
                "groups": [g for g, _, _ in partial],
                "gpusHeld": held,
                "pendingPods": len(pending),
                "message": msg,
            }
        )
    return out


def domain_too_small(state: FinalState, scenario: Scenario) -> list[dict]:
    out = []
    for w in scenario.workloads:
        key = w.lws.exclusive_topology
        if not key:
            continue
        shape = GroupShape.of(state, w.lws)
        if shape is None:
            continue
        domains = _domains(state, key)
        small = [v for v, nodes in domains.items() if not place_group(state.table.alloc.copy(), nodes, shape)]
        group_desc = (
            f"a group of {w.name} needs {_plural(w.lws.size, 'pod')} ({_gpus(shape.gpus)}) "
            f"in one {key} domain"
        )
        if len(small) == len(domains):  # every domain too small, or no node has the label at all
            biggest = max((len(n) for n in domains.values()), default=0)
            msg = (
                f"{w.name}: no {key} domain can hold a group: {group_desc}, and the largest domain has "
                f"{_plural(biggest, 'node')}. No group can ever serve; make domains larger (more nodes per "
                f"{key.rsplit('/', 1)[-1]}) or groups smaller."
                if domains
                else f"{w.name}: no node has the label {key}, so no group can place ({group_desc})."
            )
            out.append(
                {
                    "kind": "DomainTooSmall",
                    "severity": "error",
                    "workload": w.name,
                    "topologyKey": key,
                    "domains": small,
                    "message": msg,
                }
            )
            continue
        if not small:
            continue
        small_set = set(small)
        stuck = []
        for p in state.pods:
            if p.workload == w.name and p.role == "leader" and p.node is not None and not p.deleting:
                value = state.table.node_labels[state.table.index[p.node]].get(key)
                if value in small_set:
                    stuck.append((p, value))
        sizes = ", ".join(f"{v} ({_plural(len(domains[v]), 'node')})" for v in small[:MAX_NAMED])
        if stuck:
            desc = "; ".join(f"leader {p.name} is in {v}" for p, v in stuck[:MAX_NAMED])
            msg = (
                f"{w.name}: {_plural(len(stuck), 'group')} cannot complete because the leader sits in a "
                f"domain too small for the group ({desc}); {group_desc}. Too small: {sizes}. "
                "kube-scheduler picks the leader's node without looking at its workers; size the pool in "
                "whole domains, or label the small domain's nodes out (node selector)."
            )
            severity = "error"
        else:
            msg = (
                f"{w.name}: {_plural(len(small), f'{key} domain')} cannot hold a group: {sizes}; "
                f"{group_desc}. A leader placed there (e.g. after a failure) would leave its workers "
                "Pending; size the pool in whole domains."
            )
            severity = "info"
        out.append(
            {
                "kind": "DomainTooSmall",
                "severity": severity,
                "workload": w.name,
                "topologyKey": key,
                "domains": small,
                "stuckGroups": sorted({p.group for p, _ in stuck}),
                "message": msg,
            }
        )
    return out


def fragmentation(state: FinalState, scenario: Scenario, rooms: list[Headroom]) -> list[dict]:
    out = []
    for room in rooms:
        if room.group_gpus <= 0 or room.stranded_gpus < room.group_gpus:
            continue
        w = scenario.workload(room.workload)
        assert w is not None
        fit = (
            f"{room.extra_groups} more group" + ("" if room.extra_groups == 1 else "s") + " fit"
            if room.extra_groups
            else "not one more group fits"
        )
        where = f"; {room.detail}" if room.detail else ""
        msg = (
            f"{w.name}: {_gpus(room.free_gpus)} are free but {fit} (a group takes {_gpus(room.group_gpus)} "
            f"on {_plural(w.lws.size, 'pod')}{where}); {_gpus(room.stranded_gpus)} are stranded, "
            "scattered where no whole group can go"
            + (": every pod of a group must be in the leader's domain, one group per domain" if where else "")
            + "."
        )
        out.append(
            {
                "kind": "Fragmentation",
                "severity": "info",
                "workload": w.name,
                "freeGpus": room.free_gpus,
                "strandedGpus": room.stranded_gpus,
                "extraGroupsFit": room.extra_groups,
                "message": msg,
            }
        )
    return out


def preemptions(timeline: Timeline) -> list[dict]:
    """What kube-scheduler's preemption took, in words: for a group of a LeaderWorkerSet, the pod whose
    loss took the group down (LWS then recreates it, docs/lws-v0.7-semantics.md §3.8); for the others,
    how many pods went to whom."""
    groups = {w.name for w in timeline.workloads if w.kind in GROUP_KINDS}
    hits: dict[str, list[tl.Record]] = defaultdict(list)
    for r in timeline.records:
        if r.kind == tl.POD_PREEMPTED:
            hits[r.workload].append(r)
    out = []
    for workload in sorted(hits):
        records = hits[workload]
        first = records[0]
        why = f"(priority {first.get('by_priority')} > {first.get('priority')})"
        if workload in groups:
            seen: dict[int, tl.Record] = {}
            for r in records:
                seen.setdefault(r.group, r)
            lines = [
                f"group {g} of {workload} went down: its {r.role} {r.subject} was preempted by "
                f"{r.get('by')} (priority {r.get('by_priority')} > {r.get('priority')})"
                for g, r in sorted(seen.items())
            ]
            msg = "; ".join(lines[:MAX_NAMED]) + (
                f"; and {len(lines) - MAX_NAMED} more groups" if len(lines) > MAX_NAMED else ""
            )
        else:
            by = sorted({str(r.get("by")) for r in records}, key=name_key)
            victims = _names([r.subject for r in records])
            msg = f"{workload}: {_plural(len(records), 'pod')} preempted ({victims}) by {_names(by)} {why}"
        out.append(
            {
                "kind": "Preempted",
                "severity": "warning",
                "workload": workload,
                "podsPreempted": len(records),
                "groups": sorted({r.group for r in records if r.group >= 0}),
                "message": msg + ".",
            }
        )
    return out


def admission(scenario: Scenario, state: Replay) -> list[dict]:
    """Kueue in words: each group still waiting for quota at the end, with what its ClusterQueue has free
    and what the group needs, and each eviction (preemption, waitForPodsReady)."""
    objects = scenario.kueue
    out: list[dict] = []
    used: dict[str, Counter[str]] = defaultdict(Counter)  # per ClusterQueue, what its admitted groups hold
    for (name, _), g in state.groups.items():
        a = g.admission
        if a is not None and a.admitted_at is not None and a.cluster_queue:
            other = scenario.workload(name)
            if other is not None:
                used[a.cluster_queue].update(other.lws.group_requests())
    for w in scenario.workloads:
        groups = sorted((i, g) for (name, i), g in state.groups.items() if name == w.name and g.admission)
        if not groups:
            continue
        need = w.lws.group_requests()
        for i, g in groups:
            a = g.admission
            assert a is not None
            by_reason: dict[str, list[dict]] = defaultdict(list)
            for e in a.evictions:
                by_reason[str(e["reason"])].append(e)
            for reason, events in sorted(by_reason.items()):
                last = events[-1]
                when = f"at {format_duration(last['atSeconds'])}"
                if len(events) > 1:
                    when = f"{len(events)} times, last at {format_duration(last['atSeconds'])}"
                out.append(
                    {
                        "kind": "AdmissionEvicted",
                        "severity": "warning",
                        "workload": w.name,
                        "group": i,
                        "evictions": len(events),
                        "message": f"group {i} of {w.name} was evicted by Kueue {when} ({reason}): "
                        f"{last['message']}; its pods were deleted and it queued again.",
                    }
                )
            if a.admitted_at is not None:
                continue
            local = objects.local_queue(w.namespace, dict(w.lws.labels).get(QUEUE_LABEL, ""))
            cq = objects.cluster_queue(local.cluster_queue) if local else None
            words = ""
            if cq is not None:
                parts = []
                for resource in sorted(need):
                    nominal = sum(
                        r.nominal
                        for grp in cq.resource_groups
                        for f in grp.flavors
                        for r in f.resources
                        if r.name == resource
                    )
                    if nominal:
                        free = max(0, nominal - used[cq.name][resource])
                        parts.append(
                            f"ClusterQueue {cq.name} has {free:,} of {nominal:,} {resource} free, "
                            f"a group needs {need[resource]:,}"
                        )
                words = ": " + "; ".join(parts) if parts else ""
            out.append(
                {
                    "kind": "WaitingForAdmission",
                    "severity": "warning",
                    "workload": w.name,
                    "group": i,
                    "waitingSeconds": sec(a.waited_until(state.horizon)),
                    "message": f"group {i} of {w.name} waits for admission{words} "
                    f"(Kueue: {a.pending_message or 'not yet considered'}).",
                }
            )
    return out


@dataclass
class _NodeLife:
    """A node an autoscaler launched, from its NodeClaim's records."""

    asked: float
    pods: list[str]
    launched: float | None = None
    ready: float | None = None
    gpus_at: float | None = None  # GPUs allocatable (Initialized)
    failed: float | None = None


def _new_nodes(timeline: Timeline) -> dict[str, _NodeLife]:
    nodes: dict[str, _NodeLife] = {}
    for r in timeline.records:
        if r.kind == tl.NODECLAIM_CREATED:
            nodes[r.subject] = _NodeLife(r.t, [p for p in str(r.get("pods", "")).split(",") if p])
        elif r.subject in nodes:
            n = nodes[r.subject]
            if r.kind == tl.NODE_LAUNCHED:
                n.launched = r.t
            elif r.kind == tl.NODE_REGISTERED:
                n.ready = r.t
            elif r.kind == tl.NODE_INITIALIZED:
                n.gpus_at = r.t
            elif r.kind == tl.NODE_LAUNCH_FAILED:
                n.failed = r.t
    return nodes


def provisioning(timeline: Timeline) -> list[dict]:
    """Node autoscaling in words: each LWS group that waited for new nodes (how long, and what its last
    node waited on: the instance, Ready, the GPUs, a stockout before it), and each pod still pending
    that no NodePool launches a node for, with Karpenter's reason."""
    if not timeline.cluster.get("autoscaling"):
        return []
    nodes = _new_nodes(timeline)
    created: dict[str, float] = {}
    bound: dict[str, tuple[float, str]] = {}
    blocked: dict[str, tl.Record] = {}
    group_of: dict[tuple[str, int], list[str]] = defaultdict(list)
    groups = {w.name for w in timeline.workloads if w.kind in GROUP_KINDS}
    for r in timeline.records:
        if r.kind == tl.POD_CREATED and r.subject not in created:
            created[r.subject] = r.t
            if r.workload in groups:
                group_of[(r.workload, r.group)].append(r.subject)
        elif r.kind == tl.POD_SCHEDULED and r.subject not in bound:
            bound[r.subject] = (r.t, str(r.get("node")))
            blocked.pop(r.subject, None)
        elif r.kind == tl.NODES_NOT_LAUNCHED:
            blocked[r.subject] = r
    out: list[dict] = []
    for (workload, i), pods in sorted(group_of.items()):
        on_new = [p for p in pods if p in bound and bound[p][1] in nodes]
        if not on_new:
            continue
        start = min(created[p] for p in pods)
        last_pod = max(on_new, key=lambda p: bound[p][0])
        t_last, node = bound[last_pod]
        life = nodes[node]
        steps = [f"asked for at {format_duration(life.asked)}"]
        if life.launched is not None:
            steps.append(f"running at {format_duration(life.launched)}")
        if life.ready is not None:
            steps.append(f"Ready at {format_duration(life.ready)}")
        if life.gpus_at is not None and life.ready is not None and life.gpus_at > life.ready:
            steps.append(f"its GPUs allocatable at {format_duration(life.gpus_at)}")
        # launches that found no capacity while the group waited, before its last node was asked for
        failed = sorted(
            (n.failed, name)
            for name, n in nodes.items()
            if n.failed is not None and start <= n.failed <= life.asked
        )
        stockout = ""
        if failed:
            launches = "1 launch" if len(failed) == 1 else f"{len(failed)} launches"
            stockout = (
                f"; it was asked for only after {launches} found no capacity "
                f"(stockout: {_names([f'{name} at {format_duration(t)}' for t, name in failed])})"
            )
        out.append(
            {
                "kind": "WaitedForNodes",
                "severity": "info",
                "workload": workload,
                "group": i,
                "waitingSeconds": sec(t_last - start),
                "newNodes": len(on_new),
                "stockouts": len(failed),
                "message": f"group {i} of {workload} waited {format_duration(t_last - start)} for nodes: "
                f"{len(on_new)} of its {len(pods)} pods went to new nodes; the last, {node}, was "
                f"{', '.join(steps)}{stockout}.",
            }
        )
    autoscaler = "Karpenter" if timeline.cluster.get("autoscaling") == "karpenter" else "cluster-autoscaler"
    by_reason: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, r in blocked.items():
        if name not in bound:
            by_reason[(r.workload, str(r.get("reason")))].append(name)
    for (workload, reason), names in sorted(by_reason.items()):
        named = _names(sorted(names, key=name_key))
        out.append(
            {
                "kind": "NodesNotLaunched",
                "severity": "warning",
                "workload": workload,
                "pods": len(names),
                "message": f"{_plural(len(names), 'pod')} of {workload} ({named}) "
                f"stay pending and {autoscaler} adds no node for them: {reason}.",
            }
        )
    return out


def explain(scenario: Scenario, timeline: Timeline, replayed: Replay | None = None) -> dict:
    """``{"explanations": [...], "headroom": [...]}`` for the report of ``timeline``."""
    replayed = replay(timeline) if replayed is None else replayed
    state = final_state(scenario, timeline, replayed)
    rooms = [r for w in scenario.workloads if (r := headroom(state, w)) is not None]
    found = preemptions(timeline) + admission(scenario, replayed) + provisioning(timeline)
    found += domain_too_small(state, scenario) + partial_placement(state, scenario)
    found += fragmentation(state, scenario, rooms)
    return {"explanations": found, "headroom": [r.to_dict() for r in rooms]}
