"""The scheduler's cache: what it knows of nodes and bound pods between scheduling cycles.

kube-scheduler keeps a cache of nodes and the pods assigned to them (kubernetes v1.34
``pkg/scheduler/backend/cache``), with each pod's requests added to its node (``AddPod``,
``RemovePod``) and a snapshot per cycle. Here the node table is shared with the kubelets and the node
lifecycle, and the cache keeps, per pod shape (template placement and node selector), what a cycle
would otherwise recompute for every pod:

- the static filters of the profile (node labels, taints, schedulability) as the first failing filter
  per node, re-filtered one node at a time when a node's taints or schedulability change;
- the nodes the shape fits on now (``FeasibleSet``), followed bind by bind;
- NodeResourcesFit + BalancedAllocation scores of every node, updated on the node a pod is bound to or
  released from; TaintToleration and NodeAffinity scores;
- the bound pods by node, labels and (anti-)affinity terms (``PodIndex``) for InterPodAffinity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.feasible import FeasibleSet
from lwssim.engine.scheduling.fiterror import Diagnosis
from lwssim.engine.scheduling.nodepods import NodePods, start_time
from lwssim.engine.scheduling.podindex import PodIndex
from lwssim.engine.scheduling.profile import F_ABSENT, F_FIT, F_PREFILTERED, OK, STATIC_FILTERS
from lwssim.engine.scheduling.scoring import fit_score_at, fit_scores
from lwssim.model.pod import PodTemplate

DEFAULT_MILLI_CPU = 100  # pkg/scheduler/util.DefaultMilliCPURequest
DEFAULT_MEMORY = 200 * 1024 * 1024  # pkg/scheduler/util.DefaultMemoryRequest

Needs = tuple[tuple[int, int], ...]  # (resource column, amount) where a request is > 0


@dataclass
class PodShape:
    """Per-shape results that change only when node labels, taints or schedulability do; a change of
    one node's taints re-filters that node alone (``SchedulerCache.node_changed``)."""

    template: PodTemplate
    prefiltered: np.ndarray | None  # nodes a PreFilterResult leaves out (metadata.name terms)
    kept_masks: tuple[np.ndarray | None, ...]  # per static filter: its mask where it reads fixed labels
    stage: np.ndarray  # first failing static filter per node (0 = passed)
    conflict: bool  # required node terms pin no node name at all (PreFilter fails)
    req: np.ndarray
    needs: Needs
    unknown: list[str]
    nonzero: tuple[int, int]
    cpu_mem: tuple[int, int]
    images: tuple[str, ...]
    taint_score: np.ndarray | None
    affinity_score: np.ndarray | None
    feasible: FeasibleSet | None = None  # shared with every shape of the same filters and requests
    # the statuses and their counts when NodeResourcesFit rejects every node the static filters pass
    rejected: Diagnosis | None = None


def nonzero_requests(template: PodTemplate) -> tuple[int, int]:
    """cpu/memory used for scoring: 100m and 200MB stand in for a container's missing request."""
    cpu = mem = 0
    for c in template.containers:
        r = dict(c.requests)
        cpu += r.get("cpu", 0) or DEFAULT_MILLI_CPU
        mem += r.get("memory", 0) or DEFAULT_MEMORY
    return cpu, mem


class SchedulerCache:
    def __init__(self, nodes: NodeTable, strategy: str) -> None:
        self.nodes = nodes
        self.strategy = strategy
        self.index = PodIndex()
        self.shapes: dict[tuple, PodShape] = {}
        self._feasible: dict[tuple[bytes, tuple], FeasibleSet] = {}  # by static filter result and request
        self._live_feasible: dict[int, FeasibleSet] = {}  # every set some cached shape uses, by id
        self._generation = nodes.generation  # node taints the cached shapes were computed for
        # per (nonzero requests, cpu/memory requests): resource scores of every node, kept current
        self.fit_scores: dict[tuple[tuple[int, int], tuple[int, int]], np.ndarray] = {}
        self.image_terms: dict[tuple, tuple] = {}  # ImageLocality terms per image set and spread
        # pod uid -> (PodIndex slot, node, requests held there)
        self._slot: dict[int, tuple[int, int, Needs, tuple[int, int]]] = {}
        # what preemption reads (NodeInfo.Pods): the pods on each node, in the order they came, and how
        # many bound pods there are of each priority (no lower-priority pod anywhere: no victims)
        self._on_node: list[dict[int, Pod]] = [{} for _ in range(len(nodes))]
        self._priorities: dict[int, int] = {}
        # per priority: the requests of its bound pods on each node (a row per resource) and their number
        # per node; built on a preemption's first dry run, then kept current
        self._by_priority: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        # the same pods as arrays (priority, start, requests), for a dry run over many nodes at once
        self.node_pods = NodePods(len(nodes), len(nodes.resources))
        self._watchers: list[Callable[[int], None]] = []  # told the node whose bound pods changed

    def watch(self, changed: Callable[[int], None]) -> None:
        """Call ``changed(node)`` whenever a pod is bound to or released from ``node``, or starts there."""
        self._watchers.append(changed)

    # -- bound pods (AddPod, RemovePod)
    def add_pod(self, pod: Pod) -> None:
        """A pod bound to a node holds its requests there and counts for inter-pod affinity."""
        assert pod.node is not None
        i = self.nodes.index[pod.node]
        shape = self.shape(pod)
        self._reserve(i, shape.needs, shape.nonzero, 1)
        slot = self.index.add(i, pod.namespace, pod.labels, pod.anti_affinity)
        self._slot[pod.uid] = (slot, i, shape.needs, shape.nonzero)
        self._on_node[i][pod.uid] = pod
        self.node_pods.add(pod, i, shape.needs, start_time(pod))
        priority = pod.template.priority
        self._priorities[priority] = self._priorities.get(priority, 0) + 1
        if self._by_priority is not None:
            self._count_priority(priority, i, shape.needs, 1)
        for changed in self._watchers:
            changed(i)

    def remove_pod(self, pod: Pod) -> None:
        slot, i, needs, nonzero = self._slot.pop(pod.uid)
        self._reserve(i, needs, nonzero, -1)
        self.index.remove(slot)
        del self._on_node[i][pod.uid]
        self.node_pods.remove(pod)
        priority = pod.template.priority
        left = self._priorities[priority] - 1
        if left:
            self._priorities[priority] = left
        else:
            del self._priorities[priority]
        if self._by_priority is not None:
            self._count_priority(priority, i, needs, -1)
        for changed in self._watchers:
            changed(i)

    def started(self, pod: Pod) -> None:
        """The binding set the pod's start time."""
        self.node_pods.started(pod, start_time(pod))
        held = self._slot.get(pod.uid)
        if held is not None:
            for changed in self._watchers:
                changed(held[1])

    def _count_priority(self, priority: int, i: int, needs: Needs, sign: int) -> None:
        assert self._by_priority is not None
        entry = self._by_priority.get(priority)
        if entry is None:
            n = len(self.nodes)
            entry = self._by_priority[priority] = (
                np.zeros((len(self.nodes.resources), n), dtype=np.int64),
                np.zeros(n, dtype=np.int64),
            )
        requests, count = entry
        for col, amount in needs:
            requests[col, i] += sign * amount
        count[i] += sign

    def below(self, priority: int) -> tuple[np.ndarray, np.ndarray]:
        """What the pods of lower priority than ``priority`` request on each node (a row per resource),
        and how many there are on each node: all a dry run of preemption needs when only requests
        matter."""
        if self._by_priority is None:
            self._by_priority = {}
            for i, pods in enumerate(self._on_node):
                for pod in pods.values():
                    self._count_priority(pod.template.priority, i, self._slot[pod.uid][2], 1)
        n = len(self.nodes)
        requests = np.zeros((len(self.nodes.resources), n), dtype=np.int64)
        count = np.zeros(n, dtype=np.int64)
        for p, (r, c) in self._by_priority.items():
            if p < priority:
                requests += r
                count += c
        return requests, count

    def below_rows(self, priority: int, cols: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
        """``below`` for the resource columns ``cols`` only."""
        if self._by_priority is None:
            self.below(priority)
        assert self._by_priority is not None
        entries = [e for p, e in self._by_priority.items() if p < priority]
        if not entries:
            return [np.zeros(len(self.nodes), dtype=np.int64) for _ in cols], np.zeros(
                len(self.nodes), dtype=np.int64
            )
        requests, count = entries[0]
        rows = [requests[col] for col in cols]
        if len(entries) > 1:
            rows = [row.copy() for row in rows]
            count = count.copy()
            for requests, c in entries[1:]:
                for k, col in enumerate(cols):
                    rows[k] += requests[col]
                count += c
        return rows, count

    def holds(self, pod: Pod) -> bool:
        return pod.uid in self._slot

    def pods_on(self, i: int) -> list[Pod]:
        """The pods node ``i`` holds, terminating ones included until their object is gone (NodeInfo.Pods)."""
        return list(self._on_node[i].values())

    def pods_below(self, i: int, priority: int) -> list[Pod]:
        """The pods node ``i`` holds whose priority is lower than ``priority`` (the possible victims)."""
        return [p for p in self._on_node[i].values() if p.template.priority < priority]

    def any_below(self, priority: int) -> bool:
        """Whether some node holds a pod of lower priority than ``priority``."""
        return any(p < priority for p in self._priorities)

    def slot_of(self, pod: Pod) -> int:
        """The ``PodIndex`` slot of a pod the cache holds."""
        return self._slot[pod.uid][0]

    def needs_of(self, pod: Pod) -> Needs:
        """(resource column, amount) of ``pod``'s requests: what it holds on its node, or would."""
        held = self._slot.get(pod.uid)
        return held[2] if held is not None else self.shape(pod).needs

    def _reserve(self, i: int, needs: Needs, nonzero: tuple[int, int], sign: int) -> None:
        self.nodes.reserve(i, needs, nonzero, sign)
        for feasible in self._live_feasible.values():
            feasible.node_changed(i)
        for (shape_nonzero, shape_cpu_mem), scores in self.fit_scores.items():
            scores[i] = fit_score_at(self.nodes, i, shape_nonzero, shape_cpu_mem, self.strategy)

    # -- nodes
    def node_changed(self, i: int) -> None:
        """Node ``i``'s taints or schedulability changed (NotReady, repaired): re-filter that node for
        every cached pod shape."""
        nodes = self.nodes
        sharing: dict[int, list[PodShape]] = {}
        for shape in self.shapes.values():
            shape.stage[i] = self._stage_at(shape, i)
            shape.rejected = None
            if shape.taint_score is not None or P.has_prefer_no_schedule(nodes, i):
                shape.taint_score = P.prefer_no_schedule_score(nodes, shape.template)
            if shape.feasible is not None:
                sharing.setdefault(id(shape.feasible), []).append(shape)
        for shapes in sharing.values():
            passes = {bool(s.stage[i] == 0) for s in shapes}
            if len(passes) == 1:
                shapes[0].feasible.static_changed(i, passes.pop())  # type: ignore[union-attr]
            else:  # shapes that shared a set differ on this node now: each builds its own
                for s in shapes:
                    s.feasible = None
        # Every set still in use keeps following binds; equal filters may now map to two equal sets,
        # and either serves a new shape.
        self._live_feasible = {id(s.feasible): s.feasible for s in self.shapes.values() if s.feasible}
        self._feasible = {
            (s.stage.tobytes(), s.needs): s.feasible for s in self.shapes.values() if s.feasible
        }
        self._generation = nodes.generation

    def node_replaced(self, i: int) -> None:
        """Node ``i`` was added or deleted, or its allocatable changed (an autoscaler's node): every
        pod shape and score is derived again from the table, and those watching nodes hear of ``i``."""
        self.shapes.clear()
        self._feasible.clear()
        self._live_feasible.clear()
        self.fit_scores.clear()
        self._generation = self.nodes.generation
        for changed in self._watchers:
            changed(i)

    def passes_static_at(self, pod: Pod, i: int) -> bool:
        """Whether ``pod`` passes the static filters (node name, schedulability, taints, node affinity)
        on row ``i``, present or not: what a node of that row's pool would offer it."""
        shape = self.shape(pod)
        if shape.prefiltered is not None and shape.prefiltered[i]:
            return False
        for plugin, kept in zip(STATIC_FILTERS, shape.kept_masks, strict=True):
            at = plugin.filter_at
            passes = at(self.nodes, shape.template, i) if at is not None else bool(kept[i])  # type: ignore[index]
            if not passes:
                return False
        return True

    def _stage_at(self, shape: PodShape, i: int) -> int:
        """The first static filter node ``i`` fails (OK if none), in profile order, as ``shape``'s
        vectorised pass finds it: the PreFilter result first, then each static filter of the profile."""
        if not self.nodes.present[i]:
            return F_ABSENT
        if shape.prefiltered is not None and shape.prefiltered[i]:
            return F_PREFILTERED
        for plugin, kept in zip(STATIC_FILTERS, shape.kept_masks, strict=True):
            at = plugin.filter_at
            if at is not None:
                passes = at(self.nodes, shape.template, i)
            else:  # a filter over fixed labels: its mask is kept
                assert kept is not None
                passes = bool(kept[i])
            if not passes:
                return plugin.rejections[0].code
        return OK

    # -- pod shapes
    def shape(self, pod: Pod) -> PodShape:
        """The cached shape of ``pod`` (its template's placement and its node selector)."""
        if self._generation != self.nodes.generation:  # taints changed without node_changed: start over
            self.shapes.clear()
            self._feasible.clear()
            self._live_feasible.clear()
            self._generation = self.nodes.generation
        key = (pod.template.placement, pod.node_selector)
        shape = self.shapes.get(key)
        if shape is None:
            shape = self.shapes[key] = self._new_shape(pod.template, pod.node_selector)
        return shape

    def _new_shape(self, t: PodTemplate, selector: tuple[tuple[str, str], ...]) -> PodShape:
        """PreFilter (NodeAffinity's node names), the static filters in profile order, requests."""
        nodes = self.nodes
        stage = np.zeros(len(nodes), dtype=np.int8)
        stage[~nodes.present] = F_ABSENT
        pinned = P.prefilter_node_names(t)
        prefiltered = None
        if pinned is not None:
            prefiltered = ~np.isin(np.array(nodes.names), sorted(pinned))
            stage[prefiltered & (stage == 0)] = F_PREFILTERED
        kept: list[np.ndarray | None] = []
        for plugin in STATIC_FILTERS:
            assert plugin.filter is not None
            mask = plugin.filter(nodes, t, selector)
            kept.append(mask if plugin.filter_at is None else None)
            stage[(stage == 0) & ~mask] = plugin.rejections[0].code
        req, unknown = nodes.request_vector(t.requests())
        return PodShape(
            t,
            prefiltered,
            tuple(kept),
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

    def feasible_set(self, shape: PodShape) -> FeasibleSet:
        """The feasible set of ``shape``; shapes alike for the scheduler (every group's worker template)
        share one, so a bind updates each distinct shape once."""
        if shape.feasible is not None:
            return shape.feasible
        key = (shape.stage.tobytes(), shape.needs)
        feasible = self._feasible.get(key)
        if feasible is None:
            feasible = self._feasible[key] = FeasibleSet(self.nodes, shape.stage == 0, shape.needs)
            self._live_feasible[id(feasible)] = feasible
        shape.feasible = feasible
        return feasible

    def live_feasible_sets(self) -> list[FeasibleSet]:
        """Every feasible set some cached shape uses."""
        return list(self._live_feasible.values())

    def rejected_by_fit(self, shape: PodShape) -> Diagnosis:
        """The Diagnosis when the pod fits on no node the static filters pass (those all fail
        NodeResourcesFit) but for how many nodes lack each resource: the statuses, their counts, the nodes
        preemption might help. Kept until a node's static filters change; the caller adds the counts."""
        rejected = shape.rejected
        if rejected is None:
            feasible = self.feasible_set(shape)
            stage = np.where(shape.stage == OK, np.int8(F_FIT), shape.stage)
            rejected = Diagnosis(stage, {}, feasible.over, [])
            rejected.unresolvable()  # counted now, for every copy
            rejected.helpful_nodes()
            shape.rejected = rejected
        return rejected

    def fit_scores_of(self, shape: PodShape) -> np.ndarray:
        """NodeResourcesFit + BalancedAllocation of every node for ``shape``'s requests, kept current."""
        key = (shape.nonzero, shape.cpu_mem)
        fit = self.fit_scores.get(key)
        if fit is None:
            fit = self.fit_scores[key] = fit_scores(self.nodes, shape.nonzero, shape.cpu_mem, self.strategy)
        return fit
