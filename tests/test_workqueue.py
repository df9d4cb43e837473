"""The controller work queue behaves as client-go's: dedup, no concurrent reconcile of one key,
re-reconcile when a key is added during its reconcile, N workers in parallel, FIFO order."""

from __future__ import annotations

import simpy

from lwssim.engine.workqueue import WorkQueue


def _queue(workers: int, wait: float) -> tuple[simpy.Environment, WorkQueue, list[tuple[str, str, float]]]:
    env = simpy.Environment()
    log: list[tuple[str, str, float]] = []

    def reconcile(key: str):
        log.append(("start", key, env.now))
        if wait:
            yield env.timeout(wait)
        log.append(("end", key, env.now))

    return env, WorkQueue(env, reconcile, workers), log


def test_key_added_twice_while_pending_is_reconciled_once() -> None:
    env, q, log = _queue(1, 0.0)
    q.add("a")
    q.add("a")
    q.add("b")
    env.run(until=1)
    assert [k for what, k, _ in log if what == "start"] == ["a", "b"]


def test_key_added_during_its_reconcile_runs_again_afterwards_never_concurrently() -> None:
    env, q, log = _queue(3, 1.0)
    q.add("a")

    def later():
        yield env.timeout(0.5)
        q.add("a")  # a second worker is idle, but "a" is being reconciled

    env.process(later())
    env.run(until=5)
    assert log == [("start", "a", 0.0), ("end", "a", 1.0), ("start", "a", 1.0), ("end", "a", 2.0)]


def test_workers_reconcile_in_parallel_in_fifo_order() -> None:
    env, q, log = _queue(2, 1.0)
    for key in "abc":
        q.add(key)
    env.run(until=5)
    starts = [(k, t) for what, k, t in log if what == "start"]
    assert starts == [("a", 0.0), ("b", 0.0), ("c", 1.0)]


def test_reconcile_waiting_on_a_processed_event_continues_at_once() -> None:
    env = simpy.Environment()
    done = env.event()
    done.succeed("v")
    seen: list[tuple[object, float]] = []

    def reconcile(key: str):
        yield env.timeout(1)  # by now ``done`` has been processed
        seen.append(((yield done), env.now))

    q = WorkQueue(env, reconcile)
    q.add("k")
    env.run(until=3)
    assert seen == [("v", 1.0)]


def test_plain_function_reconcile() -> None:
    env = simpy.Environment()
    seen: list[str] = []
    q = WorkQueue(env, seen.append, workers=2)
    q.add("x")
    q.add("y")
    env.run(until=1)
    assert seen == ["x", "y"]


def test_add_after_keeps_the_earliest_time_of_a_waiting_key() -> None:
    """client-go's delaying queue: a key already waiting is not added again later; an earlier time wins."""
    env, q, log = _queue(1, 0.0)
    q.add_after("a", 1.0)
    q.add_after("a", 3.0)  # later than the waiting 1.0: dropped
    q.add_after("b", 5.0)
    q.add_after("b", 2.0)  # earlier: b now comes at 2.0, not at 5.0 as well
    env.run(until=10)
    assert [(k, t) for what, k, t in log if what == "start"] == [("a", 1.0), ("b", 2.0)]
