"""kube-scheduler's words for a pod that fits no node: the FitError and the PostFilter messages.

``FitError.Error()`` (kubernetes v1.34 ``pkg/scheduler/framework/types.go``) reads
``0/N nodes are available: <PreFilter message or histogram>. <PostFilter message>.``: the histogram
counts each node under the reason of the first filter it failed, as "count reason" entries sorted as
whole strings and joined by ", ". The PostFilter message joins what each PostFilter plugin said, in
profile order: DynamicResources ("no new claims to deallocate") and DefaultPreemption, whose dry run
words its own verdict as a FitError over the nodes (``pkg/scheduler/framework/preemption/preemption.go``):
nodes where preemption is not helpful (UnschedulableAndUnresolvable), nodes without lower-priority
victims, and the filters' reasons on nodes where removing every lower-priority pod is not enough. When
preemption nominates a node, ``RunPostFilterPlugins`` returns its Success at once and the message has no
PostFilter part (``framework/runtime/framework.go``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from lwssim.engine.objects import Pod
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.profile import (
    AFFINITY_REJECTION,
    F_ABSENT,
    F_FIT,
    F_POD_AFFINITY,
    OK,
    PLUGIN_OF_STAGE,
    REASON_OF_STAGE,
    STAGES,
    UNRESOLVABLE_OF_STAGE,
    UNRESOLVABLE_STAGES,
)

NO_NODES_AVAILABLE = "no nodes available to schedule pods"  # ErrNoNodesAvailable (scheduler.go)
NO_CLAIMS_TO_DEALLOCATE = "no new claims to deallocate"  # dynamicresources PostFilter
NO_VICTIMS = "No preemption victims found for incoming pod"  # default_preemption.go
NOT_HELPFUL = "Preemption is not helpful for scheduling"  # preemption.go
# PodEligibleToPreemptOthers (default_preemption.go)
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."

WORDED_KEPT = 1024  # histograms a shape keeps worded, by the counts of nodes lacking each resource

# The code of the status the PostFilter plugins return together (``RunPostFilterPlugins``).
POST_FILTER_SUCCESS, POST_FILTER_UNSCHEDULABLE, POST_FILTER_ERROR = range(3)


@dataclass(frozen=True)
class PostFilterResult:
    """``framework.PostFilterResult`` (``ModeOverride``): the pod's nominatedNodeName from now on, "" to
    clear it, and the victims preemption evicts on that node. No result (None) leaves the nomination as
    it is (``ModeNoop``)."""

    nominated_node: str
    victims: tuple[Pod, ...] = ()


@dataclass
class Diagnosis:
    """What the filter pass found (``framework.Diagnosis``): the first failing filter per node, how many
    of the nodes NodeResourcesFit rejected lack each requested resource (by column), the nodes where a
    request exceeds the whole allocatable, resources no node has, and a PreFilter rejection's message (the
    histogram's stand-in). The arrays are read only: they may be a cached shape's own. A pass that
    already counted the statuses (``counts``) or the unresolvable nodes gives them; Diagnoses that differ
    only in ``lacking`` share what is derived from the rest, and the histograms already worded."""

    stage: np.ndarray
    lacking: dict[int, int]
    over: np.ndarray
    unknown: list[str]
    pre_filter_msg: str = ""
    counts: list[int] | None = field(default=None, repr=False, compare=False)
    unresolvable_fit: int | None = field(default=None, repr=False, compare=False)
    helpful: np.ndarray | None = field(default=None, repr=False, compare=False)
    plugins: frozenset[str] | None = field(default=None, repr=False, compare=False)
    worded: dict[tuple[tuple[int, int], ...], str] | None = field(default=None, repr=False, compare=False)

    def sharing(self, lacking: dict[int, int]) -> Diagnosis:
        """This Diagnosis with other ``lacking`` counts, sharing what derives from the rest."""
        if self.worded is None:
            self.worded = {}
        return Diagnosis(
            self.stage,
            lacking,
            self.over,
            self.unknown,
            self.pre_filter_msg,
            self.stage_counts(),
            self.unresolvable_fit,
            self.helpful,
            self.unschedulable_plugins(),
            self.worded,
        )

    def stage_counts(self) -> list[int]:
        """How many nodes have each filter status (counted once)."""
        counts = self.counts
        if counts is None:
            counts = self.counts = np.bincount(self.stage, minlength=STAGES).tolist()
        return counts

    def histogram(self, resources: list[str]) -> str:
        """The FitError histogram: "count reason" per reason, sorted as strings (types.go)."""
        worded = self.worded
        if worded is not None:
            key = tuple(self.lacking.items())
            words = worded.get(key)
            if words is None:
                if len(worded) >= WORDED_KEPT:  # bounded: counts seldom repeat after many changes
                    worded.clear()
                words = worded[key] = self._histogram(resources)
            return words
        return self._histogram(resources)

    def _histogram(self, resources: list[str]) -> str:
        counts = self.stage_counts()
        reasons: Counter[str] = Counter()
        for code, reason in REASON_OF_STAGE.items():
            reasons[reason] += counts[code]
        for col, n in self.lacking.items():
            reasons[P.fit_reason(resources[col])] += n
        for resource in self.unknown:
            reasons[P.fit_reason(resource)] += counts[F_FIT]
        return ", ".join(sorted(f"{c} {r}" for r, c in reasons.items() if c > 0))

    def unresolvable(self) -> int:
        """Nodes preemption cannot help: UnschedulableAndUnresolvable statuses, and NodeResourcesFit
        where a request exceeds the node's whole allocatable."""
        counts = self.stage_counts()
        n = sum(counts[code] for code in UNRESOLVABLE_STAGES)
        if counts[F_FIT]:
            fit = self.unresolvable_fit
            if fit is None:
                fit = self.unresolvable_fit = int(((self.stage == F_FIT) & self.over).sum())
            n += fit
        return n

    def helpful_nodes(self) -> np.ndarray:
        """``NodesForStatusCode(Unschedulable)``: the nodes whose filter failure preemption might resolve
        (not UnschedulableAndUnresolvable), ascending. Read only."""
        helpful = self.helpful
        if helpful is None:
            stage = self.stage
            unresolvable = UNRESOLVABLE_OF_STAGE[stage] | ((stage == F_FIT) & self.over)
            helpful = self.helpful = np.flatnonzero((stage != OK) & ~unresolvable)
        return helpful

    def unschedulable_plugins(self) -> frozenset[str]:
        """The plugins that rejected the pod on some node (``Diagnosis.UnschedulablePlugins``), plus the
        pod-affinity rejection a newly bound pod may resolve (the queue's InterPodAffinity hint)."""
        if self.plugins is None:
            counts = self.stage_counts()
            plugins = {PLUGIN_OF_STAGE[s] for s in range(1, F_ABSENT) if counts[s]}
            if counts[F_POD_AFFINITY]:
                plugins.add(AFFINITY_REJECTION)
            self.plugins = frozenset(plugins)
        return self.plugins


def filter_message(n: int, diagnosis: Diagnosis, resources: list[str]) -> str:
    """FitError's first sentence, what the filters said: the whole message where no PostFilter runs
    (a preflight on empty nodes, where preemption has nothing to say)."""
    filter_msg = diagnosis.pre_filter_msg or diagnosis.histogram(resources)
    return f"0/{n} nodes are available: {filter_msg}."


def fit_error(n: int, diagnosis: Diagnosis, resources: list[str], post_filter_msg: str) -> str:
    """``FitError.Error()`` for ``n`` nodes: the filters' sentence, then what the PostFilter plugins said."""
    head = filter_message(n, diagnosis, resources)
    return f"{head} {post_filter_msg}" if post_filter_msg else head


def histogram_message(n: int, reasons: Counter[str]) -> str:
    """A FitError's words for ``n`` nodes from a count of reasons: "0/n nodes are available: c r, …."."""
    return f"0/{n} nodes are available: {', '.join(sorted(f'{c} {r}' for r, c in reasons.items() if c > 0))}."


def preemption_message(n: int, unresolvable: int) -> str:
    """DefaultPreemption's PostFilter message when its dry run finds no victims on any node."""
    return "preemption: " + histogram_message(
        n, Counter({NO_VICTIMS: n - unresolvable, NOT_HELPFUL: unresolvable})
    )
