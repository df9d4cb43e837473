"""The scheduling queue's nominator: which pending pods preemption nominated to which node.

kubernetes v1.34 ``pkg/scheduler/backend/queue/nominator.go``: ``nominatedPods`` (node → pods, in the order
they were nominated) and ``nominatedPodToNode``. A pod leaves it when it is assumed on a node
(``schedule_one.go assume`` → ``DeleteNominatedPodIfExists``), deleted, or its nomination is cleared.
``RunFilterPluginsWithNominatedPods`` counts the pods nominated to a node with a priority at least the
incoming pod's as if they ran there (``framework/runtime/framework.go addGENominatedPods``): that is
what keeps a lower-priority pod off the resources a preemption freed. So that a cycle reads those
requests for every node at once, the nominator also keeps, per priority, what its pods request on each
node (one row per resource, as the node table's ``free_by_res``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lwssim.engine.objects import Pod

Needs = tuple[tuple[int, int], ...]  # (resource column, amount) where a request is > 0


class Nominator:
    def __init__(self, resources: int, nodes: int) -> None:
        self._size = (resources, nodes)
        self._pods: dict[int, list[Pod]] = {}  # node index -> nominated pods, in nomination order
        self._node_of: dict[int, int] = {}  # pod uid -> node index
        self._needs: dict[int, Needs] = {}  # pod uid -> its requests
        self._requests: dict[int, np.ndarray] = {}  # priority -> requests of its nominated pods per node
        self._count: dict[int, int] = {}  # priority -> nominated pods
        self._anti_affinity = 0  # nominated pods with required anti-affinity terms
        self._watchers: list[Callable[[int], None]] = []  # told the node whose nominated pods changed

    def empty(self) -> bool:
        return not self._node_of

    def add(self, pod: Pod, node: int, needs: Needs) -> None:
        """``AddNominatedPod`` with ``ModeOverride``: the pod's nomination is ``node`` from now on."""
        self.delete(pod)
        self._node_of[pod.uid] = node
        self._needs[pod.uid] = needs
        self._pods.setdefault(node, []).append(pod)
        priority = pod.template.priority
        requests = self._requests.get(priority)
        if requests is None:
            requests = self._requests[priority] = np.zeros(self._size, dtype=np.int64)
        for col, amount in needs:
            requests[col, node] += amount
        self._count[priority] = self._count.get(priority, 0) + 1
        if pod.anti_affinity:
            self._anti_affinity += 1
        for changed in self._watchers:
            changed(node)

    def delete(self, pod: Pod) -> bool:
        """``DeleteNominatedPodIfExists``; whether the pod was nominated."""
        node = self._node_of.pop(pod.uid, None)
        if node is None:
            return False
        needs = self._needs.pop(pod.uid)
        pods = self._pods[node]
        pods.remove(pod)
        if not pods:
            del self._pods[node]
        priority = pod.template.priority
        left = self._count[priority] - 1
        if left:
            self._count[priority] = left
            requests = self._requests[priority]
            for col, amount in needs:
                requests[col, node] -= amount
        else:
            del self._count[priority]
            del self._requests[priority]
        if pod.anti_affinity:
            self._anti_affinity -= 1
        for changed in self._watchers:
            changed(node)
        return True

    def node_of(self, pod: Pod) -> int | None:
        return self._node_of.get(pod.uid)

    def nodes(self) -> list[int]:
        """The nodes some pod is nominated to."""
        return list(self._pods)

    def pods_on(self, node: int) -> list[Pod]:
        """``NominatedPodsForNode``."""
        return list(self._pods.get(node, ()))

    def at_least_on(self, pod: Pod, node: int) -> list[Pod]:
        """The pods nominated to ``node`` whose priority is at least ``pod``'s, ``pod`` itself left out:
        what ``addGENominatedPods`` adds to the node before filtering ``pod``."""
        pods = self._pods.get(node)
        if not pods:
            return []
        priority = pod.template.priority
        return [p for p in pods if p.template.priority >= priority and p.uid != pod.uid]

    def _tables_at_least(self, pod: Pod) -> tuple[list[np.ndarray], int | None] | None:
        """The request tables of the priorities at least ``pod``'s and the node ``pod`` itself is
        nominated to (its own requests are in them); None when no other such pod is nominated."""
        if not self.others_at_least(pod):
            return None
        priority = pod.template.priority
        return [r for p, r in self._requests.items() if p >= priority], self._node_of.get(pod.uid)

    def requests_at_least(self, pod: Pod) -> np.ndarray | None:
        """What the pods ``at_least_on`` each node request there, per resource row and node column; None
        when no such pod is nominated anywhere. Read only: it may be the nominator's own table."""
        found = self._tables_at_least(pod)
        if found is None:
            return None
        rows, own = found
        if len(rows) == 1 and own is None:  # read only, and only until the next nomination changes
            return rows[0]
        total = rows[0].copy()
        for r in rows[1:]:
            total += r
        if own is not None:
            for col, amount in self._needs[pod.uid]:
                total[col, own] -= amount
        return total

    def others_at_least(self, pod: Pod) -> bool:
        """Some pod other than ``pod`` with at least its priority is nominated somewhere."""
        priority = pod.template.priority
        count = -1 if pod.uid in self._node_of else 0
        for p, c in self._count.items():
            if p >= priority:
                count += c
        return count > 0

    def nomination_of(self, pod: Pod) -> tuple[int, Needs] | None:
        """The node ``pod`` is nominated to and its requests there, or None."""
        node = self._node_of.get(pod.uid)
        return None if node is None else (node, self._needs[pod.uid])

    def requests_on(self, node: int, priority: int, needs: Needs) -> list[int] | None:
        """What the pods nominated to ``node`` with at least ``priority`` request of each resource of
        ``needs``; None when there are none."""
        pods = self._pods.get(node)
        if not pods:
            return None
        held = [0] * len(needs)
        found = False
        for p in pods:
            if p.template.priority >= priority:
                found = True
                asks = dict(self._needs[p.uid])
                for k, (col, _) in enumerate(needs):
                    held[k] += asks.get(col, 0)
        return held if found else None

    def rows_at_least(self, priority: int, cols: list[int], nodes: np.ndarray) -> list[np.ndarray] | None:
        """What every pod nominated with at least ``priority`` requests on ``nodes``, per resource column
        of ``cols``; None when no such pod is nominated."""
        tables = [r for p, r in self._requests.items() if p >= priority]
        if not tables:
            return None
        rows = [tables[0][col][nodes] for col in cols]
        for table in tables[1:]:
            for k, col in enumerate(cols):
                rows[k] += table[col][nodes]
        return rows

    def watch(self, changed: Callable[[int], None]) -> None:
        """Call ``changed(node)`` whenever the pods nominated to ``node`` change."""
        self._watchers.append(changed)

    def held_rows(self, pod: Pod, cols: list[int]) -> list[np.ndarray] | None:
        """``requests_at_least`` for the resource columns ``cols`` only (read only, as it)."""
        found = self._tables_at_least(pod)
        if found is None:
            return None
        tables, own = found
        if len(tables) == 1 and own is None:  # read only, as requests_at_least's
            return [tables[0][col] for col in cols]
        rows = [tables[0][col].copy() for col in cols]
        for table in tables[1:]:
            for k, col in enumerate(cols):
                rows[k] += table[col]
        if own is not None:
            for col, amount in self._needs[pod.uid]:
                if col in cols:
                    rows[cols.index(col)][own] -= amount
        return rows

    def any_anti_affinity(self) -> bool:
        """Some nominated pod has required anti-affinity terms (they count for InterPodAffinity too)."""
        return self._anti_affinity > 0
