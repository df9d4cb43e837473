"""The CapacityPlan document (docs/contract.md ``lwssim plan``) and the binding constraint in words."""

from __future__ import annotations

import numpy as np

import lwssim
from lwssim.model.quantity import format_duration
from lwssim.plan.search import Candidate, Search
from lwssim.plan.stats import bootstrap_ci, quantile


def _sec(v: float | None) -> float | None:
    return None if v is None else round(float(v), 3) + 0.0


def _frac(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6) + 0.0


SEARCH_METHOD = (
    "ascending scan from the resource lower bound; every count below the recommendation was simulated "
    "and failed (feasibility is not assumed monotone); a candidate's runs stop early only once its "
    "failure is certain"
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
        "stoppedEarly": c.rejected is not None and len(res) < c.total,
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
        "notes": [n for n in (non_monotone_note(s),) if n],
        "explanations": rep["explanations"] if rep else [],
        "explainedRun": {k: rep[k] for k in ("count", "run", "seed")} if rep else None,
    }
    return doc
