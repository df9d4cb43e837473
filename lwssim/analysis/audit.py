"""API latency per kind of call from a kube-apiserver audit log (`lwssim calibrate --audit-log FILE`).

A Timeline's timestamps are the API's whole seconds; the audit log times every request to the
microsecond (``stageTimestamp`` of its ResponseComplete event, kubernetes v1.34
staging/src/k8s.io/apiserver/pkg/apis/audit/types.go). The simulator's API latency of a call runs from
the event the caller reacts to until the call's result is stored (model/timing.ApiLatency), so it is read
here as the gap between two completed writes that the real controllers chain, matched by the names LWS
and the StatefulSet controller give objects (docs/lws-v0.7-semantics.md):

- controllerRevisionCreate: a StatefulSet created or changed → its ControllerRevision created
  (revision ``<set>-<hash>``);
- podCreate: that revision created → the set's next pod created, or a pod gone → its namesake created
  again (pod ``<set>-<ordinal>``);
- statefulSetCreate: a leader pod created → the worker StatefulSet of the same name created;
- delete: an owner gone → the garbage collector's delete of its dependent (worker StatefulSet ← leader
  pod; worker pod ← worker StatefulSet).

Gaps of a second or more are not a direct reaction (a LeaderReady start waits for the leader, a failed
call backs off) and are left out. Metadata level is enough: no request or response bodies are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lwssim.analysis.calibrate import Fit
from lwssim.errors import InputError

MAX_GAP_S = 1.0
# Revision names end in a hash spelled with rand.SafeEncodeString's alphabet (k8s.io/apimachinery).
REVISION = re.compile(r"^(?P<set>.+)-[bcdfghjklmnpqrstvwxz2456789]{6,}$")
ORDINAL = re.compile(r"^(?P<set>.+)-(?P<ordinal>\d+)$")
KINDS = ("podCreate", "controllerRevisionCreate", "statefulSetCreate", "delete")


@dataclass(frozen=True)
class Call:
    """One completed write: when it finished, what it did, to what, from whom."""

    done: float
    verb: str
    resource: str  # "pods", "statefulsets", "controllerrevisions", ...; subresources excluded
    namespace: str
    name: str
    user_agent: str


def read_calls(path: str) -> list[Call]:
    """The successful writes of an audit log (JSON lines), in order of completion."""
    calls = []
    try:
        with Path(path).open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    call = _call(json.loads(line))
                except (ValueError, TypeError, AttributeError) as exc:
                    raise InputError(path, f"line {n}", f"not an audit event: {exc}") from None
                if call is not None:
                    calls.append(call)
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None
    calls.sort(key=lambda c: c.done)
    return calls


def _call(event: dict) -> Call | None:
    ref = event.get("objectRef") or {}
    code = (event.get("responseStatus") or {}).get("code", 0)
    if event.get("stage") != "ResponseComplete" or ref.get("subresource") or not 200 <= code < 300:
        return None
    if event.get("verb") not in ("create", "update", "patch", "delete") or not ref.get("name"):
        return None
    done = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
    return Call(
        done, event["verb"], ref.get("resource", ""), ref.get("namespace", ""), ref["name"],
        event.get("userAgent", ""),
    )  # fmt: skip


def chains(calls: Iterable[Call]) -> Iterator[tuple[str, float]]:
    """(kind, seconds) for every write that answers an earlier one, in the chains named above."""
    last: dict[tuple[str, str, str, str], float] = {}  # (verb, resource, namespace, name) → done
    revision_used: set[tuple[tuple[str, str, str, str], float]] = set()  # a revision: one first pod

    def gap(key: tuple[str, str, str, str], now: float) -> float | None:
        at = last.get(key)
        return None if at is None or now - at >= MAX_GAP_S else now - at

    for c in calls:
        ns = c.namespace
        if c.verb == "create" and c.resource == "controllerrevisions" and (m := REVISION.match(c.name)):
            # the set's latest write (create, update or patch) is the one the controller answers
            writes = [gap((v, "statefulsets", ns, m["set"]), c.done) for v in ("create", "update", "patch")]
            if answered := [g for g in writes if g is not None]:
                yield "controllerRevisionCreate", min(answered)
            last[("create", "revision-of", ns, m["set"])] = c.done
        elif c.verb == "create" and c.resource == "pods":
            m = ORDINAL.match(c.name)
            key = ("create", "revision-of", ns, m["set"]) if m else None
            first = gap(key, c.done) if key else None
            if key and first is not None and (key, last[key]) not in revision_used:
                revision_used.add((key, last[key]))
                yield "podCreate", first
            elif (again := gap(("delete", "pods", ns, c.name), c.done)) is not None:
                yield "podCreate", again
        elif c.verb == "create" and c.resource == "statefulsets":
            if (g := gap(("create", "pods", ns, c.name), c.done)) is not None:
                yield "statefulSetCreate", g
        elif c.verb == "delete" and "garbage-collector" in c.user_agent:
            if c.resource == "statefulsets":
                owner_gone = gap(("delete", "pods", ns, c.name), c.done)
            elif c.resource == "pods" and (m := ORDINAL.match(c.name)):
                owner_gone = gap(("delete", "statefulsets", ns, m["set"]), c.done)
            else:
                owner_gone = None
            if owner_gone is not None:
                yield "delete", owner_gone
        last[(c.verb, c.resource, ns, c.name)] = c.done


def api_latency(paths: list[str]) -> dict:
    """``{"apiLatency": <timing.apiLatency block>, "fits": [...], "notes": [...]}`` from audit logs."""
    samples: dict[str, list[float]] = {k: [] for k in KINDS}
    for path in paths:
        for kind, seconds in chains(read_calls(path)):
            samples[kind].append(max(seconds, 1e-6))
    block, fits, notes = {}, [], []
    for kind in KINDS:
        if len(samples[kind]) < 2:
            notes.append(
                f"apiLatency.{kind}: {len(samples[kind])} sample(s); not written (the default applies)"
            )
            continue
        fit = Fit(f"apiLatency.{kind}", "", tuple(samples[kind]), tiny_absolute=0.001)
        fits.append(fit.summary())
        block[kind] = fit.distribution()
    return {"apiLatency": block, "fits": fits, "notes": notes}
