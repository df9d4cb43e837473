"""A controller-runtime style work queue: keys deduplicated, FIFO, a fixed number of workers.

Like client-go's workqueue, a key added while queued is not queued twice, and a key is never
reconciled by two workers at once: added while being reconciled, it is reconciled again afterwards.
A reconcile is a plain function (instant: the API latencies it skips are milliseconds) or a generator
that yields SimPy events when it waits (e.g. for a rate limiter).

Workers are driven by event callbacks rather than SimPy processes: a worker wakes, waits and resumes
at exactly the points a process would (an idle worker is woken by an event scheduled when a key
arrives; a waiting reconcile resumes when the event it yielded is processed), without a generator
switch per wake-up. A run makes hundreds of thousands of them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy
from simpy.events import URGENT

from lwssim.engine.tasks import Task

# A reconcile either finishes at once (None) or returns a generator that waits on SimPy events.
Reconcile = Callable[[str], Generator[simpy.Event, Any, None] | None]


class WorkQueue:
    def __init__(self, env: simpy.Environment, reconcile: Reconcile, workers: int = 1) -> None:
        self.env = env
        self._reconcile = reconcile
        self._pending: dict[str, None] = {}
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._idle: list[simpy.Event] = []  # one wake-up event per idle worker
        self._waiting: dict[str, float] = {}  # key -> when add_after adds it
        for _ in range(workers):
            _Worker(self).start()

    def add(self, key: str) -> None:
        if key in self._active:
            self._dirty.add(key)
            return
        self._pending[key] = None
        if self._idle:  # wake one idle worker, not all of them
            self._idle.pop().succeed()

    def add_after(self, key: str, delay: float) -> None:
        """The key is added ``delay`` from now; a key already waiting keeps the earlier of the two times
        (client-go ``util/workqueue/delaying_queue.go``: ``insert`` updates ``readyAt`` only to an earlier
        time), so a burst of delayed adds reconciles once."""
        if delay <= 0:
            self.add(key)
            return
        at = self.env.now + delay
        if self._waiting.get(key, at + 1) <= at:
            return
        self._waiting[key] = at

        def later():
            yield self.env.timeout(delay)
            if self._waiting.get(key) == at:  # not superseded by an earlier add_after
                del self._waiting[key]
                self.add(key)

        Task(self.env, later())


class _Worker:
    """One worker: takes the oldest pending key, reconciles it, repeats; sleeps when none is left."""

    def __init__(self, queue: WorkQueue) -> None:
        self.q = queue
        self.key = ""
        self.running: Generator[simpy.Event, Any, None] | None = None

    def start(self) -> None:
        """Begin like a process does: at once, before the events of the current instant."""
        first = simpy.Event(self.q.env)
        first._ok, first._value = True, None
        first.callbacks.append(self._wake)  # type: ignore[union-attr]
        self.q.env.schedule(first, URGENT)

    def _wake(self, _event: simpy.Event) -> None:
        q = self.q
        while q._pending:
            key = next(iter(q._pending))
            del q._pending[key]
            q._active.add(key)
            result = q._reconcile(key)
            if result is not None:
                self.key, self.running = key, result
                if not self._advance(None, True):
                    return  # waiting on an event; _resume carries on
            self._done(key)
        wake = q.env.event()
        wake.callbacks.append(self._wake)  # type: ignore[union-attr]
        q._idle.append(wake)

    def _advance(self, value: object, ok: bool) -> bool:
        """Run the reconcile to its next wait; True when it has finished."""
        assert self.running is not None
        while True:
            try:
                event = self.running.send(value) if ok else self.running.throw(value)  # type: ignore[arg-type,call-overload]
            except StopIteration:
                self.running = None
                return True
            if event.callbacks is not None:
                event.callbacks.append(self._resume)
                return False
            value, ok = event._value, event._ok  # already processed: continue at once

    def _resume(self, event: simpy.Event) -> None:
        if not event._ok:
            event._defused = True  # type: ignore[attr-defined]
        if self._advance(event._value, event._ok):
            self._done(self.key)
            self._wake(event)

    def _done(self, key: str) -> None:
        q = self.q
        q._active.discard(key)
        if key in q._dirty:
            q._dirty.discard(key)
            q.add(key)
