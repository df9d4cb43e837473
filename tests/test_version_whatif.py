"""One scenario under several LWS versions (issue 16): the upgrade what-if of `simulate
--compare-lws-version`, expectations per version in `lwssim check` and the pytest plugin, and the rollout
metrics they use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import assert_input_contract, run_cli
from test_check import exp, report, scenario

from lwssim.analysis.upgrade import compare_versions
from lwssim.check import check_paths, evaluate, lws_versions, measure

REPO = Path(__file__).parent.parent
ROLLOUT = REPO / "scenarios" / "lws-rollout-max-surge.yaml"


def test_the_rollout_metrics_are_the_fewest_serving_and_the_longest_rollout():
    two = [
        {"startedAtSeconds": 100.0, "finishedAtSeconds": 700.0, "minServing": 3},
        {"startedAtSeconds": 1000.0, "finishedAtSeconds": 2200.0, "minServing": 2},
    ]
    r = report(rollouts=two)
    assert measure(r, "llm", "rolloutMinServing") == 2 and measure(r, "llm", "rolloutDuration") == 1200.0
    unfinished = report(rollouts=[{**two[0], "finishedAtSeconds": None}])
    assert measure(unfinished, "llm", "rolloutDuration") is None  # "never"
    assert measure(report(rollouts=[]), "llm", "rolloutMinServing") is None


def test_an_expectation_for_other_versions_is_not_asserted():
    s = scenario(
        exp("groupsServing", "equals", 2),
        exp("groupRecreations", "equals", 1, lws_versions=("v0.9.0",)),
        exp("groupRecreations", "equals", 2, lws_versions=("v0.7.0", "v0.8.0")),
    )
    result = evaluate(s, report(groupRecreations=2))
    assert [(a.metric, a.bound) for a in result.assertions] == [("groupsServing", 2), ("groupRecreations", 2)]
    assert result.passed
    assert lws_versions(s) == ["v0.7.0", "v0.9.0", "v0.8.0"]
    assert lws_versions(s, "v0.10.0") == ["v0.10.0"]


def test_check_runs_a_scenario_under_each_version_its_expectations_name():
    results, _ = check_paths([str(REPO / "scenarios" / "lws-leader-delete.yaml")])
    measured = {r.scenario: [(a.metric, a.measured) for a in r.assertions] for r in results}
    assert measured == {
        "lws-leader-delete [LWS v0.7.0]": [("groupsServing", 2), ("groupRecreations", 2)],
        "lws-leader-delete [LWS v0.8.0]": [("groupsServing", 2), ("groupRecreations", 2)],
        "lws-leader-delete [LWS v0.9.0]": [("groupsServing", 2), ("groupRecreations", 1)],
        "lws-leader-delete [LWS v0.10.0]": [("groupsServing", 2), ("groupRecreations", 1)],
    }


def test_check_lws_version_runs_only_that_version(tmp_path):
    out = run_cli(["check", str(ROLLOUT), "--lws-version", "v0.9.0", "-o", "json"], seconds=60)
    assert out.code == 0, out.stderr
    [result] = json.loads(out.stdout)["scenarios"]
    assert result["scenario"] == "lws-rollout-max-surge [LWS v0.9.0]"
    mins = [a for a in result["assertions"] if a["metric"] == "rolloutMinServing"]
    assert [(a["bound"], a["measured"]) for a in mins] == [(3, 3)]


def test_an_expectation_that_fails_under_one_version_fails_the_check(tmp_path):
    doc = yaml.safe_load(ROLLOUT.read_text())
    for e in doc["spec"]["expect"]:
        if e.get("lwsVersions") == ["v0.9.0", "v0.10.0"]:
            e["rolloutMinServing"] = {"equals": 2}  # what v0.7 gives, not v0.9
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    out = run_cli(["check", str(tmp_path / "s.yaml")], seconds=60)
    assert out.code == 1
    assert "FAIL lws-rollout-max-surge [LWS v0.9.0]: llm rolloutMinServing 3 == 2" in out.stdout
    assert "PASS lws-rollout-max-surge [LWS v0.7.0]: llm rolloutMinServing 2 == 2" in out.stdout


def test_a_version_that_refuses_the_scenario_is_named(tmp_path):
    """RecreateGroupAfterStart needs v0.9 (v0.8 takes it as an annotation): a check under v0.7 is refused."""
    doc = yaml.safe_load(ROLLOUT.read_text())
    doc["spec"]["controller"] = {"lwsVersion": "v0.9.0"}
    doc["spec"]["workloads"][0]["manifest"]["spec"]["leaderWorkerTemplate"]["restartPolicy"] = (
        "RecreateGroupAfterStart"
    )
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    out = run_cli(["check", str(tmp_path / "s.yaml")], seconds=60)
    assert_input_contract(out)
    assert out.code == 2 and "needs LWS v0.9 or later" in out.stderr
    assert "(when checked under LWS v0.7.0)" in out.stderr


def test_compare_versions_sets_the_two_reports_side_by_side():
    rollout = {"startedAtSeconds": 3600.0, "finishedAtSeconds": 5400.0, "minServing": 2}
    a = {"scenario": "s", "seed": 1, "workloads": [{"kind": "LeaderWorkerSet", **report()["workloads"][0]}]}
    a["workloads"][0]["rollouts"] = [rollout]
    b = json.loads(json.dumps(a))
    b["workloads"][0]["rollouts"][0].update(minServing=3, finishedAtSeconds=5600.0)
    doc = compare_versions([a, b], ["v0.7.0", "v0.9.0"])
    [w] = doc["workloads"]
    differing = {r["metric"]: r["values"] for r in w["rows"] if r["differs"]}
    assert differing == {"rollouts[0].durationSeconds": [1800.0, 2000.0], "rollouts[0].minServing": [2, 3]}
    assert w["differences"] == [
        "llm: rollout 1: duration: 30.0 min under v0.7.0 and 33.3 min under v0.9.0",
        "llm: rollout 1: fewest groups serving: 2 under v0.7.0 and 3 under v0.9.0",
    ]
    assert doc["reports"] == [a, b] and doc["kind"] == "LWSVersionComparison"


@pytest.mark.parametrize("output", ["table", "json", "markdown", "html"])
def test_simulate_compare_lws_version_in_every_output(output):
    out = run_cli(["simulate", str(ROLLOUT), "--compare-lws-version", "v0.9.0", "-o", output], seconds=60)
    assert out.code == 0, out.stderr
    assert "fewest groups serving: 2 under v0.7.0 and 3 under v0.9.0" in out.stdout
    if output == "json":
        doc = json.loads(out.stdout)
        assert doc["versions"] == ["v0.7.0", "v0.9.0"]
        assert [r["lwsVersion"] for r in doc["reports"]] == ["v0.7.0", "v0.9.0"]
        # the what-if is the two plain runs: each report equals `simulate` under that version
        plain = json.loads(run_cli(["simulate", str(ROLLOUT), "-o", "json"], seconds=60).stdout)
        assert doc["reports"][0] == plain


def test_compare_lws_version_names_a_version_lwssim_does_not_model():
    out = run_cli(["simulate", str(ROLLOUT), "--compare-lws-version", "v0.11.0"])
    assert_input_contract(out)
    assert (
        out.code == 2 and "lwssim models LWS v0.7.x" in out.stderr and "--compare-lws-version" in out.stderr
    )
