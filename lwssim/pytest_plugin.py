"""pytest plugin: every lwssim Scenario YAML under the paths pytest collects is a test of its `expect` list.

Registered through the ``pytest11`` entry point, so `pytest scenarios/` needs no conftest. It sorts YAML
files as `lwssim check DIR` does (lwssim.check.peek): a file that looks like a scenario but is not valid
(a mistyped kind or apiVersion, YAML that does not parse) is collected and fails saying why, instead of
vanishing; other YAML is skipped and listed, with the reason, in the terminal summary. Set
``lwssim_collect = false`` in the ini file to turn off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lwssim import runner
from lwssim.check import (
    SCENARIO_SUFFIXES,
    ScenarioResult,
    Skipped,
    evaluate,
    peek,
    skipped_count,
    skipped_lines,
    under_versions,
    validate_expectations,
)
from lwssim.errors import InputError

SKIPPED = pytest.StashKey[list[Skipped]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("lwssim_collect", "collect lwssim Scenario YAML files as tests", type="bool", default=True)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SCENARIO_SUFFIXES or not parent.config.getini("lwssim_collect"):
        return None
    seen_as = peek(file_path)
    if seen_as.name is None:
        shown = os.path.relpath(file_path, parent.config.invocation_params.dir)
        parent.config.stash.setdefault(SKIPPED, []).append(Skipped(shown, seen_as.skipped or ""))
        return None
    return ScenarioFile.from_parent(parent, path=file_path, scenario_name=seen_as.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Name the YAML files not collected as scenarios, as `lwssim check DIR` does: nothing skips unseen."""
    skipped = config.stash.get(SKIPPED, [])
    if skipped:
        terminalreporter.section(f"lwssim: {skipped_count(skipped)}", sep="-")
        for line in skipped_lines(skipped):
            terminalreporter.line(line)


class ScenarioFile(pytest.File):
    def __init__(self, *, scenario_name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scenario_name = scenario_name

    def collect(self):
        yield ScenarioItem.from_parent(self, name=self.scenario_name)


class ExpectationsFailed(Exception):
    """Raised by a scenario item whose report breaks one of its expectations."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.scenario)
        self.result = result


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        """Under the scenario's LWS version and every version its expectations name, as `lwssim check`."""
        scenarios = under_versions(str(self.path), None)
        for _, scenario in scenarios:
            validate_expectations(scenario)
        for label, scenario in scenarios:
            result = evaluate(scenario, runner.run(scenario), label=label)
            if not result.passed:
                raise ExpectationsFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, ExpectationsFailed):
            return "\n".join(excinfo.value.result.lines())
        if isinstance(excinfo.value, InputError):
            return f"error: {excinfo.value.render()}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"lwssim scenario {self.name}"
