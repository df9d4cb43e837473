"""kube-scheduler's default profile as one table: a record per plugin the simulator models.

The profile is ``getDefaultPlugins`` (kubernetes v1.34 ``pkg/scheduler/apis/config/v1/default_plugins.go``):
a MultiPoint list whose order is the order filters run in and whose weights scale the scores. Each record
says what the plugin does at each extension point it implements here: the filter (a mask over all nodes)
and the FitError reason of each status it returns, the score and its weight, and the cluster events it
registers for requeueing (``EventsToRegister`` of each plugin under ``pkg/scheduler/framework/plugins/``,
with the SchedulerQueueingHints gate on, as in v1.34). The filter pass, the FitError histogram, the
preemption dry run's verdict and both scoring paths read this table.

Not modelled (LWS GPU pods use none of them for placement): SchedulingGates (PreEnqueue: the queue's
hook), PrioritySort (the queue orders by priority itself), NodeName, NodePorts, the volume plugins,
PodTopologySpread's system-default scoring, InterPodAffinity's preferred-term scoring, DefaultBinder.
DefaultPreemption is the PostFilter hook of the scheduling cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.scheduling import plugins as P
from lwssim.model.pod import PodTemplate

Selector = tuple[tuple[str, str], ...]
# A filter over node labels, taints or schedulability: the mask of nodes that pass, for one pod shape.
NodeFilter = Callable[[NodeTable, PodTemplate, Selector], np.ndarray]
# The same filter on one node, where a node's taints or schedulability change during a run (None for a
# filter over labels, which stay fixed: its mask is kept).
NodeFilterAt = Callable[[NodeTable, PodTemplate, int], bool]

# Filter statuses: the code a node gets from the first filter it fails, in profile order (0 = passed).
# F_PREFILTERED: a node a PreFilterResult left out (NodeAffinity on metadata.name), never filtered at all.
# F_ABSENT: a spare row of the node table, no node yet (autoscaling): kube-scheduler does not know it, so it
# is in no count, histogram or candidate list.
(
    OK,
    F_UNSCHEDULABLE,
    F_TAINT,
    F_NODE_AFFINITY,
    F_FIT,
    F_POD_AFFINITY,
    F_ANTI,
    F_EXISTING_ANTI,
    F_PREFILTERED,
    F_ABSENT,
) = range(10)

# Cluster events (``fwk.ClusterEvent``: resource/action type), as the simulator's events produce them.
NODE_ADD = "Node/Add"
NODE_TAINT = "Node/UpdateNodeTaint"  # taints and spec.unschedulable
NODE_LABEL = "Node/UpdateNodeLabel"
NODE_ALLOCATABLE = "Node/UpdateNodeAllocatable"
ASSIGNED_POD_ADD = "AssignedPod/Add"
ASSIGNED_POD_LABEL = "AssignedPod/UpdatePodLabel"
ASSIGNED_POD_DELETE = "AssignedPod/Delete"
POD_TOLERATION = "Pod/UpdatePodToleration"
# The queue's key for pods InterPodAffinity rejected for their own affinity terms: the ones its
# AssignedPod/Add hint may requeue (a bound pod matching all the pending pod's terms).
AFFINITY_REJECTION = "InterPodAffinity/affinity"


@dataclass(frozen=True)
class Rejection:
    """One Unschedulable status a filter returns: its code, its reason in the FitError histogram, and
    whether it is UnschedulableAndUnresolvable (preemption cannot help, ``preemption.go``)."""

    code: int
    reason: str
    unresolvable: bool


@dataclass(frozen=True)
class Plugin:
    """One plugin of the profile. ``filter`` is set for filters over node labels, taints and
    schedulability, which the cache evaluates once per pod shape; NodeResourcesFit and InterPodAffinity
    filter over what pods hold, so the scheduling cycle runs them (``rejections`` still name their
    statuses). ``weight`` scales the plugin's score in both scoring paths (``scoring.py``), which call the
    scorer named in ``score`` directly, and its one-node form, rather than through this record (a call
    through a record field costs on the hot path). ``events`` records the plugin's ``EventsToRegister``;
    the queue's requeueing hints are written out in ``framework.py``, not derived from it, and do not
    follow these registrations exactly (a taint change requeues every parked pod)."""

    name: str
    filter: NodeFilter | None = None
    filter_at: NodeFilterAt | None = None
    rejections: tuple[Rejection, ...] = ()
    score: Callable[..., np.ndarray | None] | None = None
    weight: int = 0
    events: tuple[str, ...] = ()


def _unschedulable(nodes: NodeTable, template: PodTemplate, selector: Selector) -> np.ndarray:
    return P.unschedulable_mask(nodes, template)


def _taints(nodes: NodeTable, template: PodTemplate, selector: Selector) -> np.ndarray:
    return P.taint_mask(nodes, template)


NODE_UNSCHEDULABLE = Plugin(
    "NodeUnschedulable",
    filter=_unschedulable,
    filter_at=P.unschedulable_at,
    rejections=(Rejection(F_UNSCHEDULABLE, P.REASON_UNSCHEDULABLE, True),),
    events=(NODE_ADD, NODE_TAINT, POD_TOLERATION),
)
TAINT_TOLERATION = Plugin(
    "TaintToleration",
    filter=_taints,
    filter_at=P.taint_at,
    rejections=(Rejection(F_TAINT, P.REASON_TAINT, True),),
    score=P.prefer_no_schedule_score,
    weight=3,
    events=(NODE_ADD, NODE_TAINT, POD_TOLERATION),
)
NODE_AFFINITY = Plugin(
    "NodeAffinity",
    filter=P.node_affinity_mask,
    rejections=(
        Rejection(F_NODE_AFFINITY, P.REASON_NODE_AFFINITY, True),
        Rejection(F_PREFILTERED, P.REASON_PREFILTERED, True),  # PreFilterResult: nodes left out
    ),
    score=P.preferred_node_affinity_score,
    weight=2,
    events=(NODE_ADD, NODE_LABEL),
)
NODE_RESOURCES_FIT = Plugin(
    "NodeResourcesFit",
    # one status per lacking resource (fit_reason); unresolvable only above a node's whole allocatable
    rejections=(Rejection(F_FIT, "Insufficient <resource>", False),),
    score=P.resource_score,
    weight=1,
    events=(ASSIGNED_POD_DELETE, NODE_ADD, NODE_ALLOCATABLE),
)
INTER_POD_AFFINITY = Plugin(
    "InterPodAffinity",
    rejections=(
        Rejection(F_POD_AFFINITY, P.REASON_POD_AFFINITY, True),
        Rejection(F_ANTI, P.REASON_POD_ANTI_AFFINITY, False),
        Rejection(F_EXISTING_ANTI, P.REASON_EXISTING_ANTI_AFFINITY, False),
    ),
    events=(ASSIGNED_POD_ADD, ASSIGNED_POD_LABEL, ASSIGNED_POD_DELETE, NODE_ADD, NODE_LABEL),
)
BALANCED_ALLOCATION = Plugin("NodeResourcesBalancedAllocation", score=P.balanced_allocation_score, weight=1)
IMAGE_LOCALITY = Plugin("ImageLocality", score=P.image_locality_score, weight=1)

# The default profile's plugins that the simulator models, in getDefaultPlugins order.
DEFAULT_PROFILE: tuple[Plugin, ...] = (
    NODE_UNSCHEDULABLE,
    TAINT_TOLERATION,
    NODE_AFFINITY,
    NODE_RESOURCES_FIT,
    INTER_POD_AFFINITY,
    BALANCED_ALLOCATION,
    IMAGE_LOCALITY,
)

# Views of the table, read on every scheduling cycle.
STATIC_FILTERS: tuple[Plugin, ...] = tuple(p for p in DEFAULT_PROFILE if p.filter is not None)
REJECTIONS: tuple[Rejection, ...] = tuple(r for p in DEFAULT_PROFILE for r in p.rejections)
PLUGIN_OF_STAGE: dict[int, str] = {r.code: p.name for p in DEFAULT_PROFILE for r in p.rejections}
REASON_OF_STAGE: dict[int, str] = {r.code: r.reason for r in REJECTIONS if r.code != F_FIT}
UNRESOLVABLE_STAGES: tuple[int, ...] = tuple(r.code for r in REJECTIONS if r.unresolvable)
STAGES = F_ABSENT + 1  # how many filter statuses there are (codes 0 .. STAGES - 1)
# Per filter status: whether preemption cannot help there (a lookup instead of np.isin): the
# UnschedulableAndUnresolvable statuses, and rows with no node.
UNRESOLVABLE_OF_STAGE = np.isin(np.arange(STAGES), (*UNRESOLVABLE_STAGES, F_ABSENT))
