"""The inlined event loop processes events in SimPy's own order and stops where SimPy stops."""

from __future__ import annotations

import gc

import pytest
import simpy
from test_engine_support import load, lws, pool, run, scenario_doc

from lwssim.engine import world as world_module
from lwssim.engine.environment import Environment
from lwssim.engine.tasks import Task
from lwssim.engine.world import World


@pytest.mark.patches_engine
def test_a_run_with_failures_is_the_same_as_with_simpys_loop(monkeypatch) -> None:
    doc = scenario_doc([pool(count=10)], [lws(replicas=2, size=4)], horizon="48h", seed=2)
    doc["spec"]["faults"] = {
        "nodeFailures": {"ratePerNodeDay": 0.3, "repair": "1h"},
        "containerCrashes": {"ratePerPodDay": 0.3},
    }
    world, ours = run(doc)
    assert isinstance(world.env, Environment)
    monkeypatch.setattr(world_module, "Environment", simpy.Environment)
    world, theirs = run(doc)
    assert type(world.env) is simpy.Environment
    assert len(ours.records) > 50 and ours.records == theirs.records


def test_stops_at_the_horizon_before_events_of_that_instant_and_raises_failures() -> None:
    env = Environment()
    seen: list[float] = []

    def proc():
        while True:
            yield env.timeout(1)
            seen.append(env.now)

    env.process(proc())
    env.run(until=3)
    assert seen == [1, 2] and env.now == 3

    def failing():
        yield env.timeout(1)
        raise KeyError("boom")

    env.process(failing())
    with pytest.raises(KeyError):  # a failed process crashes the run, as in SimPy
        env.run(until=10)


def _interrupt_story(start) -> list[tuple[float, str]]:  # noqa: ANN001
    """Two waiting processes, one interrupted twice, one finishing, logged in processing order."""
    env = simpy.Environment()
    log: list[tuple[float, str]] = []

    def sleeper(name: str):
        while True:
            try:
                yield env.timeout(5)
                log.append((env.now, f"{name} woke"))
                return
            except simpy.Interrupt as why:
                log.append(
                    (
                        env.now,
                        f"{name} interrupted: {why.cause} (active: {env.active_process is procs[name]})",
                    )
                )

    procs = {}
    procs["a"] = start(env, sleeper("a"))
    procs["b"] = start(env, sleeper("b"))

    def interrupter():
        yield env.timeout(2)
        procs["a"].interrupt("first")
        log.append((env.now, f"a alive {procs['a'].is_alive}"))
        yield env.timeout(1)
        procs["a"].interrupt("second")

    env.process(interrupter())
    env.run(until=20)
    log.append((env.now, f"a alive {procs['a'].is_alive}, b alive {procs['b'].is_alive}"))
    return log


def test_task_starts_waits_and_takes_interrupts_like_a_simpy_process() -> None:
    assert _interrupt_story(Task) == _interrupt_story(lambda env, gen: env.process(gen))


def test_a_run_leaves_no_cyclic_garbage_so_running_without_the_cyclic_gc_is_safe() -> None:
    """World.run turns the cyclic collector off; what a run allocates must be freed by reference
    counting alone (crashes, node failures, recreations: the paths with interrupts and cascades)."""
    doc = scenario_doc([pool(count=10)], [lws(replicas=2, size=4)], horizon="72h", seed=3)
    doc["spec"]["faults"] = {
        "nodeFailures": {"ratePerNodeDay": 0.3, "repair": "1h"},
        "containerCrashes": {"ratePerPodDay": 0.3},
    }
    world = World(load(doc))
    gc.collect()
    world.run()
    assert gc.collect() == 0
