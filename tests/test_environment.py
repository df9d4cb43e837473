"""The inlined event loop processes events in SimPy's own order and stops where SimPy stops."""

from __future__ import annotations

import gc
import tomllib
from pathlib import Path

import pytest
import simpy
from support import load, lws, pool, run, scenario_doc

from lwssim.engine import world as world_module
from lwssim.engine.environment import SIMPY_CHECKED, Environment
from lwssim.engine.tasks import Task
from lwssim.engine.world import World


def test_simpy_is_a_release_whose_internals_the_environment_restates() -> None:
    """environment.py restates simpy/core.py's Environment (now, schedule, step, run) as SIMPY_CHECKED
    releases write it; any other release must be diffed against it before it joins SIMPY_CHECKED."""
    assert simpy.__version__ in SIMPY_CHECKED, (
        f"simpy {simpy.__version__} is not a release lwssim/engine/environment.py was checked against "
        f"({', '.join(SIMPY_CHECKED)}): diff its simpy/core.py Environment with theirs, then add it"
    )
    pin = f"simpy>={SIMPY_CHECKED[0]},<={SIMPY_CHECKED[-1]}"
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pin in project["project"]["dependencies"] and pin in project["build-system"]["requires"]


def test_refuses_a_horizon_not_ahead_with_simpys_words() -> None:
    with pytest.raises(ValueError) as ours:
        Environment(5).run(until=5.0)
    with pytest.raises(ValueError) as theirs:
        simpy.Environment(5).run(until=5.0)
    assert str(ours.value) == str(theirs.value)


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
