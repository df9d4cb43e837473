"""kube-scheduler: one pod at a time from the queue, filters, scores, a seeded pick, bind.

The default profile (``pkg/scheduler/apis/config/v1/default_plugins.go``) as far as LWS placement
depends on it: filters NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit,
InterPodAffinity; scores TaintToleration (weight 3), NodeAffinity (2), NodeResourcesFit (1,
LeastAllocated or MostAllocated over cpu and memory), NodeResourcesBalancedAllocation (1),
ImageLocality (1). Not modelled: PodTopologySpread's system-default scoring, preferred pod
(anti-)affinity scoring, volumes and ports (LWS GPU pods use none of them for placement).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass

import numpy as np
import simpy

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.feasible import FeasibleSet
from lwssim.engine.scheduling.podindex import PodIndex
from lwssim.engine.scheduling.queue import SchedulingQueue
from lwssim.engine.scheduling.ties import TieBreak
from lwssim.engine.store import ADDED, DELETED, MODIFIED, Store
from lwssim.engine.tasks import Task
from lwssim.model.pod import PodTemplate
from lwssim.timeline import POD_SCHEDULED, POD_UNSCHEDULABLE, Timeline

DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_MILLI_CPU = 100  # pkg/scheduler/util.DefaultMilliCPURequest
DEFAULT_MEMORY = 200 * 1024 * 1024  # pkg/scheduler/util.DefaultMemoryRequest
AFFINITY_PLUGIN = "InterPodAffinity/affinity"  # rejections a newly bound pod may resolve
FEW_CANDIDATES = 32  # up to this many, nodes are scored one by one (cheaper than NumPy calls)


def num_feasible_nodes_to_find(n: int) -> int:
    """percentageOfNodesToScore adaptive default: 50% − n/125, at least 5%, at least 100 nodes."""
    if n < 100:
        return n
    percentage = max(50 - n // 125, 5)
    return max(n * percentage // 100, 100)


@dataclass
class _Static:
    """Per-template results that change only when node labels, taints or schedulability do; a
    change of one node's taints re-filters that node alone (``Scheduler.node_changed``)."""

    template: PodTemplate
    prefiltered: np.ndarray | None  # nodes a PreFilterResult leaves out (metadata.name terms)
    affinity_ok: np.ndarray  # NodeAffinity (labels and node selectors, fixed during a run)
    stage: np.ndarray  # first failing static filter per node (0 = passed)
    conflict: bool  # required node terms pin no node name at all (PreFilter fails)
    req: np.ndarray
    needs: tuple[tuple[int, int], ...]  # (resource column, amount) where the request is > 0
    unknown: list[str]
    nonzero: tuple[int, int]
    cpu_mem: tuple[int, int]
    images: tuple[str, ...]
    taint_score: np.ndarray | None
    affinity_score: np.ndarray | None
    feasible: FeasibleSet | None = None  # shared with every static of the same filters and requests


def nonzero_requests(template: PodTemplate) -> tuple[int, int]:
    """cpu/memory used for scoring: 100m and 200MB stand in for a container's missing request."""
    cpu = mem = 0
    for c in template.containers:
        r = dict(c.requests)
        cpu += r.get("cpu", 0) or DEFAULT_MILLI_CPU
        mem += r.get("memory", 0) or DEFAULT_MEMORY
    return cpu, mem


class Scheduler:
    def __init__(
        self,
        env: simpy.Environment,
        store: Store,
        nodes: NodeTable,
        rng: np.random.Generator,
        timeline: Timeline,
        throughput: float,
        strategy: str = "LeastAllocated",
        gang_schedulers: tuple[str, ...] = (),
    ) -> None:
        self.env, self.store, self.nodes, self.rng, self.timeline = env, store, nodes, rng, timeline
        self.ties = TieBreak(rng)  # the only draws from ``rng``
        self.period = 1.0 / throughput
        self.strategy = strategy
        self.gang_schedulers = gang_schedulers
        self.version = 0
        self.queue = SchedulingQueue(env, lambda: self.version)
        self.index = PodIndex()
        self.next_start = 0
        self._static_cache: dict[tuple, _Static] = {}
        self._feasible: dict[tuple[bytes, tuple], FeasibleSet] = {}  # by static filter result and request
        self._live_feasible: dict[int, FeasibleSet] = {}  # every set some cached shape uses, by id
        self._generation = nodes.generation  # node taints the cached statics were computed for
        # per (nonzero requests, cpu/memory requests): resource scores of every node, kept current
        self._fit_scores: dict[tuple[tuple[int, int], tuple[int, int]], np.ndarray] = {}
        self._image_terms: dict[tuple, tuple] = {}  # ImageLocality terms per image set and spread
        # pod uid -> (PodIndex slot, node, requests held there)
        self._slot: dict[int, tuple[int, int, tuple[tuple[int, int], ...], tuple[int, int]]] = {}
        store.watch("Pod", self._on_pod)
        Task(env, self._run())  # a SimPy process nobody waits on

    # -- informer
    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if event == ADDED:
            if pod.node is not None:
                self.account(pod)
            elif pod.template.scheduler_name == DEFAULT_SCHEDULER:
                self.queue.add(pod)
            elif pod.template.scheduler_name not in self.gang_schedulers:
                self.pend(
                    pod,
                    f'no scheduler named "{pod.template.scheduler_name}" runs in this cluster; '
                    "the pod waits unscheduled",
                )
        elif event == MODIFIED and pod.deleting and pod.node is None:
            self.queue.forget(pod)
        elif event == DELETED:
            if pod.uid in self._slot:
                self.release(pod)
            self.queue.forget(pod)

    def account(self, pod: Pod) -> None:
        """A pod bound to a node holds its requests there and counts for inter-pod affinity."""
        assert pod.node is not None
        i = self.nodes.index[pod.node]
        static = self._static(pod)
        self._reserve(i, static.needs, static.nonzero, 1)
        slot = self.index.add(i, pod.namespace, pod.labels, pod.anti_affinity)
        self._slot[pod.uid] = (slot, i, static.needs, static.nonzero)
        self._changed()

    def unaccount(self, pod: Pod) -> None:
        slot, i, needs, nonzero = self._slot.pop(pod.uid)
        self._reserve(i, needs, nonzero, -1)
        self.index.remove(slot)
        self._changed()

    def _reserve(
        self, i: int, needs: tuple[tuple[int, int], ...], nonzero: tuple[int, int], sign: int
    ) -> None:
        self.nodes.reserve(i, needs, nonzero, sign)
        for feasible in self._live_feasible.values():
            feasible.node_changed(i)
        for (shape_nonzero, shape_cpu_mem), scores in self._fit_scores.items():
            scores[i] = P.fit_score_at(self.nodes, i, shape_nonzero, shape_cpu_mem, self.strategy)

    def release(self, pod: Pod) -> None:
        """The pod object is gone: its node's resources are free (pod deletion QueueingHints)."""
        self.unaccount(pod)
        # QueueingHints on assigned-pod deletion: NodeResourcesFit always Queue; InterPodAffinity only
        # when the deleted pod matched all of the pending pod's anti-affinity terms.
        self.queue.move(
            lambda p, plugins: (
                "NodeResourcesFit" in plugins
                or ("InterPodAffinity" in plugins and _matches_all(p.anti_affinity, p, pod))
            )
        )

    def node_changed(self, i: int) -> None:
        """Node ``i``'s taints or schedulability changed (NotReady, repaired): re-filter that node for
        every cached pod shape; every rejection may change (QueueingHint: Queue)."""
        self.version += 1
        nodes = self.nodes
        sharing: dict[int, list[_Static]] = {}
        for static in self._static_cache.values():
            static.stage[i] = P.static_stage_at(
                nodes, static.template, i, static.prefiltered, static.affinity_ok
            )
            if static.taint_score is not None or P.has_prefer_no_schedule(nodes, i):
                static.taint_score = P.prefer_no_schedule_score(nodes, static.template)
            if static.feasible is not None:
                sharing.setdefault(id(static.feasible), []).append(static)
        for statics in sharing.values():
            passes = {bool(s.stage[i] == 0) for s in statics}
            if len(passes) == 1:
                statics[0].feasible.static_changed(i, passes.pop())  # type: ignore[union-attr]
            else:  # shapes that shared a set differ on this node now: each builds its own
                for s in statics:
                    s.feasible = None
        # Every set still in use keeps following binds; equal filters may now map to two equal sets,
        # and either serves a new shape.
        self._live_feasible = {id(s.feasible): s.feasible for s in self._static_cache.values() if s.feasible}
        self._feasible = {
            (s.stage.tobytes(), s.needs): s.feasible for s in self._static_cache.values() if s.feasible
        }
        self._generation = nodes.generation
        self.queue.move(lambda p, plugins: True)

    def _changed(self) -> None:
        self.version += 1
        self.queue.cluster_changed()

    # -- scheduling loop
    def _run(self):
        while True:
            pod = yield from self.queue.pop()
            if pod.node is not None or pod.deleting or not pod.stored:
                continue
            started = self.env.now
            yield self.env.timeout(self.period)
            if pod.deleting or not pod.stored:
                continue
            self.schedule_one(pod, started)

    def schedule_one(self, pod: Pod, started: float) -> None:
        node = self.find_node(pod)
        if isinstance(node, int):
            self.bind(pod, node)
            return
        message, plugins = node
        self.pend(pod, message)
        self.queue.add_unschedulable(pod, plugins, started)

    def pend(self, pod: Pod, reason: str) -> None:
        """Record why a pod stays Pending, once per distinct reason (the FailedScheduling event)."""
        if pod.pending_reason != reason:
            pod.pending_reason = reason
            pod.record(self.timeline, self.env.now, POD_UNSCHEDULABLE, reason=reason)

    def bind(self, pod: Pod, i: int) -> None:
        pod.node = self.nodes.names[i]
        self.account(pod)
        self.bind_placed(pod)

    def bind_placed(self, pod: Pod) -> None:
        """Announce the binding of a pod whose node is chosen and whose resources are accounted."""
        pod.scheduled_at = self.env.now
        pod.pending_reason = None
        self.queue.forget(pod)
        pod.record(self.timeline, self.env.now, POD_SCHEDULED, node=pod.node)
        self.store.update(pod)
        # InterPodAffinity QueueingHint on pod add: the new pod matches all the pending pod's terms.
        self.queue.move(lambda p, plugins: _matches_all(p.affinity, p, pod), only=AFFINITY_PLUGIN)

    # -- one scheduling cycle
    def _static(self, pod: Pod) -> _Static:
        if self._generation != self.nodes.generation:  # taints changed without node_changed: start over
            self._static_cache.clear()
            self._feasible.clear()
            self._live_feasible.clear()
            self._generation = self.nodes.generation
        key = (pod.template.placement, pod.node_selector)
        static = self._static_cache.get(key)
        if static is None:
            t, nodes = pod.template, self.nodes
            stage = np.zeros(len(nodes), dtype=np.int8)
            pinned = P.prefilter_node_names(t)
            prefiltered = None
            if pinned is not None:
                prefiltered = ~np.isin(np.array(nodes.names), sorted(pinned))
                stage[prefiltered] = P.F_PREFILTERED
            affinity_ok = P.node_affinity_mask(nodes, t, pod.node_selector)
            stage[(stage == 0) & ~P.unschedulable_mask(nodes, t)] = P.F_UNSCHEDULABLE
            stage[(stage == 0) & ~P.taint_mask(nodes, t)] = P.F_TAINT
            stage[(stage == 0) & ~affinity_ok] = P.F_NODE_AFFINITY
            req, unknown = nodes.request_vector(t.requests())
            static = _Static(
                t,
                prefiltered,
                affinity_ok,
                stage,
                pinned == set(),
                req,
                tuple((int(c), int(req[c])) for c in np.flatnonzero(req > 0)),
                unknown,
                nonzero_requests(t),
                (int(req[nodes.cpu_col]), int(req[nodes.mem_col])),
                t.images(),
                P.prefer_no_schedule_score(nodes, t),
                P.preferred_node_affinity_score(nodes, t),
            )
            self._static_cache[key] = static
        return static

    def find_node(self, pod: Pod) -> int | tuple[str, frozenset[str]]:
        """A node index, or kube-scheduler's FitError message and the plugins that rejected the pod."""
        nodes = self.nodes
        n = len(nodes)
        if n == 0:
            return "no nodes available to schedule pods", frozenset({"NodeResourcesFit"})
        static = self._static(pod)
        if static.conflict:
            message = (
                f"0/{n} nodes are available: {P.REASON_TERMS_CONFLICT}. no new claims to deallocate, "
                f"preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
            )
            return message, frozenset({"NodeAffinity"})
        inter_pod = bool(pod.affinity or pod.anti_affinity or self.index.term_tables)
        if not inter_pod and not static.unknown:
            members = self._feasible_set(static).members
            if members:
                return self._select(pod, static, members)
        stage = static.stage.copy()
        lacking, over = P.fit_failures(nodes, static.req)
        fit_fail = np.zeros(n, dtype=bool)
        for _, short in lacking:
            fit_fail |= short
        if static.unknown:
            fit_fail[:] = True
            over[:] = True
        stage[(stage == 0) & fit_fail] = P.F_FIT
        if inter_pod:
            aff, anti, existing = P.pod_affinity_masks(
                nodes, self.index, pod.namespace, pod.labels, pod.affinity, pod.anti_affinity
            )
            stage[(stage == 0) & ~aff] = P.F_POD_AFFINITY
            stage[(stage == 0) & ~anti] = P.F_ANTI
            stage[(stage == 0) & ~existing] = P.F_EXISTING_ANTI
        feasible = stage == 0
        if not feasible.any():
            return self._fit_error(stage, static, lacking, over)
        return self._select(pod, static, np.flatnonzero(feasible).tolist())

    def _feasible_set(self, static: _Static) -> FeasibleSet:
        """The feasible set of ``static``'s shape; templates alike for the scheduler (every group's
        worker template) share one, so a bind updates each distinct shape once."""
        if static.feasible is not None:
            return static.feasible
        key = (static.stage.tobytes(), static.needs)
        feasible = self._feasible.get(key)
        if feasible is None:
            feasible = self._feasible[key] = FeasibleSet(self.nodes, static.stage == 0, static.needs)
            self._live_feasible[id(feasible)] = feasible
        static.feasible = feasible
        return feasible

    def _select(self, pod: Pod, static: _Static, hits: list[int]) -> int:
        """Score the first ``percentageOfNodesToScore`` feasible nodes from the rotating start index
        (``numFeasibleNodesToFind``, ``nextStartNodeIndex``), pick one of the best at random."""
        n = len(self.nodes)
        k = num_feasible_nodes_to_find(n)
        start = self.next_start
        split = bisect.bisect_left(hits, start)  # ``hits`` ascending; rotate to begin at ``start``
        rotated = hits[split:] + hits[:split]
        if len(rotated) > k:
            candidates = rotated[:k]
            last = candidates[-1]
            processed = last - start + 1 if last >= start else n - start + last + 1
        else:
            candidates = rotated
            processed = n
        self.next_start = (start + processed) % n
        if len(candidates) == 1:
            return candidates[0]
        fit = self._fit_scores.get((static.nonzero, static.cpu_mem))
        if fit is None:
            fit = P.fit_scores(self.nodes, static.nonzero, static.cpu_mem, self.strategy)
            self._fit_scores[(static.nonzero, static.cpu_mem)] = fit
        containers = len(pod.template.containers)
        if len(candidates) <= FEW_CANDIDATES:
            scores = P.scores_at(self.nodes, candidates, fit, static.images, containers, self._image_terms)
            for weight, extra in ((3, static.taint_score), (2, static.affinity_score)):
                if extra is not None:
                    scores = [s + weight * extra.item(i) for s, i in zip(scores, candidates, strict=True)]
            top = max(scores)
            best = [i for s, i in zip(scores, candidates, strict=True) if s == top]
            return best[self.ties.below(len(best))] if len(best) > 1 else best[0]
        idx = np.array(candidates)
        score = fit[idx]
        images = P.image_locality_score(self.nodes, idx, static.images, containers)
        if images is not None:
            score = score + images
        if static.taint_score is not None:
            score = score + 3 * static.taint_score[idx]
        if static.affinity_score is not None:
            score = score + 2 * static.affinity_score[idx]
        tops = idx[score == score.max()]
        return int(tops[self.ties.below(len(tops))]) if len(tops) > 1 else int(tops[0])

    def _fit_error(
        self, stage: np.ndarray, static: _Static, lacking: list[tuple[int, np.ndarray]], over: np.ndarray
    ) -> tuple[str, frozenset[str]]:
        """FitError.Error() (k8s v1.34 ``framework/types.go``): ``0/N nodes are available: <histogram>.``
        with "count reason" entries sorted as strings, then the PostFilter messages joined by ", ":
        DynamicResources ("no new claims to deallocate") and DefaultPreemption, whose own FitError
        counts nodes preemption cannot help and nodes without lower-priority victims."""
        n = len(stage)
        reasons: Counter[str] = Counter()
        reasons[P.REASON_UNSCHEDULABLE] = int((stage == P.F_UNSCHEDULABLE).sum())
        reasons[P.REASON_TAINT] = int((stage == P.F_TAINT).sum())
        reasons[P.REASON_NODE_AFFINITY] = int((stage == P.F_NODE_AFFINITY).sum())
        fit_rows = stage == P.F_FIT
        for col, short in lacking:
            reasons[P.fit_reason(self.nodes.resources[col])] += int((short & fit_rows).sum())
        for resource in static.unknown:
            reasons[P.fit_reason(resource)] += int(fit_rows.sum())
        reasons[P.REASON_POD_AFFINITY] = int((stage == P.F_POD_AFFINITY).sum())
        reasons[P.REASON_POD_ANTI_AFFINITY] = int((stage == P.F_ANTI).sum())
        reasons[P.REASON_EXISTING_ANTI_AFFINITY] = int((stage == P.F_EXISTING_ANTI).sum())
        reasons[P.REASON_PREFILTERED] = int((stage == P.F_PREFILTERED).sum())
        parts = sorted(f"{c} {r}" for r, c in reasons.items() if c > 0)
        message = f"0/{n} nodes are available: {', '.join(parts)}."
        unresolvable = int((np.isin(stage, P.UNRESOLVABLE_STAGES) | ((stage == P.F_FIT) & over)).sum())
        preemption = []
        if n - unresolvable:
            preemption.append(f"{n - unresolvable} No preemption victims found for incoming pod")
        if unresolvable:
            preemption.append(f"{unresolvable} Preemption is not helpful for scheduling")
        message += (
            f" no new claims to deallocate, preemption: 0/{n} nodes are available: "
            f"{', '.join(sorted(preemption))}."
        )
        plugins = {P.PLUGIN_OF_STAGE[s] for s in np.unique(stage) if s}
        if (stage == P.F_POD_AFFINITY).any():
            plugins.add(AFFINITY_PLUGIN)
        return message, frozenset(plugins)


def _matches_all(terms: tuple, pending: Pod, other: Pod) -> bool:
    """``podMatchesAllAffinityTerms``: false for no terms (interpodaffinity/filtering.go)."""
    return bool(terms) and all(
        other.namespace in (t.namespaces or (pending.namespace,)) and t.selector.matches(other.labels)
        for t in terms
    )
