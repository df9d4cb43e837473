"""lwssim.analysis.calibrate: phase durations from Timelines, distribution choice, and the round trip."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from support import write_scenario

from lwssim import runner
from lwssim import timeline as tl
from lwssim.analysis.calibrate import Fit, calibrate, duration, phase_samples
from lwssim.cli import cli
from lwssim.timeline import Timeline, WorkloadInfo

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "e2e" / "plain-placement.yaml"


def pod(
    t: Timeline, name: str, role: str, node: str, t0: float, pull: float, start: float, load: float
) -> None:
    t.add(t0, tl.POD_CREATED, name, "w", 0, role)
    t.add(t0, tl.POD_SCHEDULED, name, "w", 0, role, node=node)
    t.add(t0 + pull, tl.POD_INITIALIZED, name, "w", 0, role)
    t.add(t0 + pull + start, tl.POD_CONTAINERS_STARTED, name, "w", 0, role)
    t.add(t0 + pull + start + load, tl.POD_READY, name, "w", 0, role)


def test_cold_then_cached_on_the_same_node() -> None:
    t = Timeline(horizon=1000.0, workloads=[WorkloadInfo("w", "default", "LeaderWorkerSet", "w", 1, 2)])
    pod(t, "w-0", "leader", "n0", 0.0, 300.0, 2.0, 200.0)
    pod(t, "w-0-1", "worker", "n1", 0.0, 310.0, 2.0, 100.0)
    pod(t, "w-1", "leader", "n0", 600.0, 1.0, 2.0, 200.0)  # n0 already ran the image
    s = phase_samples([t])
    assert sorted(s[("imagePull.cold", "leader")] + s[("imagePull.cold", "worker")]) == [300.0, 310.0]
    assert s[("imagePull.cached", "leader")] == [1.0]
    doc = calibrate([t])
    timing = doc["timing"]
    assert timing["containerStart"] == "2s"
    # Leaders load in 200 s, workers in 100 s: written as per-role overrides.
    assert timing["leader"]["modelLoad"] == "3m20s" and timing["worker"]["modelLoad"] == "1m40s"


def test_distribution_choice() -> None:
    assert Fit("modelLoad", "", (20.0, 20.1, 19.9)).distribution() == "20s"
    logn = Fit("modelLoad", "", (100.0, 150.0, 200.0, 300.0)).distribution()
    assert isinstance(logn, dict) and set(logn) == {"lognormal"}
    assert logn["lognormal"]["median"] == "2m53.205s" and 0.4 < logn["lognormal"]["sigma"] < 0.6
    assert Fit("containerStart", "", (0.0, 3.0, 6.0)).distribution() == {
        "normal": {"mean": "3s", "stddev": "3s"}
    }


def test_duration_format() -> None:
    assert duration(0.0) == "0s"
    assert duration(312.0) == "5m12s"
    assert duration(4.25) == "4.25s"
    assert duration(3723.5) == "1h2m3.5s"


def test_round_trip_reproduces_time_to_serving(tmp_path: Path) -> None:
    """Fit from a simulated Timeline, put the block back in the scenario: the same time to serving."""
    scenario = runner.load(str(SCENARIO))
    report, t = runner.run_with_timeline(scenario)
    src = tmp_path / "observed.json"
    t.save(src)
    out = tmp_path / "timing.yaml"
    r = CliRunner().invoke(cli, ["calibrate", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(SCENARIO.read_text())
    doc["spec"]["timing"] = yaml.safe_load(out.read_text())["timing"]
    fitted = write_scenario(tmp_path, doc, "fitted.yaml")
    again = runner.run(runner.load(str(fitted)))
    assert (
        again["workloads"][0]["timeToAllServingSeconds"] == report["workloads"][0]["timeToAllServingSeconds"]
    )


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    scenario = runner.load(str(SCENARIO))
    src = tmp_path / "observed.json"
    runner.run_with_timeline(scenario)[1].save(src)
    out = tmp_path / "timing.yaml"
    out.write_text("keep me\n")
    r = CliRunner().invoke(cli, ["calibrate", str(src), "-o", str(out)])
    assert r.exit_code == 2 and "--force" in r.stderr
    assert out.read_text() == "keep me\n"
    assert CliRunner().invoke(cli, ["calibrate", str(src), "-o", str(out), "--force"]).exit_code == 0
    assert "timing:" in out.read_text()
