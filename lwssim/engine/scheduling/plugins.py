"""kube-scheduler's default-profile plugins, each one vectorised pass over all nodes.

Filters return a boolean mask of nodes that pass; the framework records the first failing filter
per node, as the framework does (filters run in profile order and stop at the first failure,
``pkg/scheduler/framework/runtime/framework.go RunFilterPlugins``). Reasons are kube-scheduler's
own strings so users recognise them.
"""

from __future__ import annotations

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.scheduling.podindex import PodIndex
from lwssim.model.pod import NodeSelectorTerm, PodAffinityTerm, PodTemplate, Requirement, Taint, Toleration

# Reasons (pkg/scheduler/framework/plugins/*): first failing filter in profile order decides a node.
REASON_UNSCHEDULABLE = "node(s) were unschedulable"  # nodeunschedulable.ErrReasonUnschedulable
REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"  # nodeaffinity.ErrReasonPod
REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules"  # interpodaffinity
REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_TOO_MANY_PODS = "Too many pods"

UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")

REASON_PREFILTERED = "node(s) didn't satisfy plugin(s) [NodeAffinity]"  # schedule_one.go SetAbsentNodesStatus
REASON_TERMS_CONFLICT = "pod affinity terms conflict"  # nodeaffinity errReasonConflict


# tainttoleration (v1.34): the taint itself is only logged, never put in the message.
REASON_TAINT = "node(s) had untolerated taint(s)"


def untolerated(
    taints: tuple[Taint, ...],
    tolerations: tuple[Toleration, ...],
    effects: tuple[str, ...] = ("NoSchedule", "NoExecute"),
) -> Taint | None:
    """First taint with one of ``effects`` no toleration tolerates (FindMatchingUntoleratedTaint)."""
    for taint in taints:
        if taint.effect in effects and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


# -- static filters: depend only on the pod's spec and the nodes' labels/taints -------------------


def unschedulable_mask(nodes: NodeTable, template: PodTemplate) -> np.ndarray:
    """NodeUnschedulable: cordoned nodes pass only pods tolerating node.kubernetes.io/unschedulable."""
    if any(t.tolerates(UNSCHEDULABLE_TAINT) for t in template.tolerations):
        return np.ones(len(nodes), dtype=bool)
    return ~nodes.unschedulable


def taint_mask(nodes: NodeTable, template: PodTemplate) -> np.ndarray:
    """TaintToleration: nodes whose NoSchedule/NoExecute taints the pod all tolerates."""
    per_sig = np.array(
        [untolerated(taints, template.tolerations) is None for taints in nodes.taint_sig_list], dtype=bool
    )
    return per_sig[nodes.taint_sig]


def _requirement_mask(nodes: NodeTable, req: Requirement) -> np.ndarray:
    col = nodes.label_column(req.key)
    if col is None:  # no node has the key: only NotIn and DoesNotExist match
        return np.full(len(nodes), req.operator in ("NotIn", "DoesNotExist"), dtype=bool)
    return col.matches(req)


def _term_mask(nodes: NodeTable, term: NodeSelectorTerm) -> np.ndarray:
    """A node selector term; a term with no requirements matches no node (corev1 nodeaffinity)."""
    if not term.match_expressions and not term.match_fields:
        return np.zeros(len(nodes), dtype=bool)
    mask = np.ones(len(nodes), dtype=bool)
    for req in term.match_expressions:
        mask &= _requirement_mask(nodes, req)
    for req in term.match_fields:  # metadata.name is the only supported field
        names = np.array([req.matches({"metadata.name": name}) for name in nodes.names], dtype=bool)
        mask &= names
    return mask


def prefilter_node_names(template: PodTemplate) -> set[str] | None:
    """NodeAffinity PreFilter: the node names required terms pin with ``metadata.name In``.

    None when some term has no such field (terms are ORed, so every node stays eligible); an empty set
    when the terms conflict (node_affinity.go PreFilter).
    """
    names: set[str] | None = None
    for term in template.required_node_terms:
        term_names: set[str] | None = None
        for req in term.match_fields:
            if req.key == "metadata.name" and req.operator == "In":
                term_names = set(req.values) if term_names is None else term_names & set(req.values)
        if term_names is None:
            return None
        names = term_names if names is None else names | term_names
    return names


def node_affinity_mask(
    nodes: NodeTable, template: PodTemplate, extra_selector: tuple[tuple[str, str], ...]
) -> np.ndarray:
    """NodeAffinity: nodeSelector (all pairs) AND any of the required node selector terms."""
    mask = np.ones(len(nodes), dtype=bool)
    for key, value in template.node_selector + extra_selector:
        col = nodes.label_column(key)
        if col is None:
            return np.zeros(len(nodes), dtype=bool)
        mask &= col.codes == col.lookup(value)
    if template.required_node_terms:
        any_term = np.zeros(len(nodes), dtype=bool)
        for term in template.required_node_terms:
            any_term |= _term_mask(nodes, term)
        mask &= any_term
    return mask


def unschedulable_at(nodes: NodeTable, template: PodTemplate, i: int) -> bool:
    """``unschedulable_mask`` of node ``i`` alone (a node's schedulability changed)."""
    return not nodes.unschedulable[i] or any(t.tolerates(UNSCHEDULABLE_TAINT) for t in template.tolerations)


def taint_at(nodes: NodeTable, template: PodTemplate, i: int) -> bool:
    """``taint_mask`` of node ``i`` alone (a node's taints changed)."""
    return untolerated(nodes.taints(i), template.tolerations) is None


def has_prefer_no_schedule(nodes: NodeTable, i: int) -> bool:
    return any(t.effect == "PreferNoSchedule" for t in nodes.taints(i))


def preferred_node_affinity_score(nodes: NodeTable, template: PodTemplate) -> np.ndarray | None:
    """NodeAffinity score: sum of weights of matching preferred terms, normalised to 0–100."""
    if not template.preferred_node_terms:
        return None
    score = np.zeros(len(nodes), dtype=np.int64)
    for pref in template.preferred_node_terms:
        score += pref.weight * _term_mask(nodes, pref.term)
    top = score.max()
    return score * 100 // top if top > 0 else score


def prefer_no_schedule_score(nodes: NodeTable, template: PodTemplate) -> np.ndarray | None:
    """TaintToleration score: fewer intolerable PreferNoSchedule taints is better (reverse-normalised)."""
    counts = np.array(
        [
            sum(
                1
                for t in taints
                if t.effect == "PreferNoSchedule"
                and not any(tol.tolerates(t) for tol in template.tolerations)
            )
            for taints in nodes.taint_sig_list
        ],
        dtype=np.int64,
    )
    if counts.max(initial=0) == 0:
        return None
    per_node = counts[nodes.taint_sig]
    top = per_node.max()
    return 100 - per_node * 100 // top


# -- dynamic filters ------------------------------------------------------------------------------


def fit_failures(
    nodes: NodeTable, req: np.ndarray, held: np.ndarray | None = None
) -> tuple[list[tuple[int, np.ndarray]], np.ndarray]:
    """NodeResourcesFit: per requested resource, (column, nodes lacking it), and the nodes where a
    lacking resource exceeds the node's whole allocatable. ``held``: requests that count as used on top
    of the nodes' own (pods nominated there), one row per resource.

    Only resources the pod requests are checked; the ``pods`` column checks the pod count, which is
    never unresolvable (noderesources.fitsRequest). Unresolvable nodes are ones preemption cannot help.
    """
    lacking = []
    over = np.zeros(len(nodes), dtype=bool)
    pods_col = nodes.res_index.get("pods", -1)
    for col in np.flatnonzero(req > 0):
        free = nodes.free_by_res[col] if held is None else nodes.free_by_res[col] - held[col]
        short = free < req[col]
        if short.any():
            lacking.append((int(col), short))
            if col != pods_col:
                over |= nodes.alloc_by_res[col] < req[col]
    return lacking, over


def fit_reason(resource: str) -> str:
    return REASON_TOO_MANY_PODS if resource == "pods" else f"Insufficient {resource}"


def pod_affinity_masks(
    nodes: NodeTable,
    index: PodIndex,
    namespace: str,
    labels: dict[str, str],
    affinity: tuple[PodAffinityTerm, ...],
    anti_affinity: tuple[PodAffinityTerm, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """InterPodAffinity filter: (affinity ok, anti-affinity ok, existing pods' anti-affinity ok).

    Domains are values of the term's topology key; a node without the key fails an affinity term.
    A pod whose affinity matches no pod anywhere may still land if it matches its own terms: the
    first pod of a series (interpodaffinity.satisfyPodAffinity).
    """
    n = len(nodes)
    affinity_ok = np.ones(n, dtype=bool)
    if affinity:
        all_have_keys = np.ones(n, dtype=bool)
        pods_exist = np.ones(n, dtype=bool)
        any_match = False
        for term in affinity:
            topo = nodes.label_codes(term.topology_key)
            all_have_keys &= topo >= 0
            slots = index.matching(term.selector, term.namespaces or (namespace,))
            domains = _domains(topo, index.node[slots])
            any_match = any_match or len(domains) > 0
            pods_exist &= np.isin(topo, domains) & (topo >= 0)
        if not any_match and all(t.selector.matches(labels) for t in affinity):
            affinity_ok = all_have_keys
        else:
            affinity_ok = pods_exist & all_have_keys
    anti_ok = np.ones(n, dtype=bool)
    for term in anti_affinity:
        topo = nodes.label_codes(term.topology_key)
        slots = index.matching(term.selector, term.namespaces or (namespace,))
        domains = _domains(topo, index.node[slots])
        if len(domains):
            anti_ok &= ~(np.isin(topo, domains) & (topo >= 0))
    existing_ok = np.ones(n, dtype=bool)
    for topology_key, slots in index.existing_anti_affinity_slots(labels, namespace):
        topo = nodes.label_codes(topology_key)
        domains = _domains(topo, index.node[slots])
        if len(domains):
            existing_ok &= ~(np.isin(topo, domains) & (topo >= 0))
    return affinity_ok, anti_ok, existing_ok


def _domains(topo: np.ndarray, node_idx: np.ndarray) -> np.ndarray:
    """Distinct topology values (codes >= 0) of the given nodes."""
    if len(node_idx) == 0:
        return np.zeros(0, dtype=np.int32)
    codes = topo[node_idx[node_idx >= 0]]
    return np.unique(codes[codes >= 0])


# -- scores ---------------------------------------------------------------------------------------


def resource_score(nodes: NodeTable, idx: np.ndarray, nonzero: tuple[int, int], strategy: str) -> np.ndarray:
    """NodeResourcesFit score over cpu and memory, weight 1 each, integer maths as in Go.

    LeastAllocated: (allocatable − requested)·100 / allocatable; MostAllocated: requested·100 /
    allocatable; requested counts the node's non-zero requests plus this pod's; resources a node
    does not have are left out of its average (least_allocated.go, most_allocated.go).
    """
    total = np.zeros(len(idx), dtype=np.int64)
    weight = np.zeros(len(idx), dtype=np.int64)
    for col, used, pod in (
        (nodes.cpu_col, nodes.used_nz_cpu, nonzero[0]),
        (nodes.mem_col, nodes.used_nz_mem, nonzero[1]),
    ):
        alloc = nodes.alloc_by_res[col][idx]
        requested = used[idx] + pod
        has = alloc > 0
        safe = np.where(has, alloc, 1)
        if strategy == "MostAllocated":
            per = np.minimum(requested, alloc) * 100 // safe
        else:
            per = np.where(requested <= alloc, (alloc - requested) * 100 // safe, 0)
        total += np.where(has, per, 0)
        weight += has
    return total // np.maximum(weight, 1)


def balanced_allocation_score(
    nodes: NodeTable, idx: np.ndarray, requests: tuple[int, int]
) -> np.ndarray | None:
    """NodeResourcesBalancedAllocation: (1 − std of cpu and memory fractions) · 100, over actual requests
    (useRequested); skipped for pods that request neither (balanced_allocation.go PreScore)."""
    if requests == (0, 0):
        return None
    fractions = []
    for col, pod in ((nodes.cpu_col, requests[0]), (nodes.mem_col, requests[1])):
        alloc = nodes.alloc_by_res[col][idx].astype(np.float64)
        requested = nodes.alloc_by_res[col][idx] - nodes.free_by_res[col][idx] + pod
        fractions.append(
            np.minimum(np.divide(requested, alloc, out=np.ones_like(alloc), where=alloc > 0), 1.0)
        )
    std = np.abs(fractions[0] - fractions[1]) / 2
    return ((1 - std) * 100).astype(np.int64)


MIN_IMAGE_THRESHOLD = 23 * 1024 * 1024  # imagelocality.minThreshold
MAX_CONTAINER_THRESHOLD = 1000 * 1024 * 1024  # imagelocality.maxContainerThreshold
DEFAULT_IMAGE_SIZE = 15 * 10**9  # serving images are 10–20 GB (docs/defaults.md, BentoML)


def image_locality_score(
    nodes: NodeTable, idx: np.ndarray, images: tuple[str, ...], containers: int
) -> np.ndarray | None:
    """ImageLocality: image size scaled by the share of nodes holding it, clamped and normalised."""
    present = [(img, nodes.images[img]) for img in images if img in nodes.images]
    if not present:
        return None
    total = np.zeros(len(idx), dtype=np.float64)
    for img, arr in present:
        spread = nodes.image_nodes[img] / max(nodes.present_count, 1)
        total += arr[idx] * nodes.image_sizes.get(img, DEFAULT_IMAGE_SIZE) * spread
    max_threshold = MAX_CONTAINER_THRESHOLD * max(containers, 1)
    clamped = np.clip(total, MIN_IMAGE_THRESHOLD, max_threshold)
    return ((clamped - MIN_IMAGE_THRESHOLD) * 100 // (max_threshold - MIN_IMAGE_THRESHOLD)).astype(np.int64)


# -- the same scores for one node at a time -----------------------------------------------------
# A scheduling cycle on a busy cluster scores a handful of nodes, where a NumPy call costs more than
# the arithmetic. These repeat the vectorised scorers above with the same integer and float steps,
# so they are equal bit for bit (tests/test_scheduler_feasible.py compares them).


def resource_score_at(nodes: NodeTable, i: int, nonzero: tuple[int, int], most: bool) -> int:
    """``resource_score`` of node ``i`` alone (``most``: the MostAllocated strategy)."""
    a_cpu, a_mem = nodes.alloc_cpu.item(i), nodes.alloc_mem.item(i)
    total = weight = 0
    if a_cpu > 0:
        requested = nodes.used_nz_cpu.item(i) + nonzero[0]
        weight = 1
        if most:
            total = min(requested, a_cpu) * 100 // a_cpu
        elif requested <= a_cpu:
            total = (a_cpu - requested) * 100 // a_cpu
    if a_mem > 0:
        requested = nodes.used_nz_mem.item(i) + nonzero[1]
        weight += 1
        if most:
            total += min(requested, a_mem) * 100 // a_mem
        elif requested <= a_mem:
            total += (a_mem - requested) * 100 // a_mem
    return total // weight if weight else 0


def balanced_allocation_score_at(nodes: NodeTable, i: int, requests: tuple[int, int]) -> int:
    """``balanced_allocation_score`` of node ``i`` alone; 0 where the pass skips the pod."""
    if requests == (0, 0):
        return 0
    a_cpu, a_mem = nodes.alloc_cpu.item(i), nodes.alloc_mem.item(i)
    f_cpu = min(float(a_cpu - nodes.free_cpu.item(i) + requests[0]) / float(a_cpu), 1.0) if a_cpu > 0 else 1.0
    f_mem = min(float(a_mem - nodes.free_mem.item(i) + requests[1]) / float(a_mem), 1.0) if a_mem > 0 else 1.0
    return int((1 - abs(f_cpu - f_mem) / 2) * 100)


def image_weighted_sizes(nodes: NodeTable, images: tuple[str, ...]) -> list[tuple[np.ndarray, float]]:
    """Per image present on some node: its node mask and its size × the share of nodes holding it."""
    return [
        (
            nodes.images[img],
            nodes.image_sizes.get(img, DEFAULT_IMAGE_SIZE)
            * (nodes.image_nodes[img] / max(nodes.present_count, 1)),
        )
        for img in images
        if img in nodes.images
    ]


def image_locality(held: float, containers: int) -> int:
    """ImageLocality's clamp and normalisation of a node's summed weighted sizes, as
    ``image_locality_score`` computes them."""
    max_threshold = MAX_CONTAINER_THRESHOLD * max(containers, 1)
    clamped = min(max(held, MIN_IMAGE_THRESHOLD), max_threshold)
    return int((clamped - MIN_IMAGE_THRESHOLD) * 100 // (max_threshold - MIN_IMAGE_THRESHOLD))
