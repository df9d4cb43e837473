"""Nodes and node pools of the simulated cluster."""

from __future__ import annotations

from dataclasses import dataclass, field

from lwssim.model.autoscaling import Autoscaling
from lwssim.model.pod import PodTemplate, Taint


@dataclass(frozen=True)
class TopologyLevel:
    """A generated domain label: node i of a pool gets ``<pool>-<short>-<i // size>`` for ``key``."""

    key: str
    size: int

    @property
    def short(self) -> str:
        """Value stem from the key's last path segment: ``example.com/rack`` → ``rack``."""
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class NodePool:
    name: str
    count: int
    capacity: tuple[tuple[str, int], ...]
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    topology: tuple[TopologyLevel, ...] = ()
    cost_per_node_hour: float | None = None
    # With autoscaling: the pool holds ``min``..``max`` nodes (``count`` is its size at the start).
    min_count: int | None = None
    max_count: int | None = None

    @property
    def autoscaled(self) -> bool:
        return self.max_count is not None


@dataclass(frozen=True)
class Node:
    """One node as the scheduler sees it: allocatable resources, labels, taints, images present."""

    name: str
    allocatable: tuple[tuple[str, int], ...]
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    pool: str = ""
    images: tuple[tuple[str, int], ...] = ()  # (image name, size in bytes) already on the node


@dataclass(frozen=True)
class ExistingPod:
    """A pod already bound in a snapshot: it holds resources and counts for (anti-)affinity."""

    name: str
    namespace: str
    node: str
    template: PodTemplate


@dataclass(frozen=True)
class Cluster:
    pools: tuple[NodePool, ...] = ()
    nodes: tuple[Node, ...] = ()  # pool nodes expanded, followed by NodeList nodes
    existing_pods: tuple[ExistingPod, ...] = ()
    autoscaling: Autoscaling = field(default_factory=Autoscaling)

    def pool(self, name: str) -> NodePool | None:
        return next((p for p in self.pools if p.name == name), None)


def expand_pool(pool: NodePool, first: int = 0, stop: int | None = None) -> list[Node]:
    """Nodes ``<pool>-<i>`` for i in [first, stop) (default: the pool's ``count``), each with the pool's
    labels plus hostname and generated topology labels."""
    nodes = []
    for i in range(first, pool.count if stop is None else stop):
        name = f"{pool.name}-{i}"
        labels = dict(pool.labels)
        labels.setdefault("kubernetes.io/hostname", name)
        for level in pool.topology:
            labels[level.key] = f"{pool.name}-{level.short}-{i // level.size}"
        nodes.append(
            Node(
                name=name,
                allocatable=pool.capacity,
                labels=tuple(sorted(labels.items())),
                taints=pool.taints,
                pool=pool.name,
            )
        )
    return nodes


def node_of_pool(pool: NodePool, name: str) -> tuple[tuple[str, str], ...]:
    """The labels a new node ``name`` of ``pool`` carries (an autoscaled node: no topology levels)."""
    labels = dict(pool.labels)
    labels.setdefault("kubernetes.io/hostname", name)
    return tuple(sorted(labels.items()))
