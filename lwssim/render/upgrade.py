"""The LWS version comparison (``simulate --compare-lws-version``) as a terminal table, Markdown or HTML.

One function builds the rows (``rows``) so the three outputs say the same thing.
"""

from __future__ import annotations

from html import escape
from typing import IO

from rich.console import Console
from rich.markup import escape as markup

from lwssim.analysis.upgrade import worded
from lwssim.render.html import page
from lwssim.render.html import table as html_table
from lwssim.render.markdown import table as md_table
from lwssim.render.table import rich_table
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
        console.print(rich_table(w["name"], columns(doc), rows(w), numeric_from=1))
    for line in _summary(doc):
        console.print(f"[yellow]![/yellow] {markup(line)}")


def render_markdown(doc: dict) -> str:
    out = [f"# {title(doc)}", ""]
    for w in doc["workloads"]:
        out += [f"## {w['name']}", "", *md_table(columns(doc), rows(w)), ""]
    out += [f"- {line}" for line in _summary(doc)]
    return "\n".join(out) + "\n"


def render_html(doc: dict) -> str:
    body = [f"<h1>{escape(title(doc))}</h1>"]
    for w in doc["workloads"]:
        body += [f"<h2>{escape(w['name'])}</h2>", html_table(columns(doc), rows(w), numeric_from=1)]
    body += ["<h2>What differs</h2>", *(f'<div class="note">{escape(line)}</div>' for line in _summary(doc))]
    return page(title(doc), body)
