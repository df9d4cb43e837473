"""The terminal table of `lwssim simulate`: piped output is not wrapped mid-sentence; tables still render."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lwssim import runner
from lwssim.render.summary import summarize
from lwssim.render.table import render_table

SHORTFALL = Path(__file__).resolve().parents[1] / "scenarios" / "shortfall-no-gang.yaml"


@pytest.fixture(scope="module")
def report() -> dict:
    """A real run whose explanation and scheduler message are longer than any terminal."""
    return runner.run(runner.load(str(SHORTFALL)))


def piped(report: dict) -> list[str]:
    out = io.StringIO()  # not a terminal
    render_table(report, file=out)
    return out.getvalue().splitlines()


def test_piped_output_keeps_each_note_and_message_on_one_line(
    report: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = piped(report)
    summary = summarize(report)
    assert max(len(n) for n in summary.notes) > 120  # would have wrapped at the old piped width
    for note in summary.notes:
        assert f"! {note}" in lines
    reason = report["pendingPods"][0]["reason"]
    assert any(reason in line for line in lines)
    # the tables still render: headers, rule, and one row per group with its nodes
    assert any(line.split()[:2] == ["Workload", "Kind"] for line in lines)
    assert any(set(line.strip()) == {"─"} for line in lines)
    for group in report["workloads"][0]["groups"]:
        row = next(line for line in lines if line.split()[:1] == [str(group["index"])])
        assert row.rstrip().endswith(", ".join(group["nodes"]))


def test_columns_still_sets_the_width_when_piped(report: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert max(len(line.rstrip()) for line in piped(report)) <= 80
    monkeypatch.setenv("COLUMNS", "wide")  # not a number: ignored, not a traceback
    assert f"! {summarize(report).notes[-1]}" in piped(report)
