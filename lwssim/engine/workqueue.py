"""A controller-runtime style work queue: keys deduplicated, FIFO, a fixed number of workers.

Like client-go's workqueue, a key added while queued is not queued twice, and a key is never
reconciled by two workers at once: added while being reconciled, it is reconciled again afterwards.
A reconcile is a plain function (instant: the API latencies it skips are milliseconds) or a generator
that yields SimPy events when it waits (e.g. for a rate limiter).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import simpy


class WorkQueue:
    def __init__(self, env: simpy.Environment, reconcile: Callable[[str], object], workers: int = 1) -> None:
        self.env = env
        self._reconcile = reconcile
        self._pending: dict[str, None] = {}
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._idle: list[simpy.Event] = []  # one wake-up event per idle worker
        for _ in range(workers):
            env.process(self._run())

    def add(self, key: str) -> None:
        if key in self._active:
            self._dirty.add(key)
            return
        self._pending[key] = None
        if self._idle:  # wake one idle worker, not all of them
            self._idle.pop().succeed()

    def add_after(self, key: str, delay: float) -> None:
        def later():
            yield self.env.timeout(delay)
            self.add(key)

        self.env.process(later())

    def _run(self):
        while True:
            if not self._pending:
                wake = self.env.event()
                self._idle.append(wake)
                yield wake
                continue
            key = next(iter(self._pending))
            del self._pending[key]
            self._active.add(key)
            result = self._reconcile(key)
            if inspect.isgenerator(result):
                yield from result
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
