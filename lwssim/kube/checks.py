"""Preflight checks that need only the manifests and a snapshot: pure functions, unit-tested.

Each returns :class:`Check` results (pass / warn / fail, with the fix). The rules are the ones the
cluster applies later, so a fail here is a pod that would stay Pending or never be created. A fail or
warn says what is at fault in numbers and names: the subject (workload, leader/worker, template), the
resource or constraint, what is asked and what the best node, domain or quota offers, as
:class:`Shortfall` records that the message, the fix and ``--output json`` are all written from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lwssim.engine.scheduling.plugins import REASON_NODE_AFFINITY
from lwssim.engine.scheduling.profile import NODE_AFFINITY, NODE_UNSCHEDULABLE, TAINT_TOLERATION
from lwssim.errors import InputError
from lwssim.kube import fit
from lwssim.kube.fit import RESOURCES_FIT
from lwssim.manifests.llmisvc import PREFILL_SUFFIX
from lwssim.manifests.lws import check_name_fits_pod_labels
from lwssim.manifests.where import Where
from lwssim.model.cluster import ExistingPod, Node
from lwssim.model.lws import Workload
from lwssim.model.pod import PodTemplate, Requirement, Taint, Toleration
from lwssim.model.quantity import CPU, PODS

PASS, WARN, FAIL = "pass", "warn", "fail"
ALWAYS_PRESENT = ("cpu", "memory", "pods", "ephemeral-storage")
EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"
BEST_LISTED = 10  # node names kept in a shortfall's offeredBy


@dataclass(frozen=True)
class Shortfall:
    """One constraint that does not hold, in numbers: what the manifest asks, what the best candidate
    (node, topology domain, quota, installed component) offers. Amounts are in the resource's unit
    (cpu in cores, memory in bytes); docs/contract.md lists every check's fields."""

    constraint: str  # the kube-scheduler plugin (NodeResourcesFit, TaintToleration, …) or the rule at fault
    asked: Any = None
    offered: Any = None
    resource: str = ""  # the resource (or ResourceQuota key) at fault
    role: str = ""  # leader | worker
    template: str = ""  # the manifest path of the pods' template
    reason: str = ""  # kube-scheduler's reason, as its FitError counts it
    node_count: int | None = None  # nodes that reason counts
    offered_by: tuple[str, ...] = ()  # where ``offered`` is found: nodes (or a domain's nodes)
    domain: str = ""  # the topology domain at fault ("key=value")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"constraint": self.constraint}
        for key, value in (
            ("resource", self.resource),
            ("role", self.role),
            ("template", self.template),
            ("domain", self.domain),
            ("reason", self.reason),
        ):
            if value:
                out[key] = value
        out["asked"], out["offered"] = self.asked, self.offered
        if self.node_count is not None:
            out["nodeCount"] = self.node_count
        if self.offered_by:
            out["offeredBy"] = list(self.offered_by[:BEST_LISTED])
        return out


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    message: str
    fix: str = ""
    subject: str = ""  # the workload or object the check is about ("" = cluster)
    details: dict[str, Any] = field(default_factory=dict)
    shortfalls: list[Shortfall] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "message": self.message}
        if self.subject:
            out["subject"] = self.subject
        if self.fix:
            out["fix"] = self.fix
        if self.details:
            out["details"] = self.details
        if self.shortfalls:
            out["shortfalls"] = [s.to_dict() for s in self.shortfalls]
        return out


# -- amounts and names as users write them ---------------------------------------------------------------

_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def quantity(resource: str, amount: int) -> str:
    """A canonical amount (millicores for cpu) as a Kubernetes quantity: ``500m``, ``8``, ``2Ti``."""
    if resource == CPU:
        return str(amount // 1000) if amount % 1000 == 0 else f"{amount}m"
    if resource != PODS and "/" not in resource:  # memory, ephemeral-storage, hugepages-*
        for suffix, size in _BINARY:
            if amount and amount % size == 0:
                return f"{amount // size}{suffix}"
    return str(amount)


def number(resource: str, amount: int) -> int | float:
    """A canonical amount for JSON: cpu in cores, everything else in its own unit."""
    if resource == CPU:
        return amount // 1000 if amount % 1000 == 0 else amount / 1000
    return amount


def amounts(items: Sequence[tuple[str, int]]) -> str:
    """``16 nvidia.com/gpu and 32 cpu``."""
    parts = [f"{quantity(r, a)} {r}" for r, a in items]
    return " and ".join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + f" and {parts[-1]}"


def listed(names: Sequence[str]) -> str:
    """Node names (in natural order), shortened past three: ``gpu-0 … gpu-5``."""
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]}"


def nodes_word(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


def taint_text(t: Taint) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"


def toleration_text(t: Toleration) -> str:
    key = t.key or "*"
    what = f"{key}={t.value}" if t.operator == "Equal" and t.value else f"{key} {t.operator}"
    return f"{what}:{t.effect}" if t.effect else what


def requirement_text(r: Requirement) -> str:
    return f"{r.key} {r.operator} ({', '.join(r.values)})" if r.values else f"{r.key} {r.operator}"


# -- raw manifest checks (before the loader, which refuses these outright) -----------------------------------


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def lws_shape(doc: dict) -> tuple[str, int, int] | None:
    """(LWS name, replicas, size) as the cluster will create them, from a raw LWS or LLMISVC document."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return None
    name = str(meta.get("name") or "")
    if doc.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return (
            name,
            _int(spec.get("replicas"), 1),
            _int(lwt.get("size") if isinstance(lwt, dict) else None, 1),
        )
    if doc.get("kind") == "LLMInferenceService" and spec.get("worker") is not None:
        par = spec.get("parallelism") or {}
        data, local, pipe = (_int(par.get(k), 0) for k in ("data", "dataLocal", "pipeline"))
        size = pipe if pipe else max(data // local, 1) if data and local else 1
        return f"{name}-kserve-mn", _int(spec.get("replicas"), 1), size
    return None


def _fits_labels(name_length: int, replicas: int, size: int) -> bool:
    try:
        check_name_fits_pod_labels(Where(""), "a" * name_length, replicas, size)
    except InputError:
        return False
    return True


def name_length(doc: dict, subject: str) -> Check:
    """Worker pods carry labels derived from the LWS name; over 63 characters they are never created."""
    shape = lws_shape(doc)
    if shape is None:
        return Check("lws-name-length", PASS, "no LeaderWorkerSet is created", subject=subject)
    name, replicas, size = shape
    try:
        check_name_fits_pod_labels(Where(""), name, replicas, size)
    except InputError as exc:
        # the longest name the same rule accepts, found by asking it (the rule stays in one place)
        longest = next((n for n in range(len(name) - 1, 0, -1) if _fits_labels(n, replicas, size)), 0)
        own = len(name) - len(str((doc.get("metadata") or {}).get("name") or ""))  # "-kserve-mn"
        return Check(
            "lws-name-length",
            FAIL,
            exc.message,
            f"shorten metadata.name to at most {longest - own} characters (it has {len(name) - own})",
            subject,
            shortfalls=[Shortfall("nameLength", len(name) - own, longest - own)],
        )
    return Check(
        "lws-name-length", PASS, f'"{name}" fits the 63-character label limit of its pods', subject=subject
    )


def _version_text(version: tuple[int, int, int]) -> str:
    return "v" + ".".join(map(str, version))


def max_unavailable_trap(doc: dict, subject: str, lws_version: tuple[int, int, int]) -> Check:
    """lws#776: LWS < v0.9 copies maxUnavailable 0 into the leader StatefulSet, which the apiserver rejects
    ("cannot be 0", k8s apps validation) once MaxUnavailableStatefulSet is on (by default from 1.37): no pods.
    The check cannot read the cluster's feature gates, so it fails whenever the trap is armed."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "LeaderWorkerSet":
        path = "spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable"
        cfg = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
    else:
        cfg = spec.get("rolloutStrategy") or {}
        path = "spec.rolloutStrategy.rollingUpdate.maxUnavailable" if "rollingUpdate" in cfg else ""
        path = path or "spec.rolloutStrategy.maxUnavailable"
        cfg = cfg.get("rollingUpdate") or cfg
    mu = cfg.get("maxUnavailable") if isinstance(cfg, dict) else None
    if mu in (0, "0", "0%") and lws_version < (0, 9, 0):
        version = _version_text(lws_version)
        return Check(
            "max-unavailable-zero",
            FAIL,
            f"{path} is {mu!r}: LWS {version} (before v0.9) passes it to the leader StatefulSet, whose "
            "maxUnavailable the API server requires to be at least 1 when the MaxUnavailableStatefulSet "
            "feature is on (by default from Kubernetes 1.37), so no pod is ever created (lws#776)",
            f"set {path} to 1 or more (keep maxSurge for surge updates), "
            f"or upgrade LWS from {version} to v0.9+",
            subject,
            shortfalls=[Shortfall("maxUnavailable", 0, 1)],
        )
    return Check("max-unavailable-zero", PASS, "maxUnavailable is not 0", subject=subject)


# -- placement against the snapshot ----------------------------------------------------------------------


def roles(w: Workload) -> list[tuple[str, PodTemplate, int]]:
    """(role, template, pods per group) of a workload."""
    out = [("leader", w.lws.effective_leader_template, 1)]
    if w.lws.size > 1:
        out.append(("worker", w.lws.worker_template, w.lws.size - 1))
    return out


def template_path(w: Workload, role: str) -> str:
    """Where the pods of ``role`` come from in the manifest the user wrote."""
    own_leader = role == "leader" and w.lws.leader_template is not None
    if w.kind == "LeaderWorkerSet":
        return f"spec.leaderWorkerTemplate.{'leaderTemplate' if own_leader else 'workerTemplate'}"
    part = "spec.prefill" if w.lws.name.endswith(PREFILL_SUFFIX) else "spec"
    return f"{part}.{'template' if own_leader else 'worker'}"


def _templates(w: Workload) -> list[tuple[list[str], str, PodTemplate]]:
    """(roles, path, template) per distinct template: the leader shares the worker's when it has none."""
    out: list[tuple[list[str], str, PodTemplate]] = []
    for role, t, _ in roles(w):
        path = template_path(w, role)
        same = next((entry for entry in out if entry[1] == path), None)
        if same is not None:
            same[0].append(role)
        else:
            out.append(([role], path, t))
    return out


def _pods_of(roles_: list[str], w: Workload) -> str:
    return f"{' and '.join(roles_)} pods of {w.name}"


def _per_role(rs: list[str], template: str, shortfall: Shortfall) -> list[Shortfall]:
    """The same shortfall once per role whose pods it concerns (the leader may share the worker's
    template)."""
    return [replace(shortfall, role=role, template=template) for role in rs]


def resources_exist(w: Workload, nodes: list[Node]) -> Check:
    """Every requested resource is allocatable on some node: else the resource name is likely wrong."""
    offered = {r for n in nodes for r, amount in n.allocatable if amount > 0}
    problems, shortfalls, missing = [], [], set()
    for rs, path, t in _templates(w):
        asked = [(r, a) for r, a in sorted(t.requests().items()) if a > 0 and r not in offered]
        asked = [(r, a) for r, a in asked if r not in ALWAYS_PRESENT]
        if not asked:
            continue
        missing |= {r for r, _ in asked}
        problems.append(
            f"{_pods_of(rs, w)} ({path}) request {amounts(asked)}; 0/{len(nodes)} nodes allocate "
            f"{' or '.join(r for r, _ in asked)}"
        )
        for r, a in asked:
            shortfalls += _per_role(
                rs,
                path,
                Shortfall(
                    RESOURCES_FIT, number(r, a), 0, r, reason=f"Insufficient {r}", node_count=len(nodes)
                ),
            )
    if problems:
        extended = sorted(offered - set(ALWAYS_PRESENT))
        have = f" (nodes offer {', '.join(extended)})" if extended else ""
        return Check(
            "resources-exist",
            FAIL,
            "; ".join(problems),
            f"fix the resource name{have}, or add nodes (or a device plugin) that offer "
            f"{', '.join(sorted(missing))}",
            w.name,
            shortfalls=shortfalls,
        )
    return Check("resources-exist", PASS, "every requested resource is offered by some node", subject=w.name)


def _free(nodes: list[Node], existing: list[ExistingPod]) -> dict[str, dict[str, int]]:
    free = {n.name: dict(n.allocatable) for n in nodes}
    for p in existing:
        room = free.get(p.node)
        if room is None:
            continue
        for r, amount in p.template.requests().items():
            room[r] = room.get(r, 0) - amount
        room["pods"] = room.get("pods", 0) - 1
    return free


def fits(req: dict[str, int], room: dict[str, int]) -> bool:
    return (
        all(room.get(r, 0) >= amount for r, amount in req.items() if amount > 0) and room.get("pods", 1) >= 1
    )


def _untolerated(t: PodTemplate, node: Node) -> list[str]:
    return [
        taint_text(x)
        for x in node.taints
        if x.effect in ("NoSchedule", "NoExecute") and not any(tol.tolerates(x) for tol in t.tolerations)
    ]


def _selector(t: PodTemplate) -> tuple[list[str], set[str]]:
    """The pods' nodeSelector and required node-affinity terms as text, and the label keys they read."""
    asked = [f"{k}={v}" for k, v in t.node_selector]
    keys = {k for k, _ in t.node_selector}
    terms = [
        " and ".join(requirement_text(r) for r in term.match_expressions) for term in t.required_node_terms
    ]
    if terms:
        asked.append(" or ".join(f"({x})" if len(terms) > 1 else x for x in terms if x))
    keys |= {r.key for term in t.required_node_terms for r in term.match_expressions}
    return asked, keys


class _NodeMatch:
    """Texts and shortfalls for one template that fits no node, one FitError entry at a time."""

    def __init__(self, rs: list[str], path: str, t: PodTemplate, nodes: list[Node]) -> None:
        self.roles, self.path, self.t = rs, path, t
        self.by_name = {n.name: n for n in nodes}
        self.parts: list[str] = []
        self.fixes: list[str] = []
        self.shortfalls: list[Shortfall] = []

    def add(self, constraint: str, asked: Any, offered: Any, rej: fit.Rejection, **extra: Any) -> None:
        shortfall = Shortfall(
            constraint, asked, offered, rej.resource, reason=rej.reason, node_count=len(rej.nodes), **extra
        )
        self.shortfalls += _per_role(self.roles, self.path, shortfall)

    def resources(self, rejections: list[fit.Rejection], matching: tuple[str, ...]) -> None:
        req = self.t.requests()
        largest: dict[str, int] = {}
        for rej in rejections:
            r = rej.resource
            alloc = {name: dict(self.by_name[name].allocatable).get(r, 0) for name in rej.nodes}
            offered = max(alloc.values())
            best = tuple(name for name in rej.nodes if alloc[name] == offered)
            largest[r] = max(dict(self.by_name[m].allocatable).get(r, 0) for m in matching)
            if len(rej.nodes) == len(matching):
                self.parts.append(
                    f"request {quantity(r, req[r])} {r}; the largest matching node ({listed(best)}) "
                    f"allocates {quantity(r, offered)}"
                )
            else:
                self.parts.append(
                    f"request {quantity(r, req[r])} {r}; {len(rej.nodes)} of the {len(matching)} matching "
                    f"nodes allocate less, at most {quantity(r, offered)} ({listed(best)})"
                )
            self.add(RESOURCES_FIT, number(r, req[r]), number(r, offered), rej, offered_by=best)
        asked = [(r, req[r]) for r in largest]
        role = " and ".join(self.roles)
        if all(largest[r] < req[r] for r in largest):
            cap = [f"at most {quantity(r, a)} {r}" if a else f"no {r}" for r, a in largest.items()]
            self.fixes.append(
                f"request {' and '.join(cap)} per {role} pod, or add nodes with ≥ {amounts(asked)}"
            )
        else:
            self.fixes.append(
                f"add nodes with {amounts(asked)} at once (no matching node has all of it), "
                f"or lower the {role} pods' requests"
            )

    def taints(self, rej: fit.Rejection) -> None:
        taints = sorted({x for name in rej.nodes for x in _untolerated(self.t, self.by_name[name])})
        tols = [toleration_text(x) for x in self.t.tolerations]
        self.parts.append(
            f"tolerate none of the taint(s) {', '.join(taints[:4])} of {nodes_word(len(rej.nodes))} "
            f"({listed(rej.nodes)})"
        )
        self.add(TAINT_TOLERATION.name, tols, taints, rej, offered_by=rej.nodes)
        self.fixes.append(
            f"add tolerations of {', '.join(taints[:4])} to {self.path}.spec.tolerations, "
            "or untaint the nodes"
        )

    def affinity(self, rej: fit.Rejection) -> None:
        asked, keys = _selector(self.t)
        carried = sorted(
            {f"{k}={v}" for name in rej.nodes for k, v in self.by_name[name].labels if k in keys}
        )
        have = (
            f"they carry {', '.join(carried[:6])}"
            if carried
            else f"none has a label {', '.join(sorted(keys))}"
        )
        self.parts.append(
            f"select {' and '.join(asked) or 'by metadata.name'}, which {nodes_word(len(rej.nodes))} "
            f"({listed(rej.nodes)}) do not match: {have}"
        )
        self.add(NODE_AFFINITY.name, asked, carried, rej, offered_by=rej.nodes)
        carry = f" ({', '.join(carried[:3])})" if carried else ""
        self.fixes.append(
            f"select labels the nodes carry{carry} in {self.path}.spec nodeSelector/affinity, "
            f"or label nodes {' and '.join(asked)}"
        )

    def other(self, rej: fit.Rejection) -> None:
        """NodeUnschedulable (cordoned nodes) and NodeAffinity's PreFilter (names pinned by metadata.name)."""
        self.parts.append(f"{nodes_word(len(rej.nodes))} ({listed(rej.nodes)}): {rej.reason}")
        self.add(rej.plugin, None, None, rej, offered_by=rej.nodes)
        if rej.plugin == NODE_UNSCHEDULABLE.name:
            self.fixes.append(f"uncordon {listed(rej.nodes)} (kubectl uncordon)")


def node_match(w: Workload, nodes: list[Node]) -> Check:
    """One pod of each role fits some empty node: kube-scheduler's filters (unschedulable, taints,
    nodeSelector/affinity, resources), counted and worded as its FitError, with the sizes at fault."""
    messages, fixes, shortfalls = [], [], []
    for rs, path, t in _templates(w):
        verdict = fit.filter_pass(t, nodes)
        if verdict is None:
            continue
        m = _NodeMatch(rs, path, t, nodes)
        resources = [r for r in verdict.rejections if r.plugin == RESOURCES_FIT]
        if resources:
            m.resources(resources, verdict.matching)
        for rej in verdict.rejections:
            if rej.plugin == TAINT_TOLERATION.name:
                m.taints(rej)
            elif rej.reason == REASON_NODE_AFFINITY:
                m.affinity(rej)
            elif rej.plugin != RESOURCES_FIT:
                m.other(rej)
        messages.append(
            f"{_pods_of(rs, w)} ({path}) {'; '.join(m.parts) or 'fit no node'} — {verdict.message}"
        )
        fixes += m.fixes
        shortfalls += m.shortfalls
    if messages:
        return Check("node-match", FAIL, " ".join(messages), "; ".join(fixes), w.name, shortfalls=shortfalls)
    return Check(
        "node-match",
        PASS,
        "leader and worker pods match some node (selectors, affinity, taints, size)",
        subject=w.name,
    )


def _group_requests(w: Workload) -> dict[str, int]:
    """What one group's pods request together."""
    total: dict[str, int] = {}
    for _, t, count in roles(w):
        for r, amount in t.requests().items():
            total[r] = total.get(r, 0) + amount * count
    return total


def exclusive_topology(w: Workload, nodes: list[Node], existing: list[ExistingPod]) -> Check | None:
    """The exclusive-topology key labels nodes, and some domain holds a whole group (one group per domain)."""
    key = w.lws.exclusive_topology
    if not key:
        return None
    labelled = [n for n in nodes if key in dict(n.labels)]
    if not labelled:
        return Check(
            "exclusive-topology",
            FAIL,
            f'none of the {nodes_word(len(nodes))} has the label "{key}" that the {EXCLUSIVE_TOPOLOGY} '
            f"annotation of {w.name} names: its leader pods can never be placed",
            f"label the nodes with {key}, or fix the {EXCLUSIVE_TOPOLOGY} annotation",
            w.name,
            shortfalls=[Shortfall("exclusive-topology", key, None, node_count=len(nodes))],
        )
    free = _free(nodes, existing)
    domains: dict[str, list[Node]] = {}
    for n in labelled:
        domains.setdefault(dict(n.labels)[key], []).append(n)
    eligible = {role: fit.matching(t, labelled) for role, t, _ in roles(w)}
    placed = {d: _domain_places(w, members, free, eligible) for d, members in sorted(domains.items())}
    holding = [d for d, count in placed.items() if count == w.lws.size]
    details = {"key": key, "domains": len(domains), "domainsHoldingAGroup": len(holding)}
    if not holding:
        return _domain_too_small(w, key, domains, free, placed, details)
    if len(holding) < w.lws.replicas:
        return Check(
            "exclusive-topology",
            WARN,
            f'{len(holding)} of the {len(domains)} "{key}" domains ({", ".join(holding[:4])}) can hold '
            f"a group of {w.name} but {w.lws.replicas} groups are wanted (one group per domain): "
            f"{w.lws.replicas - len(holding)} would stay Pending",
            f"add {w.lws.replicas - len(holding)} domain(s) that hold a group, "
            f"or lower replicas to {len(holding)}",
            w.name,
            details,
            [Shortfall("exclusive-topology", w.lws.replicas, len(holding))],
        )
    return Check(
        "exclusive-topology",
        PASS,
        f'{len(holding)} "{key}" domain(s) can hold a group',
        subject=w.name,
        details=details,
    )


def _domain_too_small(
    w: Workload,
    key: str,
    domains: dict[str, list[Node]],
    free: dict[str, dict[str, int]],
    placed: dict[str, int],
    details: dict[str, Any],
) -> Check:
    """No domain holds a group: the group's total against the best domain's free total, per resource."""
    need = _group_requests(w)
    have = {
        d: {r: sum(max(free[n.name].get(r, 0), 0) for n in members) for r in need}
        for d, members in domains.items()
    }
    best = max(sorted(domains), key=lambda d: (placed[d], [have[d][r] for r in sorted(need)]))
    members = fit.sorted_names([n.name for n in domains[best]])
    short = [(r, a) for r, a in sorted(need.items()) if a > 0 and have[best][r] < a and r != PODS]
    shortfalls = [
        Shortfall(
            "exclusive-topology",
            number(r, a),
            number(r, have[best][r]),
            r,
            domain=f"{key}={best}",
            offered_by=members,
        )
        for r, a in short
    ]
    shortfalls.append(
        Shortfall(
            "exclusive-topology", w.lws.size, placed[best], "pods", domain=f"{key}={best}", offered_by=members
        )
    )
    asks = [(r, a) for r, a in sorted(need.items()) if a > 0 and r != PODS]
    free_text = f"has {amounts([(r, have[best][r]) for r, _ in short])} free and " if short else ""
    return Check(
        "exclusive-topology",
        FAIL,
        f'a group of {w.name} needs {w.lws.size} pods requesting {amounts(asks)} in one "{key}" domain; the '
        f"largest of the {len(domains)} domains, {key}={best} ({listed(members)}), {free_text}"
        f"fits {placed[best]} of the {w.lws.size} pods",
        f"use a topology key whose domains hold {amounts(asks)}, or groups of at most {placed[best]} pods",
        w.name,
        details,
        shortfalls,
    )


def _domain_places(
    w: Workload, members: list[Node], free: dict[str, dict[str, int]], eligible: dict[str, set[str]]
) -> int:
    """How many of one group's pods first-fit places on the domain's eligible nodes (leader first)."""
    room = {n.name: dict(free[n.name]) for n in members}
    placed = 0
    for role, t, count in roles(w):
        names = [n.name for n in members if n.name in eligible[role]]
        req = t.requests()
        for _ in range(count):
            target = next((name for name in names if fits(req, room[name])), None)
            if target is None:
                return placed
            for r, amount in req.items():
                room[target][r] = room[target].get(r, 0) - amount
            room[target]["pods"] = room[target].get("pods", 0) - 1
            placed += 1
    return placed


def quota(w_requests: dict[str, int], pods: int, quotas: list[dict], subject: str = "") -> list[Check]:
    """ResourceQuota ``hard`` minus ``used`` must admit the total requests of all the workloads' pods."""
    from lwssim.model.quantity import QuantityError, resource_amount

    checks = []
    for q in quotas:
        name = (q.get("metadata") or {}).get("name", "")
        hard = (q.get("spec") or {}).get("hard") or {}
        used = (q.get("status") or {}).get("used") or {}
        short, shortfalls, raise_to = [], [], []
        for key, limit in sorted(hard.items()):
            resource = key.removeprefix("requests.")
            if key in ("pods", "count/pods"):
                need, resource = pods, PODS
            elif key.startswith("requests.") or resource in ("cpu", "memory"):
                need = w_requests.get(resource, 0)
            else:
                continue
            try:
                cap = resource_amount(resource, limit)
                spent = resource_amount(resource, used.get(key, 0))
            except QuantityError:
                continue
            left = cap - spent
            if need > left:
                short.append(
                    f"{key}: the {pods} pods ask {quantity(resource, need)}, hard {quantity(resource, cap)} "
                    f"− used {quantity(resource, spent)} leaves {quantity(resource, max(left, 0))}"
                )
                raise_to.append(f"{key} to ≥ {quantity(resource, spent + need)}")
                shortfalls.append(
                    Shortfall("ResourceQuota", number(resource, need), number(resource, left), key)
                )
        of = f" of {subject}" if subject else ""
        if short:
            checks.append(
                Check(
                    "resource-quota",
                    FAIL,
                    f"ResourceQuota {name} would refuse pods{of}: {'; '.join(short)}",
                    f"raise {', '.join(raise_to)} in ResourceQuota {name}, or lower replicas/requests",
                    subject,
                    {"quota": name},
                    shortfalls,
                )
            )
        else:
            checks.append(
                Check(
                    "resource-quota",
                    PASS,
                    f"ResourceQuota {name} admits every pod",
                    subject=subject,
                    details={"quota": name},
                )
            )
    return checks


def total_requests(workloads: list[Workload]) -> tuple[dict[str, int], int]:
    """Sum of requests and pod count over every group of every workload (cpu in millicores)."""
    total: dict[str, int] = {}
    pods = 0
    for w in workloads:
        pods += w.lws.size * w.lws.replicas
        for r, amount in _group_requests(w).items():
            total[r] = total.get(r, 0) + amount * w.lws.replicas
    return total, pods


def requirement(key: str, op: str, *values: str) -> Requirement:
    """Shorthand used by tests and callers building selectors."""
    return Requirement(key, op, tuple(values))
