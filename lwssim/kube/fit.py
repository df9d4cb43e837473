"""Why one pod fits no node of a snapshot: kube-scheduler's filter pass, in its words and in numbers.

The simulator's own scheduling cycle runs (``lwssim/engine/scheduling/cycle.py``: the default profile's
NodeUnschedulable, TaintToleration, NodeAffinity and NodeResourcesFit, in profile order), so the FitError
preflight prints is the one the pod's FailedScheduling event would carry, and each node is counted under
the first filter it fails, as kube-scheduler counts it. Preflight reads the verdict per reason: which
nodes, and for NodeResourcesFit how much the nodes passing the other filters allocate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.cache import PodShape, SchedulerCache
from lwssim.engine.scheduling.cycle import SchedulingCycle
from lwssim.engine.scheduling.fiterror import NO_NODES_AVAILABLE, Diagnosis, filter_message
from lwssim.engine.scheduling.profile import F_FIT, PLUGIN_OF_STAGE, REASON_OF_STAGE
from lwssim.engine.scheduling.ties import TieBreak
from lwssim.model.cluster import Node
from lwssim.model.pod import PodTemplate

RESOURCES_FIT = PLUGIN_OF_STAGE[F_FIT]


@dataclass(frozen=True)
class Rejection:
    """One entry of the FitError histogram: the reason, the plugin that gave it, the nodes it counts;
    ``resource`` for NodeResourcesFit's "Insufficient <resource>"."""

    reason: str
    plugin: str
    nodes: tuple[str, ...]
    resource: str = ""


@dataclass(frozen=True)
class NoFit:
    """The pod fits no node: the FitError's filter sentence, its histogram entries, and the nodes that
    pass every filter but NodeResourcesFit (the "matching" nodes whose sizes preflight reports)."""

    message: str
    rejections: tuple[Rejection, ...]
    matching: tuple[str, ...]


def natural(name: str) -> tuple:
    """Sort key putting gpu-2 before gpu-10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def sorted_names(names: list[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=natural))


def _shape(template: PodTemplate, nodes: list[Node]) -> tuple[NodeTable, SchedulerCache, Pod, PodShape]:
    """The scheduler's cache on ``nodes`` and the shape of one pod of ``template``: its static filters
    (NodeUnschedulable, TaintToleration, NodeAffinity) evaluated on every node."""
    table = NodeTable(nodes)
    cache = SchedulerCache(table, "LeastAllocated")
    pod = Pod("Pod", "preflight", "default", template=template)
    return table, cache, pod, cache.shape(pod)


def matching(template: PodTemplate, nodes: list[Node]) -> set[str]:
    """Nodes a pod of ``template`` passes every filter on but NodeResourcesFit (labels, taints,
    schedulability): where it may go once there is room."""
    if not nodes:
        return set()
    table, _, _, shape = _shape(template, nodes)
    return {name for name, stage in zip(table.names, shape.stage.tolist(), strict=True) if stage == 0}


def filter_pass(template: PodTemplate, nodes: list[Node]) -> NoFit | None:
    """kube-scheduler's filters for one pod of ``template`` on ``nodes`` as they are (allocatable, no
    pods): None when some node passes them all, else why none does. Inter-pod affinity is left out: on
    empty nodes it has no pods to match."""
    if not nodes:
        return NoFit(f"0/0 nodes are available: {NO_NODES_AVAILABLE}.", (), ())
    table, cache, pod, shape = _shape(template, nodes)
    cycle = SchedulingCycle(table, cache, TieBreak(np.random.default_rng(0)))
    found = cycle.find_nodes_that_fit(pod, shape, inter_pod=False)
    if not isinstance(found, Diagnosis):
        return None
    if shape.conflict:  # NodeAffinity PreFilter: the required terms pin no node name at all
        found.pre_filter_msg = P.REASON_TERMS_CONFLICT
    names = np.array(table.names)
    rejections = [
        Rejection(reason, PLUGIN_OF_STAGE[code], sorted_names(names[found.stage == code].tolist()))
        for code, reason in REASON_OF_STAGE.items()
        if (found.stage == code).any()
    ]
    fit_rows = found.stage == F_FIT
    short_of, _ = P.fit_failures(table, shape.req)  # the nodes lacking each resource, for their names
    lacking = [(table.resources[col], short & fit_rows) for col, short in short_of]
    lacking += [(resource, fit_rows) for resource in found.unknown]
    for resource, rows in lacking:
        if rows.any():
            rejections.append(
                Rejection(P.fit_reason(resource), RESOURCES_FIT, sorted_names(names[rows].tolist()), resource)
            )
    rejections.sort(key=lambda r: r.reason)
    return NoFit(
        filter_message(len(table), found, table.resources),
        tuple(rejections),
        sorted_names(names[fit_rows].tolist()),
    )
