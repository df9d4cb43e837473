"""The terminal summary of `lwssim simulate`: rich tables on stdout."""

from __future__ import annotations

from typing import IO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lwssim.render.summary import GROUP_COLUMNS, PENDING_COLUMNS, WORKLOAD_COLUMNS, summarize
from lwssim.render.width import console_width

# Short, multi-line headers keep the workload table within 80 columns; Markdown has room for the long form.
HEADERS = {
    "Serving / LWS ready / Replicas": "Serving /\nLWS ready /\nreplicas",
    "Time to all serving": "All serving\nafter",
    "Availability": "Avail-\nability",
    "Recreations": "Recre-\nations",
    "Pods ready": "Pods\nready",
    "First served": "First\nserved",
}
WRAPPING = ("Workload", "Reason", "Examples", "Nodes")  # free text wraps; numbers stay whole


def render_table(report: dict, file: IO[str] | None = None, width: int | None = None) -> None:
    """Print the report's summary; colours only when ``file`` is a terminal (rich decides)."""
    console = Console(file=file, width=width or console_width(file), highlight=False, soft_wrap=False)
    s = summarize(report)
    console.print(f"[bold]{escape(s.title)}[/bold]")
    console.print(escape(s.cluster))
    console.print(rich_table("Workloads", WORKLOAD_COLUMNS, s.workloads, numeric_from=2))
    for note in s.notes:
        console.print(f"[yellow]![/yellow] {escape(note)}")
    for name, rows in s.groups:
        console.print(rich_table(f"Groups of {name}", GROUP_COLUMNS, rows, numeric_from=None))
    if s.pending:
        console.print(rich_table("Pending pods", PENDING_COLUMNS, s.pending, numeric_from=None))
    else:
        console.print("No pending pods.")


def rich_table(
    title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], numeric_from: int | None
) -> Table:
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD)
    for i, col in enumerate(columns):
        table.add_column(
            HEADERS.get(col, col),
            justify="right" if numeric_from is not None and i >= numeric_from else "left",
            overflow="fold",
            no_wrap=col not in WRAPPING,
        )
    for row in rows:
        table.add_row(*(escape(c) for c in row))  # names and scheduler messages are text, not markup
    return table
