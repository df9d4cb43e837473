"""Nodes feasible for one pod shape, kept current bind by bind instead of rescanned per pod.

A pod without inter-pod (anti-)affinity passes kube-scheduler's filters on a node when it passes the
static ones (NodeUnschedulable, TaintToleration, NodeAffinity: fixed until labels, taints or
schedulability change) and NodeResourcesFit, whose inputs change only on the node a pod is bound
to or released from. So the feasible set changes one node at a time, and a scheduling cycle reads it
in O(candidates) rather than filtering every node. It is the same set ``Scheduler.find_node``'s full
pass computes (``tests/test_scheduler_feasible.py`` holds the two equal).

When nothing fits, kube-scheduler's FitError counts, per requested resource, the nodes that lack it
(``noderesources.fitsRequest`` lists every insufficient resource of a node). Those counts change on the
same nodes the set does, so the set counts them again only on the nodes changed since it last counted: a
pod that fits nowhere is told why without a pass over every node.
"""

from __future__ import annotations

import bisect

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.scheduling.nominated import NominatedFit
from lwssim.engine.scheduling.nominator import Nominator


class FeasibleSet:
    """Sorted node indices where a pod of one shape fits now, and how many of the nodes passing the
    static filters lack each requested resource (counted when asked, for the nodes changed since)."""

    def __init__(self, nodes: NodeTable, static_ok: np.ndarray, needs: tuple[tuple[int, int], ...]) -> None:
        self.nodes = nodes
        self.static_ok = static_ok.tolist()
        self.needs = needs
        fits = static_ok.copy()
        for col, need in needs:
            fits &= nodes.free_by_res[col] >= need
        self.members: list[int] = np.flatnonzero(fits).tolist()
        self._in = set(self.members)
        # NodeResourcesFit is UnschedulableAndUnresolvable where a request (other than the pod count)
        # exceeds the node's whole allocatable: fixed per node
        pods_col = nodes.res_index.get("pods", -1)
        over = np.zeros(len(nodes), dtype=bool)
        for col, need in needs:
            if col != pods_col:
                over |= nodes.alloc_by_res[col] < need
        self.over = over
        # per node: bit k set when it passes the static filters but lacks needs[k]
        self._short: list[int] = []
        self._counts: list[int] = []  # per need: static-passing nodes that lack it
        self._changed: set[int] | None = None  # nodes changed since counted (None: count them all)
        self.nominated: dict[int, NominatedFit] = {}  # by priority, while pods are nominated

    def lacking_counts(self) -> list[int]:
        """Per requested resource (``needs``), how many nodes passing the static filters lack it now."""
        changed = self._changed
        if changed is None or len(changed) > len(self.static_ok) // 8:  # many: count every node at once
            nodes, ok = self.nodes, np.array(self.static_ok, dtype=bool)
            bits = np.zeros(len(nodes), dtype=np.int64)
            self._counts = []
            for k, (col, need) in enumerate(self.needs):
                lacking = ok & (nodes.free_by_res[col] < need)
                bits |= lacking.astype(np.int64) << k
                self._counts.append(int(np.count_nonzero(lacking)))
            self._short = bits.tolist()
        elif changed:
            counts, rows = self._counts, self.nodes.free_rows
            for i in changed:
                short = 0
                if self.static_ok[i]:
                    for k, (col, need) in enumerate(self.needs):
                        if rows[col].item(i) < need:
                            short |= 1 << k
                old = self._short[i]
                if short != old:
                    self._short[i] = short
                    for k in range(len(counts)):
                        if (short ^ old) >> k & 1:
                            counts[k] += 1 if short >> k & 1 else -1
        self._changed = set()
        return self._counts

    def nominated_fit(self, nominator: Nominator, priority: int) -> NominatedFit:
        """What the pods nominated with at least ``priority`` take of the nominated nodes, kept current."""
        fit = self.nominated.get(priority)
        if fit is None:
            fit = self.nominated[priority] = NominatedFit(
                self.nodes, nominator, self.static_ok, self.needs, priority
            )
        return fit

    def static_changed(self, i: int, passes: bool) -> None:
        """Node ``i`` now passes (or fails) the static filters of this shape."""
        self.static_ok[i] = passes
        self.node_changed(i)

    def node_changed(self, i: int) -> None:
        """Node ``i``'s free resources changed (a pod was bound to or released from it)."""
        fits = self.static_ok[i]
        if fits:
            rows = self.nodes.free_rows
            for col, need in self.needs:
                if rows[col].item(i) < need:
                    fits = False
                    break
        if fits and i not in self._in:
            self._in.add(i)
            bisect.insort(self.members, i)
        elif not fits and i in self._in:
            self._in.discard(i)
            del self.members[bisect.bisect_left(self.members, i)]
        if self._changed is not None:
            self._changed.add(i)
        if self.nominated:
            for fit in self.nominated.values():
                fit.node_changed(i)
