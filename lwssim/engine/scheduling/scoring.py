"""The profile's scores summed with its weights, for every node at once or for a few candidates.

kube-scheduler's ``prioritizeNodes`` (v1.34 ``pkg/scheduler/schedule_one.go``) adds each score plugin's
normalised score times its weight (``RunScorePlugins``). Scores that follow node load
(NodeResourcesFit, NodeResourcesBalancedAllocation) are kept per pod shape for every node and updated
node by node on each bind and release (``fit_scores``, ``fit_score_at``); ImageLocality is added per
candidate (``scores_at``) or per candidate array (``add_static_scores``), with TaintToleration and
NodeAffinity, whose scores depend only on node taints and labels. Weights come from the profile table,
so both paths weigh alike; the one-node forms repeat the vectorised steps exactly (equal bit for bit).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.profile import (
    BALANCED_ALLOCATION,
    IMAGE_LOCALITY,
    NODE_AFFINITY,
    NODE_RESOURCES_FIT,
    TAINT_TOLERATION,
)

FIT_WEIGHT: Final = NODE_RESOURCES_FIT.weight
BALANCED_WEIGHT: Final = BALANCED_ALLOCATION.weight
IMAGE_WEIGHT: Final = IMAGE_LOCALITY.weight
TAINT_WEIGHT: Final = TAINT_TOLERATION.weight
AFFINITY_WEIGHT: Final = NODE_AFFINITY.weight


def fit_scores(
    nodes: NodeTable, nonzero: tuple[int, int], cpu_mem: tuple[int, int], strategy: str
) -> np.ndarray:
    """NodeResourcesFit + BalancedAllocation of every node for one pod shape (one vectorised pass)."""
    idx = np.arange(len(nodes))
    score = FIT_WEIGHT * P.resource_score(nodes, idx, nonzero, strategy)
    balanced = P.balanced_allocation_score(nodes, idx, cpu_mem)
    return score if balanced is None else score + BALANCED_WEIGHT * balanced


def fit_score_at(
    nodes: NodeTable, i: int, nonzero: tuple[int, int], cpu_mem: tuple[int, int], strategy: str
) -> int:
    """``fit_scores`` of node ``i`` alone, with the same integer and float steps (equal bit for bit)."""
    score = FIT_WEIGHT * P.resource_score_at(nodes, i, nonzero, strategy == "MostAllocated")
    return score + BALANCED_WEIGHT * P.balanced_allocation_score_at(nodes, i, cpu_mem)


def add_static_scores(
    score: np.ndarray, idx: np.ndarray, taint_score: np.ndarray | None, affinity_score: np.ndarray | None
) -> np.ndarray:
    """Add the weighted TaintToleration and NodeAffinity scores of nodes ``idx`` (all-node arrays)."""
    if taint_score is not None:
        score = score + TAINT_WEIGHT * taint_score[idx]
    if affinity_score is not None:
        score = score + AFFINITY_WEIGHT * affinity_score[idx]
    return score


def add_static_scores_at(
    scores: list[int],
    candidates: list[int],
    taint_score: np.ndarray | None,
    affinity_score: np.ndarray | None,
) -> list[int]:
    """``add_static_scores`` for a few candidates, one node at a time."""
    for weight, extra in ((TAINT_WEIGHT, taint_score), (AFFINITY_WEIGHT, affinity_score)):
        if extra is not None:
            scores = [s + weight * extra.item(i) for s, i in zip(scores, candidates, strict=True)]
    return scores


def scores_vectorised(
    nodes: NodeTable,
    idx: np.ndarray,
    fit: np.ndarray,
    images: tuple[str, ...],
    containers: int,
    taint_score: np.ndarray | None,
    affinity_score: np.ndarray | None,
) -> np.ndarray:
    """The weighted sum of every score for the candidate nodes ``idx`` (NumPy, for many candidates)."""
    score = fit[idx]
    locality = P.image_locality_score(nodes, idx, images, containers)
    if locality is not None:
        score = score + IMAGE_WEIGHT * locality
    return add_static_scores(score, idx, taint_score, affinity_score)


def scores_at(
    nodes: NodeTable,
    candidates: list[int],
    fit: np.ndarray,
    images: tuple[str, ...],
    containers: int,
    memo: dict[tuple, tuple] | None = None,
) -> list[int]:
    """``fit`` (from ``fit_scores``, kept current) plus weighted ImageLocality for each candidate node.

    ``memo`` keeps the image terms per image set and spread (how many nodes hold each image): they
    change only when a node pulls an image or loses its images."""
    key = (images, containers, tuple(nodes.image_nodes.get(img) for img in images))
    terms = memo.get(key) if memo is not None else None
    if terms is None:
        terms = _image_terms(nodes, images, containers)
        if memo is not None:
            memo[key] = terms
    present, locality = terms
    if not present:
        return [fit.item(i) for i in candidates]
    if len(present) == 1:  # the usual case: the score is one of two values, held or not
        holders, (held, missing) = present[0], locality
        return [fit.item(i) + (held if holders.item(i) else missing) for i in candidates]
    out = []
    for i in candidates:
        total = 0.0
        for arr, weighted in present:
            if arr.item(i):
                total += weighted
        out.append(fit.item(i) + IMAGE_WEIGHT * P.image_locality(total, containers))
    return out


def _image_terms(nodes: NodeTable, images: tuple[str, ...], containers: int) -> tuple:
    """The images present on some node with their weighted sizes; for a single image, its node mask
    and the two weighted scores a node can get (held, not held)."""
    present = P.image_weighted_sizes(nodes, images)
    if len(present) == 1:
        holders, weighted = present[0]
        held = IMAGE_WEIGHT * P.image_locality(0.0 + weighted, containers)
        return [holders], (held, IMAGE_WEIGHT * P.image_locality(0.0, containers))
    return present, None
