"""One scheduling cycle: filter, PostFilter on failure, score, select (kubernetes v1.34 ``schedule_one.go``).

``schedulingCycle`` runs ``SchedulePod``: ``findNodesThatFitPod`` (PreFilter; the pod's nominated node
first, ``evaluateNominatedNode``; then the profile's filters until ``numFeasibleNodesToFind`` nodes pass,
starting at ``nextStartNodeIndex``), ``prioritizeNodes`` (the weighted scores) and ``selectHost`` (one of
the best at random). Every filter pass is ``RunFilterPluginsWithNominatedPods``
(``framework/runtime/framework.go``): on a node where pods of at least this pod's priority are nominated,
the filters run with those pods added and, when that passes, again without them; the node must pass both.
When no node passes, the FitError goes to the PostFilter plugins (DefaultPreemption, ``preemption.py``)
before it is reported. Binding is the framework's (``Scheduler.bind``).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling import scoring
from lwssim.engine.scheduling.cache import PodShape, SchedulerCache
from lwssim.engine.scheduling.feasible import FeasibleSet
from lwssim.engine.scheduling.fiterror import (
    NO_CLAIMS_TO_DEALLOCATE,
    NO_NODES_AVAILABLE,
    POST_FILTER_SUCCESS,
    POST_FILTER_UNSCHEDULABLE,
    Diagnosis,
    PostFilterResult,
    fit_error,
    preemption_message,
)
from lwssim.engine.scheduling.nominator import Nominator
from lwssim.engine.scheduling.profile import (
    F_ANTI,
    F_EXISTING_ANTI,
    F_FIT,
    F_POD_AFFINITY,
    F_PREFILTERED,
    NODE_RESOURCES_FIT,
    OK,
)
from lwssim.engine.scheduling.ties import TieBreak

if TYPE_CHECKING:  # the framework attaches its PostFilter plugin
    from lwssim.engine.scheduling.preemption import DefaultPreemption

FEW_CANDIDATES = 32  # up to this many, nodes are scored one by one (cheaper than NumPy calls)

# A node index, or kube-scheduler's FitError message, the plugins that rejected the pod and what the
# PostFilter plugins decided about its nominated node (None: leave it as it is).
Result = int | tuple[str, frozenset[str], PostFilterResult | None]
# One node's filter status: its code (profile.py; OK = passed) and, for NodeResourcesFit, the resource
# columns it lacks.
NodeStatus = tuple[int, tuple[int, ...]]
CLEAR_NOMINATION = PostFilterResult("")  # newFailureNominatingInfo with NominatedNodeNameForExpectation off


def num_feasible_nodes_to_find(n: int) -> int:
    """percentageOfNodesToScore adaptive default: 50% − n/125, at least 5%, at least 100 nodes."""
    if n < 100:
        return n
    percentage = max(50 - n // 125, 5)
    return max(n * percentage // 100, 100)


class SchedulingCycle:
    def __init__(
        self, nodes: NodeTable, cache: SchedulerCache, ties: TieBreak, nominator: Nominator | None = None
    ) -> None:
        self.nodes, self.cache, self.ties = nodes, cache, ties
        self.nominator = Nominator(len(nodes.resources), len(nodes)) if nominator is None else nominator
        self.next_start = 0  # nextStartNodeIndex
        self.preemption: DefaultPreemption | None = None  # the PostFilter plugin, when the framework has one
        self.nominator.watch(self._nomination_changed)

    def find_node(self, pod: Pod) -> Result:
        """``SchedulePod``: a node index, or the FitError message, the plugins that rejected the pod and
        the PostFilter plugins' result."""
        nodes = self.nodes
        n = len(nodes)
        if nodes.present_count == 0:
            return NO_NODES_AVAILABLE, frozenset({NODE_RESOURCES_FIT.name}), CLEAR_NOMINATION
        shape = self.cache.shape(pod)
        if shape.conflict:  # NodeAffinity PreFilter: UnschedulableAndUnresolvable on every node
            diagnosis = Diagnosis(
                np.full(n, F_PREFILTERED, dtype=np.int8),
                {},
                np.zeros(n, dtype=bool),
                [],
                P.REASON_TERMS_CONFLICT,
            )
            return self.fit_error(pod, diagnosis)
        nominator = self.nominator
        # addGENominatedPods: some pod nominated with at least this pod's priority holds requests
        near = not nominator.empty() and nominator.others_at_least(pod)
        if pod.nominated_node is not None:  # evaluateNominatedNode: the node preemption made room on
            i = nodes.index.get(pod.nominated_node)
            if i is not None:
                status = self.filter_with_nominated_at(pod, shape, i, [], nominator.at_least_on(pod, i))
                if status[0] == OK:
                    return i
        inter_pod = bool(pod.affinity or pod.anti_affinity or self.cache.index.term_tables)
        if near and nominator.any_anti_affinity():
            inter_pod = True  # nominated pods' anti-affinity terms count for InterPodAffinity too
        if not inter_pod and not shape.unknown:
            feasible = self.cache.feasible_set(shape)
            members, extra = feasible.members, None
            if near:
                members, extra = self._fit_with_held(pod, shape, feasible)
            if members:
                return self.select(pod, shape, members)
            return self.fit_error(pod, self._rejected_by_fit(shape, feasible, extra))
        held = nominator.requests_at_least(pod) if near else None
        found = self.find_nodes_that_fit(pod, shape, inter_pod, held)
        if isinstance(found, Diagnosis):
            return self.fit_error(pod, found)
        return self.select(pod, shape, found)

    def _fit_with_held(self, pod: Pod, shape: PodShape, feasible: FeasibleSet) -> tuple[list[int], list[int]]:
        """The feasible set's nodes where the pod still fits with the requests of the pods nominated with
        at least its priority (itself left out) counted, and, per requested resource, how many more nodes
        passing the static filters lack it then."""
        fit = feasible.nominated_fit(self.nominator, pod.template.priority)
        extra, freed = fit.extra, -1
        own = self.nominator.nomination_of(pod)
        if own is not None:
            extra, freed = fit.without(*own)
        members, blocked = feasible.members, fit.blocked
        if blocked:  # the blocked nodes are members (they fit without the nominated pods)
            if len(blocked) == len(members):  # all of them: while preemptions are under way, the rule
                members = [] if freed < 0 else [freed]
            else:
                members = [i for i in members if i not in blocked or i == freed]
        return members, extra

    def _nomination_changed(self, i: int) -> None:
        """The pods nominated to node ``i`` changed: every kept nominated fit follows (none are kept once
        no pod is nominated)."""
        empty = self.nominator.empty()
        for feasible in self.cache.live_feasible_sets():
            if empty:
                feasible.nominated.clear()
            else:
                for fit in feasible.nominated.values():
                    fit.node_changed(i)

    def _rejected_by_fit(self, shape: PodShape, feasible: FeasibleSet, extra: list[int] | None) -> Diagnosis:
        """The Diagnosis when the pod fits no node the static filters pass, read from the counts the
        feasible set keeps (and the nominated nodes' ``extra`` lacking counts) instead of a pass over every
        node: what ``find_nodes_that_fit`` finds then (``tests/test_scheduler_feasible.py``)."""
        kept = self.cache.rejected_by_fit(shape)
        lacking = {}
        counts = feasible.lacking_counts()
        for k, (col, _) in enumerate(shape.needs):
            n = counts[k] + (extra[k] if extra else 0)
            if n:
                lacking[col] = n
        return kept.sharing(lacking)

    def find_nodes_that_fit(
        self, pod: Pod, shape: PodShape, inter_pod: bool, held: np.ndarray | None = None
    ) -> list[int] | Diagnosis:
        """Every filter over every node, vectorised: the static ones (kept per shape), then
        NodeResourcesFit and InterPodAffinity, in profile order; the first failure decides a node. With
        pods nominated (``held``: their requests per node), a node is filtered with them first, and a
        failure there decides; NodeResourcesFit fails with them whenever it fails without."""
        nodes = self.nodes
        stage = shape.stage.copy()
        lacking, over = P.fit_failures(nodes, shape.req, held)
        fit_fail = np.zeros(len(nodes), dtype=bool)
        for _, short in lacking:
            fit_fail |= short
        if shape.unknown:
            fit_fail[:] = True
            over[:] = True
        stage[(stage == 0) & fit_fail] = F_FIT
        if inter_pod:
            aff, anti, existing = P.pod_affinity_masks(
                nodes, self.cache.index, pod.namespace, pod.labels, pod.affinity, pod.anti_affinity
            )
            passed = stage == 0
            stage[(stage == 0) & ~aff] = F_POD_AFFINITY
            stage[(stage == 0) & ~anti] = F_ANTI
            stage[(stage == 0) & ~existing] = F_EXISTING_ANTI
            if held is not None:
                for i in self.nominator.nodes():
                    if passed[i]:
                        code = self._nominated_inter_pod_at(pod, i, anti, existing)
                        if code != OK:
                            stage[i] = code
        feasible = stage == 0
        if not feasible.any():
            fit_rows = stage == F_FIT
            counted = {col: int(np.count_nonzero(short & fit_rows)) for col, short in lacking}
            return Diagnosis(stage, counted, over, shape.unknown)
        return np.flatnonzero(feasible).tolist()

    def _nominated_inter_pod_at(self, pod: Pod, i: int, anti: np.ndarray, existing: np.ndarray) -> int:
        """InterPodAffinity on node ``i`` with the pods nominated there (at least this pod's priority)
        added: they sit in node ``i``'s own domains, so without affinity terms a match among them fails
        the node; with affinity terms the counts are taken again."""
        added = self.nominator.at_least_on(pod, i)
        if not added:
            return OK
        if pod.affinity:
            return self._inter_pod_at(pod, i, [], added)
        nodes = self.nodes
        if not anti[i] or any(
            nodes.label_codes(t.topology_key)[i] >= 0
            and any(
                q.namespace in (t.namespaces or (pod.namespace,)) and t.selector.matches(q.labels)
                for q in added
            )
            for t in pod.anti_affinity
        ):
            return F_ANTI
        if not existing[i] or any(
            nodes.label_codes(t.topology_key)[i] >= 0
            and pod.namespace in (t.namespaces or (q.namespace,))
            and t.selector.matches(pod.labels)
            for q in added
            for t in q.anti_affinity
        ):
            return F_EXISTING_ANTI
        return OK

    # -- one node's filters, with pods taken off or put on its NodeInfo
    def filter_with_nominated_at(
        self, pod: Pod, shape: PodShape, i: int, removed: list[Pod], nominated: list[Pod]
    ) -> NodeStatus:
        """``RunFilterPluginsWithNominatedPods`` on node ``i`` without the ``removed`` pods: first with the
        ``nominated`` pods added; if that passes (or there are none), without them."""
        if nominated:
            status = self.filter_at(pod, shape, i, removed, nominated)
            if status[0] != OK:
                return status
        return self.filter_at(pod, shape, i, removed, [])

    def filter_at(
        self, pod: Pod, shape: PodShape, i: int, removed: list[Pod], added: list[Pod]
    ) -> NodeStatus:
        """``RunFilterPlugins`` on a copy of node ``i``'s NodeInfo from which ``removed`` (pods it holds) are
        taken off and to which ``added`` are put on: the static filters as the shape keeps them, then
        NodeResourcesFit over the requests the pod makes, then InterPodAffinity."""
        code = int(shape.stage[i])
        if code != OK:
            return code, ()
        if shape.unknown:
            return F_FIT, ()
        cache = self.cache
        change: dict[int, int] = {}  # resource column -> what the removed free less what the added take
        for q in removed:
            for col, amount in cache.needs_of(q):
                change[col] = change.get(col, 0) + amount
        for q in added:
            for col, amount in cache.needs_of(q):
                change[col] = change.get(col, 0) - amount
        rows = self.nodes.free_rows
        short = [col for col, need in shape.needs if rows[col].item(i) + change.get(col, 0) < need]
        if short:
            return F_FIT, tuple(short)
        return self._inter_pod_at(pod, i, removed, added), ()

    def _inter_pod_at(self, pod: Pod, i: int, removed: list[Pod], added: list[Pod]) -> int:
        """InterPodAffinity on node ``i`` with the assigned pods changed so (its PreFilter state updated by
        ``RemovePod``/``AddPod``): the index is changed for the evaluation and restored after."""
        cache = self.cache
        index = cache.index
        if not (
            pod.affinity or pod.anti_affinity or index.term_tables or any(q.anti_affinity for q in added)
        ):
            return OK
        suspended = [(slot, index.suspend(slot)) for slot in [cache.slot_of(q) for q in removed]]
        temporary = [index.add(i, q.namespace, q.labels, q.anti_affinity) for q in added]
        aff, anti, existing = P.pod_affinity_masks(
            self.nodes, index, pod.namespace, pod.labels, pod.affinity, pod.anti_affinity
        )
        for slot in temporary:
            index.remove(slot)
        for slot, rows in suspended:  # each slot's term rows are its own: any order restores them
            index.resume(slot, rows)
        if not aff[i]:
            return F_POD_AFFINITY
        if not anti[i]:
            return F_ANTI
        if not existing[i]:
            return F_EXISTING_ANTI
        return OK

    # -- PostFilter
    def fit_error(
        self, pod: Pod, diagnosis: Diagnosis
    ) -> tuple[str, frozenset[str], PostFilterResult | None]:
        """The FitError message with what the PostFilter plugins say, the rejecting plugins, and the
        PostFilter result."""
        message, result = self.post_filter(pod, diagnosis)
        return (
            fit_error(self.nodes.present_count, diagnosis, self.nodes.resources, message),
            diagnosis.unschedulable_plugins(),
            result,
        )

    def post_filter(self, pod: Pod, diagnosis: Diagnosis) -> tuple[str, PostFilterResult | None]:
        """PostFilter (``RunPostFilterPlugins``), in profile order: DynamicResources has no claims to
        deallocate (Unschedulable), then DefaultPreemption. A Success returns at once, with no message; an
        Error alone is the message; Unschedulable messages are joined."""
        preemption = self.preemption
        if preemption is None:  # a cycle without the plugin: its verdict on a cluster of one priority
            n = self.nodes.present_count
            return f"{NO_CLAIMS_TO_DEALLOCATE}, {preemption_message(n, diagnosis.unresolvable())}", None
        code, message, result = preemption.post_filter(pod, diagnosis)
        if code == POST_FILTER_SUCCESS:
            return "", result
        if code == POST_FILTER_UNSCHEDULABLE:
            return f"{NO_CLAIMS_TO_DEALLOCATE}, {message}", result
        return message, None

    def select(self, pod: Pod, shape: PodShape, hits: list[int]) -> int:
        """Score the first ``percentageOfNodesToScore`` feasible nodes from the rotating start index
        (``numFeasibleNodesToFind``, ``nextStartNodeIndex``), pick one of the best at random."""
        n = len(self.nodes)
        k = num_feasible_nodes_to_find(self.nodes.present_count)
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
        fit = self.cache.fit_scores_of(shape)
        containers = len(pod.template.containers)
        if len(candidates) <= FEW_CANDIDATES:
            scores = scoring.scores_at(
                self.nodes, candidates, fit, shape.images, containers, self.cache.image_terms
            )
            scores = scoring.add_static_scores_at(scores, candidates, shape.taint_score, shape.affinity_score)
            top = max(scores)
            best = [i for s, i in zip(scores, candidates, strict=True) if s == top]
            return best[self.ties.below(len(best))] if len(best) > 1 else best[0]
        idx = np.array(candidates)
        score = scoring.scores_vectorised(
            self.nodes, idx, fit, shape.images, containers, shape.taint_score, shape.affinity_score
        )
        tops = idx[score == score.max()]
        return int(tops[self.ties.below(len(tops))]) if len(tops) > 1 else int(tops[0])
