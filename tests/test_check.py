"""`lwssim check` logic: expectations against reports, messages, JUnit XML and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from support import document, write_scenario

from lwssim.check import (
    Peek,
    ScenarioResult,
    Skipped,
    edit_distance,
    evaluate,
    find_scenarios,
    go_duration,
    junit_error,
    looks_like_scenario,
    measure,
    peek,
    skipped_lines,
    summary_line,
    to_json,
    to_junit,
    validate_expectations,
)
from lwssim.errors import InputError
from lwssim.model.cluster import Cluster
from lwssim.model.lws import LeaderWorkerSetSpec, Workload
from lwssim.model.scenario import Expectation, Scenario


def scenario(*expect: Expectation, name: str = "deepseek-r1-dp-ep") -> Scenario:
    workloads = tuple(
        Workload(n, "default", "LeaderWorkerSet", LeaderWorkerSetSpec(name=n, replicas=2, size=2))
        for n in ("llm", "other")
    )
    return Scenario(name, f"scenarios/{name}.yaml", 0, 3600.0, Cluster(), workloads, expect=expect)


def exp(metric: str, comparator: str, value: float, workload: str | None = "llm", **kw) -> Expectation:
    return Expectation(workload, metric, comparator, value, **kw)


def report(**llm) -> dict:
    base = {
        "name": "llm",
        "groupsServing": 2,
        "groupsReadyReported": 2,
        "timeToAllServingSeconds": 552.0,
        "availability": 0.9871,
        "groupRecreations": 1,
    }
    other = dict(base, name="other", groupsServing=1, timeToAllServingSeconds=600.0, availability=0.5)
    pending = [{"name": "llm-1-1", "workload": "llm", "reason": "x"}, {"name": "o-0", "workload": "other"}]
    return {"workloads": [dict(base, **llm), other], "pendingPods": pending}


def test_pass_and_fail_lines_read_like_the_contract() -> None:
    s = scenario(exp("timeToAllServing", "atMost", 900), exp("availability", "atLeast", 0.999))
    result = evaluate(s, report())
    assert result.lines() == [
        "PASS deepseek-r1-dp-ep: llm timeToAllServing 9m12s <= 15m",
        "FAIL deepseek-r1-dp-ep: llm availability 0.9871 >= 0.999",
    ]
    assert not result.passed


@pytest.mark.parametrize(
    ("metric", "comparator", "value", "passed"),
    [
        ("groupsServing", "atLeast", 2, True),
        ("groupsServing", "atLeast", 3, False),
        ("groupsServing", "equals", 2, True),
        ("groupsReadyReported", "atMost", 1, False),
        ("groupRecreations", "atMost", 1, True),
        ("groupRecreations", "equals", 0, False),
        ("pendingPods", "equals", 1, True),
        ("availability", "atLeast", 0.9871, True),
    ],
)
def test_comparators(metric: str, comparator: str, value: float, passed: bool) -> None:
    assert evaluate(scenario(exp(metric, comparator, value)), report()).passed is passed


def test_null_measurement_fails_and_says_never() -> None:
    s = scenario(exp("timeToAllServing", "atMost", 900), exp("availability", "atLeast", 0.0))
    result = evaluate(s, report(timeToAllServingSeconds=None, availability=None))
    assert [a.passed for a in result.assertions] == [False, False]
    assert result.lines()[0] == "FAIL deepseek-r1-dp-ep: llm timeToAllServing never <= 15m"
    assert "availability never >= 0" in result.lines()[1]


def test_all_workloads_aggregates() -> None:
    r = report()
    assert measure(r, None, "pendingPods") == 2
    assert measure(r, "llm", "pendingPods") == 1
    assert measure(r, None, "groupsServing") == 3
    assert measure(r, None, "timeToAllServing") == 600.0
    assert measure(r, None, "availability") == 0.5
    assert measure(report(availability=None), None, "availability") is None
    line = evaluate(scenario(exp("pendingPods", "equals", 0, workload=None)), r).lines()[0]
    assert line == "FAIL deepseek-r1-dp-ep: all workloads pendingPods 2 == 0"


def test_quantile_is_held_over_monte_carlo_runs() -> None:
    """p95 of time to serving over runs: 19 fast runs and 1 slow one put p95 between them."""
    runs = [report(timeToAllServingSeconds=600.0) for _ in range(19)] + [
        report(timeToAllServingSeconds=1800.0)
    ]
    s = scenario(exp("timeToAllServing", "atMost", 900, quantile=0.95))
    result = evaluate(s, report(), runs)
    assert result.assertions[0].measured == pytest.approx(660.0)  # linear interpolation at 0.95
    assert result.passed
    assert (
        result.lines()[0]
        == "PASS deepseek-r1-dp-ep: llm timeToAllServing 11m <= 15m (quantile 0.95 over 20 runs)"
    )
    assert not evaluate(
        scenario(exp("timeToAllServing", "atMost", 900, quantile=0.99)), report(), runs
    ).passed


def test_quantile_counts_runs_that_never_serve_as_worst() -> None:
    """A run that never serves is an infinite time and an availability of 0, not a skipped run."""
    runs = [report(timeToAllServingSeconds=None, availability=None)] + [report() for _ in range(9)]
    never = evaluate(scenario(exp("timeToAllServing", "atMost", 900, quantile=1.0)), report(), runs)
    assert never.assertions[0].measured is None and not never.passed
    low = evaluate(scenario(exp("availability", "atLeast", 0.5, quantile=0.0)), report(), runs)
    assert low.assertions[0].measured == 0.0 and not low.passed


def test_monte_carlo_runs_use_plan_run_seeds_and_are_reproducible() -> None:
    from lwssim.check import monte_carlo_reports
    from lwssim.manifests.scenario import load_scenario

    sc = load_scenario("scenarios/deepseek-r1-dp-ep.yaml")
    a = [r["workloads"][0]["timeToAllServingSeconds"] for r in monte_carlo_reports(sc, 5)]
    b = [r["workloads"][0]["timeToAllServingSeconds"] for r in monte_carlo_reports(sc, 5)]
    assert a == b and len(set(a)) > 1  # same seeds, same draws; different runs, different draws


def test_seed_enters_check_as_it_enters_plan(monkeypatch) -> None:
    """--seed replaces spec.seed (runner.seeded): the single run and every Monte Carlo run derive from it."""
    from lwssim import check, runner

    seeds: list[int | None] = []
    base = runner.load("scenarios/deepseek-r1-dp-ep.yaml")
    monkeypatch.setattr(
        runner,
        "load",
        lambda _path: replace(
            base, expect=(exp("groupsServing", "atLeast", 0, workload=None, quantile=0.5),)
        ),
    )
    monkeypatch.setattr(
        runner, "run", lambda sc, seed=None: seeds.append(sc.seed if seed is None else seed) or {}
    )
    monkeypatch.setattr(check, "evaluate", lambda *_args: None)
    check.check_paths(["scenarios/deepseek-r1-dp-ep.yaml"], seed=11, runs=3)
    assert seeds == [runner.run_seed(11, 0), runner.run_seed(11, 1), runner.run_seed(11, 2), 11]


def test_unknown_workload_is_an_input_error_naming_the_field() -> None:
    s = scenario(exp("groupsServing", "atLeast", 1, workload="nope", index=0, field_path="spec.expect[0]"))
    with pytest.raises(InputError) as info:
        validate_expectations(s)
    assert info.value.render() == (
        "scenarios/deepseek-r1-dp-ep.yaml: spec.expect[0]: no workload named 'nope' (workloads: llm, other)"
    )


def test_no_expectations_passes() -> None:
    result = evaluate(scenario(), report())
    assert result.passed and result.lines() == ["PASS deepseek-r1-dp-ep: no expectations"]


def test_go_duration() -> None:
    assert [go_duration(s) for s in (900, 552, 5400, 3600, 2.5, 0, 59.9999)] == [
        "15m",
        "9m12s",
        "1h30m",
        "1h",
        "2.5s",
        "0s",
        "1m",
    ]


def results() -> list[ScenarioResult]:
    ok = evaluate(scenario(exp("groupsServing", "atLeast", 2), name="a"), report())
    bad = evaluate(
        scenario(exp("groupsServing", "atLeast", 2), exp("availability", "atLeast", 0.999), name="b"),
        report(),
    )
    return [ok, bad]


def test_junit_xml_has_a_suite_per_scenario_and_failures_with_measured_values() -> None:
    root = ET.fromstring(to_junit(results()))
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("a", "1", "0"),
        ("b", "2", "1"),
    ]
    cases = suites[1].findall("testcase")
    assert [c.get("name") for c in cases] == ["llm groupsServing >= 2", "llm availability >= 0.999"]
    failure = cases[1].find("failure")
    assert failure is not None and cases[0].find("failure") is None
    assert failure.get("message") == "llm availability 0.9871 >= 0.999"
    assert failure.text == "measured 0.9871"


def test_check_json_shape() -> None:
    text = to_json(results())
    doc = json.loads(text)
    assert json.dumps(doc, indent=2, sort_keys=True) + "\n" == text
    assert doc["kind"] == "CheckReport" and doc["passed"] is False
    first = doc["scenarios"][0]
    assert (first["scenario"], first["file"], first["passed"]) == ("a", "scenarios/a.yaml", True)
    assert first["assertions"][0] == {
        "workload": "llm",
        "metric": "groupsServing",
        "comparator": "atLeast",
        "bound": 2,
        "measured": 2,
        "passed": True,
        "quantile": None,
        "runs": 1,
    }
    assert summary_line(results()) == "2 scenarios, 3 assertions: 2 passed, 1 failed"


def test_scenario_discovery(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_scenario(tmp_path, document("alpha"), "a.yaml")
    write_scenario(tmp_path, document("beta"), "sub/b.yml")
    (tmp_path / "lws.yaml").write_text("apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\n")
    (tmp_path / "other.yaml").write_text("apiVersion: lwssim.io/v1alpha1\nkind: ScenarioSet\n")
    (tmp_path / "broken.yaml").write_text("apiVersion: lwssim.io/v1alpha1\nkind: Scenario\nspec: [\n")
    (tmp_path / "junk.yaml").write_text("key: [unclosed\n")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    write_scenario(tmp_path, document("txt"), "notes.txt")
    assert peek(tmp_path / "a.yaml") == Peek(name="alpha")
    assert peek(tmp_path / "broken.yaml") == Peek(name="broken")  # claims to be one: loading says why not
    found = find_scenarios([str(tmp_path), str(tmp_path / "a.yaml")])
    assert [p.relative_to(tmp_path).as_posix() for p in found.scenarios] == [
        "a.yaml",
        "broken.yaml",
        "sub/b.yml",
    ]
    assert [(Path(s.file).name, s.reason) for s in found.skipped] == [
        ("empty.yaml", "empty"),
        ("junk.yaml", "not valid YAML"),
        ("lws.yaml", "leaderworkerset.x-k8s.io/v1 LeaderWorkerSet, not a Scenario"),
        ("other.yaml", "lwssim.io/v1alpha1 ScenarioSet, not a Scenario"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: lwssim.io/v1alpha1\nkind: Scenari\nmetadata: {name: m}\n",  # kind mistyped
        "apiVersion: lwssim.io/v1alpha1\nkind: scenario\nmetadata: {name: m}\n",  # wrong case
        "apiVersion: lwsim.io/v1alpha1\nkind: Scenario\nmetadata: {name: m}\n",  # apiVersion mistyped
        "apiVersion: lwssim.io/v1\nmetadata: {name: m}\n",  # kind forgotten
        "apiVersion: v1\nkind: Config\nmetadata: {name: m}\nspec: {workloads: []}\n",  # a scenario's body
        "kind: Scenario\nmetadata: {name: m}\nspec: {cluster: {}}\n---\nkind: Scenario\n",  # two documents
    ],
)
def test_a_file_meant_as_a_scenario_is_taken_as_one(tmp_path: Path, text: str) -> None:
    """Taken as a scenario, so loading it is an error (exit 2) rather than the folder passing without it."""
    (tmp_path / "s.yaml").write_text(text)
    assert peek(tmp_path / "s.yaml") == Peek(name="m")
    assert find_scenarios([str(tmp_path)]).scenarios == [tmp_path / "s.yaml"]


def test_unparsable_text_is_a_scenario_when_it_names_lwssim_or_a_kind_like_scenario(tmp_path: Path) -> None:
    for name, text, meant in [
        ("a", "kind: Scenaro\nspec: [\n", True),
        ("b", "apiVersion: lwssim.io/v1alpha1\nspec: [\n", True),
        ("c", "kind: LeaderWorkerSet\nspec: [\n", False),
    ]:
        (tmp_path / f"{name}.yaml").write_text(text)
        assert (peek(tmp_path / f"{name}.yaml").name == name) is meant, name


def test_other_objects_are_not_scenarios() -> None:
    assert not looks_like_scenario({"apiVersion": "v1", "kind": "Service", "spec": {"ports": []}})
    assert not looks_like_scenario({"apiVersion": "lwssim.io/v1alpha1", "kind": "Timeline"})
    assert not looks_like_scenario(["a", "list"])
    assert looks_like_scenario({"kind": "Scenarios"})


def test_edit_distance() -> None:
    assert [edit_distance(a, b) for a, b in [("", "ab"), ("scenario", "scenari"), ("kitten", "sitting")]] == [
        2,
        1,
        3,
    ]


def test_directory_without_scenarios_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("a: 1\n")
    with pytest.raises(InputError, match=r"no lwssim.io/v1alpha1 Scenario files in this directory \(1 YAML"):
        find_scenarios([str(tmp_path)])


def test_skipped_files_in_every_output() -> None:
    skipped = [Skipped("m/lws.yaml", "leaderworkerset.x-k8s.io/v1 LeaderWorkerSet, not a Scenario")]
    assert skipped_lines(skipped) == [
        "SKIP m/lws.yaml: leaderworkerset.x-k8s.io/v1 LeaderWorkerSet, not a Scenario"
    ]
    assert summary_line(results(), skipped).endswith("1 failed; 1 YAML file skipped, not scenarios")
    assert json.loads(to_json(results(), skipped))["skipped"] == [
        {"file": s.file, "reason": s.reason} for s in skipped
    ]
    root = ET.fromstring(to_junit(results(), skipped))
    assert (root.get("tests"), root.get("skipped")) == ("4", "1")
    case = root.findall("testsuite")[-1].find("testcase")
    assert case is not None and case.get("name") == "m/lws.yaml"
    assert case.find("skipped").get("message") == skipped[0].reason


def test_junit_error_report() -> None:
    root = ET.fromstring(junit_error("s.yaml", 's.yaml: kind: "Scenari" is not one of "Scenario"'))
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("1", "1", "0")
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "s.yaml"
    error = case.find("error")
    assert error is not None and error.get("message") == 's.yaml: kind: "Scenari" is not one of "Scenario"'


def test_peek_reads_yaml_within_the_input_edge_limits(tmp_path: Path) -> None:
    """A folder's file nested beyond the YAML depth limit, or with duplicate keys, is read as loading reads
    it: no RecursionError while sorting the folder; a Scenario-looking one is kept so loading says why."""
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 600 + "]" * 600 + "\n")
    assert peek(deep) == Peek(skipped="not valid YAML")
    twice = tmp_path / "twice.yaml"
    twice.write_text("apiVersion: lwssim.io/v1alpha1\nkind: Scenario\nkind: Scenario\n")
    assert peek(twice) == Peek(name="twice")
