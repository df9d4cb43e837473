"""kube-scheduler's scheduling queue: activeQ, backoffQ and unschedulablePods (k8s v1.34).

Source: kubernetes ``pkg/scheduler/backend/queue/`` (summarised here):
- activeQ is ordered by PrioritySort: higher priority first, then the pod's queue timestamp.
- A pod that fails goes to unschedulablePods, or to backoffQ if a cluster event that might help
  arrived while it was in flight.
- Cluster events move unschedulable pods whose rejecting plugins' QueueingHints say Queue to backoffQ
  while their backoff lasts (1 s doubling per failure up to 10 s, expiry truncated to the second and
  flushed every second), else to activeQ.
- SchedulerPopFromBackoffQ (beta, on in 1.34): when activeQ is empty the scheduler takes the head of
  backoffQ even before its backoff ends.
- Pods in unschedulablePods for over 5 min are flushed back every 30 s (``UnschedulableTimeout``).
- Every pod passes the PreEnqueue plugins (``runPreEnqueuePlugins``) before it enters activeQ or, with
  SchedulerPopFromBackoffQ, backoffQ (``moveToActiveQ``, ``moveToBackoffQ``): SchedulingGates holds pods that
  still have ``spec.schedulingGates`` (Kueue's gates) until an update removes the last one, which moves the
  pod to activeQ (``Update``: the SchedulingGates QueueingHint for Pod/Update); DefaultPreemption, with
  SchedulerAsyncPreemption (on in 1.34), holds a pod while its preemption's API calls run ("waiting for the
  preemption for this pod to be finished"). A held (gated) pod waits in unschedulablePods, and only the
  events its gating plugin registers (Pod/Delete) may move it (``movePodsToActiveOrBackoffQueue``); the
  5-minute flush, a wildcard event, does not.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Callable

import simpy

from lwssim.engine.objects import Pod

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_IN_UNSCHEDULABLE = 300.0
FLUSH_UNSCHEDULABLE_PERIOD = 30.0
DEFAULT_PREEMPTION = "DefaultPreemption"

Hint = Callable[[Pod, frozenset[str]], bool]


class SchedulingQueue:
    def __init__(self, env: simpy.Environment, version: Callable[[], int]) -> None:
        self.env = env
        self._version = version
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, Pod]] = []
        self._in_active: set[int] = set()
        self._backoff: list[tuple[float, int, Pod]] = []  # (expiry, seq, pod)
        self._in_backoff: dict[int, float] = {}
        # uid -> (pod, since, rejecting plugins, cluster version at failure)
        self.unschedulable: dict[int, tuple[Pod, float, frozenset[str], int]] = {}
        self._plugin_counts: Counter[str] = Counter()
        self.failures: dict[int, int] = {}
        self.last_move = -1.0
        self._wake: simpy.Event | None = None
        self._flusher_running = False
        self._backoff_timer: simpy.Process | None = None
        self.preempting: set[int] = set()  # DefaultPreemption's Evaluator.preempting: uids it holds back
        self.gated: set[int] = set()  # parked pods a PreEnqueue plugin rejected
        self.held: dict[int, Pod] = {}  # pods with scheduling gates (SchedulingGates' PreEnqueue)

    def __len__(self) -> int:
        return len(self._active) + len(self._in_backoff)

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    # -- activeQ
    def pre_enqueue(self, pod: Pod) -> bool:
        """PreEnqueue: may ``pod`` enter activeQ? SchedulingGates admits a pod without scheduling gates (the
        simulator's pods have none); DefaultPreemption admits a pod whose preemption is not running."""
        return pod.uid not in self.preempting

    def add(self, pod: Pod) -> None:
        if pod.uid in self._in_active:
            return
        if pod.scheduling_gates:
            self.held[pod.uid] = pod
            return
        if not self.pre_enqueue(pod):
            self._gate(pod, self.env.now, frozenset())
            return
        self._unpark(pod.uid)
        self._in_backoff.pop(pod.uid, None)
        self._in_active.add(pod.uid)
        heapq.heappush(self._active, (-pod.template.priority, self.env.now, next(self._seq), pod))
        self._notify()

    def pop(self):
        """Generator: wait for a pod and return it (activeQ first, else the head of backoffQ)."""
        while True:
            while self._active:
                _, _, _, pod = heapq.heappop(self._active)
                if pod.uid in self._in_active:
                    self._in_active.discard(pod.uid)
                    return pod
            while self._backoff:
                expiry, _, pod = heapq.heappop(self._backoff)
                if self._in_backoff.get(pod.uid) == expiry:
                    del self._in_backoff[pod.uid]
                    return pod
            self._wake = self.env.event()
            yield self._wake

    def ungated(self, pod: Pod) -> None:
        """An update of a held pod: once its last scheduling gate is gone it enters activeQ."""
        if not pod.scheduling_gates and self.held.pop(pod.uid, None) is not None:
            self.add(pod)

    def forget(self, pod: Pod) -> None:
        """The pod was bound or deleted."""
        self.held.pop(pod.uid, None)
        self._unpark(pod.uid)
        self._in_active.discard(pod.uid)
        self._in_backoff.pop(pod.uid, None)
        self.failures.pop(pod.uid, None)

    # -- failures
    def backoff_duration(self, pod: Pod) -> float:
        count = self.failures.get(pod.uid, 1)
        return min(INITIAL_BACKOFF * 2 ** (count - 1), MAX_BACKOFF)

    def add_unschedulable(self, pod: Pod, plugins: frozenset[str], attempt_started: float) -> None:
        self.failures[pod.uid] = self.failures.get(pod.uid, 0) + 1
        if self.last_move >= attempt_started:
            if self.pre_enqueue(pod):
                self._requeue(pod, self.env.now)
            else:
                self._gate(pod, self.env.now, plugins)
            return
        self.unschedulable[pod.uid] = (pod, self.env.now, plugins, self._version())
        self._plugin_counts.update(plugins)
        self._start_flusher()

    def _unpark(self, uid: int) -> None:
        entry = self.unschedulable.pop(uid, None)
        if entry is not None:
            self._plugin_counts.subtract(entry[2])
            self.gated.discard(uid)

    def _gate(self, pod: Pod, since: float, plugins: frozenset[str]) -> None:
        """A PreEnqueue plugin rejected the pod: it waits in unschedulablePods, with the gating plugin
        among its rejectors (``runPreEnqueuePlugin``)."""
        entry = self.unschedulable.pop(pod.uid, None)
        if entry is not None:
            self._plugin_counts.subtract(entry[2])
            since, plugins = entry[1], entry[2]
        plugins = plugins | {DEFAULT_PREEMPTION}
        self.unschedulable[pod.uid] = (pod, since, plugins, self._version())
        self._plugin_counts.update(plugins)
        self.gated.add(pod.uid)
        self._start_flusher()

    def _requeue(self, pod: Pod, since: float) -> None:
        """To backoffQ while backing off, else activeQ (requeuePodWithQueueingStrategy); a pod PreEnqueue
        rejects stays parked."""
        if pod.uid in self._in_active or pod.uid in self._in_backoff:
            return
        if self.preempting and not self.pre_enqueue(pod):
            self._gate(pod, since, frozenset())
            return
        self._unpark(pod.uid)
        expiry = float(math.floor(since + self.backoff_duration(pod)))
        if expiry <= self.env.now:
            self.add(pod)
            return
        self._in_backoff[pod.uid] = expiry
        heapq.heappush(self._backoff, (expiry, next(self._seq), pod))
        self._notify()
        self._arm_backoff_flush()

    def _arm_backoff_flush(self) -> None:
        if self._backoff_timer is None or not self._backoff_timer.is_alive:
            self._backoff_timer = self.env.process(self._flush_backoff())

    def _flush_backoff(self):
        """flushBackoffQCompleted: pods whose backoff expired move to activeQ."""
        while self._backoff:
            expiry, _, pod = self._backoff[0]
            if self._in_backoff.get(pod.uid) != expiry:
                heapq.heappop(self._backoff)
                continue
            if expiry > self.env.now:
                yield self.env.timeout(expiry - self.env.now)
                continue
            heapq.heappop(self._backoff)
            del self._in_backoff[pod.uid]
            self.add(pod)

    def move(self, hint: Hint, only: str | None = None, pod_delete: bool = False) -> None:
        """A cluster event: requeue unschedulable pods for which the hint says Queue.

        ``only``: the event concerns just this plugin; skip the scan when no parked pod was rejected by it.
        ``pod_delete``: the event is a Pod/Delete, the one gated pods wait for.
        """
        if only is not None and self._plugin_counts[only] <= 0:
            return
        self.last_move = self.env.now
        if not self.unschedulable:
            return
        entries = self.unschedulable.values()
        if self.gated and not pod_delete:  # gated pods wait for a Pod/Delete
            gated = self.gated
            moved = [
                (p, since) for p, since, plugins, _ in entries if p.uid not in gated and hint(p, plugins)
            ]
        else:
            moved = [(pod, since) for pod, since, plugins, _ in entries if hint(pod, plugins)]
        for pod, since in moved:
            self._requeue(pod, since)

    def activate(self, pod: Pod) -> None:
        """``Activate``: a parked or backing-off pod goes to activeQ (through PreEnqueue)."""
        if pod.uid in self.unschedulable or pod.uid in self._in_backoff:
            self._unpark(pod.uid)
            self._in_backoff.pop(pod.uid, None)
            self.add(pod)

    # -- the 5-minute leftover flush
    def _start_flusher(self) -> None:
        if not self._flusher_running:
            self._flusher_running = True
            self.env.process(self._flush_leftovers())

    def _flush_leftovers(self):
        """Every 30 s, retry pods unschedulable for over 5 min. Pods that failed at the current cluster
        version would fail the same way again, so they wait for the next change before the retry."""
        while self.unschedulable:
            yield self.env.timeout(FLUSH_UNSCHEDULABLE_PERIOD)
            now, version = self.env.now, self._version()
            due = [
                (pod, since)
                for pod, since, _, v in self.unschedulable.values()
                if now - since > MAX_IN_UNSCHEDULABLE and v != version and pod.uid not in self.gated
            ]
            for pod, since in due:
                self._requeue(pod, since)
            if all(v == version for _, _, _, v in self.unschedulable.values()):
                break
        self._flusher_running = False

    def cluster_changed(self) -> None:
        """The cluster version moved: parked pods may become due for the periodic retry."""
        if self.unschedulable and not self._flusher_running:
            self._start_flusher()
