"""The pods bound to each node as arrays, for preemption's dry run over many nodes at once.

Every bound pod has a slot: its priority, start time (``GetPodStartTime``) and requests per resource
column. Each node has a row of its pods' slots (a column of ``rows``, so that the k-th pods of many nodes
are read at once) sorted most important first (``MoreImportantPod``: higher
priority, then the earlier start), equals in the order they came to the cache (the order of
``NodeInfo.Pods`` here, which a stable sort keeps): a node's lower-priority pods are the end of its row,
in the order preemption reprieves them. Slot 0 is never used and pads the rows, with a priority above any
pod's so that it is never of lower priority than a preemptor.
"""

from __future__ import annotations

import numpy as np

from lwssim.engine.objects import Pod

PAD_PRIORITY = 2**62  # slot 0: above every pod's priority (int32), and far from overflowing with 2^31 added


def start_time(pod: Pod) -> float:
    """``GetPodStartTime``: the kubelet sets ``status.startTime`` when it takes the pod, just after the
    binding; a pod already running when the run starts (a snapshot's) started at its creation."""
    return pod.scheduled_at if pod.scheduled_at is not None else pod.created_at


class NodePods:
    def __init__(self, nodes: int, resources: int) -> None:
        cap = 64
        self.priority = np.full(cap, PAD_PRIORITY, dtype=np.int64)
        self.start = np.zeros(cap, dtype=np.float64)
        self.requests = np.zeros((resources, cap), dtype=np.int64)
        self.pods: list[Pod | None] = [None] * cap
        self._key: list[tuple[int, float, int]] = [(0, 0.0, 0)] * cap  # importance order, per slot
        self._free: list[int] = list(range(cap - 1, 0, -1))
        self.rows = np.zeros((4, nodes), dtype=np.int64)  # column-major: row i of node i is rows[:, i]
        self.length = np.zeros(nodes, dtype=np.int64)
        self._where: dict[int, tuple[int, int]] = {}  # pod uid -> (slot, node)
        self._next_seq = 0

    def add(self, pod: Pod, i: int, needs: tuple[tuple[int, int], ...], start: float) -> None:
        if not self._free:
            self._grow()
        s = self._free.pop()
        priority = pod.template.priority
        self.priority[s] = priority
        self.start[s] = start
        self._key[s] = (-priority, start, self._next_seq)
        self._next_seq += 1
        for col, amount in needs:
            self.requests[col, s] = amount
        self.pods[s] = pod
        self._where[pod.uid] = (s, i)
        self._link(i, s)

    def remove(self, pod: Pod) -> None:
        s, i = self._where.pop(pod.uid)
        self._unlink(i, s)
        self.priority[s] = PAD_PRIORITY
        self.requests[:, s] = 0
        self.pods[s] = None
        self._free.append(s)

    def started(self, pod: Pod, start: float) -> None:
        """The pod's start time changed (the binding sets it): it may move in its node's row."""
        at = self._where.get(pod.uid)
        if at is None:
            return
        s, i = at
        key = self._key[s]
        if key[1] == start:
            return
        self._unlink(i, s)
        self.start[s] = start
        self._key[s] = (key[0], start, key[2])
        self._link(i, s)

    def _link(self, i: int, s: int) -> None:
        """Insert slot ``s`` into node ``i``'s row at its place in importance order."""
        n = int(self.length[i])
        if n == self.rows.shape[0]:
            wider = np.zeros((2 * n, self.rows.shape[1]), dtype=np.int64)
            wider[:n] = self.rows
            self.rows = wider
        row = self.rows[:, i]
        key = self._key[s]
        k = n
        while k > 0 and self._key[int(row[k - 1])] > key:
            k -= 1
        if k < n:
            row[k + 1 : n + 1] = row[k:n].copy()
        row[k] = s
        self.length[i] = n + 1

    def _unlink(self, i: int, s: int) -> None:
        n = int(self.length[i])
        row = self.rows[:, i]
        k = 0
        while int(row[k]) != s:
            k += 1
        if k < n - 1:
            row[k : n - 1] = row[k + 1 : n].copy()
        row[n - 1] = 0
        self.length[i] = n - 1

    def _grow(self) -> None:
        cap = len(self.pods)
        self.priority = np.concatenate((self.priority, np.full(cap, PAD_PRIORITY, dtype=np.int64)))
        self.start = np.concatenate((self.start, np.zeros(cap, dtype=np.float64)))
        self.requests = np.concatenate((self.requests, np.zeros_like(self.requests)), axis=1)
        self.pods.extend([None] * cap)
        self._key.extend([(0, 0.0, 0)] * cap)
        self._free.extend(range(2 * cap - 1, cap - 1, -1))
