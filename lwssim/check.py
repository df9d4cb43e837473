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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lwssim import runner
from lwssim.errors import InputError
from lwssim.manifests.limits import MAX_FILE_BYTES
from lwssim.manifests.schema import DURATION_METRICS, NODE_METRICS
from lwssim.manifests.yamlio import parse_documents
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
    "podsPreempted": "podsPreempted",
    "rolloutMinServing": "",  # the fewest groups serving during any of the workload's rollouts
    "rolloutDuration": "",  # the longest rollout, start to finish (never, if one does not finish)
    "groupsAdmitted": "",  # groups whose Kueue Workload is admitted at the end
    "admissionEvictions": "",  # evictions of the groups' Workloads (preemption, waitForPodsReady, ...)
    # Of the whole cluster, with autoscaling (no ``workload``): nodes at the horizon, instances launched,
    # launches that found no capacity, nodes deleted, and the report's gpuHours.
    **dict.fromkeys(NODE_METRICS, ""),
}
# A node metric → (report section, key); nodesAtEnd is the last count of nodesOverTime.
NODE_FIELDS = {
    "nodesLaunched": ("nodeClaims", "launched"),
    "nodeLaunchFailures": ("nodeClaims", "launchFailures"),
    "nodesDeleted": ("nodeClaims", "deleted"),
    "gpuHoursProvisioned": ("gpuHours", "provisioned"),
    "gpuHoursIdleInPartialGroups": ("gpuHours", "idleInPartialGroups"),
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

# A kind this close to "Scenario" (edits, any case) is a mistyped Scenario, not some other object.
KIND_TYPO_DISTANCE = 2
API_GROUP = API_VERSION.split("/")[0]


@dataclass(frozen=True)
class Peek:
    """What a YAML file in a checked folder is: a scenario (to load) or something else (skipped, and why).

    ``name`` is set for Scenario files and for files that look like one but are not valid, so that
    loading them reports the error (exit 2) instead of the file being skipped: a false green.
    """

    name: str | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass
class Found:
    """The scenario files to check, and the YAML files of the folders given that are not scenarios."""

    scenarios: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning ``a`` into ``b``."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _near_scenario_kind(kind: object) -> bool:
    return isinstance(kind, str) and edit_distance(kind.lower(), "scenario") <= KIND_TYPO_DISTANCE


def _near_api_group(api_version: object) -> bool:
    group = str(api_version).split("/")[0].lower()
    return edit_distance(group, API_GROUP) <= KIND_TYPO_DISTANCE


def looks_like_scenario(doc: object) -> bool:
    """A Scenario, or a document meant as one: a kind close to Scenario, a ``spec.cluster`` or
    ``spec.workloads``, or an lwssim-like apiVersion without a kind."""
    if not isinstance(doc, dict):
        return False
    spec = doc.get("spec")
    if isinstance(spec, dict) and ("cluster" in spec or "workloads" in spec):
        return True
    kind = doc.get("kind")
    return _near_scenario_kind(kind) or (kind is None and _near_api_group(doc.get("apiVersion", "")))


def _what_it_is(doc: object) -> str:
    """``leaderworkerset.x-k8s.io/v1 LeaderWorkerSet``, or why a document names no object."""
    if not isinstance(doc, dict):
        return f"a YAML {type(doc).__name__}"
    if "kind" not in doc:
        return "no apiVersion and kind" if "apiVersion" not in doc else "no kind"
    return " ".join(str(doc[k]) for k in ("apiVersion", "kind") if k in doc)


_SCENARIO_TEXT = re.compile(rf"""{re.escape(API_GROUP)}|\bkind["']?\s*:\s*["']?(\w+)""", re.IGNORECASE)


def _text_claims_scenario(text: str) -> bool:
    """For text that does not parse: does it mention lwssim's API group or a kind close to Scenario?"""
    return any(m.group(1) is None or _near_scenario_kind(m.group(1)) for m in _SCENARIO_TEXT.finditer(text))


def peek(path: Path) -> Peek:
    """Read ``path`` cheaply and say whether it is (meant as) a Scenario; never raises."""
    try:
        with path.open("rb") as f:
            text = f.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except UnicodeDecodeError:
        return Peek(skipped="not UTF-8 text")
    except OSError:
        return Peek(name=path.stem)  # unreadable: loading it says why
    if len(text) > MAX_FILE_BYTES:
        return Peek(name=path.stem)  # loading it names the limit
    try:  # within the input edge's limits (depth, aliases, duplicate keys), as loading reads it
        docs = parse_documents(text, str(path))
    except InputError:
        return Peek(name=path.stem) if _text_claims_scenario(text) else Peek(skipped="not valid YAML")
    if not docs:
        return Peek(skipped="empty")
    meant = [d for d in docs if looks_like_scenario(d)]
    if not meant:
        kinds = list(dict.fromkeys(_what_it_is(d) for d in docs))
        return Peek(skipped=", ".join(kinds) + ", not a Scenario")
    meta = meant[0].get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return Peek(name=str(name) if name else path.stem)


def find_scenarios(paths: Iterable[str]) -> Found:
    """Files given are taken as scenarios; directories give their Scenario YAML files, recursively, and
    the YAML files they skip with the reason (a folder never passes by skipping a broken scenario)."""
    found = Found()
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES and p.is_file())
            peeks = [(p, peek(p)) for p in files]
            scenarios = [p for p, seen_as in peeks if seen_as.name is not None]
            skipped = [Skipped(str(p), seen_as.skipped) for p, seen_as in peeks if seen_as.skipped]
            if not scenarios:
                why = f" ({len(skipped)} YAML files, none a Scenario)" if skipped else ""
                raise InputError(given, "", f"no {API_VERSION} Scenario files in this directory{why}")
            found.skipped.extend(skipped)
        else:
            scenarios = [path]
        for p in scenarios:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                found.scenarios.append(p)
    skipped, found.skipped = found.skipped, []
    for s in skipped:  # once each, and not when also given as a scenario
        key = Path(s.file).resolve()
        if key not in seen:
            seen.add(key)
            found.skipped.append(s)
    return found


# Evaluating ----------------------------------------------------------------------------------------


def validate_expectations(scenario: Scenario) -> None:
    """Refuse expectations that cannot be measured, before spending time on a simulation."""
    names = set(scenario.workload_names())
    for exp in scenario.expect:
        where = exp.field_path or f"spec.expect[{exp.index}]"
        if exp.metric not in METRIC_FIELDS:
            raise InputError(scenario.path, where, f"unknown metric {exp.metric!r}")
        if exp.comparator not in COMPARATORS:
            raise InputError(scenario.path, where, f"unknown comparator {exp.comparator!r}")
        if exp.metric in NODE_METRICS:
            if exp.workload is not None:
                raise InputError(
                    scenario.path, where, f"{exp.metric} is of the whole cluster: give no workload"
                )
            if not scenario.cluster.autoscaling.enabled:
                raise InputError(scenario.path, where, f"{exp.metric} needs spec.cluster.autoscaling")
        if exp.workload is not None and exp.workload not in names:
            known = ", ".join(sorted(names)) or "none"
            raise InputError(scenario.path, where, f"no workload named {exp.workload!r} (workloads: {known})")


def measure(report: dict, workload: str | None, metric: str) -> float | None:
    """The value ``metric`` takes in ``report``, for one workload or, when None, for all of them.

    Across all workloads, counts add up, time to all serving is the latest (null if any never serves)
    and availability is the lowest.
    """
    if metric == "nodesAtEnd":
        return report["nodesOverTime"][-1][1]
    if metric in NODE_FIELDS:
        section, key = NODE_FIELDS[metric]
        return report[section][key]
    if metric == "pendingPods":
        return sum(1 for p in report["pendingPods"] if workload is None or p["workload"] == workload)
    chosen = [w for w in report["workloads"] if workload is None or w["name"] == workload]
    if metric in ("rolloutMinServing", "rolloutDuration"):
        return _rollouts(chosen, metric)
    if metric == "groupsAdmitted":
        return sum(1 for w in chosen for g in w["groups"] if g.get("admittedAtSeconds") is not None)
    if metric == "admissionEvictions":
        return sum(len(g["admission"]["evictions"]) for w in chosen for g in w["groups"] if "admission" in g)
    key = METRIC_FIELDS[metric]
    values = [w[key] for w in chosen]
    if workload is not None:
        return values[0] if values else None
    if metric in ("timeToAllServing", "availability"):
        if not values or any(v is None for v in values):
            return None
        return max(values) if metric == "timeToAllServing" else min(values)
    return sum(values)


def evaluate(
    scenario: Scenario, report: dict, run_reports: list[dict] | None = None, label: str | None = None
) -> ScenarioResult:
    """Hold ``report`` to the expectations that hold for the scenario's LWS version; those with a quantile
    are held over ``run_reports``. ``label`` names the result (default: the scenario's name)."""
    result = ScenarioResult(label or scenario.name, scenario.path)
    version = scenario.controller.lws_version
    for exp in scenario.expect:
        if not exp.holds_for(version):
            continue
        if exp.quantile is not None and run_reports:
            values = [_for_quantile(exp.metric, measure(r, exp.workload, exp.metric)) for r in run_reports]
            with np.errstate(invalid="ignore"):
                measured = float(np.quantile(np.array(values, dtype=float), exp.quantile))
            measured = measured if math.isfinite(measured) else None  # inf (or inf − inf) means never
            result.assertions.append(_assert(exp, measured, len(run_reports)))
        else:
            result.assertions.append(_assert(exp, measure(report, exp.workload, exp.metric)))
    return result


def _rollouts(workloads: list[dict], metric: str) -> float | None:
    """Over the rollouts of ``workloads``: the fewest groups serving, or the longest duration (None when
    there was no rollout, or one did not finish)."""
    rollouts = [ro for w in workloads for ro in w.get("rollouts", [])]
    if not rollouts:
        return None
    if metric == "rolloutMinServing":
        return min(ro["minServing"] for ro in rollouts)
    if any(ro["finishedAtSeconds"] is None for ro in rollouts):
        return None
    return max(ro["finishedAtSeconds"] - ro["startedAtSeconds"] for ro in rollouts)


def _for_quantile(metric: str, value: float | None) -> float:
    """Never serving is the worst value a run can have: infinite time, zero availability."""
    if value is not None:
        return float(value)
    return 0.0 if metric in ("availability", "rolloutMinServing") else math.inf


def monte_carlo_reports(scenario: Scenario, runs: int) -> list[dict]:
    """Reports of ``runs`` seeded runs, with ``lwssim plan``'s per-run seeds."""
    return [runner.run(scenario, runner.run_seed(scenario.seed, i)) for i in range(runs)]


def _assert(exp: Expectation, measured: float | None, runs: int = 1) -> Assertion:
    holds = measured is not None and COMPARATORS[exp.comparator][1](measured, exp.value)
    return Assertion(exp.workload, exp.metric, exp.comparator, exp.value, measured, holds, exp.quantile, runs)


def lws_versions(scenario: Scenario, only: str | None = None) -> list[str]:
    """The LWS versions ``scenario`` is checked under: ``only`` (``check --lws-version``), else its own
    ``spec.controller.lwsVersion`` and every version one of its expectations names."""
    if only is not None:
        return [only]
    named = (v for exp in scenario.expect for v in exp.lws_versions)
    return list(dict.fromkeys([scenario.controller.lws_version, *named]))


def under_versions(path: str, seed: int | None, only: str | None = None) -> list[tuple[str, Scenario]]:
    """The scenario at ``path`` loaded once per version it is checked under, each with its label: the
    scenario's name, followed by the version when it runs under more than its own."""
    own = runner.seeded(runner.load(path), seed)
    versions = lws_versions(own, only)
    out = []
    for version in versions:
        scenario = own
        if version != own.controller.lws_version:
            scenario = runner.load_under(path, version, seed, f"when checked under LWS {version}")
        label = own.name if versions == [own.controller.lws_version] else f"{own.name} [LWS {version}]"
        out.append((label, scenario))
    return out


def check_paths(
    paths: Iterable[str],
    seed: int | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    runs: int = DEFAULT_RUNS,
    lws_version: str | None = None,
) -> tuple[list[ScenarioResult], list[Skipped]]:
    """Load and validate every scenario first, under each LWS version it is checked under (bad input →
    InputError), then run and evaluate each.

    Also returns the YAML files of the folders given that were skipped as not scenarios, for the output.
    """
    found = find_scenarios(paths)
    scenarios = [pair for p in found.scenarios for pair in under_versions(str(p), seed, lws_version)]
    for _, scenario in scenarios:
        validate_expectations(scenario)
    results = []
    for label, scenario in scenarios:
        progress(f"checking {label} ({scenario.path})")
        version = scenario.controller.lws_version
        run_reports = None
        if any(exp.quantile is not None and exp.holds_for(version) for exp in scenario.expect):
            progress(f"  {runs} Monte Carlo runs for quantile expectations")
            run_reports = monte_carlo_reports(scenario, runs)
        results.append(evaluate(scenario, runner.run(scenario), run_reports, label))
    return results, found.skipped


# Output ---------------------------------------------------------------------------------------------


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "never"
    if metric in DURATION_METRICS:
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


def summary_line(results: list[ScenarioResult], skipped: Sequence[Skipped] = ()) -> str:
    total = sum(len(r.assertions) for r in results)
    failed = sum(1 for r in results for a in r.assertions if not a.passed)
    noun = "scenario" if len(results) == 1 else "scenarios"
    line = f"{len(results)} {noun}, {total} assertions: {total - failed} passed, {failed} failed"
    return line + (f"; {skipped_count(skipped)}" if skipped else "")


def skipped_count(skipped: Sequence[Skipped]) -> str:
    return f"{len(skipped)} YAML {'file' if len(skipped) == 1 else 'files'} skipped, not scenarios"


def skipped_lines(skipped: Sequence[Skipped]) -> list[str]:
    """``SKIP file: reason`` for each YAML file of a folder that is not a scenario."""
    return [f"SKIP {s.file}: {s.reason}" for s in skipped]


def to_json(results: list[ScenarioResult], skipped: Sequence[Skipped] = ()) -> str:
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
        "skipped": [{"file": s.file, "reason": s.reason} for s in skipped],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def to_junit(results: list[ScenarioResult], skipped: Sequence[Skipped] = ()) -> str:
    """JUnit XML, as CI systems read it: one testsuite per scenario, one testcase per assertion, and the
    YAML files skipped as not scenarios as skipped testcases of one more suite."""
    total = sum(len(r.assertions) for r in results)
    failures = sum(1 for r in results for a in r.assertions if not a.passed)
    counts = _counts(total + len(skipped), failures=failures, skipped=len(skipped))
    root = ET.Element("testsuites", name="lwssim check", **counts)
    for r in results:
        failed = sum(1 for a in r.assertions if not a.passed)
        counts = _counts(len(r.assertions), failures=failed)
        suite = ET.SubElement(root, "testsuite", name=r.scenario, file=r.file, **counts)
        for a in r.assertions:
            case = ET.SubElement(suite, "testcase", classname=r.scenario, name=a.title(), time="0")
            if not a.passed:
                failure = ET.SubElement(case, "failure", message=a.describe(), type="ExpectationFailed")
                failure.text = f"measured {format_value(a.metric, a.measured)}"
    if skipped:
        counts = _counts(len(skipped), skipped=len(skipped))
        suite = ET.SubElement(root, "testsuite", name="not scenarios", **counts)
        for s in skipped:
            case = ET.SubElement(suite, "testcase", classname="not scenarios", name=s.file, time="0")
            ET.SubElement(case, "skipped", message=s.reason)
    return _xml(root)


def junit_error(file: str, message: str) -> str:
    """JUnit XML for a run that stopped on bad input (exit 2): one errored testcase with the message, so
    CI reporters find a report on every exit code."""
    root = ET.Element("testsuites", name="lwssim check", **_counts(1, errors=1))
    suite = ET.SubElement(root, "testsuite", name="lwssim check", **_counts(1, errors=1))
    case = ET.SubElement(suite, "testcase", classname="lwssim check", name=file or "lwssim check", time="0")
    ET.SubElement(case, "error", message=message, type="InputError").text = f"error: {message}"
    return _xml(root)


def _counts(tests: int, failures: int = 0, errors: int = 0, skipped: int = 0) -> dict[str, str]:
    return {"tests": str(tests), "failures": str(failures), "errors": str(errors), "skipped": str(skipped)}


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
