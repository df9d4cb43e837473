"""The Comparison document as a terminal table, Markdown or HTML, with both timelines in one plot.

One function builds the rows (``rows``) so the three outputs say the same thing; the plot reuses
lwssim.render.plots' group phases so observed and simulated bars mean exactly what they mean elsewhere.
"""

from __future__ import annotations

from html import escape

from lwssim.render.markdown import table as md_table
from lwssim.timeline import Timeline

SUMMARY_COLUMNS = (
    "Workload",
    "Pods",
    "Placement match",
    "Time to all serving obs / sim",
    "Rel. error median",
    "Rel. error worst",
)
POD_COLUMNS = ("Pod", "Observed", "Simulated", "Ready obs / sim", "Match")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _sec(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}s"


def _where(side: dict) -> str:
    if side["state"] == "placed":
        return f"{side['node']} ({side['domain']})" if side["domain"] else str(side["node"])
    if side["state"] == "pending":
        return f"pending: {side['pendingReason'] or '?'}"
    return side["state"]


def rows(doc: dict) -> tuple[list[tuple[str, ...]], dict[str, list[tuple[str, ...]]]]:
    """Summary rows (one per workload) and pod rows per workload."""
    summary, pods = [], {}
    for w in doc["workloads"]:
        n = len(w["pods"])
        matched = sum(p["placementMatch"] for p in w["pods"])
        t = w["timeToAllServingSeconds"]
        err = w["timeToServingRelativeError"]
        summary.append(
            (
                w["name"],
                str(n),
                f"{matched}/{n}",
                f"{_sec(t['observed'])} / {_sec(t['simulated'])}",
                _pct(err["median"]),
                _pct(err["worst"]),
            )
        )
        pods[w["name"]] = [
            (
                p["name"],
                _where(p["observed"]),
                _where(p["simulated"]),
                f"{_sec(p['phases']['ready']['observed'])} / {_sec(p['phases']['ready']['simulated'])}",
                "yes" if p["placementMatch"] and p["reasonMatch"] else "NO",
            )
            for p in w["pods"]
        ]
    return summary, pods


def verdict(doc: dict) -> str:
    s = doc["summary"]
    err = s["timeToServingRelativeError"]
    head = "AGREE" if s["agree"] else "DISAGREE"
    return (
        f"{head}: placement-or-pending match {_pct(s['placementMatchRate'])} of {s['pods']} pods; "
        f"time to serving relative error median {_pct(err['median'])}, worst {_pct(err['worst'])} "
        f"(tolerance {doc['tolerance']:.1%})"
    )


def render_table(doc: dict) -> str:
    summary, pods = rows(doc)
    out = [f"Comparison · {doc['scenario']}", verdict(doc), "", *_text_table(SUMMARY_COLUMNS, summary)]
    for name, prow in pods.items():
        out += ["", f"Pods of {name}", *_text_table(POD_COLUMNS, prow)]
    if doc["mismatches"]:
        out += ["", "Mismatches:", *(f"  - {m}" for m in doc["mismatches"])]
    return "\n".join(out) + "\n"


def _text_table(columns: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    return [
        line,
        "  ".join("-" * w for w in widths),
        *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body),
    ]


def render_markdown(doc: dict, plot_link: str | None = None) -> str:
    summary, pods = rows(doc)
    out = [
        f"## Comparison · {doc['scenario']}",
        "",
        f"**{verdict(doc)}**",
        "",
        *md_table(SUMMARY_COLUMNS, summary),
    ]
    if plot_link:
        out += ["", f"![Observed and simulated timelines]({plot_link})"]
    for name, prow in pods.items():
        out += ["", f"### Pods of {name}", "", *md_table(POD_COLUMNS, prow)]
    if doc["mismatches"]:
        out += ["", "### Mismatches", "", *(f"- {m}" for m in doc["mismatches"])]
    return "\n".join(out) + "\n"


def render_html(doc: dict, png: bytes | None) -> str:
    import base64

    summary, pods = rows(doc)

    def table(columns: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>"

    title = f"Comparison · {doc['scenario']}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p><strong>{escape(verdict(doc))}</strong></p>",
        table(SUMMARY_COLUMNS, summary),
    ]
    if png:
        data = base64.b64encode(png).decode("ascii")
        body.append(
            f'<figure><img alt="Observed and simulated timelines" src="data:image/png;base64,{data}">'
            "<figcaption>Observed (o) and simulated (s) group timelines</figcaption></figure>"
        )
    for name, prow in pods.items():
        body += [f"<h2>Pods of {escape(name)}</h2>", table(POD_COLUMNS, prow)]
    if doc["mismatches"]:
        body += [
            "<h2>Mismatches</h2>",
            "<ul>",
            *(f"<li>{escape(m)}</li>" for m in doc["mismatches"]),
            "</ul>",
        ]
    from lwssim.render.html import page

    return page(title, body)


def plot(observed: Timeline, simulated: Timeline) -> bytes | None:
    """Observed and simulated bars of each group on adjacent rows (PNG), phases as in `simulate`'s plot."""
    from lwssim.analysis.report import name_key
    from lwssim.render.plots import COLORS, PHASES, figure_png, group_phases, plt

    obs, sim = group_phases(observed), group_phases(simulated)
    keys = sorted(set(obs) | set(sim), key=lambda k: (name_key(k[0]), k[1]))
    if not keys:
        return None
    span = max(observed.horizon, simulated.horizon)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.55 * len(keys)))
    labels = []
    for row, (key, side) in enumerate((k, s) for k in keys for s in ("o", "s")):
        intervals = (obs if side == "o" else sim).get(key, [])
        for phase in PHASES:
            bars = [(a, b - a) for a, b, p in intervals if p == phase]
            if bars:
                ax.broken_barh(
                    bars,
                    (row - 0.38, 0.76),
                    facecolors=COLORS[phase],
                    linewidth=0,
                    hatch="//" if side == "s" else None,
                )
        labels.append(f"{key[0]} / {key[1]} ({side})")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, span)
    ax.set_xlabel("time (seconds)")
    ax.set_title("Observed (o) and simulated (s) groups over time", loc="left")
    ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=COLORS[p], label=p) for p in PHASES],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=len(PHASES),
        frameon=False,
    )
    return figure_png(fig)
