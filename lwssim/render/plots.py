"""Plots for the Markdown and HTML reports (matplotlib, Agg backend, PNG bytes).

Simulation: a Gantt-like timeline of each group (pending, pulling, loading, serving, down, removed) and the
serving groups of each workload over time. Plan: availability and time to all serving against the node
count, with the targets and the recommendation marked.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files and HTML only; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from lwssim import timeline as tl  # noqa: E402
from lwssim.analysis.replay import Replay  # noqa: E402
from lwssim.analysis.report import name_key  # noqa: E402
from lwssim.render.plan import axis_label, is_quota, is_warm, recommended, size_key, size_text  # noqa: E402
from lwssim.timeline import Timeline  # noqa: E402

PHASES = ("pending", "pulling", "loading", "serving", "down", "removed")
COLORS = {
    "pending": "#c7c7c7",
    "pulling": "#9ecae1",
    "loading": "#fdd0a2",
    "serving": "#31a354",
    "down": "#de2d26",
    "removed": "#ece7f2",  # no longer wanted (surge released, scaled away): not an outage
}
MAX_GANTT_ROWS = 48
MIN_VISIBLE_FRACTION = 1 / 300  # short outages are widened to this share of the axis so they show
DPI = 110
# Records whose pod can change its group's phase (a failed scheduling attempt cannot).
POD_KINDS = frozenset(
    {
        tl.POD_CREATED,
        tl.POD_SCHEDULED,
        tl.POD_INITIALIZED,
        tl.POD_CONTAINERS_STARTED,
        tl.POD_READY,
        tl.POD_NOT_READY,
        tl.POD_RESTARTED,
        tl.POD_DELETING,
        tl.POD_DELETED,
        tl.POD_FAILED,
    }
)


@dataclass(frozen=True)
class Figure:
    name: str  # file stem, e.g. "groups"
    title: str
    png: bytes


# -- group phases from the Timeline ----------------------------------------------------------------------


def group_phases(timeline: Timeline) -> dict[tuple[str, int], list[tuple[float, float, str]]]:
    """Intervals (start, end, phase) of every group, as the one replay of the Timeline has it after each
    pod record (Replay.group_progress: serving as the report counts it, removed when no longer wanted,
    down after it has served, before that as far as its least advanced pod)."""
    state = Replay(timeline)
    current: dict[tuple[str, int], tuple[float, str]] = {}
    out: dict[tuple[str, int], list[tuple[float, float, str]]] = defaultdict(list)
    for r in state.replayed(timeline.records):
        if r.group < 0 or not r.workload or r.kind not in POD_KINDS:
            continue
        key = (r.workload, r.group)
        now = state.group_progress(*key)
        before = current.get(key)
        if before is None or before[1] != now:
            if before is not None and r.t > before[0]:
                out[key].append((before[0], r.t, before[1]))
            current[key] = (r.t if before is None or r.t > before[0] else before[0], now)
    for key, (start, phase) in current.items():
        if timeline.horizon > start:
            out[key].append((start, timeline.horizon, phase))
    return dict(out)


# -- figures ---------------------------------------------------------------------------------------------


def _time_axis(horizon: float) -> tuple[float, str]:
    if horizon > 2 * 86400:
        return 86400.0, "days"
    if horizon > 3 * 3600:
        return 3600.0, "hours"
    return 60.0, "minutes"


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def gantt(timeline: Timeline) -> Figure | None:
    phases = group_phases(timeline)
    if not phases:
        return None
    keys = sorted(phases, key=lambda k: (name_key(k[0]), k[1]))
    hidden = max(0, len(keys) - MAX_GANTT_ROWS)
    keys = keys[:MAX_GANTT_ROWS]
    scale, unit = _time_axis(timeline.horizon)
    span = timeline.horizon / scale
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.32 * len(keys)))
    for row, key in enumerate(keys):
        for phase in PHASES:
            bars = []
            for start, end, p in phases[key]:
                if p != phase:
                    continue
                width = (end - start) / scale
                if phase == "down":
                    width = max(width, span * MIN_VISIBLE_FRACTION)
                bars.append((start / scale, width))
            if bars:
                ax.broken_barh(bars, (row - 0.38, 0.76), facecolors=COLORS[phase], linewidth=0)
    ax.set_yticks(range(len(keys)), [f"{w} / {g}" for w, g in keys])
    ax.invert_yaxis()
    ax.set_xlim(0, span)
    ax.set_xlabel(f"time ({unit})")
    title = "Groups over time"
    if hidden:
        title += f" (first {len(keys)} groups; {hidden} more not shown)"
    ax.set_title(title, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        handles=[Patch(color=COLORS[p], label=p) for p in PHASES],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=len(PHASES),
        frameon=False,
        fontsize="small",
    )
    return Figure("groups", "Groups over time (short outages widened to stay visible)", figure_png(fig))


def serving_over_time(report: dict) -> Figure | None:
    workloads = [w for w in report["workloads"] if w.get("servingOverTime")]
    if not workloads:
        return None
    horizon = float(report["horizonSeconds"])
    scale, unit = _time_axis(horizon)
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for w in workloads:
        points = w["servingOverTime"] + [[horizon, w["servingOverTime"][-1][1], w["servingOverTime"][-1][2]]]
        xs = [p[0] / scale for p in points]
        line = ax.step(xs, [p[1] for p in points], where="post", label=f"{w['name']} serving")[0]
        ax.step(
            xs,
            [p[2] for p in points],
            where="post",
            linestyle="--",
            color=line.get_color(),
            alpha=0.5,
            label=f"{w['name']} replicas",
        )
    ax.set_xlim(0, horizon / scale)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("groups")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Serving groups over time", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return Figure("serving", "Serving groups over time", figure_png(fig))


def report_figures(report: dict, timeline: Timeline) -> list[Figure]:
    return [f for f in (gantt(timeline), serving_over_time(report)) if f is not None]


def plan_figures(plan: dict) -> list[Figure]:
    cands = [c for c in plan["candidates"] if c["runs"]]
    if not cands:
        return []
    figures = [_plan_availability(plan, cands), _plan_time(plan, cands)]
    if is_warm(plan) and any(c["costPerHour"] is not None for c in cands):
        figures.append(_plan_tradeoff(plan, cands))
    return figures


def _plan_tradeoff(plan: dict, cands: list[dict]) -> Figure:
    """What warm nodes buy: each warm count as a point of cost per hour against time to all serving (p95)
    and mean availability, so a person can pick the trade-off."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    pts = [c for c in cands if c["costPerHour"] is not None]
    pick = recommended(plan)
    for ax, value, label in (
        (left, lambda c: c["timeToAllServingSeconds"]["p95"], "time to all serving p95 (minutes)"),
        (right, lambda c: c["availability"]["mean"], "mean availability"),
    ):
        shown = [(c, value(c)) for c in pts if value(c) is not None]
        xs = [c["costPerHour"] for c, _ in shown]
        ys = [v / 60.0 if "minutes" in label else v for _, v in shown]
        ax.plot(xs, ys, "o-", color="#3182bd")
        for (c, _), x, y in zip(shown, xs, ys, strict=True):
            warm = c[size_key(plan)]
            ax.annotate(str(warm), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
            if warm == pick:
                ax.scatter([x], [y], s=120, facecolors="none", edgecolors="#31a354", linewidths=2, zorder=3)
        ax.set_xlabel("cost per hour")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    left.set_title("Warm nodes: cost against time to serving", loc="left", fontsize="medium")
    right.set_title("and against availability (labels: warm nodes)", loc="left", fontsize="medium")
    fig.tight_layout()
    return Figure(
        "tradeoff", "Warm nodes: cost per hour against time to serving and availability", figure_png(fig)
    )


def _mark_recommendation(ax, plan: dict) -> None:
    pick = recommended(plan)
    if pick is not None:
        ax.axvline(
            pick,
            color="#31a354",
            alpha=0.35,
            linewidth=5,
            zorder=0,
            label=f"recommended: {size_text(plan, pick)}",
        )


def _placement_failures(ax, plan: dict, cands: list[dict], y: float) -> None:
    bad = [c[size_key(plan)] for c in cands if not c["placementFeasible"]]
    if bad:
        ax.scatter(
            bad,
            [y] * len(bad),
            marker="x",
            color="#de2d26",
            s=60,
            zorder=3,
            label="not every group placed",
            clip_on=False,
        )


def _thing(plan: dict) -> str:
    return "quota" if is_quota(plan) else "warm node count" if is_warm(plan) else "node count"


def _plan_availability(plan: dict, cands: list[dict]) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ok = [c for c in cands if c["placementFeasible"] and c["availability"]["mean"] is not None]
    target = plan["targets"]["availability"]
    values = [c["availability"]["p05"] for c in ok] + [c["availability"]["mean"] for c in ok]
    values += [target] if target is not None else []
    low = min(values, default=0.99)
    low = max(0.0, low - (1 - low) * 0.25 - 1e-4)
    if ok:
        xs = [c[size_key(plan)] for c in ok]
        means = [c["availability"]["mean"] for c in ok]
        lo_err = [m - (c["availability"]["ci95"] or [m, m])[0] for m, c in zip(means, ok, strict=True)]
        hi_err = [(c["availability"]["ci95"] or [m, m])[1] - m for m, c in zip(means, ok, strict=True)]
        ax.errorbar(xs, means, yerr=[lo_err, hi_err], marker="o", capsize=3, label="mean (95% CI)")
        ax.plot(xs, [c["availability"]["p05"] for c in ok], marker="v", linestyle=":", label="5th percentile")
    if target is not None:
        ax.axhline(target, color="#555555", linestyle="--", label=f"target {target:g}")
    _placement_failures(ax, plan, cands, low)
    _mark_recommendation(ax, plan)
    ax.set_ylim(low, 1.0 + (1.0 - low) * 0.05)
    ax.set_xlabel(axis_label(plan))
    ax.set_ylabel("availability")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Availability against {_thing(plan)}", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return Figure("availability", f"Availability against {_thing(plan)}", figure_png(fig))


def _plan_time(plan: dict, cands: list[dict]) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    target = plan["targets"]["timeToAllServingSeconds"]
    scale, unit = (60.0, "minutes")
    for key, style in (("p50", "o-"), ("p95", "s--")):
        pts = [(c[size_key(plan)], c["timeToAllServingSeconds"][key]) for c in cands]
        pts = [(x, y / scale) for x, y in pts if y is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=key)
    if target is not None:
        ax.axhline(target / scale, color="#555555", linestyle="--", label=f"target {target / scale:g} min")
    ax.set_ylim(bottom=0)
    _placement_failures(ax, plan, cands, 0)
    _mark_recommendation(ax, plan)
    ax.set_xlabel(axis_label(plan))
    ax.set_ylabel(f"time to all serving ({unit})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Time to all serving against {_thing(plan)}", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return Figure("time-to-serving", f"Time to all serving against {_thing(plan)}", figure_png(fig))


def write_figures(figures: list[Figure], directory: Path, prefix: str) -> list[tuple[Figure, Path]]:
    """Write each figure as ``<prefix>-<name>.png`` in ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for f in figures:
        path = directory / f"{prefix}-{f.name}.png"
        path.write_bytes(f.png)
        out.append((f, path))
    return out
