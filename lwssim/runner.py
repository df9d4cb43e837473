"""Scenario file → Report: the one pipeline `simulate`, `compare`, `check`, `plan` and the pytest plugin
share, and the one place the seed of a run is decided.

The seed enters every command the same way: ``--seed`` replaces the scenario's spec.seed (``seeded``), and
Monte Carlo run ``i`` (check's quantile expectations, plan's candidates) runs with ``run_seed(seed, i)``.
The loader and the engine are imported on first use, so `lwssim --version` and `lwssim schema` stay fast
and tests can replace ``load`` and ``run`` with fakes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lwssim.analysis.report import build_report
from lwssim.errors import InputError
from lwssim.model.scenario import Scenario
from lwssim.timeline import Timeline


def load(path: str, lws_version: str | None = None) -> Scenario:
    """Read and validate a scenario file (under ``lws_version`` instead of its own when given); raises
    InputError (exit 2) on bad input."""
    from lwssim.manifests.scenario import load_scenario

    return load_scenario(path, lws_version)


def load_under(path: str, lws_version: str, seed: int | None, context: str) -> Scenario:
    """The scenario at ``path`` under ``lws_version`` instead of its own, seeded; an input error says
    ``context`` (the option or check that asked for that version)."""
    try:
        return seeded(load(path, lws_version), seed)
    except InputError as exc:
        raise InputError(exc.file, exc.field, f"{exc.message} ({context})") from None


def seeded(scenario: Scenario, seed: int | None) -> Scenario:
    """The scenario as it runs: with ``seed`` (a command's ``--seed``) as its seed when one is given."""
    return scenario if seed is None else replace(scenario, seed=seed)


def run_seed(scenario_seed: int, run: int) -> int:
    """Seed of Monte Carlo run ``run``: ``SeedSequence(seed).spawn(R)[run]``, as a 32-bit integer.

    An integer (not a SeedSequence) so a user can replay any run with ``lwssim simulate --seed``.
    """
    seq = np.random.SeedSequence(entropy=scenario_seed, spawn_key=(run,))
    return int(seq.generate_state(1, np.uint32)[0])


def run(scenario: Scenario, seed: int | None = None) -> dict:
    """Simulate ``scenario`` (its own seed unless ``seed`` is given) and build the report."""
    return run_with_timeline(scenario, seed)[0]


def run_with_timeline(scenario: Scenario, seed: int | None = None) -> tuple[dict, Timeline]:
    """The report (with explanations of what does not serve and what still fits) and its Timeline."""
    from lwssim.analysis.explain import explain
    from lwssim.engine.world import simulate

    timeline = simulate(scenario, seed)
    report = build_report(timeline, lws_version=scenario.controller.lws_version)
    report.update(explain(scenario, timeline))
    return report, timeline
