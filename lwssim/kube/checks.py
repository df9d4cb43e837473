"""Preflight checks that need only the manifests and a snapshot: pure functions, unit-tested.

Each returns :class:`Check` results (pass / warn / fail, with the fix). The rules are the ones the
cluster applies later, so a fail here is a pod that would stay Pending or never be created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lwssim.errors import InputError
from lwssim.manifests.lws import check_name_fits_pod_labels
from lwssim.manifests.where import Where
from lwssim.model.cluster import ExistingPod, Node
from lwssim.model.lws import Workload
from lwssim.model.pod import NodeSelectorTerm, PodTemplate, Requirement

PASS, WARN, FAIL = "pass", "warn", "fail"
ALWAYS_PRESENT = ("cpu", "memory", "pods", "ephemeral-storage")


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    message: str
    fix: str = ""
    subject: str = ""  # the workload or object the check is about ("" = cluster)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "message": self.message}
        if self.subject:
            out["subject"] = self.subject
        if self.fix:
            out["fix"] = self.fix
        if self.details:
            out["details"] = self.details
        return out


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


def name_length(doc: dict, subject: str) -> Check:
    """Worker pods carry labels derived from the LWS name; over 63 characters they are never created."""
    shape = lws_shape(doc)
    if shape is None:
        return Check("lws-name-length", PASS, "no LeaderWorkerSet is created", subject=subject)
    name, replicas, size = shape
    try:
        check_name_fits_pod_labels(Where(""), name, replicas, size)
    except InputError as exc:
        return Check("lws-name-length", FAIL, exc.message, "shorten metadata.name", subject)
    return Check(
        "lws-name-length", PASS, f'"{name}" fits the 63-character label limit of its pods', subject=subject
    )


def max_unavailable_trap(doc: dict, subject: str, lws_version: tuple[int, int, int]) -> Check:
    """lws#776: LWS < v0.9 copies maxUnavailable 0 into the leader StatefulSet, which the apiserver rejects
    ("cannot be 0", k8s apps validation) once MaxUnavailableStatefulSet is on (beta from 1.35): no pods.
    The check cannot read the cluster's feature gates, so it fails whenever the trap is armed."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "LeaderWorkerSet":
        cfg = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
    else:
        cfg = spec.get("rolloutStrategy") or {}
        cfg = cfg.get("rollingUpdate") or cfg
    mu = cfg.get("maxUnavailable") if isinstance(cfg, dict) else None
    if mu in (0, "0", "0%") and lws_version < (0, 9, 0):
        return Check(
            "max-unavailable-zero",
            FAIL,
            "maxUnavailable is 0: LWS before v0.9 passes it to the leader StatefulSet, which the API server "
            "rejects when the MaxUnavailableStatefulSet feature is on, so no pod is ever created (lws#776)",
            "set rollingUpdateConfiguration.maxUnavailable to 1 or more (keep maxSurge for surge updates), "
            "or upgrade LWS to v0.9+",
            subject,
        )
    return Check("max-unavailable-zero", PASS, "maxUnavailable is not 0", subject=subject)


# -- placement against the snapshot ----------------------------------------------------------------------


def _term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    labels = dict(node.labels)
    fields = {"metadata.name": node.name}
    return all(r.matches(labels) for r in term.match_expressions) and all(
        r.matches(fields) for r in term.match_fields
    )


def selector_matches(t: PodTemplate, node: Node) -> bool:
    """nodeSelector AND (any required node-affinity term), as NodeAffinity filters."""
    labels = dict(node.labels)
    if any(labels.get(k) != v for k, v in t.node_selector):
        return False
    return not t.required_node_terms or any(_term_matches(term, node) for term in t.required_node_terms)


def tolerated(t: PodTemplate, node: Node) -> bool:
    """TaintToleration: every NoSchedule/NoExecute taint tolerated; unschedulable nodes are out too."""
    if node.unschedulable and not any(
        tol.key == "node.kubernetes.io/unschedulable" or (not tol.key and tol.operator == "Exists")
        for tol in t.tolerations
    ):
        return False
    return all(
        any(tol.tolerates(taint) for tol in t.tolerations)
        for taint in node.taints
        if taint.effect in ("NoSchedule", "NoExecute")
    )


def roles(w: Workload) -> list[tuple[str, PodTemplate, int]]:
    """(role, template, pods per group) of a workload."""
    out = [("leader", w.lws.effective_leader_template, 1)]
    if w.lws.size > 1:
        out.append(("worker", w.lws.worker_template, w.lws.size - 1))
    return out


def resources_exist(w: Workload, nodes: list[Node]) -> Check:
    offered = {r for n in nodes for r, amount in n.allocatable if amount > 0}
    missing = sorted(
        {
            r
            for _, t, _ in roles(w)
            for r, amount in t.requests().items()
            if amount > 0 and r not in offered and r not in ALWAYS_PRESENT
        }
    )
    if missing:
        return Check(
            "resources-exist",
            FAIL,
            f"no node offers {', '.join(missing)}",
            "fix the resource name, or add nodes (or a device plugin) that offer it",
            w.name,
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


def node_match(w: Workload, nodes: list[Node]) -> Check:
    """Some node passes nodeSelector, affinity and taints for each role, and is big enough for one pod."""
    problems = []
    for role, t, _ in roles(w):
        sel = [n for n in nodes if selector_matches(t, n)]
        tol = [n for n in sel if tolerated(t, n)]
        big = [n for n in tol if fits(t.requests(), dict(n.allocatable))]
        if not sel:
            problems.append(f"no node matches the {role} pods' nodeSelector/affinity")
        elif not tol:
            taints = sorted({f"{x.key}={x.value}:{x.effect}" for n in sel for x in n.taints})
            problems.append(
                f"the {role} pods tolerate no taint of the {len(sel)} matching node(s): "
                f"{', '.join(taints[:4])}"
            )
        elif not big:
            problems.append(f"no matching node is large enough for one {role} pod")
    if problems:
        return Check(
            "node-match",
            FAIL,
            "; ".join(problems),
            "change the node selector/affinity/tolerations or the requests to match real nodes",
            w.name,
        )
    return Check(
        "node-match",
        PASS,
        "leader and worker pods match some node (selectors, affinity, taints)",
        subject=w.name,
    )


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
            f'no node has the label "{key}": leaders can never be placed',
            f"label the nodes with {key}, or fix the leaderworkerset.sigs.k8s.io/exclusive-topology "
            "annotation",
            w.name,
        )
    free = _free(nodes, existing)
    domains: dict[str, list[Node]] = {}
    for n in labelled:
        domains.setdefault(dict(n.labels)[key], []).append(n)
    holding = [d for d, members in sorted(domains.items()) if _domain_holds(w, members, free)]
    details = {"key": key, "domains": len(domains), "domainsHoldingAGroup": len(holding)}
    if not holding:
        return Check(
            "exclusive-topology",
            FAIL,
            f'no "{key}" domain has room for a whole group of {w.lws.size} pod(s)',
            "use a larger topology level or smaller groups",
            w.name,
            details,
        )
    if len(holding) < w.lws.replicas:
        return Check(
            "exclusive-topology",
            WARN,
            f'{len(holding)} "{key}" domain(s) can hold a group but {w.lws.replicas} groups are '
            "wanted (one group per domain)",
            "add domains or lower replicas",
            w.name,
            details,
        )
    return Check(
        "exclusive-topology",
        PASS,
        f'{len(holding)} "{key}" domain(s) can hold a group',
        subject=w.name,
        details=details,
    )


def _domain_holds(w: Workload, members: list[Node], free: dict[str, dict[str, int]]) -> bool:
    """First-fit of one group's pods onto the domain's eligible nodes (leader first)."""
    room = {n.name: dict(free[n.name]) for n in members}
    for _, t, count in roles(w):
        eligible = [n.name for n in members if selector_matches(t, n) and tolerated(t, n)]
        req = t.requests()
        for _ in range(count):
            target = next((name for name in eligible if fits(req, room[name])), None)
            if target is None:
                return False
            for r, amount in req.items():
                room[target][r] = room[target].get(r, 0) - amount
            room[target]["pods"] = room[target].get("pods", 0) - 1
    return True


def quota(w_requests: dict[str, int], pods: int, quotas: list[dict]) -> list[Check]:
    """ResourceQuota ``hard`` minus ``used`` must admit the total requests of all the workloads' pods."""
    from lwssim.model.quantity import QuantityError, resource_amount

    checks = []
    for q in quotas:
        name = (q.get("metadata") or {}).get("name", "")
        hard = (q.get("spec") or {}).get("hard") or {}
        used = (q.get("status") or {}).get("used") or {}
        short = []
        for key, limit in sorted(hard.items()):
            resource = key.removeprefix("requests.")
            if key in ("pods", "count/pods"):
                need = pods
            elif key.startswith("requests.") or resource in ("cpu", "memory"):
                need = w_requests.get(resource, 0)
            else:
                continue
            try:
                left = resource_amount(resource, limit) - resource_amount(resource, used.get(key, 0))
            except QuantityError:
                continue
            if need > left:
                short.append(f"{key}: need {need}, {left} left")
        if short:
            checks.append(
                Check(
                    "resource-quota",
                    FAIL,
                    f"ResourceQuota {name} would refuse pods: {'; '.join(short)}",
                    "raise the quota or lower replicas/requests",
                    details={"quota": name},
                )
            )
        else:
            checks.append(
                Check(
                    "resource-quota", PASS, f"ResourceQuota {name} admits every pod", details={"quota": name}
                )
            )
    return checks


def total_requests(workloads: list[Workload]) -> tuple[dict[str, int], int]:
    """Sum of requests and pod count over every group of every workload (cpu in millicores)."""
    total: dict[str, int] = {}
    pods = 0
    for w in workloads:
        for _, t, count in roles(w):
            n = count * w.lws.replicas
            pods += n
            for r, amount in t.requests().items():
                total[r] = total.get(r, 0) + amount * n
    return total, pods


def requirement(key: str, op: str, *values: str) -> Requirement:
    """Shorthand used by tests and callers building selectors."""
    return Requirement(key, op, tuple(values))
