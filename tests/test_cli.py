"""The `lwssim` command's contract: outputs, and exit codes 0 / 1 / 2 with nothing on stdout for bad input.

Most tests replace the loader and engine with fakes (``runner.load`` / ``runner.run``) to pin the CLI's own
behaviour; the tests marked ``# needs engine`` run the real pipeline end to end.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import h100_doc, write_scenario

from lwssim import __version__, runner
from lwssim import timeline as k
from lwssim.analysis.report import build_report
from lwssim.cli import cli
from lwssim.errors import InputError
from lwssim.model.cluster import Cluster
from lwssim.model.lws import LeaderWorkerSetSpec, Workload
from lwssim.model.scenario import Expectation, Scenario
from lwssim.timeline import Timeline, WorkloadInfo

EXPECT = [{"workload": "llm", "groupsServing": {"atLeast": 2}}]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def fake_scenario(path: str, groups_expected: int) -> Scenario:
    lws = LeaderWorkerSetSpec(name="llm", replicas=2, size=2)
    expect = (Expectation("llm", "groupsServing", "atLeast", groups_expected, field_path="spec.expect[0]"),)
    name = Path(path).stem
    workloads = (Workload("llm", "default", "LeaderWorkerSet", lws),)
    return Scenario(name, path, 0, 100.0, Cluster(), workloads, expect=expect)


def fake_report(scenario: Scenario, seed: int | None = None) -> dict:
    """One of two groups serves; LWS v0.7 reports both ready; group 1's worker waits for GPUs."""
    t = Timeline(
        100.0, [WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", 2, 2)], scenario=scenario.name
    )
    t.seed = scenario.seed if seed is None else seed  # as World: the scenario's seed unless given
    t.cluster = {"nodes": 1, "gpus": 8}
    for g in (0, 1):
        for name, role in ((f"llm-{g}", "leader"), (f"llm-{g}-1", "worker")):
            t.add(0, k.POD_CREATED, name, "llm", g, role, gpus=4)
            if role == "leader" or g == 0:
                t.add(1, k.POD_SCHEDULED, name, "llm", g, role, node="h100-0")
                t.add(2, k.POD_CONTAINERS_STARTED, name, "llm", g, role)
                t.add(10, k.POD_READY, name, "llm", g, role)
            else:
                t.add(1, k.POD_UNSCHEDULABLE, name, "llm", g, role, reason="0/1 nodes are available.")
    t.add(10, k.LWS_STATUS, "llm", "llm", replicas=2, readyReplicas=2, updatedReplicas=2)
    return build_report(t, lws_version="v0.7.0")


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenarios named ``pass*`` expect 1 serving group (holds), others 2 (fails)."""

    def load(path: str) -> Scenario:
        if "bad" in Path(path).name:
            raise InputError(
                path, "spec.cluster.nodePools[0].capacity.nvidia.com/gpu", '"8x" is not a quantity'
            )
        return fake_scenario(path, 1 if Path(path).name.startswith("pass") else 2)

    monkeypatch.setattr(runner, "load", load)
    monkeypatch.setattr(runner, "run", fake_report)


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_simulate_json_is_only_json_on_stdout(fake_engine: None) -> None:
    result = invoke("simulate", "s.yaml", "--output", "json", "--seed", "3")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["kind"] == "SimulationReport" and doc["seed"] == 3
    assert doc["workloads"][0]["groupsServing"] == 1
    assert "simulating" in result.stderr


def test_simulate_table_explains_reported_ready_that_does_not_serve(fake_engine: None) -> None:
    result = invoke("simulate", "s.yaml")
    assert result.exit_code == 0
    out = " ".join(result.stdout.split())
    assert "llm: LWS v0.7 reports 2 groups ready, but only 1 serves: workers Pending (lws#705)" in out
    assert "0/1 nodes are available." in out and "llm-1-1" in out


def test_simulate_markdown(fake_engine: None) -> None:
    result = invoke("simulate", "s.yaml", "-o", "markdown")
    assert result.exit_code == 0
    assert "| Workload | Kind | Serving / LWS ready / Replicas |" in result.stdout
    assert "| llm | LWS | 1 / 2 / 2 | never | — | 0 | 12 |" in result.stdout
    assert "> **Note:** llm: LWS v0.7 reports 2 groups ready, but only 1 serves" in result.stdout


def test_bad_input_exits_2_with_one_line_on_stderr(fake_engine: None) -> None:
    for args in (["simulate", "bad.yaml", "-o", "json"], ["check", "pass.yaml", "bad.yaml", "-o", "json"]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            'error: bad.yaml: spec.cluster.nodePools[0].capacity.nvidia.com/gpu: "8x" is not a quantity\n'
        )


def test_usage_errors_exit_2_without_traceback() -> None:
    for args in (["simulate"], ["simulate", "x.yaml", "--output", "pdf"], ["check"], ["nope"]):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert result.stdout == ""
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_check_exit_codes(fake_engine: None, tmp_path: Path) -> None:
    passed = invoke("check", "pass.yaml")
    assert passed.exit_code == 0
    assert passed.stdout.splitlines() == [
        "PASS pass: llm groupsServing 1 >= 1",
        "1 scenario, 1 assertions: 1 passed, 0 failed",
    ]
    failed = invoke("check", "pass.yaml", "fail.yaml")
    assert failed.exit_code == 1
    assert "FAIL fail: llm groupsServing 1 >= 2" in failed.stdout


def test_check_json_and_junit(fake_engine: None, tmp_path: Path) -> None:
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    result = invoke("check", "pass.yaml", "fail.yaml", "--junit", str(junit), "--output", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [(s["scenario"], s["passed"]) for s in doc["scenarios"]] == [("pass", True), ("fail", False)]
    root = ET.parse(junit).getroot()
    assert [s.get("name") for s in root.iter("testsuite")] == ["pass", "fail"]
    assert len(list(root.iter("failure"))) == 1


def test_check_directory_takes_scenarios_and_names_what_it_skips(fake_engine: None, tmp_path: Path) -> None:
    write_scenario(tmp_path, h100_doc("a", 4, expect=EXPECT), "pass-a.yaml")
    (tmp_path / "lws.yaml").write_text("apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\n")
    (tmp_path / "empty.yaml").write_text("")
    junit = tmp_path / "junit.xml"
    result = invoke("check", str(tmp_path), "--junit", str(junit))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "PASS pass-a: llm groupsServing 1 >= 1",
        f"SKIP {tmp_path / 'empty.yaml'}: empty",
        f"SKIP {tmp_path / 'lws.yaml'}: leaderworkerset.x-k8s.io/v1 LeaderWorkerSet, not a Scenario",
        "1 scenario, 1 assertions: 1 passed, 0 failed; 2 YAML files skipped, not scenarios",
    ]
    root = ET.parse(junit).getroot()
    assert [c.get("name") for c in root.iter("testcase") if c.find("skipped") is not None] == [
        str(tmp_path / "empty.yaml"),
        str(tmp_path / "lws.yaml"),
    ]


@pytest.mark.parametrize("typo", [{"kind": "Scenari"}, {"apiVersion": "lwsim.io/v1alpha1"}])
def test_check_directory_with_a_mistyped_scenario_is_bad_input(tmp_path: Path, typo: dict) -> None:
    """Real loader: the mistyped file fails the run (with the loader's "did you mean"), never a green."""
    write_scenario(tmp_path, h100_doc("fine", 4, expect=EXPECT), "a-fine.yaml")
    typo_file = write_scenario(tmp_path, dict(h100_doc("typo", 4, expect=EXPECT), **typo), "b-typo.yaml")
    junit = tmp_path / "junit.xml"
    result = invoke("check", str(tmp_path), "--junit", str(junit))
    assert result.exit_code == 2 and result.stdout == ""
    field, value = next(iter(typo.items()))
    assert result.stderr.startswith(f'error: {typo_file}: {field}: "{value}" is not one of')
    assert "(did you mean" in result.stderr and len(result.stderr.splitlines()) == 1
    error = ET.parse(junit).getroot().find("testsuite/testcase/error")
    assert error is not None and error.get("message") == result.stderr.removeprefix("error: ").strip()


def test_check_usage_error_still_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    for args in (["--runs", "0", "x.yaml"], ["--no-such-option", "x.yaml"], []):
        for junit_args in ([f"--junit={junit}"], ["--junit", str(junit)]):
            junit.unlink(missing_ok=True)
            result = invoke("check", *args, *junit_args)
            assert result.exit_code == 2, args
            error = ET.parse(junit).getroot().find("testsuite/testcase/error")
            assert error is not None and error.get("message") == result.stderr.removeprefix("error: ").strip()


def test_check_empty_directory_is_bad_input(tmp_path: Path) -> None:
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {tmp_path}: no lwssim.io/v1alpha1 Scenario files")


def test_real_loader_bad_quantity_exits_2(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, h100_doc("s", 4, gpus="8x", expect=EXPECT), "s.yaml")
    result = invoke("simulate", str(path), "-o", "json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: ") and len(result.stderr.splitlines()) == 1


def test_schema_prints_json() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert isinstance(json.loads(result.stdout), dict)


# needs engine: these run the real loader and engine (lwssim.engine.world.simulate).


def test_engine_simulate_is_deterministic(tmp_path: Path) -> None:  # needs engine
    path = write_scenario(tmp_path, h100_doc("s", 4, expect=EXPECT), "s.yaml")
    first = invoke("simulate", str(path), "-o", "json", "--seed", "5")
    second = invoke("simulate", str(path), "-o", "json", "--seed", "5")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["workloads"][0]["groupsServing"] == 2


def test_engine_check_pass_and_fail(tmp_path: Path) -> None:  # needs engine
    write_scenario(tmp_path, h100_doc("enough", 4, expect=EXPECT), "enough.yaml")
    write_scenario(tmp_path, h100_doc("short", 1, expect=EXPECT), "short.yaml")  # no room for a group
    assert invoke("check", str(tmp_path / "enough.yaml")).exit_code == 0
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 1
    assert "PASS enough: llm groupsServing 2 >= 2" in result.stdout
    assert "FAIL short: llm groupsServing 0 >= 2" in result.stdout


def test_engine_table_names_groups_reported_ready_that_do_not_serve(tmp_path: Path) -> None:  # needs engine
    """Two nodes, two groups of two 8-GPU pods: each leader takes a node, so no worker fits (lws#705)."""
    path = write_scenario(tmp_path, h100_doc("deadlock", 2, expect=EXPECT), "deadlock.yaml")
    report = json.loads(invoke("simulate", str(path), "-o", "json").stdout)
    w = report["workloads"][0]
    assert (w["groupsServing"], w["groupsReadyReported"], len(report["pendingPods"])) == (0, 2, 2)
    out = " ".join(invoke("simulate", str(path)).stdout.split())
    assert "LWS v0.7 reports 2 groups ready, but only 0 serve: workers Pending (lws#705)" in out
