"""A controller-runtime style work queue: keys deduplicated, reconciled one at a time, FIFO."""

from __future__ import annotations

from collections.abc import Callable

import simpy


class WorkQueue:
    """Reconciles each added key once per wake-up, in the order keys were added.

    Like client-go's workqueue, a key added while queued is not queued twice; a key added while it
    is being reconciled is reconciled again afterwards. MaxConcurrentReconciles is 1 (LWS default,
    reference §3.2). Reconciles take no simulated time: the API latencies they skip are milliseconds.
    """

    def __init__(self, env: simpy.Environment, reconcile: Callable[[str], None]) -> None:
        self.env = env
        self._reconcile = reconcile
        self._pending: dict[str, None] = {}
        self._wake: simpy.Event | None = None
        env.process(self._run())

    def add(self, key: str) -> None:
        self._pending[key] = None
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def add_after(self, key: str, delay: float) -> None:
        def later():
            yield self.env.timeout(delay)
            self.add(key)

        self.env.process(later())

    def _run(self):
        while True:
            if not self._pending:
                self._wake = self.env.event()
                yield self._wake
                continue
            key = next(iter(self._pending))
            del self._pending[key]
            self._reconcile(key)
