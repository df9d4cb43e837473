"""The LWS version comparison (``simulate --compare-lws-version``) as a terminal table, Markdown or HTML.

One function builds the rows (``rows``) so the three outputs say the same thing.
"""

from __future__ import annotations

from html import escape
from typing import IO

from rich import box
from rich.console import Console
from rich.markup import escape as markup
from rich.table import Table

from lwssim.analysis.upgrade import worded
from lwssim.render.html import _table as html_table
from lwssim.render.html import page
from lwssim.render.width import console_width


def columns(doc: dict) -> tuple[str, ...]:
    return ("Metric", *(f"LWS {v}" for v in doc["versions"]))


def rows(workload: dict) -> list[tuple[str, ...]]:
    """One row per metric: its label, then its value under each version; a differing row is starred."""
    return [
        (("* " if r["differs"] else "") + r["label"], *(worded(r["metric"], v) for v in r["values"]))
        for r in workload["rows"]
    ]


def title(doc: dict) -> str:
    return f"{doc['scenario']} under LWS {' and '.join(doc['versions'])} (seed {doc['seed']})"


def _summary(doc: dict) -> list[str]:
    lines = [d for w in doc["workloads"] for d in w["differences"]]
    return lines or [f"No difference between LWS {' and '.join(doc['versions'])} in this scenario."]


def render_table(doc: dict, file: IO[str] | None = None, width: int | None = None) -> None:
    console = Console(file=file, width=width or console_width(file), highlight=False, soft_wrap=False)
    console.print(f"[bold]{markup(title(doc))}[/bold]")
    for w in doc["workloads"]:
        table = Table(title=markup(w["name"]), title_justify="left", box=box.SIMPLE_HEAD)
        for i, col in enumerate(columns(doc)):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows(w):
            table.add_row(*(markup(c) for c in row))
        console.print(table)
    for line in _summary(doc):
        console.print(f"[yellow]![/yellow] {markup(line)}")


def render_markdown(doc: dict) -> str:
    out = [f"# {title(doc)}", ""]
    for w in doc["workloads"]:
        cols = columns(doc)
        out += [
            f"## {w['name']}",
            "",
            "| " + " | ".join(cols) + " |",
            "|---" + "|---:" * (len(cols) - 1) + "|",
        ]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows(w)]
        out.append("")
    out += [f"- {line}" for line in _summary(doc)]
    return "\n".join(out) + "\n"


def render_html(doc: dict) -> str:
    body = [f"<h1>{escape(title(doc))}</h1>"]
    for w in doc["workloads"]:
        body += [f"<h2>{escape(w['name'])}</h2>", html_table(columns(doc), rows(w), numeric_from=1)]
    body += ["<h2>What differs</h2>", *(f'<div class="note">{escape(line)}</div>' for line in _summary(doc))]
    return page(title(doc), body)
