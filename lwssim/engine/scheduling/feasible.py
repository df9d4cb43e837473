"""Nodes feasible for one pod shape, kept current bind by bind instead of rescanned per pod.

A pod without inter-pod (anti-)affinity passes kube-scheduler's filters on a node when it passes the
static ones (NodeUnschedulable, TaintToleration, NodeAffinity: fixed until labels, taints or
schedulability change) and NodeResourcesFit, whose inputs change only on the node a pod is bound
to or released from. So the feasible set changes one node at a time, and a scheduling cycle reads it
in O(candidates) rather than filtering every node. It is the same set ``Scheduler.find_node``'s full
pass computes (``tests/test_scheduler_feasible.py`` holds the two equal); the full pass still runs
when nothing fits, for kube-scheduler's FitError message.
"""

from __future__ import annotations

import bisect

import numpy as np

from lwssim.engine.nodetable import NodeTable


class FeasibleSet:
    """Sorted node indices where a pod of one shape fits now."""

    def __init__(self, nodes: NodeTable, static_ok: np.ndarray, needs: tuple[tuple[int, int], ...]) -> None:
        self.nodes = nodes
        self.static_ok = static_ok.tolist()
        self.needs = needs
        fit = static_ok.copy()
        for col, need in self.needs:
            fit &= nodes.free_by_res[col] >= need
        self.members: list[int] = np.flatnonzero(fit).tolist()
        self._in = set(self.members)

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
