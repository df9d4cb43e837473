"""The CapacityPlan for people: one summary, then the candidates tried (terminal table and Markdown)."""

from __future__ import annotations

from typing import IO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lwssim.engine.kueue.quota import quantity_string
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


QUOTA = (
    "clusterQueueQuota"  # CapacityPlan ``dimension`` of a ClusterQueue quota plan (lwssim/plan/dimension.py)
)
WARM = "warmNodes"  # CapacityPlan ``dimension`` of an autoscaled pool's warm minimum
COST = COLUMNS.index("Cost / hour")  # not shown for quota: quota is not billed


def _avail(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def is_quota(plan: dict) -> bool:
    return plan.get("dimension") == QUOTA


def is_warm(plan: dict) -> bool:
    """A plan of an autoscaled pool's warm minimum: its cost per hour follows the nodes its runs had."""
    return plan.get("dimension") == WARM


def size_key(plan: dict) -> str:
    """A candidate's key for its size: ``count`` (nodes) or ``quota``."""
    return "quota" if is_quota(plan) else "count"


def recommended(plan: dict) -> int | None:
    return plan["recommendedQuota"] if is_quota(plan) else plan["recommendedCount"]


def size_text(plan: dict, size: int) -> str:
    """A size as a table cell: the node count, or the quota as Kueue prints a quantity."""
    return quantity_string(plan["resource"], size) if is_quota(plan) else str(size)


def subject(plan: dict) -> str:
    """What is sized: "pool h100", "ClusterQueue cq · nvidia.com/gpu in flavor gpu"."""
    if is_quota(plan):
        return f"ClusterQueue {plan['clusterQueue']} · {plan['resource']} in flavor {plan['flavor']}"
    return f"pool {plan['pool']}"


def axis_label(plan: dict) -> str:
    if is_quota(plan):
        return f"nominal quota of {plan['resource']} in ClusterQueue {plan['clusterQueue']}"
    if is_warm(plan):
        return f"warm nodes in pool {plan['pool']}"
    return f"nodes in pool {plan['pool']}"


def columns(plan: dict, names: tuple[str, ...] = COLUMNS) -> tuple[str, ...]:
    """The candidate columns: quota plans show the quota first and no cost; warm plans say warm nodes."""
    if is_warm(plan):
        return ("Warm nodes", *names[1:])
    if not is_quota(plan):
        return names
    return (f"Quota ({plan['resource']})",) + tuple(c for i, c in enumerate(names) if i not in (0, COST))


def rows(plan: dict) -> list[tuple[str, ...]]:
    out = []
    key, pick = size_key(plan), recommended(plan)
    for c in plan["candidates"]:
        a, t = c["availability"], c["timeToAllServingSeconds"]
        ci = a.get("ci95")
        runs = f"{c['runs']}" + (f"/{c['runsRequested']}" if c.get("stoppedEarly") else "")
        meets = "yes" if c["meetsTargets"] else f"no ({c.get('rejectedBy') or 'incomplete'})"
        row = (
            size_text(plan, c[key]) + (" ←" if c[key] == pick else ""),
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
        out.append(row[:COST] + row[COST + 1 :] if is_quota(plan) else row)
    return out


def headline(plan: dict) -> str:
    if is_quota(plan):
        return _quota_headline(plan)
    n = plan["recommendedCount"]
    if n is None:
        span = f"{plan['range']['min']}..{plan['range']['max']}"
        return f"No node count of pool {plan['pool']} in {span} meets the targets."
    cost = plan.get("recommendedCostPerHour")
    what = f"{n} nodes in pool {plan['pool']}"
    if is_warm(plan):
        what = f"{n} warm nodes in pool {plan['pool']}"
        if plan.get("recommendedMax") is not None:
            what += f", max at least {plan['recommendedMax']} (the most its runs had at once)"
    return f"Recommended: {what}" + (f" ({cost:,.2f} per hour)" if cost else "") + "."


def _quota_headline(plan: dict) -> str:
    q, r = plan["recommendedQuota"], plan["resource"]
    where = f"in flavor {plan['flavor']} of ClusterQueue {plan['clusterQueue']}"
    if q is None:
        span = f"{size_text(plan, plan['range']['min'])}..{size_text(plan, plan['range']['max'])}"
        return f"No nominal quota of {r} {where} in {span} meets the targets."
    groups = q // plan["quotaStep"]
    now = size_text(plan, plan["currentQuota"])
    return (
        f"Recommended: a nominal quota of {size_text(plan, q)} {r} {where} ({groups} group"
        f"{'' if groups == 1 else 's'} of {size_text(plan, plan['quotaStep'])}; the scenario has {now})."
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


def terminal_headers(plan: dict) -> tuple[str, ...]:
    if is_warm(plan):
        return ("Warm\nnodes", *TERMINAL_HEADERS[1:])
    if not is_quota(plan):
        return TERMINAL_HEADERS
    return ("Quota",) + tuple(h for h in TERMINAL_HEADERS[1:] if h != "Cost/h")


def render_plan_table(plan: dict, file: IO[str] | None = None, width: int | None = None) -> None:
    console = Console(file=file, width=width or console_width(file), highlight=False, soft_wrap=False)
    console.print(f"[bold]{escape(headline(plan))}[/bold]")
    console.print(f"Binding constraint: {escape(plan['bindingConstraint'])}")
    console.print(escape(targets_line(plan)))
    table = Table(title="Candidates", title_justify="left", box=box.SIMPLE_HEAD)
    headers = terminal_headers(plan)
    last = len(headers) - 1
    for i, col in enumerate(headers):
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
    out = [f"## Capacity plan · {plan['scenario']} · {subject(plan)}", "", f"**{headline(plan)}**", ""]
    out += [f"Binding constraint: {cell(plan['bindingConstraint'])}", "", targets_line(plan), ""]
    out += md_table(columns(plan), rows(plan))
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
