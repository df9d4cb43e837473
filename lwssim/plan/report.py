"""The CapacityPlan document (docs/contract.md ``lwssim plan``) and the binding constraint in words."""

from __future__ import annotations

import numpy as np

import lwssim
from lwssim.engine.kueue.quota import quantity_string
from lwssim.model.quantity import format_duration
from lwssim.plan.dimension import ClusterQueueQuota, Dimension, PoolNodes, WarmNodes
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
QUOTA_SEARCH_METHOD = (
    "quotas in whole groups (multiples of one group's request); galloping from the lower bound (+1, +2, "
    "+4, … groups up to --max) until a quota meets the targets, then bisection; the quota one group below "
    "the recommendation was simulated and failed, quotas the gallop skipped were not simulated (see "
    "`evaluated`); every quota runs the same seeds; a candidate's runs stop once the sequential test or an "
    "exact bound decides"
)


def candidate_dict(c: Candidate, s: Search) -> dict:
    res = c.results
    avail = [r.availability for r in res]
    ttas = [r.time_to_all_serving for r in res]
    ci = bootstrap_ci(avail, s.scenario.seed) if avail else None
    outages = sum(r.outages for r in res)
    failing = next((r for r in res if not r.all_serving), None)
    q = s.targets.quantile
    entry = {
        s.dimension.size_key: c.size,
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
        "costPerHour": s.dimension.cost_of_runs(
            s.scenario, c.size, [r.node_hours for r in res if r.node_hours is not None]
        ),
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
    n = s.dimension.words(c.size)
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


def representative(c: Candidate, dimension: Dimension) -> dict | None:
    """The explanation of ``c``'s first run that never had every group serving (computed with the run)."""
    run = next((r for r in c.results if not r.all_serving), None)
    if run is None or run.explained is None:
        return None
    return run.explained | {"run": run.run, "seed": run.seed, dimension.size_key: c.size}


def binding_constraint(s: Search) -> tuple[str, dict | None]:
    """What keeps the recommendation from being smaller (or, with none, what the largest size lacks)."""
    d = s.dimension
    by_size = {c.size: c for c in s.candidates}
    if s.recommended is not None:
        below = by_size.get(s.recommended - s.span.step)
        if below is None and s.recommended == 0 and isinstance(d, ClusterQueueQuota):
            return f"quota: {d.words(0)} meets the targets: {s.span.why}", None
        if below is None:
            if s.recommended == s.span.lower_bound and s.span.lower_bound > (s.min_given or 0):
                return _below_bound(s), None
            lowest = s.span.start if isinstance(d, PoolNodes) else _amount(d, s.span.start)
            return f"--min {lowest}: smaller {_plural(d)} were not tried", None
        blame = below
    elif s.candidates:
        blame = s.candidates[-1]
    else:
        return _above_max(s), None
    rep = representative(blame, d) if blame.rejected == "placement" else None
    text = _waiting_for_quota(blame, s, rep) if isinstance(d, ClusterQueueQuota) else None
    text = text or reason(blame, s, _top_message(rep))
    if s.recommended is None:
        span = f"{s.span.start}..{s.span.stop}"
        if isinstance(d, ClusterQueueQuota):
            span = f"{quantity_string(d.resource, s.span.start)}..{d.amount(s.span.stop)}"
        text += f" (no {_singular(d)} in {span} meets the targets)"
    return text, rep


def _amount(d: Dimension, size: int) -> str:
    return d.amount(size) if isinstance(d, ClusterQueueQuota) else d.words(size)


def _singular(d: Dimension) -> str:
    return "count" if isinstance(d, PoolNodes) else "quota"


def _plural(d: Dimension) -> str:
    return _singular(d) + "s"


def _below_bound(s: Search) -> str:
    if isinstance(s.dimension, PoolNodes):
        return (
            f"resources: fewer than {s.span.lower_bound} nodes cannot hold every pod at once ({s.span.why})"
        )
    return f"quota: {s.span.why}"


def _above_max(s: Search) -> str:
    d = s.dimension
    if isinstance(d, PoolNodes):
        return (
            f"resources: at least {s.span.lower_bound} nodes are needed ({s.span.why}), "
            f"above --max {s.span.stop}"
        )
    shown = _amount(d, s.span.stop if s.max_given is None else s.max_given)
    return f"quota: {s.span.why}; --max {shown} is below it"


def _waiting_for_quota(c: Candidate, s: Search, rep: dict | None) -> str | None:
    """A quota that leaves groups waiting for admission, in Kueue's words: "a quota of 32 nvidia.com/gpu
    admits 2 groups of 16 at once: group 2 of llm waits for admission …"."""
    waiting = [e for e in (rep or {}).get("explanations", []) if e["kind"] == "WaitingForAdmission"]
    if not waiting:
        return None
    d = s.dimension
    assert isinstance(d, ClusterQueueQuota)
    bad = sum(1 for r in c.results if not r.all_serving)
    more = (
        f" (and {len(waiting) - 1} more group{'s' if len(waiting) > 2 else ''})" if len(waiting) > 1 else ""
    )
    message = waiting[0]["message"].rstrip(".")
    return (
        f"quota: {d.words(c.size)} in flavor {d.flavor} of ClusterQueue {d.cluster_queue} admits "
        f"{d.groups_words(c.size)} at once; in {bad} of {len(c.results)} runs {message}{more}"
    )


def _top_message(rep: dict | None) -> str | None:
    if not rep:
        return None
    order = {"error": 0, "warning": 1, "info": 2}
    found = sorted(rep["explanations"], key=lambda e: order.get(e["severity"], 3))
    return found[0]["message"] if found else None


def non_monotone_note(s: Search) -> str | None:
    if s.recommended is None:
        return None
    worse = [c.size for c in s.candidates if c.size > s.recommended and not c.meets]
    if not worse:
        return None
    if isinstance(s.dimension, ClusterQueueQuota):
        shown = ", ".join(s.dimension.amount(w) for w in worse)
        return (
            f"quotas of {shown} fail where {s.dimension.amount(s.recommended)} passes: feasibility is not "
            "monotone in the quota here; set the recommended quota"
        )
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
    """Whether more of the dimension would help, from the smallest and largest sizes placing every group."""
    f, d = s.flatness, s.dimension
    if f is None:
        return None
    what = "availability" if f.target == "availability" else "serving within the time target"
    shared = min(len(f.fewest.results), len(f.most.results))
    most = f.most.size if isinstance(d, PoolNodes) else _amount(d, f.most.size)
    trend = (
        f"{what} is {_response_words(f, f.fewest_response)} with {d.words(f.fewest.size)} and "
        f"{_response_words(f, f.most_response)} with {most} "
        f"({f.gain:+.4f} on the same {shared} runs; the target needs {f.shortfall:+.4f})"
    )
    more = d.more
    if not f.flat:
        helps = "help" if isinstance(d, PoolNodes) else "helps"
        return f"No {_singular(d)} in range meets the targets, but {more} {helps}: {trend}; raise --max."
    text = f"{more.capitalize()} will not help: {trend}. The target is bound by something other than the "
    text += d.thing
    if f.target == "availability":
        text += (
            ": how long a group takes to come back after a fault (repair, image pull, model load, restarts)"
        )
    if s.levers:
        helping = [t.lever.name for t in s.levers if t.trial.meets]
        text += (
            "; levers tried at "
            + f"{d.words(s.levers[0].baseline.size)}: "
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
        "costPerHour": s.dimension.cost_per_hour(s.scenario, t.nodes),
    }


def to_dict(s: Search) -> dict:
    text, rep = binding_constraint(s)
    d = s.dimension
    if isinstance(d, PoolNodes):
        subject: dict = {"pool": d.pool, "recommendedCount": s.recommended}
        more_key, method = "moreNodesHelp", SEARCH_METHOD
    else:
        assert isinstance(d, ClusterQueueQuota)
        subject = {
            "clusterQueue": d.cluster_queue,
            "resource": d.resource,
            "flavor": d.flavor,
            "recommendedQuota": s.recommended,
            "currentQuota": d.current(s.scenario),
            "quotaStep": s.span.step,
        }
        more_key, method = "moreQuotaHelps", QUOTA_SEARCH_METHOD
    doc = {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "CapacityPlan",
        "scenario": s.scenario.name,
        "dimension": d.kind,
        **subject,
        "bindingConstraint": text,
        "candidates": [candidate_dict(c, s) for c in s.candidates],
        "lwssimVersion": lwssim.__version__,
        "seed": s.scenario.seed,
        "runsPerCandidate": s.runs,
        "range": {"min": s.span.start, "max": s.span.stop},
        "resourceLowerBound": s.span.lower_bound,
        "targets": {
            "availability": s.targets.availability,
            "timeToAllServingSeconds": s.targets.time_to_serving,
            "quantile": s.targets.quantile,
        },
        "recommendedCostPerHour": _recommended_cost(s),
        "search": method,
        "evaluated": s.order,
        "confidence": s.confidence,
        "sequentialTest": SEQUENTIAL_RULE,
        more_key: None if s.flatness is None else not s.flatness.flat,
        "levers": [lever_dict(t, s) for t in s.levers],
        "notes": [*s.span.notes, *(n for n in (non_monotone_note(s), flatness_note(s)) if n)],
        "explanations": rep["explanations"] if rep else [],
        "explainedRun": {k: rep[k] for k in (d.size_key, "run", "seed")} if rep else None,
    }
    if isinstance(d, WarmNodes):
        doc["recommendedMax"], note = _recommended_max(s)
        if note:
            doc["notes"].append(note)
    return doc


def _recommended_cost(s: Search) -> float | None:
    """The recommendation's cost per hour (with autoscaling: from the node-hours its runs provisioned)."""
    if s.recommended is None:
        return None
    chosen = next((c for c in s.candidates if c.size == s.recommended), None)
    hours = [r.node_hours for r in chosen.results if r.node_hours is not None] if chosen else []
    return s.dimension.cost_of_runs(s.scenario, s.recommended, hours)


def _recommended_max(s: Search) -> tuple[int | None, str]:
    """The pool's max to keep with the recommended warm count: the most nodes any of its runs had at once;
    a note when that is the pool's max already (the max may bind: more might have been launched)."""
    assert isinstance(s.dimension, WarmNodes)
    chosen = next((c for c in s.candidates if c.size == s.recommended), None)
    peaks = [r.peak_nodes for r in chosen.results if r.peak_nodes is not None] if chosen else []
    if not peaks:
        return None, ""
    pool = next(p for p in s.scenario.cluster.pools if p.name == s.dimension.pool)
    peak = max(peaks)
    if pool.max_count is not None and peak >= pool.max_count:
        return peak, (
            f"the runs with {s.recommended} warm nodes reached pool {pool.name}'s max "
            f"({pool.max_count} nodes): raise max to see whether more nodes would serve sooner"
        )
    return peak, ""
