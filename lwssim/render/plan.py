"""The CapacityPlan for people: one summary, then the candidates tried (terminal table and Markdown)."""

from __future__ import annotations

from typing import IO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lwssim.model.quantity import format_duration
from lwssim.render.markdown import cell
from lwssim.render.markdown import table as md_table
from lwssim.render.width import console_width

COLUMNS = (
    "Nodes",
    "Places",
    "Runs",
    "Availability mean",
    "Availability p05",
    "Availability 95% CI",
    "Time to serving p50",
    "Time to serving p95",
    "Cost / hour",
    "Meets targets",
)


def _avail(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def rows(plan: dict) -> list[tuple[str, ...]]:
    out = []
    for c in plan["candidates"]:
        a, t = c["availability"], c["timeToAllServingSeconds"]
        ci = a.get("ci95")
        runs = f"{c['runs']}" + (f"/{c['runsRequested']}" if c.get("stoppedEarly") else "")
        meets = "yes" if c["meetsTargets"] else f"no ({c.get('rejectedBy') or 'incomplete'})"
        out.append(
            (
                str(c["count"]) + (" ←" if c["count"] == plan["recommendedCount"] else ""),
                "yes" if c["placementFeasible"] else "no",
                runs,
                _avail(a["mean"]),
                _avail(a["p05"]),
                "—" if not ci else f"{ci[0]:.4f}–{ci[1]:.4f}",
                format_duration(t["p50"]) if t["p50"] is not None else "never",
                format_duration(t["p95"]) if t["p95"] is not None else "never",
                "—" if c["costPerHour"] is None else f"{c['costPerHour']:,.2f}",
                meets,
            )
        )
    return out


def headline(plan: dict) -> str:
    n = plan["recommendedCount"]
    if n is None:
        span = f"{plan['range']['min']}..{plan['range']['max']}"
        return f"No node count of pool {plan['pool']} in {span} meets the targets."
    cost = plan.get("recommendedCostPerHour")
    return (
        f"Recommended: {n} nodes in pool {plan['pool']}" + (f" ({cost:,.2f} per hour)" if cost else "") + "."
    )


def targets_line(plan: dict) -> str:
    t = plan["targets"]
    parts = ["every group serves in every run"]
    if t["availability"] is not None:
        parts.append(f"mean availability ≥ {t['availability']:g}")
    if t["timeToAllServingSeconds"] is not None:
        parts.append(
            f"time to all serving p{t['quantile'] * 100:g} ≤ {format_duration(t['timeToAllServingSeconds'])}"
        )
    confidence = plan.get("confidence")
    runs = f"at most {plan['runsPerCandidate']} runs per candidate"
    if confidence is not None:
        runs += f", fewer once decided at {confidence:.0%} confidence"
    return f"Targets: {', '.join(parts)}; {runs}, seed {plan['seed']}."


LEVER_COLUMNS = ("Lever", "Nodes", "Runs", "Before", "After", "Change", "Meets targets")


def lever_rows(plan: dict) -> list[tuple[str, ...]]:
    """One row per lever tried: the failing target's response without and with it, on the same runs."""
    return [
        (
            lever["lever"],
            str(lever["count"]),
            str(lever["runs"]),
            _avail(lever["before"]),
            _avail(lever["after"]),
            f"{lever['difference']:+.4f}",
            "yes" if lever["meetsTargets"] else f"no ({lever.get('rejectedBy') or 'incomplete'})",
        )
        for lever in plan.get("levers", [])
    ]


# Short, multi-line headers keep the terminal table within 80 columns; Markdown and HTML use COLUMNS.
TERMINAL_HEADERS = (
    "Nodes",
    "Places",
    "Runs",
    "Avail.\nmean",
    "Avail.\np05",
    "Serving\np50",
    "Serving\np95",
    "Cost/h",
    "Meets",
)
TERMINAL_DROPPED = 5  # the 95% CI column: in JSON, Markdown and HTML, too wide for 80 columns


def render_plan_table(plan: dict, file: IO[str] | None = None, width: int | None = None) -> None:
    console = Console(file=file, width=width or console_width(file), highlight=False, soft_wrap=False)
    console.print(f"[bold]{escape(headline(plan))}[/bold]")
    console.print(f"Binding constraint: {escape(plan['bindingConstraint'])}")
    console.print(escape(targets_line(plan)))
    table = Table(title="Candidates", title_justify="left", box=box.SIMPLE_HEAD)
    last = len(TERMINAL_HEADERS) - 1
    for i, col in enumerate(TERMINAL_HEADERS):
        table.add_column(col, justify="right" if 0 < i < last else "left", no_wrap=i < last)
    for row in rows(plan):
        table.add_row(*(escape(c) for i, c in enumerate(row) if i != TERMINAL_DROPPED))
    console.print(table)
    if plan.get("levers"):
        levers = Table(title="Levers (same seeds, one count)", title_justify="left", box=box.SIMPLE_HEAD)
        for i, col in enumerate(LEVER_COLUMNS):
            levers.add_column(col, justify="right" if 0 < i < len(LEVER_COLUMNS) - 1 else "left")
        for row in lever_rows(plan):
            levers.add_row(*(escape(c) for c in row))
        console.print(levers)
    for note in plan.get("notes", []) + [e["message"] for e in plan.get("explanations", [])]:
        console.print(f"[yellow]![/yellow] {escape(note)}")
    for lever in plan.get("levers", []):
        console.print(f"- {escape(lever['effect'])}")


def render_plan_markdown(plan: dict, figures: list[tuple[str, str]] = ()) -> str:
    """Markdown; ``figures`` are (title, relative path) pairs of PNGs written next to it."""
    out = [f"## Capacity plan · {plan['scenario']} · pool {plan['pool']}", "", f"**{headline(plan)}**", ""]
    out += [f"Binding constraint: {cell(plan['bindingConstraint'])}", "", targets_line(plan), ""]
    out += md_table(COLUMNS, rows(plan))
    if plan.get("levers"):
        out += ["", "Levers (same seeds, one count):", ""]
        out += md_table(LEVER_COLUMNS, lever_rows(plan))
        out += [""] + [f"- {cell(lever['effect'])}" for lever in plan["levers"]]
    for note in plan.get("notes", []) + [e["message"] for e in plan.get("explanations", [])]:
        out += ["", f"> **Note:** {cell(note)}"]
    for title, path in figures:
        out += ["", f"![{title}]({path})"]
    out += ["", f"_Search: {plan['search']}._"]
    return "\n".join(out) + "\n"
