"""lwssim.analysis.compare: observed vs simulated Timelines, built by hand so every figure is known."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from lwssim import runner
from lwssim import timeline as tl
from lwssim.analysis.compare import (
    compare,
    normalize_reason,
    order_lives,
    pod_facts,
    relative_error,
    serving_starts,
)
from lwssim.analysis.replay import replay
from lwssim.cli import cli
from lwssim.timeline import Timeline

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "e2e" / "plain-placement.yaml"


@pytest.fixture(scope="module")
def sim() -> tuple:
    scenario = runner.load(str(SCENARIO))
    return scenario, runner.run_with_timeline(scenario)[1]


def shifted(t: Timeline, seconds: float, kinds: tuple[str, ...] = (tl.POD_READY,)) -> Timeline:
    """The same timeline with the given record kinds ``seconds`` later (an 'observed' variant)."""
    recs = [r._replace(t=r.t + seconds) if r.kind in kinds else r for r in t.records]
    return replace(t, records=recs, source="observed", horizon=t.horizon)


def test_identical_timelines_agree(sim: tuple) -> None:
    scenario, t = sim
    doc = compare(t, t, scenario)
    s = doc["summary"]
    assert s["agree"] and s["placementMatchRate"] == 1.0 and s["sameNodeRate"] == 1.0
    assert s["timeToServingRelativeError"]["worst"] == 0.0
    assert doc["mismatches"] == []


def test_late_ready_beyond_tolerance_disagrees(sim: tuple) -> None:
    scenario, t = sim
    doc = compare(shifted(t, 3.0), t, scenario, tolerance=0.05)  # ~33 s observed vs ~30 s simulated
    err = doc["summary"]["timeToServingRelativeError"]
    assert 0.08 < err["worst"] < 0.1
    assert not doc["summary"]["agree"]
    assert compare(shifted(t, 3.0), t, scenario, tolerance=0.1)["summary"]["agree"]


def test_pending_pod_is_a_placement_mismatch(sim: tuple) -> None:
    scenario, t = sim
    recs = [r for r in t.records if not (r.subject == "e2e-plain-1-1" and r.kind != tl.POD_CREATED)]
    recs.append(
        tl.Record(
            1.0,
            tl.POD_UNSCHEDULABLE,
            "e2e-plain-1-1",
            "e2e-plain",
            1,
            "worker",
            (("reason", "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."),),
        )
    )
    observed = replace(t, records=recs)
    doc = compare(observed, t, scenario)
    assert doc["summary"]["placementMatchRate"] == 0.75
    assert not doc["summary"]["agree"]
    assert any("e2e-plain-1-1: placement observed pending, simulated placed" in m for m in doc["mismatches"])
    assert any("group 1: times it started serving" in m for m in doc["mismatches"])


def test_different_nodes_same_state_still_agree(sim: tuple) -> None:
    """Tie-breaking differs between real and simulated schedulers: node names are informative only."""
    scenario, t = sim
    swap = {"gpu-0": "gpu-1", "gpu-1": "gpu-0"}
    recs = [
        r._replace(data=(("node", swap.get(str(r.get("node")), r.get("node"))),))
        if r.kind == tl.POD_SCHEDULED
        else r
        for r in t.records
    ]
    doc = compare(replace(t, records=recs), t, scenario)
    assert doc["summary"]["agree"]
    assert doc["summary"]["sameNodeRate"] == 0.5
    assert doc["summary"]["sameDomainRate"] == 1.0  # gpu-0 and gpu-1 share gpu-rack-0


def test_normalize_reason_drops_preemption_part() -> None:
    real = (
        "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
        "4 No preemption victims found for incoming pod."
    )
    assert normalize_reason(real) == "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    assert normalize_reason(None) is None


def test_relative_error() -> None:
    assert relative_error(20.0, 21.0) == pytest.approx(0.05)
    assert relative_error(None, 3.0) is None
    assert relative_error(0.2, 0.7) == pytest.approx(0.5)  # sub-second observed times count as 1 s


def test_order_lives_keeps_recreated_pod_lives_apart() -> None:
    """Creation stamped at 40 s (1-s resolution) sorts before the old life's deletion seen at 40.5 s."""
    t = Timeline(horizon=100.0, workloads=[tl.WorkloadInfo("w", "default", "LeaderWorkerSet", "w", 1, 1)])
    t.add(0.0, tl.POD_CREATED, "w-0", "w", 0, "leader", uid="a")
    t.add(0.1, tl.POD_SCHEDULED, "w-0", "w", 0, "leader", uid="a", node="n")
    t.add(1.0, tl.POD_CONTAINERS_STARTED, "w-0", "w", 0, "leader", uid="a")
    t.add(2.0, tl.POD_READY, "w-0", "w", 0, "leader", uid="a")
    t.add(40.0, tl.POD_CREATED, "w-0", "w", 0, "leader", uid="b")
    t.add(40.0, tl.POD_SCHEDULED, "w-0", "w", 0, "leader", uid="b", node="n")
    t.add(40.2, tl.POD_DELETING, "w-0", "w", 0, "leader", uid="a")
    t.add(40.5, tl.POD_DELETED, "w-0", "w", 0, "leader", uid="a")
    t.add(41.0, tl.POD_CONTAINERS_STARTED, "w-0", "w", 0, "leader", uid="b")
    t.add(45.0, tl.POD_READY, "w-0", "w", 0, "leader", uid="b")
    assert pod_facts(replay(t))[("w", "w-0")].state == "gone"  # replayed by name as recorded: wrong
    fixed = order_lives(t)
    assert pod_facts(replay(fixed))[("w", "w-0")].state == "placed"
    assert serving_starts(replay(fixed))[("w", 0)] == [2.0, 45.0]


def _write(tmp_path: Path, t: Timeline) -> str:
    p = tmp_path / "observed.json"
    t.save(p)
    return str(p)


def test_cli_exit_codes_and_json(sim: tuple, tmp_path: Path) -> None:
    _, t = sim
    ok = CliRunner().invoke(cli, ["compare", _write(tmp_path, t), "--scenario", str(SCENARIO), "-o", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["summary"]["agree"] is True
    late = CliRunner().invoke(
        cli, ["compare", _write(tmp_path, shifted(t, 3.0)), "--scenario", str(SCENARIO)]
    )
    assert late.exit_code == 1
    assert "DISAGREE" in late.stdout


def test_cli_bad_input_exit_2(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["compare", str(tmp_path / "none.json"), "--scenario", str(SCENARIO)])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "SimulationReport"}')
    r = CliRunner().invoke(cli, ["compare", str(bad), "--scenario", str(SCENARIO)])
    assert r.exit_code == 2 and "not a Timeline" in r.stderr


def test_markdown_and_html_outputs(sim: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, t = sim
    monkeypatch.chdir(tmp_path)  # piped Markdown links plots relative to the current directory
    path = _write(tmp_path, t)
    md = CliRunner().invoke(
        cli,
        [
            "compare",
            path,
            "--scenario",
            str(SCENARIO),
            "-o",
            "markdown",
            "--plots-dir",
            str(tmp_path / "plots"),
        ],
    )
    assert md.exit_code == 0 and "## Comparison" in md.stdout
    png = tmp_path / "plots" / "e2e-plain-placement-compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](plots/e2e-plain-placement-compare.png)" in md.stdout
    html = CliRunner().invoke(cli, ["compare", path, "--scenario", str(SCENARIO), "-o", "html"])
    assert html.exit_code == 0 and "data:image/png;base64," in html.stdout
