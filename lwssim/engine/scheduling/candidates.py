"""Preemption's dry run where only requests matter, for many nodes at once and kept node by node.

DefaultPreemption (kubernetes v1.34 ``pkg/scheduler/framework/preemption/preemption.go``
``DryRunPreemption``, ``SelectVictimsOnNode`` and ``pickOneNodeForPreemption`` in
``plugins/defaultpreemption/default_preemption.go``) judges each node on its own: it is a candidate when
it holds pods of lower priority than the preemptor, the preemptor fits once they are all gone (with the
pods nominated there of at least its priority), and does not fit with them all there (else every pod is
reprieved: no victim). Its victims are what is left after reprieving its lower-priority pods most
important first while the preemptor still fits; ``pickOneNodeForPreemption`` then compares, among the
first candidates from a random offset, the highest victim priority, the sum of victim priorities, the
number of victims and the latest start of the highest-priority victims.

Where no pod has inter-pod terms and no PodDisruptionBudget exists, a node's verdict depends only on that
node: its free resources, its pods and the pods nominated to it. ``judge`` gives it for many nodes at once
(a column of each node's pods at a time, ``NodePods``); ``KeptVerdicts`` keeps every node's verdict for
one preemptor priority and request, and judges again only the nodes that changed since the last
preemption. ``tests/test_preemption.py`` holds both equal to the node-by-node dry run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lwssim.engine.scheduling.nodepods import NodePods

Needs = tuple[tuple[int, int], ...]  # (resource column, amount) where a request is > 0
PRIORITY_OFFSET = 2**31  # math.MaxInt32 + 1: every priority counts as >= 0 in the sum
INT64_MIN = -(2**63)


@dataclass
class Verdicts:
    """For nodes ``nodes``: which are candidates and, for those, the victims' scores
    ``pickOneNodeForPreemption`` compares (highest priority, sum of priorities each + MaxInt32 + 1,
    number, earliest start among the highest-priority ones)."""

    nodes: np.ndarray
    candidate: np.ndarray
    top: np.ndarray
    total: np.ndarray
    number: np.ndarray
    earliest: np.ndarray


def judge(
    table: NodePods,
    free: list[np.ndarray],
    lower: list[np.ndarray],
    count: np.ndarray,
    held: list[np.ndarray] | None,
    needs: Needs,
    priority: int,
    nodes: np.ndarray,
) -> Verdicts:
    """The dry run on ``nodes`` for a preemptor of ``priority`` requesting ``needs``: per need, ``free`` is
    what every node has free, ``lower`` what its lower-priority pods request, ``held`` what the pods
    nominated there (at least the preemptor's priority) request, over ``nodes`` only; ``count`` is every
    node's number of lower-priority pods."""
    ok = count[nodes] > 0
    if not ok.any():  # no lower-priority pod on any of them (the nodes a preemptor was just bound to)
        empty = np.zeros(0, dtype=np.int64)
        return Verdicts(nodes, ok, empty, empty, empty, np.zeros(0))
    crowded = np.zeros(len(nodes), dtype=bool)
    avail: list[np.ndarray] = []  # with every lower-priority pod gone
    for k, (_, need) in enumerate(needs):
        now = free[k][nodes]
        if held is not None:
            now = now - held[k]
        row = now + lower[k][nodes]
        ok &= row >= need
        crowded |= now < need
        avail.append(row)
    ok &= crowded
    c = int(np.count_nonzero(ok))
    top = np.full(c, INT64_MIN, dtype=np.int64)
    total = np.zeros(c, dtype=np.int64)
    number = np.zeros(c, dtype=np.int64)
    earliest = np.full(c, np.inf)
    if c == 0:
        return Verdicts(nodes, ok, top, total, number, earliest)
    cand = nodes[ok]
    free_now = [row[ok] for row in avail]
    width = int(table.length[cand].max())
    # Column by column, most important first: each lower-priority pod is reprieved if the pod still fits.
    slot_cols: list[np.ndarray] = []
    pri_cols: list[np.ndarray] = []
    victim_cols: list[np.ndarray] = []
    for j in range(width):
        column = table.rows[j][cand]
        pri = table.priority[column]
        below = pri < priority
        if below.any():
            keep = below.copy()
            takes = []
            for k, (col, need) in enumerate(needs):
                take = table.requests[col][column]
                takes.append(take)
                keep &= free_now[k] - take >= need
            for k in range(len(needs)):
                free_now[k] -= np.where(keep, takes[k], 0)
            below &= ~keep
        slot_cols.append(column)
        pri_cols.append(pri)
        victim_cols.append(below)
        top = np.maximum(top, np.where(below, pri, top))
        total += np.where(below, pri + PRIORITY_OFFSET, 0)
        number += below
    for j in range(width):
        at_top = victim_cols[j] & (pri_cols[j] == top)
        earliest = np.minimum(earliest, np.where(at_top, table.start[slot_cols[j]], np.inf))
    return Verdicts(nodes, ok, top, total, number, earliest)


def pick(top: np.ndarray, total: np.ndarray, number: np.ndarray, earliest: np.ndarray) -> int:
    """``pickOneNodeForPreemption`` over candidates in visiting order: each score in turn keeps the
    best-scored (the lowest, but the latest ``earliest``); the first left wins (its position)."""
    left: np.ndarray | None = None
    for key, lowest in ((top, True), (total, True), (number, True), (earliest, False)):
        sub = key if left is None else key[left]
        hits = np.flatnonzero(sub == (sub.min() if lowest else sub.max()))
        left = hits if left is None else left[hits]
        if len(left) == 1:
            break
    assert left is not None
    return int(left[0])


def first_from(flags: np.ndarray, offset: int, wanted: int) -> np.ndarray:
    """Positions where ``flags`` is set, visiting from ``offset`` round to it, the first ``wanted``."""
    pos = np.flatnonzero(flags[offset:])[:wanted] + offset
    if len(pos) < wanted and offset:
        pos = np.concatenate((pos, np.flatnonzero(flags[:offset])[: wanted - len(pos)]))
    return pos


class KeptVerdicts:
    """Every node's verdict for one preemptor priority and request, with the pods nominated anywhere (of
    at least that priority) counted: right for a preemptor that is not itself nominated. Nodes are judged
    again when read after they changed (``changed``)."""

    def __init__(self, n: int, needs: Needs, priority: int) -> None:
        self.needs, self.priority = needs, priority
        self.candidate = np.zeros(n, dtype=bool)
        self.top = np.zeros(n, dtype=np.int64)
        self.total = np.zeros(n, dtype=np.int64)
        self.number = np.zeros(n, dtype=np.int64)
        self.earliest = np.zeros(n, dtype=np.float64)
        self._stale: set[int] | None = None  # None: every node

    def changed(self, i: int) -> None:
        if self._stale is not None:
            self._stale.add(i)

    def stale(self, n: int) -> np.ndarray | None:
        """The nodes to judge again (ascending), None when none; they count as judged from now on."""
        stale = self._stale
        self._stale = set()
        if stale is None:
            return np.arange(n)
        if not stale:
            return None
        return np.array(sorted(stale), dtype=np.intp)

    def store(self, verdicts: Verdicts) -> None:
        nodes = verdicts.nodes
        self.candidate[nodes] = verdicts.candidate
        cand = nodes[verdicts.candidate]
        if len(cand):
            self.top[cand] = verdicts.top
            self.total[cand] = verdicts.total
            self.number[cand] = verdicts.number
            self.earliest[cand] = verdicts.earliest

    def store_one(self, i: int, scores: tuple[int, int, int, float] | None) -> None:
        """Node ``i``'s verdict: not a candidate (None), or a candidate with these victims' scores."""
        self.candidate[i] = scores is not None
        if scores is not None:
            self.top[i], self.total[i], self.number[i], self.earliest[i] = scores

    def choose(self, potential: np.ndarray, offset: int, wanted: int) -> int | None:
        """The node preemption picks among the first ``wanted`` candidates of ``potential`` from
        ``offset``, or None when none of ``potential`` is a candidate."""
        flags = self.candidate if len(potential) == len(self.candidate) else self.candidate[potential]
        pos = first_from(flags, offset, wanted)  # (every node helps: ``potential`` is them all, in order)
        if len(pos) == 0:
            return None
        cand = potential[pos]
        return int(cand[pick(self.top[cand], self.total[cand], self.number[cand], self.earliest[cand])])
