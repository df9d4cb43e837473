"""One scheduling cycle: filter, PostFilter on failure, score, select (kubernetes v1.34 ``schedule_one.go``).

``schedulingCycle`` runs ``SchedulePod``: ``findNodesThatFitPod`` (PreFilter, then the profile's filters
until ``numFeasibleNodesToFind`` nodes pass, starting at ``nextStartNodeIndex``), ``prioritizeNodes``
(the weighted scores) and ``selectHost`` (one of the best at random). When no node passes, the FitError
goes to the PostFilter plugins before it is reported. Binding is the framework's (``Scheduler.bind``).
"""

from __future__ import annotations

import bisect

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling import scoring
from lwssim.engine.scheduling.cache import PodShape, SchedulerCache
from lwssim.engine.scheduling.fiterror import (
    NO_CLAIMS_TO_DEALLOCATE,
    NO_NODES_AVAILABLE,
    Diagnosis,
    fit_error,
    preemption_message,
)
from lwssim.engine.scheduling.profile import (
    F_ANTI,
    F_EXISTING_ANTI,
    F_FIT,
    F_POD_AFFINITY,
    F_PREFILTERED,
    NODE_RESOURCES_FIT,
)
from lwssim.engine.scheduling.ties import TieBreak

FEW_CANDIDATES = 32  # up to this many, nodes are scored one by one (cheaper than NumPy calls)

# A node index, or kube-scheduler's FitError message and the plugins that rejected the pod.
Result = int | tuple[str, frozenset[str]]


def num_feasible_nodes_to_find(n: int) -> int:
    """percentageOfNodesToScore adaptive default: 50% − n/125, at least 5%, at least 100 nodes."""
    if n < 100:
        return n
    percentage = max(50 - n // 125, 5)
    return max(n * percentage // 100, 100)


class SchedulingCycle:
    def __init__(self, nodes: NodeTable, cache: SchedulerCache, ties: TieBreak) -> None:
        self.nodes, self.cache, self.ties = nodes, cache, ties
        self.next_start = 0  # nextStartNodeIndex

    def find_node(self, pod: Pod) -> Result:
        """``SchedulePod``: a node index, or the FitError message and the plugins that rejected the pod."""
        nodes = self.nodes
        n = len(nodes)
        if n == 0:
            return NO_NODES_AVAILABLE, frozenset({NODE_RESOURCES_FIT.name})
        shape = self.cache.shape(pod)
        if shape.conflict:  # NodeAffinity PreFilter: UnschedulableAndUnresolvable on every node
            diagnosis = Diagnosis(
                np.full(n, F_PREFILTERED, dtype=np.int8),
                [],
                np.zeros(n, dtype=bool),
                [],
                P.REASON_TERMS_CONFLICT,
            )
            return self.fit_error(pod, diagnosis), diagnosis.unschedulable_plugins()
        inter_pod = bool(pod.affinity or pod.anti_affinity or self.cache.index.term_tables)
        if not inter_pod and not shape.unknown:
            members = self.cache.feasible_set(shape).members
            if members:
                return self.select(pod, shape, members)
        feasible = self.find_nodes_that_fit(pod, shape, inter_pod)
        if isinstance(feasible, Diagnosis):
            return self.fit_error(pod, feasible), feasible.unschedulable_plugins()
        return self.select(pod, shape, feasible)

    def find_nodes_that_fit(self, pod: Pod, shape: PodShape, inter_pod: bool) -> list[int] | Diagnosis:
        """Every filter over every node, vectorised: the static ones (kept per shape), then
        NodeResourcesFit and InterPodAffinity, in profile order; the first failure decides a node."""
        nodes = self.nodes
        stage = shape.stage.copy()
        lacking, over = P.fit_failures(nodes, shape.req)
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
            stage[(stage == 0) & ~aff] = F_POD_AFFINITY
            stage[(stage == 0) & ~anti] = F_ANTI
            stage[(stage == 0) & ~existing] = F_EXISTING_ANTI
        feasible = stage == 0
        if not feasible.any():
            return Diagnosis(stage, lacking, over, shape.unknown)
        return np.flatnonzero(feasible).tolist()

    def fit_error(self, pod: Pod, diagnosis: Diagnosis) -> str:
        """The FitError message, with what the PostFilter plugins say."""
        return fit_error(len(self.nodes), diagnosis, self.nodes.resources, self.post_filter(pod, diagnosis))

    def post_filter(self, pod: Pod, diagnosis: Diagnosis) -> str:
        """PostFilter (``RunPostFilterPlugins``), in profile order: DynamicResources has no claims to
        deallocate; DefaultPreemption's dry run finds no lower-priority victims (the extension point
        where preemption goes next)."""
        n = len(self.nodes)
        return f"{NO_CLAIMS_TO_DEALLOCATE}, {preemption_message(n, diagnosis.unresolvable())}"

    def select(self, pod: Pod, shape: PodShape, hits: list[int]) -> int:
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
