"""`lwssim check`: run scenarios and hold their reports to the scenario's `expect` list.

Bad input (a file that does not load, an expectation naming no workload) is found before any simulation
runs, so exit 2 leaves stdout empty. Expectations with a ``quantile`` are held over Monte Carlo runs: the
metric's quantile across ``runs`` seeded runs (run seeds as ``lwssim plan`` derives them, so a failing
run can be replayed with ``lwssim simulate --seed``); a run that never serves counts as an infinite time
to serving and an availability of 0.
"""

from __future__ import annotations

import json
import math
import operator
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from lwssim import runner
from lwssim.errors import InputError
from lwssim.model.scenario import Expectation, Scenario

API_VERSION = "lwssim.io/v1alpha1"
SCENARIO_SUFFIXES = (".yaml", ".yml")

# Expectation metric → the report field it reads (pendingPods is counted from report.pendingPods).
METRIC_FIELDS = {
    "groupsServing": "groupsServing",
    "groupsReadyReported": "groupsReadyReported",
    "timeToAllServing": "timeToAllServingSeconds",
    "availability": "availability",
    "groupRecreations": "groupRecreations",
    "pendingPods": "",
}
COMPARATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "atLeast": (">=", operator.ge),
    "atMost": ("<=", operator.le),
    "equals": ("==", operator.eq),
}


DEFAULT_RUNS = 50  # Monte Carlo runs behind a quantile expectation


@dataclass(frozen=True)
class Assertion:
    workload: str | None
    metric: str
    comparator: str
    bound: float
    measured: float | None
    passed: bool
    quantile: float | None = None
    runs: int = 1

    def title(self) -> str:
        """What is asserted, without the measurement: ``llm timeToAllServing <= 15m``."""
        return f"{self._subject()} {self._bound()}"

    def describe(self) -> str:
        """``llm timeToAllServing 9m12s <= 15m``; a null measurement reads ``never``."""
        text = f"{self._subject()} {format_value(self.metric, self.measured)} {self._bound()}"
        if self.quantile is not None:
            text += f" (quantile {self.quantile:g} over {self.runs} runs)"
        return text

    def _subject(self) -> str:
        return f"{self.workload or 'all workloads'} {self.metric}"

    def _bound(self) -> str:
        return f"{COMPARATORS[self.comparator][0]} {format_value(self.metric, self.bound)}"

    def to_dict(self) -> dict:
        return {
            "workload": self.workload,
            "metric": self.metric,
            "comparator": self.comparator,
            "bound": self.bound,
            "measured": self.measured,
            "passed": self.passed,
            "quantile": self.quantile,
            "runs": self.runs,
        }


@dataclass
class ScenarioResult:
    scenario: str
    file: str
    assertions: list[Assertion] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.assertions)

    def lines(self) -> list[str]:
        if not self.assertions:
            return [f"PASS {self.scenario}: no expectations"]
        return [f"{'PASS' if a.passed else 'FAIL'} {self.scenario}: {a.describe()}" for a in self.assertions]


# Finding scenario files ---------------------------------------------------------------------------


def peek_scenario(path: Path) -> str | None:
    """The scenario name if ``path`` is a Scenario file, else None; read cheaply, never raises.

    A file that does not parse still counts when its text claims ``kind: Scenario`` of our apiVersion,
    so that loading it reports the error instead of the file being silently skipped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if API_VERSION not in text:
        return None
    try:
        doc = next((d for d in yaml.safe_load_all(text) if d is not None), None)
    except yaml.YAMLError:
        return path.stem if re.search(r"""\bkind["']?\s*:\s*["']?Scenario\b""", text) else None
    if not isinstance(doc, dict) or doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Scenario":
        return None
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return str(name) if name else path.stem


def find_scenarios(paths: Iterable[str]) -> list[Path]:
    """Files given are taken as scenarios; directories give their Scenario YAML files, recursively."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES and p.is_file())
            scenarios = [p for p in files if peek_scenario(p) is not None]
            if not scenarios:
                raise InputError(given, "", f"no {API_VERSION} Scenario files in this directory")
        else:
            scenarios = [path]
        for p in scenarios:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                found.append(p)
    return found


# Evaluating ----------------------------------------------------------------------------------------


def validate_expectations(scenario: Scenario) -> None:
    """Refuse expectations that cannot be measured, before spending time on a simulation."""
    names = {w.name for w in scenario.workloads}
    for exp in scenario.expect:
        where = exp.field_path or f"spec.expect[{exp.index}]"
        if exp.metric not in METRIC_FIELDS:
            raise InputError(scenario.path, where, f"unknown metric {exp.metric!r}")
        if exp.comparator not in COMPARATORS:
            raise InputError(scenario.path, where, f"unknown comparator {exp.comparator!r}")
        if exp.workload is not None and exp.workload not in names:
            known = ", ".join(sorted(names)) or "none"
            raise InputError(scenario.path, where, f"no workload named {exp.workload!r} (workloads: {known})")


def measure(report: dict, workload: str | None, metric: str) -> float | None:
    """The value ``metric`` takes in ``report``, for one workload or, when None, for all of them.

    Across all workloads, counts add up, time to all serving is the latest (null if any never serves)
    and availability is the lowest.
    """
    if metric == "pendingPods":
        return sum(1 for p in report["pendingPods"] if workload is None or p["workload"] == workload)
    key = METRIC_FIELDS[metric]
    values = [w[key] for w in report["workloads"] if workload is None or w["name"] == workload]
    if workload is not None:
        return values[0] if values else None
    if metric in ("timeToAllServing", "availability"):
        if not values or any(v is None for v in values):
            return None
        return max(values) if metric == "timeToAllServing" else min(values)
    return sum(values)


def evaluate(scenario: Scenario, report: dict, run_reports: list[dict] | None = None) -> ScenarioResult:
    """Hold ``report`` to the expectations; those with a quantile are held over ``run_reports``."""
    result = ScenarioResult(scenario.name, scenario.path)
    for exp in scenario.expect:
        if exp.quantile is not None and run_reports:
            values = [_for_quantile(exp.metric, measure(r, exp.workload, exp.metric)) for r in run_reports]
            with np.errstate(invalid="ignore"):
                measured = float(np.quantile(np.array(values, dtype=float), exp.quantile))
            measured = measured if math.isfinite(measured) else None  # inf (or inf − inf) means never
            result.assertions.append(_assert(exp, measured, len(run_reports)))
        else:
            result.assertions.append(_assert(exp, measure(report, exp.workload, exp.metric)))
    return result


def _for_quantile(metric: str, value: float | None) -> float:
    """Never serving is the worst value a run can have: infinite time, zero availability."""
    if value is not None:
        return float(value)
    return 0.0 if metric == "availability" else math.inf


def monte_carlo_reports(scenario: Scenario, runs: int) -> list[dict]:
    """Reports of ``runs`` seeded runs, with ``lwssim plan``'s per-run seeds."""
    return [runner.run(scenario, runner.run_seed(scenario.seed, i)) for i in range(runs)]


def _assert(exp: Expectation, measured: float | None, runs: int = 1) -> Assertion:
    holds = measured is not None and COMPARATORS[exp.comparator][1](measured, exp.value)
    return Assertion(exp.workload, exp.metric, exp.comparator, exp.value, measured, holds, exp.quantile, runs)


def check_paths(
    paths: Iterable[str],
    seed: int | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    runs: int = DEFAULT_RUNS,
) -> list[ScenarioResult]:
    """Load and validate every scenario first (bad input → InputError), then run and evaluate each."""
    scenarios = [runner.seeded(runner.load(str(p)), seed) for p in find_scenarios(paths)]
    for scenario in scenarios:
        validate_expectations(scenario)
    results = []
    for scenario in scenarios:
        progress(f"checking {scenario.name} ({scenario.path})")
        run_reports = None
        if any(exp.quantile is not None for exp in scenario.expect):
            progress(f"  {runs} Monte Carlo runs for quantile expectations")
            run_reports = monte_carlo_reports(scenario, runs)
        results.append(evaluate(scenario, runner.run(scenario), run_reports))
    return results


# Output ---------------------------------------------------------------------------------------------


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "never"
    if metric == "timeToAllServing":
        return go_duration(value)
    if metric == "availability":
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{value:g}"


def go_duration(seconds: float) -> str:
    """Seconds in the Go style scenarios are written in: ``15m``, ``9m12s``, ``1h30m``, ``2.5s``."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "")
    if s or frac or not out:
        out += f"{s}.{frac:03d}".rstrip("0").rstrip(".") + "s"
    return out


def summary_line(results: list[ScenarioResult]) -> str:
    total = sum(len(r.assertions) for r in results)
    failed = sum(1 for r in results for a in r.assertions if not a.passed)
    noun = "scenario" if len(results) == 1 else "scenarios"
    return f"{len(results)} {noun}, {total} assertions: {total - failed} passed, {failed} failed"


def to_json(results: list[ScenarioResult]) -> str:
    doc = {
        "apiVersion": API_VERSION,
        "kind": "CheckReport",
        "passed": all(r.passed for r in results),
        "scenarios": [
            {
                "scenario": r.scenario,
                "file": r.file,
                "passed": r.passed,
                "assertions": [a.to_dict() for a in r.assertions],
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def to_junit(results: list[ScenarioResult]) -> str:
    """JUnit XML, as CI systems read it: one testsuite per scenario, one testcase per assertion."""
    total = sum(len(r.assertions) for r in results)
    failures = sum(1 for r in results for a in r.assertions if not a.passed)
    root = ET.Element("testsuites", name="lwssim check", tests=str(total), failures=str(failures))
    for r in results:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=r.scenario,
            file=r.file,
            tests=str(len(r.assertions)),
            failures=str(sum(1 for a in r.assertions if not a.passed)),
            errors="0",
            skipped="0",
        )
        for a in r.assertions:
            case = ET.SubElement(suite, "testcase", classname=r.scenario, name=a.title(), time="0")
            if not a.passed:
                failure = ET.SubElement(case, "failure", message=a.describe(), type="ExpectationFailed")
                failure.text = f"measured {format_value(a.metric, a.measured)}"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
