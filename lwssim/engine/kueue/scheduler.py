"""Kueue's scheduler: queues per ClusterQueue, flavor assignment against quota, admission, and classical
preemption (kueue v0.17.0; docs/kueue-v0.17-semantics.md §2–§3).

- Queues (``pkg/cache/queue/cluster_queue.go``): ordered by priority, then the queue-order timestamp
  (creation, or the PodsReady eviction), then UID. BestEffortFIFO (default) sets a Workload that does not
  fit aside until quota is freed in its ClusterQueue or cohort; StrictFIFO keeps it at the head, blocking
  the Workloads behind it. A preemptor stays first while its victims stop (``stickyWorkload``).
- A cycle (``pkg/scheduler/scheduler.go: schedule``) takes the head of every ClusterQueue, non-borrowing
  before borrowing, then by priority and timestamp, and admits each that fits.
- Flavor assignment (``pkg/scheduler/flavorassigner/flavorassigner.go``): PodSet by PodSet, each resource
  in its resource group's flavors in order; a flavor whose nodeLabels contradict the pod's nodeSelector is
  skipped; earlier PodSets' requests count against later ones; the first flavor that fits is taken
  (``whenCanBorrow: MayStopSearch``), else the first where preemption could make room
  (``whenCanPreempt: TryNextFlavor``). Messages are Kueue's, word for word (``fitsResourceQuota``,
  ``Assignment.Message``, ``Status.Message``: reasons sorted, joined with ", ").
- Preemption (``pkg/scheduler/preemption/preemption.go: classicalPreemptions``, ``common/ordering.go``):
  candidates by ``withinClusterQueue`` and ``reclaimWithinCohort``; taken already-evicted first, other
  ClusterQueues before its own, lowest priority, most recently admitted, until the preemptor fits; then
  given back in reverse order where it still fits (fill-back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from lwssim.engine.context import Cluster
from lwssim.engine.kueue import quota, tas
from lwssim.engine.kueue.quota import FlavorResource, QueueQuota
from lwssim.engine.objects import FAILED, SUCCEEDED, Pod, PodSet, Workload
from lwssim.model.kueue import (
    ANY,
    LOWER_OR_NEWER_EQUAL_PRIORITY,
    LOWER_PRIORITY,
    NEVER,
    STRICT_FIFO,
    KueueObjects,
    ResourceFlavor,
    Topology,
)
from lwssim.model.quantity import PODS
from lwssim.timeline import WORKLOAD_ADMITTED, WORKLOAD_EVICTED, WORKLOAD_PENDING

PENDING, INADMISSIBLE = "Pending", "Inadmissible"  # QuotaReserved=False reasons
PREEMPTED = "Preempted"
FIT, PREEMPT, NO_FIT = 2, 1, 0
IN_CLUSTER_QUEUE = "prioritization in the ClusterQueue"
IN_COHORT = "reclamation within the cohort"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
REQUIRED = "kueue.x-k8s.io/podset-required-topology"  # jobframework/tas.go annotations
PREFERRED = "kueue.x-k8s.io/podset-preferred-topology"
UNCONSTRAINED = "kueue.x-k8s.io/podset-unconstrained-topology"
GROUP_NAME = "kueue.x-k8s.io/podset-group-name"


@dataclass
class Assignment:
    mode: int
    usage: Counter[FlavorResource] = field(default_factory=Counter)
    flavors: list[tuple[str, str, str]] = field(default_factory=list)  # (pod set, resource, flavor)
    message: str = ""
    topology: dict[str, list[tuple[tuple[str, str], ...]]] = field(default_factory=dict)


def per_pod(ps: PodSet) -> dict[str, int]:
    """One pod's requests as TAS counts them: with the pod itself (``corev1.ResourcePods: 1``)."""
    return with_pod(ps.requests)


def with_pod(requests: Iterable[tuple[str, int]]) -> dict[str, int]:
    return dict(requests) | {PODS: 1}


class KueueScheduler:
    def __init__(
        self,
        cluster: Cluster,
        objects: KueueObjects,
        admitted: Callable[[Workload], None],
        evict: Callable[[Workload, str, str], None],
    ) -> None:
        self.env, self.timeline, self.defer = cluster.env, cluster.timeline, cluster.defer
        self.objects = objects
        self.quotas = quota.build(objects.cluster_queues)
        self.nodes = cluster.nodes
        self._snapshots: dict[tuple, tas.Snapshot] = {}
        self.group_pods: Callable[[Workload], list[Pod]] = lambda wl: []  # the pod-group reconciler's
        self.tas_pods: dict[int, Pod] = {}  # the LWS integration's: pods prepared with a topology assignment
        self._admitted_cb, self._evict = admitted, evict
        self.pending: dict[str, dict[int, Workload]] = {q: {} for q in self.quotas}
        self.inadmissible: dict[str, dict[int, Workload]] = {q: {} for q in self.quotas}
        self.admitted: dict[str, dict[int, Workload]] = {q: {} for q in self.quotas}
        self.sticky: dict[str, Workload] = {}
        self.blocked: set[str] = set()  # StrictFIFO queues whose head does not fit
        self._cycle_due = False
        self._evictions: dict[int, str] = {}  # the message of each eviction in progress

    # -- queue manager
    def queue(self, wl: Workload) -> None:
        """A Workload to admit: created, or back from an eviction (after its requeue back-off)."""
        if not wl.stored:
            return
        if wl.evicting:  # the group stopped: QuotaReserved=False, Pending, with the eviction's message
            wl.evicting = ""
            self._pending(wl, PENDING, self._evictions.pop(wl.uid, ""))
        if wl.requeue_at == float("inf"):
            return  # deactivated (backoffLimitCount reached): never queued again
        if wl.requeue_at > self.env.now:
            delay = wl.requeue_at - self.env.now
            wl.requeue_at = 0.0
            self.defer(delay, lambda: self.queue(wl))
            return
        local = self.objects.local_queue(wl.namespace, wl.queue_name)
        if local is None:
            self._pending(wl, INADMISSIBLE, f"LocalQueue {wl.queue_name} doesn't exist")
            return
        if local.cluster_queue not in self.quotas:
            self._pending(wl, INADMISSIBLE, f"ClusterQueue {local.cluster_queue} doesn't exist")
            return
        self.pending[local.cluster_queue][wl.uid] = wl
        self.blocked.discard(local.cluster_queue)
        self._trigger()

    def release(self, wl: Workload) -> None:
        """The Workload's quota is given back (its group stopped, or the Workload is gone)."""
        cq = wl.cluster_queue
        node = self.quotas[cq]
        for flavor, resource, amount in wl.usage:
            node.remove((flavor, resource), amount)
        self.admitted[cq].pop(wl.uid, None)
        wl.cluster_queue, wl.usage = "", ()
        for name, other in self.quotas.items():  # queueInadmissibleWorkloads for the cohort
            if name == cq or (node.cohort is not None and other.cohort is node.cohort):
                self.pending[name].update(self.inadmissible[name])
                self.inadmissible[name].clear()
                self.blocked.discard(name)
        self._trigger()

    def forget(self, wl: Workload) -> None:
        for queues in (self.pending, self.inadmissible):
            for q in queues.values():
                q.pop(wl.uid, None)
        for cq, s in list(self.sticky.items()):
            if s is wl:
                del self.sticky[cq]

    def _trigger(self) -> None:
        if not self._cycle_due:
            self._cycle_due = True
            self.defer(0.0, self._cycles)

    # -- scheduling cycles
    def _head(self, cq: str) -> Workload | None:
        sticky = self.sticky.get(cq)
        if sticky is not None and sticky.uid in self.pending[cq]:
            return sticky
        queued = self.pending[cq]
        if not queued or cq in self.blocked:
            return None
        return min(queued.values(), key=lambda w: (-w.priority, w.order_time, w.uid))

    def _cycles(self) -> None:
        self._cycle_due = False
        while True:
            heads = [(cq, h) for cq in self.quotas if (h := self._head(cq)) is not None]
            if not heads:
                return
            progress = False
            heads.sort(key=lambda e: (self._borrows(*e), -e[1].priority, e[1].order_time, e[1].uid))
            for cq, wl in heads:
                progress |= self._schedule(cq, wl)
            if not progress:
                return

    def _borrows(self, cq: str, wl: Workload) -> bool:
        a = self.assign(wl, self.quotas[cq], topology=False)
        node = self.quotas[cq]
        return any(node.borrowing(fr, amount) for fr, amount in a.usage.items())

    def _schedule(self, cq: str, wl: Workload) -> bool:
        """One head: admit it, preempt for it, or set it aside. True when the queue moved."""
        node = self.quotas[cq]
        selector = node.spec.namespace_selector
        if selector is None or not selector.matches({NAMESPACE_LABEL: wl.namespace}):
            self._set_aside(cq, wl, "Workload namespace doesn't match ClusterQueue selector")
            return True
        a = self.assign(wl, node)
        if a.mode == FIT:
            self._admit(cq, wl, a)
            return True
        if a.mode == PREEMPT:
            victims = self.targets(cq, wl, a.usage)
            if victims:
                fresh = [v for v in victims if not v.evicting]
                for v in fresh:
                    reason = IN_CLUSTER_QUEUE if v.cluster_queue == cq else IN_COHORT
                    self._evict(v, PREEMPTED, self._preemption_message(wl, node, v, reason))
                self.sticky[cq] = wl
                self._pending(wl, PENDING, f"{a.message}. Pending the preemption of {len(fresh)} workload(s)")
                return bool(fresh)
        self._set_aside(cq, wl, a.message)
        return True

    def _preemption_message(self, wl: Workload, node: QueueQuota, victim: Workload, reason: str) -> str:
        """``preemptionMessage`` for ``wl`` of ClusterQueue ``node`` (UIDs are the simulator's numbers)."""
        job = wl.owner.uid if wl.owner else 0
        return (
            f"Preempted to accommodate a workload (UID: {wl.uid}, JobUID: {job}) due to {reason}; "
            f"preemptor path: {_path(node)}; preemptee path: {_path(self.quotas[victim.cluster_queue])}"
        )

    def _set_aside(self, cq: str, wl: Workload, message: str) -> None:
        self._pending(wl, PENDING, message)
        if self.sticky.get(cq) is wl:
            del self.sticky[cq]
        if self.quotas[cq].spec.queueing_strategy == STRICT_FIFO:
            self.blocked.add(cq)
            return
        del self.pending[cq][wl.uid]
        self.inadmissible[cq][wl.uid] = wl

    def _admit(self, cq: str, wl: Workload, a: Assignment) -> None:
        node = self.quotas[cq]
        for fr, amount in a.usage.items():
            node.add(fr, amount)
        del self.pending[cq][wl.uid]
        if self.sticky.get(cq) is wl:
            del self.sticky[cq]
        self.admitted[cq][wl.uid] = wl
        wl.cluster_queue = cq
        wl.usage = tuple((f, r, n) for (f, r), n in sorted(a.usage.items()))
        wl.flavors = tuple(a.flavors)
        wl.topology = a.topology
        wl.admitted, wl.admitted_at = True, self.env.now
        wl.pending_reason = wl.pending_message = ""
        flavors = ",".join(sorted({f"{r}={f}" for _, r, f in a.flavors}))
        usage = ",".join(f"{f}/{r}={n}" for f, r, n in wl.usage)
        self.timeline.add(
            self.env.now,
            WORKLOAD_ADMITTED,
            wl.name,
            wl.workload,
            wl.group,
            cluster_queue=cq,
            flavors=flavors,
            usage=usage,
        )
        self._admitted_cb(wl)

    def _pending(self, wl: Workload, reason: str, message: str) -> None:
        if (reason, message) != (wl.pending_reason, wl.pending_message):
            wl.pending_reason, wl.pending_message = reason, message
            self.timeline.add(
                self.env.now, WORKLOAD_PENDING, wl.name, wl.workload, wl.group, reason=reason, message=message
            )

    def evicted(self, wl: Workload, reason: str, message: str) -> None:
        wl.evicting = reason
        self._evictions[wl.uid] = message
        self.timeline.add(
            self.env.now, WORKLOAD_EVICTED, wl.name, wl.workload, wl.group, reason=reason, message=message
        )

    # -- flavor assignment
    def assign(self, wl: Workload, node: QueueQuota, topology: bool = True) -> Assignment:
        """``assignFlavors``: all PodSets or none; the first PodSet that cannot be placed ends it."""
        out = Assignment(FIT)
        for ps in wl.pod_sets:
            reasons: list[str] = []
            mode = FIT
            for resource, per_pod in ps.requests:
                amount = per_pod * ps.count
                if amount == 0:
                    continue
                group = next((g for g in node.spec.resource_groups if resource in g.covered_resources), None)
                if group is None:
                    reasons.append(f"resource {resource} unavailable in ClusterQueue")
                    mode = NO_FIT
                    break
                best: tuple[int, str] | None = None
                keys = {k for f in group.flavors for k, _ in _labels(self.objects, f.flavor)}  # LabelKeys
                for fq in group.flavors:
                    flavor = self.objects.flavor(fq.flavor)
                    if flavor is None:
                        reasons.append(f"flavor {fq.flavor} not found")
                        continue
                    labels = dict(flavor.node_labels)
                    if any(k in keys and labels.get(k) != v for k, v in ps.node_selector):
                        reasons.append(f"flavor {fq.flavor} doesn't match node affinity")
                        continue
                    fr = (fq.flavor, resource)
                    m, why = self._fits(wl, node, fr, out.usage[fr], amount)
                    reasons.extend(why)
                    if m == FIT:
                        best = (FIT, fq.flavor)
                        break
                    if m == PREEMPT and best is None:
                        best = (PREEMPT, fq.flavor)
                if best is None:
                    mode = NO_FIT
                    break
                mode = min(mode, best[0])
                out.usage[(best[1], resource)] += amount
                out.flavors.append((ps.name, resource, best[1]))
            if mode != FIT:
                out.mode = min(out.mode, mode)
                text = f"couldn't assign flavors to pod set {ps.name}: {', '.join(sorted(reasons))}"
                out.message = f"{out.message}; {text}" if out.message else text
                if mode == NO_FIT:
                    out.mode = NO_FIT
                    return out
        if out.mode == FIT and topology:
            self._topology(wl, node, out)
        return out

    def _topology(self, wl: Workload, node: QueueQuota, out: Assignment) -> None:
        """TAS for the PodSets on a flavor with a Topology (``FindTopologyAssignmentsForWorkload``): a
        PodSet that does not fit makes the Workload wait with the topology's message."""
        out.topology = {}
        flavors = {ps: f for ps, _, f in out.flavors}
        tas_only = all(
            (f := self.objects.flavor(fq.flavor)) is not None and f.topology_name
            for g in node.spec.resource_groups
            for fq in g.flavors
        )
        requests: list[tuple[list[str], tas.Request, str]] = []
        grouped: dict[str, int] = {}
        by_name = {ps.name: ps for ps in wl.pod_sets}
        for ps in wl.pod_sets:
            flavor = self.objects.flavor(flavors.get(ps.name, ""))
            if flavor is None or not flavor.topology_name:
                continue
            topology = self.objects.topology(flavor.topology_name)
            assert topology is not None  # the loader refuses a flavor naming no Topology
            ann = dict(ps.topology)
            if REQUIRED in ann or PREFERRED in ann:
                required = REQUIRED in ann
                req = tas.Request(ann[REQUIRED if required else PREFERRED], required, False, ps.count)
            elif ann.get(UNCONSTRAINED) == "true" or tas_only:  # implied: a TAS-only ClusterQueue
                req = tas.Request(topology.levels[-1], False, True, ps.count)
            else:
                continue
            group = ann.get(GROUP_NAME) if not req.unconstrained else None
            if group is not None and group in grouped:  # leader and workers placed as one request
                names, first, _ = requests[grouped[group]]
                leader_first = by_name[names[0]].count <= ps.count
                workers = ps.count if leader_first else first.count
                requests[grouped[group]] = (
                    [*names, ps.name] if leader_first else [ps.name, *names],
                    replace(req, count=workers, leader=True),
                    flavor.name,
                )
                continue
            if group is not None:
                grouped[group] = len(requests)
            requests.append(([ps.name], req, flavor.name))
        assumed: dict[str, Counter[str]] = {}
        for names, req, flavor_name in requests:
            flavor = self.objects.flavor(flavor_name)
            assert flavor is not None and flavor.topology_name
            topology = self.objects.topology(flavor.topology_name)
            assert topology is not None
            worker = by_name[names[-1]]
            snapshot = self.snapshot(topology, flavor)
            free = self.free_capacity(snapshot, assumed)
            leader = per_pod(by_name[names[0]]) if req.leader else None
            snapshot.fill_counts(free, per_pod(worker), leader, self.excluded(snapshot, worker))
            placed, why = snapshot.assign(req)
            if why:  # the failure names the group's first PodSet (the leader), as Kueue's does
                out.mode = NO_FIT
                text = f"couldn't assign flavors to pod set {names[0]}: {why}"
                out.message = f"{out.message}; {text}" if out.message else text
                return
            roles = {"leader": names[0], "worker": names[-1]}
            for role, domains in placed.items():
                ps = by_name[roles[role]]
                selectors = out.topology.setdefault(ps.name, [])
                for node_name, count in domains:
                    selectors.extend([snapshot.node_selector(node_name)] * count)
                    used = assumed.setdefault(node_name, Counter())
                    for r, n in per_pod(ps).items():
                        used[r] += n * count

    def snapshot(self, topology: Topology, flavor: ResourceFlavor) -> tas.Snapshot:
        """The TAS snapshot of ``flavor``: the Topology over the schedulable nodes with the flavor's
        nodeLabels, built again only when node labels, taints or schedulability changed
        (``nodes.generation``); counts are filled anew for every request."""
        key = (topology.name, flavor.name, self.nodes.generation)
        snap = self._snapshots.get(key)
        if snap is None:
            if len(self._snapshots) > 64:
                self._snapshots.clear()
            nodes, want = self.nodes, flavor.node_labels
            members = [
                (name, nodes.node_labels[i])
                for i, name in enumerate(nodes.names)
                if not nodes.unschedulable[i] and all(nodes.node_labels[i].get(k) == v for k, v in want)
            ]
            snap = self._snapshots[key] = tas.Snapshot(topology.name, topology.levels, members)
        return snap

    def excluded(self, snapshot: tas.Snapshot, ps: PodSet) -> dict[str, str]:
        """Nodes of the snapshot a PodSet's pods cannot use, and why, as ``fillInCounts`` counts them: an
        untolerated NoSchedule/NoExecute taint (``taint "key=value:Effect"``), then the nodeSelector."""
        nodes, out = self.nodes, {}
        selector = ps.node_selector
        for leaf in snapshot.leaves:
            name = leaf.node or ""
            i = nodes.index[name]
            untolerated = next(
                (
                    t
                    for t in nodes.taints(i)
                    if t.effect in ("NoSchedule", "NoExecute")
                    and not any(x.tolerates(t) for x in ps.tolerations)
                ),
                None,
            )
            if untolerated is not None:
                value = f"={untolerated.value}" if untolerated.value else ""
                out[name] = f'taint "{untolerated.key}{value}:{untolerated.effect}"'
            elif any(nodes.node_labels[i].get(k) != v for k, v in selector):
                out[name] = "nodeSelector"
        return out

    def free_capacity(
        self, snapshot: tas.Snapshot, assumed: dict[str, Counter[str]]
    ) -> dict[str, dict[str, int]]:
        """Each node's free capacity as Kueue's TAS cache has it: allocatable less the non-TAS pods bound
        there (``non_tas_usage_controller.go`` leaves out every ``IsTAS`` pod) less the pods of admitted
        TAS Workloads assigned there, less this Workload's earlier PodSets. The node table counts every
        bound pod, so a TAS pod bound there whose Workload no longer holds an admission (deleted, its quota
        released) is given back: its capacity is free to Kueue while the pod still terminates."""
        nodes = self.nodes
        pending: dict[str, Counter[str]] = {}
        counted: set[int] = set()
        for admitted in self.admitted.values():
            for wl in admitted.values():
                if not wl.topology:
                    continue
                pods = self.group_pods(wl)
                counted.update(p.uid for p in pods)
                bound = Counter(p.node for p in pods if p.node is not None)
                for ps in wl.pod_sets:
                    for sel in wl.topology.get(ps.name, ()):
                        node_name = dict(sel).get(tas.HOSTNAME)
                        if node_name is None:
                            continue
                        if bound[node_name] > 0:
                            bound[node_name] -= 1
                            continue
                        used = pending.setdefault(node_name, Counter())
                        for r, n in per_pod(ps).items():
                            used[r] += n
        for pod in self.tas_pods.values():
            if pod.uid in counted or pod.node is None or pod.phase in (SUCCEEDED, FAILED):
                continue
            used = pending.setdefault(pod.node, Counter())
            for r, n in with_pod(pod.template.requests().items()).items():
                used[r] -= n
        out: dict[str, dict[str, int]] = {}
        columns = [(r, nodes.free_by_res[j].tolist()) for r, j in nodes.res_index.items()]
        for leaf in snapshot.leaves:
            name = leaf.node or ""
            i = nodes.index[name]
            free = {r: column[i] for r, column in columns}
            for extra in (pending.get(name), assumed.get(name)):
                for r, n in (extra or {}).items():
                    free[r] = free.get(r, 0) - n
            out[name] = free
        return out

    def _fits(
        self, wl: Workload, node: QueueQuota, fr: FlavorResource, assumed: int, request: int
    ) -> tuple[int, list[str]]:
        """``fitsResourceQuota``: no fit beyond the maximum capacity; fit within what is available; else
        preemption, where some candidate could make room."""
        flavor, resource = fr
        val = assumed + request
        potential = node.potential(fr)
        if val > potential:
            q = quota.quantity_string
            return NO_FIT, [
                f"insufficient quota for {resource} in flavor {flavor}, previously considered podsets "
                f"requests ({q(resource, assumed)}) + current podset request ({q(resource, request)}) > "
                f"maximum capacity ({q(resource, potential)})"
            ]
        available = node.available(fr)
        if val <= available:
            return FIT, []
        why = [
            f"insufficient unused quota for {resource} in flavor {flavor}, "
            f"{quota.quantity_string(resource, val - available)} more needed"
        ]
        possible = self._candidates(node.spec.name, wl, fr)
        return (PREEMPT if possible else NO_FIT), why

    # -- preemption
    def _candidates(self, cq: str, wl: Workload, fr: FlavorResource | None) -> list[Workload]:
        """Admitted Workloads the policies let ``wl`` preempt, in ``CandidatesOrdering``."""
        node = self.quotas[cq]
        policy = node.spec.preemption
        out = []
        for name, admitted in self.admitted.items():
            other = self.quotas[name]
            own = name == cq
            if not own and (node.cohort is None or other.cohort is not node.cohort):
                continue
            for v in admitted.values():
                if fr is not None and not any((f, r) == fr for f, r, _ in v.usage):
                    continue
                if own:
                    allowed = _satisfies(policy.within_cluster_queue, wl, v)
                else:
                    allowed = policy.reclaim_within_cohort != NEVER and any(
                        other.borrowing((f, r)) for f, r, _ in v.usage
                    )
                    allowed = allowed and (policy.reclaim_within_cohort == ANY or v.priority < wl.priority)
                if allowed:
                    out.append(v)
        out.sort(
            key=lambda v: (not v.evicting, v.cluster_queue == cq, v.priority, -(v.admitted_at or 0), v.uid)
        )
        return out

    def targets(self, cq: str, wl: Workload, need: Counter[FlavorResource]) -> list[Workload]:
        """``classicalPreemptions``: the fewest candidates, in order, whose removal lets ``wl`` fit."""
        node = self.quotas[cq]
        candidates = self._candidates(cq, wl, None)
        taken: list[Workload] = []
        removed: list[tuple[QueueQuota, FlavorResource, int]] = []

        def fits() -> bool:
            return all(amount <= node.available(fr) for fr, amount in need.items())

        for v in candidates:
            if fits():
                break
            if not any((f, r) in need for f, r, _ in v.usage):
                continue
            owner = self.quotas[v.cluster_queue]
            if v.cluster_queue != cq and not any(owner.borrowing((f, r)) for f, r, _ in v.usage):
                continue  # that queue no longer borrows: reclaiming stops there
            for f, r, amount in v.usage:
                owner.remove((f, r), amount)
                removed.append((owner, (f, r), amount))
            taken.append(v)
        ok = fits()
        if ok:  # fill-back: give back, last first, what is not needed
            for v in reversed(list(taken)):
                owner = self.quotas[v.cluster_queue]
                for f, r, amount in v.usage:
                    owner.add((f, r), amount)
                if fits():
                    taken.remove(v)
                    for f, r, amount in v.usage:
                        removed.remove((owner, (f, r), amount))
                else:
                    for f, r, amount in v.usage:
                        owner.remove((f, r), amount)
        for owner, fr, amount in reversed(removed):
            owner.add(fr, amount)
        return taken if ok else []


def _satisfies(policy: str, preemptor: Workload, candidate: Workload) -> bool:
    """``SatisfiesPreemptionPolicy`` within the ClusterQueue."""
    if policy == LOWER_PRIORITY:
        return candidate.priority < preemptor.priority
    if policy == LOWER_OR_NEWER_EQUAL_PRIORITY:
        return candidate.priority < preemptor.priority or (
            candidate.priority == preemptor.priority and candidate.order_time > preemptor.order_time
        )
    return False


def _labels(objects: KueueObjects, flavor: str) -> tuple[tuple[str, str], ...]:
    f = objects.flavor(flavor)
    return f.node_labels if f else ()


def _path(node: QueueQuota) -> str:
    """``buildCQPath``: the cohort path down to the ClusterQueue."""
    return f"/{node.cohort.name}/{node.spec.name}" if node.cohort else f"/{node.spec.name}"
