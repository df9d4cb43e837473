"""HTML and Markdown reports with plots: simulate and plan; group phases for the Gantt chart."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import h100_doc, write_scenario

from lwssim import timeline as tl
from lwssim.analysis.report import build_report
from lwssim.cli import cli
from lwssim.render.links import relative_link, report_dir
from lwssim.render.plots import group_phases
from lwssim.timeline import Timeline, WorkloadInfo

PNG = b"\x89PNG\r\n\x1a\n"


def write(tmp_path: Path) -> Path:
    return write_scenario(tmp_path, h100_doc("page", 3, image="img:1", container_name="c"), "page.yaml")


def images(html: str) -> dict[str, bytes]:
    found = re.findall(
        r'<figure id="plot-([\w-]+)"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', html
    )
    return {name: base64.b64decode(data) for name, data in found}


def test_simulate_html_embeds_plots_and_explanations(tmp_path):
    result = CliRunner().invoke(cli, ["simulate", str(write(tmp_path)), "-o", "html"])
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    pngs = images(html)
    assert set(pngs) == {"groups", "serving"}
    assert all(p.startswith(PNG) and len(p) > 2000 for p in pngs.values())
    # 3 nodes for 2 groups of 2: one group is partly placed, and the page says so
    assert "<h2>Why</h2>" in html and "hold 8 GPUs on 1 node" in html and "gangScheduling: volcano" in html


def test_simulate_markdown_writes_plot_files(tmp_path, monkeypatch):
    """Piped Markdown (no file to be relative to) links the plots relative to the current directory."""
    plots = tmp_path / "plots"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["simulate", str(write(tmp_path)), "-o", "markdown", "--plots-dir", str(plots)]
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in plots.iterdir())
    assert files == ["page-groups.png", "page-serving.png"]
    for name in files:
        assert (plots / name).read_bytes().startswith(PNG)
        assert f"](plots/{name})" in result.stdout


NAMES_STDOUT = Path("/proc/self/fd").is_dir() or sys.platform == "darwin"  # see lwssim.render.links


@pytest.mark.skipif(not NAMES_STDOUT, reason="the system cannot name stdout's file")
@pytest.mark.parametrize("command", ["simulate", "plan"])
def test_markdown_in_a_file_links_plots_relative_to_that_file(tmp_path, command):
    scenario = write(tmp_path)
    (tmp_path / "out").mkdir()
    report = tmp_path / "out" / "report.md"
    args = [command, str(scenario), "-o", "markdown", "--plots-dir", str(tmp_path / "out" / "plots")]
    args += ["--pool", "h100", "--runs", "2", "--jobs", "1"] if command == "plan" else []
    with report.open("w") as stdout:  # as `lwssim ... > out/report.md` run from tmp_path
        code = "from lwssim.cli import main; main()"
        subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, stdout=stdout, check=True)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert len(links) == 2 and all(link.startswith("plots/") for link in links)
    assert all((report.parent / link).read_bytes().startswith(PNG) for link in links)


def test_relative_link(tmp_path):
    assert relative_link(tmp_path / "out" / "plots" / "a.png", tmp_path / "out") == "plots/a.png"
    assert relative_link(tmp_path / "plots" / "a.png", tmp_path / "out") == "../plots/a.png"
    assert report_dir(io.StringIO()) == Path.cwd()  # no file behind it


def test_plan_html_embeds_plan_plots(tmp_path):
    result = CliRunner().invoke(
        cli, ["plan", str(write(tmp_path)), "--pool", "h100", "--runs", "2", "--jobs", "1", "-o", "html"]
    )
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert set(images(html)) == {"availability", "time-to-serving"}
    assert "Recommended: 4 nodes in pool h100." in html
    assert '<tr class="pick"><td>4 ←</td>' in html


def test_group_phases():
    t = Timeline(100.0, [WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", 1, 2)])
    for pod, role in (("llm-0", "leader"), ("llm-0-1", "worker")):
        t.add(0.0, tl.POD_CREATED, pod, "llm", 0, role)
    t.add(5.0, tl.POD_SCHEDULED, "llm-0", "llm", 0, "leader", node="a")
    t.add(6.0, tl.POD_SCHEDULED, "llm-0-1", "llm", 0, "worker", node="b")
    for pod, role in (("llm-0", "leader"), ("llm-0-1", "worker")):
        t.add(20.0, tl.POD_INITIALIZED, pod, "llm", 0, role)
        t.add(30.0, tl.POD_CONTAINERS_STARTED, pod, "llm", 0, role)
        t.add(40.0, tl.POD_READY, pod, "llm", 0, role)
    t.add(60.0, tl.POD_NOT_READY, "llm-0-1", "llm", 0, "worker")
    t.add(70.0, tl.POD_READY, "llm-0-1", "llm", 0, "worker")
    assert group_phases(t)[("llm", 0)] == [
        (0.0, 6.0, "pending"),
        (6.0, 20.0, "pulling"),
        (20.0, 40.0, "loading"),
        (40.0, 60.0, "serving"),
        (60.0, 70.0, "down"),
        (70.0, 100.0, "serving"),
    ]
    report = build_report(t)["workloads"][0]
    assert report["groups"][0]["servingAtSeconds"] == 40.0 and report["servingOverTime"][-1] == [70.0, 1, 1]


def test_group_phases_serve_as_the_report_counts_serving():
    """Ready without ContainersStarted is not serving in the report, so not in the plot either."""
    t = Timeline(100.0, [WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", 1, 1)])
    t.add(0.0, tl.POD_CREATED, "llm-0", "llm", 0, "leader")
    t.add(5.0, tl.POD_SCHEDULED, "llm-0", "llm", 0, "leader", node="a")
    t.add(40.0, tl.POD_READY, "llm-0", "llm", 0, "leader")
    assert build_report(t)["workloads"][0]["groupsServing"] == 0
    assert [p for _, _, p in group_phases(t)[("llm", 0)]] == ["pending", "pulling", "loading"]


def serving_group(t: Timeline, group: int, at: float) -> None:
    """Group ``group`` of ``llm`` (leader and one worker) created at ``at``, serving from ``at + 10``."""
    for pod, role in ((f"llm-{group}", "leader"), (f"llm-{group}-1", "worker")):
        t.add(at, tl.POD_CREATED, pod, "llm", group, role)
        t.add(at + 1, tl.POD_SCHEDULED, pod, "llm", group, role, node=pod)
        t.add(at + 2, tl.POD_CONTAINERS_STARTED, pod, "llm", group, role)
        t.add(at + 10, tl.POD_READY, pod, "llm", group, role)


def delete_group(t: Timeline, group: int, at: float) -> None:
    """As LWS removes a group: the leader first, then its worker (garbage-collected), each terminating."""
    for i, (pod, role) in enumerate(((f"llm-{group}", "leader"), (f"llm-{group}-1", "worker"))):
        t.add(at + i, tl.POD_DELETING, pod, "llm", group, role)
        t.add(at + i + 30, tl.POD_DELETED, pod, "llm", group, role)


def test_a_group_removed_beyond_the_replicas_is_drawn_removed_not_down():
    """A surge group (index 1 of 1 replica) released at a rollout's end is removed; the same deletions of
    a wanted group (index 0) are an outage. The report counts only the latter, and the plot says so."""
    t = Timeline(1000.0, [WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", 1, 2)])
    serving_group(t, 0, 0.0)
    serving_group(t, 1, 100.0)  # the surge group
    delete_group(t, 1, 300.0)
    delete_group(t, 0, 600.0)
    phases = group_phases(t)
    assert phases[("llm", 1)][-2:] == [(110.0, 300.0, "serving"), (300.0, 1000.0, "removed")]
    assert phases[("llm", 0)][-2:] == [(10.0, 600.0, "serving"), (600.0, 1000.0, "down")]
    assert build_report(t)["workloads"][0]["availability"] == round((600 - 10) / (1000 - 10), 6)


def test_a_group_scaled_away_is_removed_and_down_once_wanted_again():
    t = Timeline(1000.0, [WorkloadInfo("llm", "default", "LeaderWorkerSet", "llm", 2, 2)])
    serving_group(t, 0, 0.0)
    serving_group(t, 1, 0.0)
    t.add(200.0, tl.SCALED, "llm", "llm", replicas=1)
    delete_group(t, 1, 200.0)
    t.add(500.0, tl.SCALED, "llm", "llm", replicas=2)
    serving_group(t, 1, 500.0)
    assert [(a, p) for a, _, p in group_phases(t)[("llm", 1)]][-4:] == [
        (10.0, "serving"),
        (200.0, "removed"),
        (500.0, "down"),  # wanted again and not serving: the report counts this as downtime
        (510.0, "serving"),
    ]
