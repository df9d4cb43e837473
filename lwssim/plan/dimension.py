"""What a plan sizes: one integer of the scenario, the rest kept as it is.

The search (search.py) and where its runs are computed (runs.py, dask_runs.py) know nothing of nodes or
quota: they ask a ``Dimension`` for the range to search (``span``), for the scenario at a size (``apply``,
in the worker processes, so a task carries only the size), and for the words to say a size in. Two
dimensions exist:

- ``PoolNodes``: the node count of one pool (``lwssim plan --pool``), sizes 1, 2, 3, …;
- ``ClusterQueueQuota``: the ``nominalQuota`` of one resource in one flavor of a Kueue ClusterQueue
  (``lwssim plan --cluster-queue``), sizes in whole groups: k × what one group of the workloads queued to it
  requests of the resource.

Both are frozen dataclasses of names only: small to pickle to spawned processes and Dask workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lwssim.engine.kueue.quota import quantity_string
from lwssim.errors import InputError
from lwssim.manifests.limits import MAX_NODES
from lwssim.model.kueue import QUEUE_LABEL, ClusterQueue
from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.model.scenario import Scenario, Workload
from lwssim.plan.levers import Lever, apply_lever, levers_for
from lwssim.plan.variants import find_pool, resource_lower_bound, with_pool_count, with_quota

GPU = "nvidia.com/gpu"
POOL_NODES, CLUSTER_QUEUE_QUOTA = "poolNodes", "clusterQueueQuota"  # CapacityPlan ``dimension``
WARM_NODES = "warmNodes"


@dataclass(frozen=True)
class Span:
    """The sizes a search may simulate: multiples of ``step`` from ``start`` to ``stop`` (both multiples).

    ``lower_bound`` is proven by arithmetic (no smaller size can meet the targets, ``why`` says how);
    ``notes`` say what the range was adjusted for, in words for the plan.
    """

    start: int
    stop: int
    step: int
    lower_bound: int
    why: str
    notes: tuple[str, ...] = ()


class Dimension:
    """One integer of the scenario that a plan sizes (subclasses: PoolNodes, ClusterQueueQuota)."""

    kind: str = ""  # CapacityPlan ``dimension``
    size_key: str = ""  # a candidate's key for its size (``count``, ``quota``)
    thing: str = ""  # what grows, for sentences: "node count", "quota"
    more: str = ""  # "more nodes", "more quota"

    def apply(self, scenario: Scenario, size: int) -> Scenario:
        raise NotImplementedError

    def words(self, size: int) -> str:
        """A size in words: "8 nodes", "a quota of 32 nvidia.com/gpu"."""
        raise NotImplementedError

    def current(self, scenario: Scenario) -> int:
        """The size the scenario itself has."""
        raise NotImplementedError

    def span(self, scenario: Scenario, lo: int | None, hi: int | None) -> Span:
        raise NotImplementedError

    def cost_per_hour(self, scenario: Scenario, size: int) -> float | None:
        return None

    def cost_of_runs(self, scenario: Scenario, size: int, node_hours: list[float]) -> float | None:
        """What a size costs per hour, given the node-hours each of its runs provisioned (an autoscaled
        pool's cost follows its nodes over the run, not its size)."""
        return self.cost_per_hour(scenario, size)

    def levers(self, scenario: Scenario) -> list[Lever]:
        """Scenario changes other than the size to try when no size meets the targets (levers.py)."""
        return []

    def with_lever(self, scenario: Scenario, lever: str) -> Scenario:
        raise NotImplementedError(lever)


@dataclass(frozen=True)
class PoolNodes(Dimension):
    pool: str
    kind = POOL_NODES
    size_key = "count"
    thing = "node count"
    more = "more nodes"

    def apply(self, scenario: Scenario, size: int) -> Scenario:
        return with_pool_count(scenario, self.pool, size)

    def words(self, size: int) -> str:
        return f"{size} node" + ("" if size == 1 else "s")

    def current(self, scenario: Scenario) -> int:
        return find_pool(scenario, self.pool).count

    def span(self, scenario: Scenario, lo: int | None, hi: int | None) -> Span:
        """From the resource lower bound (or --min) to --max (default: twice the pool, within MAX_NODES)."""
        pool = find_pool(scenario, self.pool)
        bound, why = resource_lower_bound(scenario, pool)
        others = sum(n.pool != pool.name for n in scenario.cluster.nodes)
        start = max(bound, 0 if others else 1, lo if lo is not None else 0)
        room = MAX_NODES - others  # the most nodes the pool may have within lwssim's node limit
        if start > room:
            raise _beyond_node_limit(
                scenario, "--min" if start == lo else "--pool", start, pool.name, others, why
            )
        if hi is not None and hi > room:
            raise _beyond_node_limit(scenario, "--max", hi, pool.name, others, "")
        stop = hi if hi is not None else min(max(2 * pool.count, start), room)
        return Span(start, stop, 1, bound, why)

    def cost_per_hour(self, scenario: Scenario, size: int) -> float | None:
        cost = find_pool(scenario, self.pool).cost_per_node_hour
        return None if cost is None else round(cost * size, 2)

    def levers(self, scenario: Scenario) -> list[Lever]:
        return levers_for(scenario, self.pool)

    def with_lever(self, scenario: Scenario, lever: str) -> Scenario:
        return apply_lever(scenario, self.pool, lever)


@dataclass(frozen=True)
class WarmNodes(PoolNodes):
    """The warm minimum of an autoscaled pool (``lwssim plan --pool`` on a pool with ``max``): the pool keeps
    ``min`` = ``count`` = the size and the autoscaler adds the rest up to its ``max``. More warm nodes cost
    more per hour and serve sooner; the plan's rows are that trade-off, costed by the node-hours its runs
    provisioned."""

    kind = WARM_NODES
    thing = "warm node count"
    more = "more warm nodes"

    def apply(self, scenario: Scenario, size: int) -> Scenario:
        return with_pool_count(scenario, self.pool, size, warm=True)

    def words(self, size: int) -> str:
        return f"{size} warm node" + ("" if size == 1 else "s")

    def span(self, scenario: Scenario, lo: int | None, hi: int | None) -> Span:
        """From --min (default 0) to --max (default the pool's max): the autoscaler adds what is missing,
        so no warm count is ruled out by arithmetic."""
        pool = find_pool(scenario, self.pool)
        assert pool.max_count is not None
        if hi is not None and hi > pool.max_count:
            raise InputError(
                scenario.path, "--max", f"{hi} warm nodes is above pool {pool.name}'s max ({pool.max_count})"
            )
        start = lo if lo is not None else 0
        stop = hi if hi is not None else pool.max_count
        if start > stop:
            raise InputError(
                scenario.path, "--min", f"{start} warm nodes is above pool {pool.name}'s max ({stop})"
            )
        return Span(start, stop, 1, 0, "the autoscaler launches the nodes warm capacity lacks")

    def cost_of_runs(self, scenario: Scenario, size: int, node_hours: list[float]) -> float | None:
        cost = find_pool(scenario, self.pool).cost_per_node_hour
        if cost is None or not node_hours:
            return None
        hours = scenario.horizon / 3600
        return round(cost * sum(node_hours) / len(node_hours) / hours, 2)


def pool_dimension(scenario: Scenario, pool: str) -> PoolNodes:
    """``--pool``: the node count of a fixed pool, the warm minimum of one that autoscales."""
    found = find_pool(scenario, pool)
    if found.autoscaled and scenario.cluster.autoscaling.enabled:
        return WarmNodes(pool)
    return PoolNodes(pool)


def _beyond_node_limit(
    scenario: Scenario, option: str, count: int, pool: str, others: int, why: str
) -> InputError:
    """A candidate count the engine is not asked to run (lwssim/manifests/limits.py)."""
    because = f" ({why})" if why else ""
    return InputError(
        scenario.path,
        option,
        f"{count:,} nodes of pool {pool}{because} and {others:,} other nodes are beyond lwssim's limit of "
        f"{MAX_NODES:,} nodes",
    )


@dataclass(frozen=True)
class QueuedGroups:
    """A workload queued to the ClusterQueue: what one of its groups requests of the resource, and the
    most groups it has at once (scale and patch events, surge)."""

    workload: str
    per_group: int
    most: int


@dataclass(frozen=True)
class ClusterQueueQuota(Dimension):
    cluster_queue: str
    flavor: str
    resource: str
    groups: tuple[QueuedGroups, ...] = field(default=(), compare=False)
    kind = CLUSTER_QUEUE_QUOTA
    size_key = "quota"
    thing = "quota"
    more = "more quota"

    def apply(self, scenario: Scenario, size: int) -> Scenario:
        return with_quota(scenario, self.cluster_queue, self.flavor, self.resource, size)

    def amount(self, size: int) -> str:
        """``size`` of the resource as Kueue prints a quantity (``32``, ``500m``, ``64Gi``)."""
        return f"{quantity_string(self.resource, size)} {self.resource}"

    def words(self, size: int) -> str:
        return f"a quota of {self.amount(size)}"

    def current(self, scenario: Scenario) -> int:
        cq = scenario.kueue.cluster_queue(self.cluster_queue)
        assert cq is not None
        return _nominal(cq, self.flavor, self.resource)

    @property
    def step(self) -> int:
        """What the smallest group requests: the quota grows a group at a time."""
        return min(g.per_group for g in self.groups)

    def groups_words(self, size: int) -> str:
        """How many groups a quota admits at once, for sentences: "2 groups of 16 nvidia.com/gpu"."""
        k = size // self.step
        return f"{k} group{'' if k == 1 else 's'} of {self.amount(self.step)}"

    def span(self, scenario: Scenario, lo: int | None, hi: int | None) -> Span:
        """From one group's request (or --min) to --max (default: every group at once), in whole groups."""
        step, notes = self.step, []
        sizes = sorted({g.per_group for g in self.groups})
        if len(sizes) > 1:
            shown = ", ".join(
                f"{g.workload}: {quantity_string(self.resource, g.per_group)}" for g in self.groups
            )
            notes.append(
                f"groups queued to ClusterQueue {self.cluster_queue} request different amounts of "
                f"{self.resource} ({shown}): quotas step by the smallest, "
                f"{quantity_string(self.resource, step)}"
            )
        cq = scenario.kueue.cluster_queue(self.cluster_queue)
        assert cq is not None
        elsewhere = _other_sources(cq, self.flavor, self.resource)
        if elsewhere:
            bound, why = 0, f"groups may be admitted without this quota: {elsewhere}"
            notes.append(f"groups may be admitted below one group's quota: {elsewhere}")
        else:
            bound = step
            smallest = min(self.groups, key=lambda g: (g.per_group, g.workload))
            why = (
                f"a quota below {self.amount(step)} can never admit a group: one group of "
                f"{smallest.workload} requests {self.amount(step)}"
            )
        start = max(bound, _round_up(lo, step) if lo is not None else 0)
        if lo is not None and lo < bound:
            notes.append(
                f"--min {self.amount(lo)} is below what one group needs: starting at {self.amount(start)}"
            )
        elif lo is not None and lo % step:
            notes.append(f"--min {self.amount(lo)} rounded up to whole groups: {self.amount(start)}")
        if hi is not None:
            stop = hi - hi % step
            if hi % step:
                notes.append(f"--max {self.amount(hi)} rounded down to whole groups: {self.amount(stop)}")
        else:
            every = sum(g.per_group * g.most for g in self.groups)  # every group at once, surge included
            stop = _round_up(every, step) if every else _round_up(2 * self.current(scenario), step)
            stop = max(stop, start)
        return Span(start, stop, step, bound, why, tuple(notes))


def _round_up(value: int, step: int) -> int:
    return step * math.ceil(value / step)


def _flavors(cq: ClusterQueue, resource: str) -> list[str]:
    return [f.flavor for g in cq.resource_groups if resource in g.covered_resources for f in g.flavors]


def _nominal(cq: ClusterQueue, flavor: str, resource: str) -> int:
    return next(
        (
            r.nominal
            for g in cq.resource_groups
            for f in g.flavors
            if f.flavor == flavor
            for r in f.resources
            if r.name == resource
        ),
        0,
    )


def _other_sources(cq: ClusterQueue, flavor: str, resource: str) -> str:
    """Where else the queue's groups may get the resource than this flavor's own quota, in words."""
    others = [f for f in _flavors(cq, resource) if f != flavor]
    parts = []
    if others:
        parts.append(f"ClusterQueue {cq.name} also has {resource} in flavor {', '.join(others)}")
    if cq.cohort:
        parts.append(f"ClusterQueue {cq.name} may borrow from cohort {cq.cohort}")
    return "; ".join(parts)


def group_request(spec: LeaderWorkerSetSpec, resource: str) -> int:
    """What one group requests of ``resource``: its leader and its size−1 workers (Kueue's PodSets)."""
    return spec.group_requests().get(resource, 0)


def _max_groups(scenario: Scenario, w: Workload) -> int:
    """The most groups of ``w`` with a Workload at once: the most replicas it asks for, plus maxSurge while
    a patch rolls it (Kueue creates surge Workloads only for an integer maxSurge)."""
    counts = [w.lws.replicas] + [s.replicas for s in scenario.scales if s.workload == w.name]
    patches = [p.lws for p in scenario.patches if p.workload == w.name]
    counts += [spec.replicas for spec in patches]
    surge = max(
        (
            s.rolling_update.max_surge
            for s in [w.lws, *patches]
            if isinstance(s.rolling_update.max_surge, int)
        ),
        default=0,
    )
    return max(counts) + (surge if patches else 0)


def cluster_queue_quota(
    scenario: Scenario, name: str, resource: str | None = None, flavor: str | None = None
) -> ClusterQueueQuota:
    """The quota ``lwssim plan --cluster-queue`` sizes; bad input (exit 2) when it cannot be sized."""
    resource = resource or GPU
    path = scenario.path
    config = scenario.kueue.config
    if not config.manages_lws:
        why = (
            "Kueue is not enabled (spec.controller.kueue.enabled)"
            if not config.enabled
            else "Kueue does not manage LeaderWorkerSets (spec.controller.kueue.integrations.frameworks "
            "lacks leaderworkerset.x-k8s.io/leaderworkerset)"
        )
        raise InputError(
            path, "--cluster-queue", f"{why}: no ClusterQueue admits anything; size a pool with --pool"
        )
    cq = scenario.kueue.cluster_queue(name)
    if cq is None:
        known = ", ".join(q.name for q in scenario.kueue.cluster_queues) or "none"
        raise InputError(path, "--cluster-queue", f'no ClusterQueue named "{name}" (ClusterQueues: {known})')
    flavors = _flavors(cq, resource)
    if not flavors:
        covered = sorted({r for g in cq.resource_groups for r in g.covered_resources})
        raise InputError(
            path,
            "--resource",
            f"ClusterQueue {name} has no quota for {resource} "
            f"(its coveredResources: {', '.join(covered) or 'none'})",
        )
    if flavor is None:
        if len(flavors) > 1:
            raise InputError(
                path,
                "--flavor",
                f"ClusterQueue {name} has {resource} in flavors {', '.join(flavors)}: name one with --flavor",
            )
        flavor = flavors[0]
    elif flavor not in flavors:
        raise InputError(
            path,
            "--flavor",
            f'ClusterQueue {name} has no flavor "{flavor}" for {resource} (flavors: '
            + ", ".join(flavors)
            + ")",
        )
    queued = []
    for w in scenario.workloads:
        local = scenario.kueue.local_queue(w.namespace, dict(w.lws.labels).get(QUEUE_LABEL, ""))
        if local is None or local.cluster_queue != name:
            continue
        queued.append(QueuedGroups(w.name, group_request(w.lws, resource), _max_groups(scenario, w)))
    if not queued:
        locals_ = [f"{q.namespace}/{q.name}" for q in scenario.kueue.local_queues if q.cluster_queue == name]
        raise InputError(
            path,
            "--cluster-queue",
            f"no LeaderWorkerSet of the scenario is queued to ClusterQueue {name} (the {QUEUE_LABEL} "
            f"label naming a LocalQueue of it; its LocalQueues: {', '.join(locals_) or 'none'})",
        )
    requesting = tuple(g for g in queued if g.per_group > 0)
    if not requesting:
        raise InputError(
            path,
            "--resource",
            f"no group queued to ClusterQueue {name} requests {resource} "
            f"({', '.join(g.workload for g in queued)}): its quota does not matter",
        )
    return ClusterQueueQuota(name, flavor, resource, requesting)
