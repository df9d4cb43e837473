"""The pytest plugin: Scenario YAML becomes one test item per scenario; other YAML is left alone."""

from __future__ import annotations

import pytest
import yaml
from support import document, h100_doc

pytest_plugins = ["pytester"]


# A conftest for the pytester session: replaces the engine (restored afterwards, as pytester runs
# in-process) so these tests pin the plugin's own behaviour. Scenarios named good* hold, others fail.
FAKE_ENGINE = """
from pathlib import Path

from lwssim import runner
from lwssim.model.cluster import Cluster
from lwssim.model.scenario import Expectation, Scenario

SAVED = runner.load, runner.run


def load(path):
    name = Path(path).stem
    bound = 2 if name.startswith("good") else 1
    expect = (Expectation(None, "pendingPods", "atMost", bound),)
    return Scenario(name, path, 0, 60.0, Cluster(), (), expect=expect)


def run(scenario, seed=None):
    return {"workloads": [], "pendingPods": [{"name": "p", "workload": "w", "reason": "r"}] * 2}


def pytest_sessionstart(session):
    runner.load, runner.run = load, run


def pytest_sessionfinish(session):
    runner.load, runner.run = SAVED
"""


def test_collects_scenarios_and_ignores_other_yaml(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_ENGINE)
    pytester.makefile(".yaml", good=yaml.safe_dump(document("alpha")), bad=yaml.safe_dump(document("beta")))
    pytester.makefile(".yml", lws="apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\n")
    pytester.makefile(".yaml", junk="key: [unclosed\n", other="apiVersion: lwssim.io/v1alpha1\nkind: Plan\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "bad.yaml::beta",
            "good.yaml::alpha",
            "*lwssim: 3 YAML files skipped, not scenarios*",
            "SKIP junk.yaml: not valid YAML",
            "SKIP lws.yml: leaderworkerset.x-k8s.io/v1 LeaderWorkerSet, not a Scenario",
            "SKIP other.yaml: lwssim.io/v1alpha1 Plan, not a Scenario",
            "*2 tests collected*",
        ]
    )
    assert "::" not in result.stdout.str().replace("bad.yaml::beta", "").replace("good.yaml::alpha", "")


def test_mistyped_scenario_is_collected_and_fails_saying_why(pytester: pytest.Pytester) -> None:
    """Uses the real loader: as `lwssim check DIR`, a file meant as a Scenario is an error, not skipped."""
    pytester.makefile(".yaml", typo=yaml.safe_dump(dict(h100_doc("t", 4), kind="Scenari")))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['error: *typo.yaml: kind: "Scenari" is not one of "Scenario" (did you*'])
    assert "Traceback" not in result.stdout.str()


def test_failing_scenario_shows_assertion_lines(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_ENGINE)
    pytester.makefile(".yaml", good=yaml.safe_dump(document("alpha")), bad=yaml.safe_dump(document("beta")))
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAIL bad: all workloads pendingPods 2 <= 1"])


def test_broken_scenario_fails_with_input_error(pytester: pytest.Pytester) -> None:
    """Uses the real loader: a file claiming to be a Scenario is collected, and fails saying why."""
    pytester.makefile(".yaml", broken="apiVersion: lwssim.io/v1alpha1\nkind: Scenario\nspec: [\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["error: *broken.yaml: invalid YAML at the end of the file*"])
    assert "Traceback" not in result.stdout.str()


def test_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nlwssim_collect = false\n")
    pytester.makefile(".yaml", good=yaml.safe_dump(document("alpha")))
    result = pytester.runpytest("--collect-only", "-q")
    assert "alpha" not in result.stdout.str()


def test_real_scenario_runs_through_the_engine(pytester: pytest.Pytester) -> None:  # needs engine
    pytester.makefile(
        ".yaml",
        real=yaml.safe_dump(
            h100_doc(
                "one-group",
                2,
                replicas=1,
                expect=[
                    {
                        "workload": "llm",
                        "groupsServing": {"atLeast": 1},
                        "timeToAllServing": {"atMost": "30m"},
                    }
                ],
            )
        ),
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*real.yaml::one-group PASSED*"])
