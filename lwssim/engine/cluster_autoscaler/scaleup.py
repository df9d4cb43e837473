"""cluster-autoscaler's scale-up: how many nodes each node group would need for the pending pods, and which
group the expander picks.

kubernetes/autoscaler cluster-autoscaler-1.34.5 (docs/autoscaling-semantics.md §3.2):
- ``core/scaleup/orchestrator/orchestrator.go: ScaleUp``: groups at their max or backed off are skipped;
  each other group's ``ComputeExpansionOption`` asks the binpacking estimator
  (``estimator/binpacking_estimator.go``) how many template nodes the pods that pass its predicates
  need, first fit onto the nodes added so far; the expander picks one option; its node count is capped by
  the group's max and ``max-nodes-per-scaleup``. One group per loop (no ``balance-similar-node-groups``).
- Expanders (``expander/``): ``random`` (``random/random.go``); ``least-waste`` (``waste/waste.go``): the
  least (idle cpu / cpu + idle memory / memory) over the new nodes, GPUs not counted, ties to random;
  ``priority`` (``priority/priority.go``): the groups whose name matches a regex of the highest priority,
  ties to random.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lwssim.engine.cluster_autoscaler.clusterstate import NodeGroup
from lwssim.engine.objects import Pod
from lwssim.model.autoscaling import ClusterAutoscalerConfig

Needs = tuple[tuple[int, int], ...]


@dataclass
class Option:
    """``expander.Option``: a group, how many new nodes, the pods they would take."""

    group: NodeGroup
    count: int
    pods: list[Pod]
    requested: np.ndarray  # what those pods request, over the node table's columns


def estimate(
    group: NodeGroup,
    pods: list[tuple[Pod, Needs]],
    capacity: np.ndarray,
    fits_template: Callable[[Pod], bool],
    limit: int,
) -> Option | None:
    """The binpacking estimator: pods that pass the template's predicates, first fit onto new nodes (the
    newest first, then the others), a new node when none has room, at most ``limit`` nodes."""
    rooms: list[list[int]] = []
    taken: list[Pod] = []
    requested = np.zeros_like(capacity)
    for pod, needs in pods:
        if not fits_template(pod) or any(capacity[col] < need for col, need in needs):
            continue
        order = list(range(len(rooms) - 1, -1, -1))
        room = next((rooms[k] for k in order if all(rooms[k][col] >= need for col, need in needs)), None)
        if room is None:
            if len(rooms) >= limit:
                continue
            room = capacity.tolist()
            rooms.append(room)
        for col, need in needs:
            room[col] -= need
            requested[col] += need
        taken.append(pod)
    return Option(group, len(rooms), taken, requested) if rooms else None


def choose(
    options: list[Option],
    config: ClusterAutoscalerConfig,
    capacity_of: Callable[[NodeGroup], np.ndarray],
    cpu_col: int,
    mem_col: int,
    rng: np.random.Generator,
) -> Option:
    """The expander's pick among ``options`` (in node group order)."""
    best = options
    if config.expander == "least-waste":
        scores = []
        for o in options:
            cap = capacity_of(o.group) * o.count
            score = 0.0
            for col in (cpu_col, mem_col):
                if cap[col] > 0:
                    score += (cap[col] - o.requested[col]) / cap[col]
            scores.append(score)
        low = min(scores)
        best = [o for o, s in zip(options, scores, strict=True) if s == low]
    elif config.expander == "priority":

        def priority(o: Option) -> float:
            for p, regexes in config.priorities:  # highest first
                if any(re.search(r, o.group.name) for r in regexes):  # regexp.MatchString
                    return p
            return -np.inf

        top = max(priority(o) for o in options)
        best = [o for o in options if priority(o) == top]
    return best[int(rng.integers(len(best)))] if len(best) > 1 else best[0]
