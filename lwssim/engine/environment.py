"""SimPy's environment with its event loop written out for a run to a fixed horizon.

``simpy.Environment.run(until=t)`` calls ``step()`` once per event; a simulated year processes
hundreds of thousands. This loop does what ``step`` does (pop the next event by time, priority and
id; run its callbacks; crash on an undefused failure) and stops at the horizon event as ``run``
does, so events are processed in exactly the same order.

What it restates is SimPy's private state (``_now``, ``_queue``, ``_eid``, ``Event._ok``/``_value``/
``_defused``), so it holds for the SimPy releases checked against it, ``SIMPY_CHECKED``: simpy/core.py
``Environment.now``, ``schedule``, ``step`` and ``run`` of 4.1.1 and 4.1.2 (the same code, but for 4.1.2's
``step`` handing remaining callbacks back on ``StopSimulation``, which only ``run``'s own ``until`` callback
raises and this loop does not use). pyproject.toml pins simpy to them; importing this module with another
release warns, and tests/test_environment.py fails naming it.
"""

from __future__ import annotations

import warnings
from heapq import heappop, heappush

import simpy
from simpy.core import BoundClass, SimTime
from simpy.events import NORMAL, URGENT, EventPriority

SIMPY_CHECKED: tuple[str, ...] = ("4.1.1", "4.1.2")
if simpy.__version__ not in SIMPY_CHECKED:  # once, at import: nothing on the event loop's path
    warnings.warn(
        f"lwssim.engine.environment restates SimPy {' and '.join(SIMPY_CHECKED)} internals; "
        f"simpy {simpy.__version__} is unchecked (diff its simpy/core.py Environment against them)",
        RuntimeWarning,
        stacklevel=2,
    )


class Environment(simpy.Environment):
    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        # SimPy binds ``timeout``, ``event``, ``process``… to the instance, but only those defined on
        # the instance's own class: bind the base class's too, or every call builds a bound method.
        for name, attr in vars(simpy.Environment).items():
            if isinstance(attr, BoundClass):
                setattr(self, name, getattr(self, name))

    # SimPy's own two hottest methods, restated here so that a compiled engine runs them natively.
    @property
    def now(self) -> SimTime:
        return self._now

    def schedule(self, event: simpy.Event, priority: EventPriority = NORMAL, delay: SimTime = 0) -> None:
        heappush(self._queue, (self._now + delay, priority, next(self._eid), event))

    def run(self, until: float | simpy.Event | None = None) -> object:
        if until is None or isinstance(until, simpy.Event):
            return super().run(until)
        at = float(until)
        if at <= self.now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        horizon = simpy.Event(self)
        horizon._ok, horizon._value = True, None
        self.schedule(horizon, URGENT, at - self.now)
        queue = self._queue
        while True:
            self._now, _, _, event = heappop(queue)
            if event is horizon:
                return None
            callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
            for callback in callbacks:  # type: ignore[union-attr]
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
