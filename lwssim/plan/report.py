"""The CapacityPlan document (docs/contract.md ``lwssim plan``) and the binding constraint in words."""

from __future__ import annotations

import numpy as np

import lwssim
from lwssim.model.quantity import format_duration
from lwssim.plan.search import Candidate, Flatness, LeverTrial, Search, response
from lwssim.plan.stats import SEQUENTIAL_RULE, bootstrap_ci, quantile


def _sec(v: float | None) -> float | None:
    return None if v is None else round(float(v), 3) + 0.0


def _frac(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6) + 0.0


SEARCH_METHOD = (
    "galloping from the resource lower bound (+1, +2, +4, … up to --max) until a count meets the targets, "
    "then bisection; the count just below the recommendation was simulated and failed, counts the gallop "
    "skipped were not simulated (feasibility is not monotone: see `evaluated`); every count runs the same "
    "seeds; a candidate's runs stop once the sequential test or an exact bound decides"
)


def candidate_dict(c: Candidate, s: Search) -> dict:
    res = c.results
    avail = [r.availability for r in res]
    ttas = [r.time_to_all_serving for r in res]
    ci = bootstrap_ci(avail, s.scenario.seed) if avail else None
    cost = s.scenario.cluster.pool(s.pool).cost_per_node_hour  # type: ignore[union-attr]
    outages = sum(r.outages for r in res)
    failing = next((r for r in res if not r.all_serving), None)
    q = s.targets.quantile
    entry = {
        "count": c.count,
        "placementFeasible": c.placement_feasible,
        "runs": len(res),
        "runsRequested": c.total,
        "availability": {
            "mean": _frac(float(np.mean(avail))) if avail else None,
            "p05": _frac(quantile(avail, 0.05)),  # type: ignore[arg-type]
            "ci95": [_frac(ci[0]), _frac(ci[1])] if ci else None,
        },
        "timeToAllServingSeconds": {"p50": _sec(quantile(ttas, 0.5)), "p95": _sec(quantile(ttas, 0.95))},
        "meetsTargets": c.meets,
        "rejectedBy": c.rejected,
        "decidedBy": c.decided_by,
        "stoppedEarly": len(res) < c.total,
        "costPerHour": None if cost is None else round(cost * c.count, 2),
        "allServingRuns": sum(1 for r in res if r.all_serving),
        "nodeFailuresPerRun": _frac(sum(r.node_failures for r in res) / len(res)) if res else None,
        "meanOutageSeconds": _sec(sum(r.outage_seconds for r in res) / outages) if outages else None,
        "firstFailingSeed": failing.seed if failing else None,
    }
    if q not in (0.5, 0.95):
        entry["timeToAllServingSeconds"][f"p{q * 100:g}"] = _sec(quantile(ttas, q))
    return entry


def _availability_words(value: float, target: float) -> str:
    digits = max(4, len(f"{target:g}".split(".")[-1]) + 1)
    return f"{value:.{digits}f}"


def reason(c: Candidate, s: Search, explanation: str | None = None) -> str:
    """Why candidate ``c`` fails, in words a user can act on."""
    n = f"{c.count} node" + ("" if c.count == 1 else "s")
    res = c.results
    if c.rejected == "placement" or not c.placement_feasible:
        bad = sum(1 for r in res if not r.all_serving)
        text = f"placement: with {n}, {bad} of {len(res)} runs never had every group serving"
        return text + (f": {explanation}" if explanation else "")
    if c.rejected == "availability":
        mean = float(np.mean([r.availability for r in res]))
        assert s.targets.availability is not None
        text = (
            f"availability {_availability_words(mean, s.targets.availability)} < {s.targets.availability:g} "
            f"with {n}"
        )
        outages = sum(r.outages for r in res)
        failures = sum(r.node_failures for r in res) / len(res)
        if outages:
            size = max(r.group_size for r in res)
            lost = sum(r.outage_seconds for r in res) / outages
            cause = "each node failure" if failures else "each outage"
            text += (
                f": {cause} stops a {size}-pod group for {format_duration(lost)} on average "
                f"({failures:.1f} node failures per run)"
            )
        return text
    if c.rejected == "timeToServing":
        q = s.targets.quantile
        value = quantile([r.time_to_all_serving for r in res], q)
        assert s.targets.time_to_serving is not None
        shown = "never" if value is None else format_duration(value)
        return (
            f"time to all serving p{q * 100:g} {shown} > {format_duration(s.targets.time_to_serving)} "
            f"with {n}"
        )
    return f"{n} meets the targets"


def representative(c: Candidate) -> dict | None:
    """The explanation of ``c``'s first run that never had every group serving (computed with the run)."""
    run = next((r for r in c.results if not r.all_serving), None)
    if run is None or run.explained is None:
        return None
    return run.explained | {"run": run.run, "seed": run.seed, "count": c.count}


def binding_constraint(s: Search) -> tuple[str, dict | None]:
    """What keeps the recommendation from being smaller (or, with none, what the largest count lacks)."""
    by_count = {c.count: c for c in s.candidates}
    if s.recommended is not None:
        below = by_count.get(s.recommended - 1)
        if below is None:
            if s.recommended == s.lower_bound and s.lower_bound > (s.min_given or 0):
                return (
                    f"resources: fewer than {s.lower_bound} nodes cannot hold every pod at once "
                    f"({s.lower_bound_why})",
                    None,
                )
            return f"--min {s.lo}: smaller counts were not tried", None
        blame = below
    elif s.candidates:
        blame = s.candidates[-1]
    else:
        return (
            f"resources: at least {s.lower_bound} nodes are needed ({s.lower_bound_why}), above --max {s.hi}",
            None,
        )
    rep = representative(blame) if blame.rejected == "placement" else None
    explanation = _top_message(rep)
    text = reason(blame, s, explanation)
    if s.recommended is None:
        text += f" (no count in {s.lo}..{s.hi} meets the targets)"
    return text, rep


def _top_message(rep: dict | None) -> str | None:
    if not rep:
        return None
    order = {"error": 0, "warning": 1, "info": 2}
    found = sorted(rep["explanations"], key=lambda e: order.get(e["severity"], 3))
    return found[0]["message"] if found else None


def non_monotone_note(s: Search) -> str | None:
    if s.recommended is None:
        return None
    worse = [c.count for c in s.candidates if c.count > s.recommended and not c.meets]
    if not worse:
        return None
    return (
        f"{', '.join(map(str, worse))} nodes fail where {s.recommended} pass: feasibility is not monotone "
        "in the node count here (typically a partial topology domain that attracts a leader its workers "
        "cannot follow); buy the recommended count, or grow in whole domains"
    )


def _response_words(f: Flatness | None, value: float) -> str:
    if f is None or f.target == "availability":
        return f"{value:.4f}"
    return f"{value:.0%} of runs in time"


def flatness_note(s: Search) -> str | None:
    """Whether more nodes would help, from the fewest and the most nodes that place every group."""
    f = s.flatness
    if f is None:
        return None
    what = "availability" if f.target == "availability" else "serving within the time target"
    shared = min(len(f.fewest.results), len(f.most.results))
    trend = (
        f"{what} is {_response_words(f, f.fewest_response)} with {f.fewest.count} nodes and "
        f"{_response_words(f, f.most_response)} with {f.most.count} "
        f"({f.gain:+.4f} on the same {shared} runs; the target needs {f.shortfall:+.4f})"
    )
    if not f.flat:
        return f"No count in range meets the targets, but more nodes help: {trend}; raise --max."
    text = f"More nodes will not help: {trend}. The target is bound by something other than the node count"
    if f.target == "availability":
        text += (
            ": how long a group takes to come back after a fault (repair, image pull, model load, restarts)"
        )
    if s.levers:
        helping = [t.lever.name for t in s.levers if t.trial.meets]
        text += (
            "; levers tried at "
            + f"{s.levers[0].baseline.count} nodes: "
            + (f"{', '.join(helping)} meet the targets" if helping else "none meets the targets alone")
        )
    return text + "."


def lever_dict(t: LeverTrial, s: Search) -> dict:
    """One lever tried: the target's response with and without it on the runs both have, and in words."""
    target = s.flatness.target if s.flatness else "availability"
    shared = min(len(t.trial.results), len(t.baseline.results))
    before = response(t.baseline, target, s.targets, shared)
    after = response(t.trial, target, s.targets, shared)
    entry = candidate_dict(t.trial, s)
    cost = s.scenario.cluster.pool(s.pool).cost_per_node_hour  # type: ignore[union-attr]
    how = {
        "test": f"at {s.confidence:.0%} confidence",
        "exact": f"for certain over {t.trial.total} runs",
    }.get(
        t.trial.decided_by or "",
        f"on the mean of {len(t.trial.results)} runs, undecided at {s.confidence:.0%}",
    )
    verdict = "meets the targets" if t.trial.meets else f"does not meet the targets ({t.trial.rejected}"
    verdict += f" ({how})" if t.trial.meets else f", {how})"
    name = "availability" if target == "availability" else "serving within the time target"
    effect = (
        f"{t.lever.description}: {name} {_response_words(s.flatness, before)} → "
        f"{_response_words(s.flatness, after)} ({after - before:+.4f} on the same {shared} runs) with "
        f"{t.nodes} nodes; {verdict}"
    )
    return {
        "lever": t.lever.name,
        "effect": effect,
        "change": t.lever.description,
        "count": t.nodes,
        "target": target,
        "before": _frac(before),
        "after": _frac(after),
        "difference": _frac(after - before),
        "sharedRuns": shared,
        "meetsTargets": t.trial.meets,
        "rejectedBy": t.trial.rejected,
        "decidedBy": t.trial.decided_by,
        "runs": len(t.trial.results),
        "availability": entry["availability"],
        "timeToAllServingSeconds": entry["timeToAllServingSeconds"],
        "costPerHour": None if cost is None else round(cost * t.nodes, 2),
    }


def to_dict(s: Search) -> dict:
    text, rep = binding_constraint(s)
    pool = s.scenario.cluster.pool(s.pool)
    assert pool is not None
    doc = {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "CapacityPlan",
        "scenario": s.scenario.name,
        "pool": s.pool,
        "recommendedCount": s.recommended,
        "bindingConstraint": text,
        "candidates": [candidate_dict(c, s) for c in s.candidates],
        "lwssimVersion": lwssim.__version__,
        "seed": s.scenario.seed,
        "runsPerCandidate": s.runs,
        "range": {"min": s.lo, "max": s.hi},
        "resourceLowerBound": s.lower_bound,
        "targets": {
            "availability": s.targets.availability,
            "timeToAllServingSeconds": s.targets.time_to_serving,
            "quantile": s.targets.quantile,
        },
        "recommendedCostPerHour": (
            None
            if s.recommended is None or pool.cost_per_node_hour is None
            else round(pool.cost_per_node_hour * s.recommended, 2)
        ),
        "search": SEARCH_METHOD,
        "evaluated": s.order,
        "confidence": s.confidence,
        "sequentialTest": SEQUENTIAL_RULE,
        "moreNodesHelp": None if s.flatness is None else not s.flatness.flat,
        "levers": [lever_dict(t, s) for t in s.levers],
        "notes": [n for n in (non_monotone_note(s), flatness_note(s)) if n],
        "explanations": rep["explanations"] if rep else [],
        "explainedRun": {k: rep[k] for k in ("count", "run", "seed")} if rep else None,
    }
    return doc
