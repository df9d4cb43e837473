"""The report's summary as Markdown: the same content as the table, for PR comments and CI summaries."""

from __future__ import annotations

from lwssim.render.summary import GROUP_COLUMNS, PENDING_COLUMNS, WORKLOAD_COLUMNS, summarize


def render_markdown(report: dict) -> str:
    s = summarize(report)
    out = [f"## {s.title}", "", s.cluster, "", "### Workloads", "", *table(WORKLOAD_COLUMNS, s.workloads)]
    if s.notes:
        out += ["", *(f"> **Note:** {cell(n)}" for n in s.notes)]
    for name, rows in s.groups:
        out += ["", f"### Groups of {name}", "", *table(GROUP_COLUMNS, rows)]
    out += ["", "### Pending pods", ""]
    out += table(PENDING_COLUMNS, s.pending) if s.pending else ["No pending pods."]
    return "\n".join(out) + "\n"


def table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A Markdown table's lines; cells escape ``|`` and fold newlines (every Markdown output uses it)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def cell(text: str) -> str:
    """Text safe in one Markdown table cell or line: ``|`` escaped, newlines folded."""
    return text.replace("|", "\\|").replace("\n", " ")
