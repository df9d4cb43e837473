"""Scenario file → Report: the one pipeline `simulate`, `check` and the pytest plugin share.

The loader and the engine are imported on first use, so `lwssim --version` and `lwssim schema` stay fast
and tests can replace ``load`` and ``run`` with fakes.
"""

from __future__ import annotations

from lwssim.analysis.report import build_report
from lwssim.model.scenario import Scenario
from lwssim.timeline import Timeline


def load(path: str) -> Scenario:
    """Read and validate a scenario file; raises InputError (exit 2) on bad input."""
    from lwssim.manifests.scenario import load_scenario

    return load_scenario(path)


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
