"""A lighter SimPy process for every engine process nobody waits on: the many short-lived ones (a
kubelet's pod lifecycle, a termination, a node's failure and repair, a delayed action; a year on 2,000
nodes starts tens of thousands) and the scheduling and fault-injection loops.

It starts, waits, resumes and takes interrupts at exactly the points ``simpy.Process`` does (an
urgent start event at creation; the generator resumed by the callback of the event it yields; an
urgent interruption event that throws ``simpy.Interrupt``), so events are processed in the same
order. What it leaves out is what nobody here uses: the end-of-process event (no one waits for these
processes) and the process's own event value.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from simpy.events import URGENT


class Task:
    def __init__(self, env: simpy.Environment, generator: Generator[simpy.Event, Any, Any]) -> None:
        self.env = env
        self._generator = generator
        self._target: simpy.Event | None = None
        self.is_alive = True
        self._at_once(self._resume)

    def _at_once(self, callback) -> None:  # noqa: ANN001
        """Schedule ``callback`` now, before the instant's normal events (SimPy's Initialize event)."""
        event = simpy.Event(self.env)
        event._ok, event._value = True, None
        event.callbacks.append(callback)  # type: ignore[union-attr]
        self.env.schedule(event, URGENT)

    def interrupt(self, cause: object = None) -> None:
        """Throw ``simpy.Interrupt(cause)`` into the generator, as ``Process.interrupt`` does."""
        if not self.is_alive:
            raise RuntimeError(f"{self} has terminated and cannot be interrupted.")
        self._at_once(lambda _event: self._deliver(cause))

    def _deliver(self, cause: object) -> None:
        if not self.is_alive:
            return
        if self._target is not None and self._target.callbacks is not None:
            self._target.callbacks.remove(self._resume)
        self._step(simpy.Interrupt(cause), thrown=True)

    def _resume(self, event: simpy.Event) -> None:
        if event._ok:
            self._step(event._value, thrown=False)
        else:
            event._defused = True  # type: ignore[attr-defined]
            self._step(type(event._value)(*event._value.args), thrown=True)

    def _step(self, value: object, thrown: bool) -> None:
        env = self.env
        env._active_proc = self  # type: ignore[assignment]  # env.active_process, as for a Process
        try:
            while True:
                try:
                    event = self._generator.throw(value) if thrown else self._generator.send(value)  # type: ignore[arg-type,call-overload]
                except StopIteration:
                    self.is_alive, self._target = False, None
                    return
                if event.callbacks is not None:
                    event.callbacks.append(self._resume)
                    self._target = event
                    return
                value, thrown = event._value, not event._ok  # already processed: go on at once
        finally:
            env._active_proc = None
