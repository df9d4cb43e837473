"""Kueue's Topology-Aware Scheduling: which domains of a Topology a PodSet's pods are assigned to
(kueue v0.17.0 ``pkg/cache/scheduler/tas_flavor_snapshot.go``; docs/kueue-v0.17-semantics.md §4).

The snapshot is the tree of the Topology's levels over the flavor's nodes. ``fillInCounts`` gives every leaf
how many worker pods fit in its free capacity (``state``), whether a leader fits (``leaderState``) and how
many workers fit beside it (``stateWithLeader``); a parent sums its children's states and keeps the best
leader slot. ``findLevelWithFitDomains`` picks, at the requested level, one domain that holds every pod —
the tightest that fits (BestFit) for required and preferred requests, the first with room in ascending free
capacity (LeastFreeCapacity, ``TASProfileMixed``) for unconstrained and implied ones; a preferred request
that fits nowhere moves up a level; an unconstrained one spreads greedily. ``updateCountsToMinimumGeneric``
then walks down level by level, filling domains in sorted order, leaders first. The assignment names the
lowest level's domains only when the lowest level is the hostname (``buildAssignment``).

Slices (``podset-slice-*``), balanced placement and multi-layer topologies are not modelled (refused when a
scenario asks for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOSTNAME = "kubernetes.io/hostname"


@dataclass(eq=False)
class Domain:
    values: tuple[str, ...]  # level values from the highest level down to this domain's
    children: list[Domain] = field(default_factory=list)
    node: str | None = None  # leaves: the node
    state: int = 0
    state_with_leader: int = 0
    leader_state: int = 0


@dataclass(frozen=True)
class Request:
    """A PodSet's topology request, with the leader PodSet grouped with it (``podset-group-name``)."""

    level: str  # the level key asked for (implied requests: the lowest)
    required: bool
    unconstrained: bool
    count: int
    leader: bool = False  # one leader pod is placed together with the ``count`` workers


def count_in(free: dict[str, int], per_pod: dict[str, int]) -> int:
    """``CountIn``: how many pods of ``per_pod`` fit in ``free``."""
    counts = [free.get(r, 0) // n for r, n in per_pod.items() if n > 0]
    return max(0, min(counts)) if counts else 1_000_000


class Snapshot:
    """The Topology over the nodes a flavor selects, with each node's free capacity."""

    def __init__(self, name: str, levels: tuple[str, ...], nodes: list[tuple[str, dict[str, str]]]) -> None:
        # Nodes are always the leaves: a Topology whose lowest level is not the hostname gets it as an
        # extra level here, so that a domain's capacity is the sum of its nodes'.
        self.name, self.topology_levels = name, levels
        if levels[-1] != HOSTNAME:
            levels = (*levels, HOSTNAME)
        self.levels = levels
        self.roots: list[Domain] = []
        self.by_level: list[dict[tuple[str, ...], Domain]] = [{} for _ in levels]
        self.leaves: list[Domain] = []
        for node, labels in nodes:
            values = tuple(node if key == HOSTNAME else labels.get(key, "") for key in levels)
            if any(v == "" for v in values):
                continue  # a node without every level's label is not in the topology
            parent: Domain | None = None
            for i in range(len(levels)):
                key = values[: i + 1]
                d = self.by_level[i].get(key)
                if d is None:
                    d = self.by_level[i][key] = Domain(key)
                    (parent.children if parent else self.roots).append(d)
                parent = d
            assert parent is not None
            parent.node = node
            self.leaves.append(parent)

    def node_selector(self, node: str) -> tuple[tuple[str, str], ...]:
        """What the TopologyUngater adds to a pod assigned to ``node``: the hostname alone when it is the
        Topology's lowest level, else every level's label of the node's domain."""
        if self.topology_levels[-1] == HOSTNAME:
            return ((HOSTNAME, node),)
        leaf = next(d for d in self.leaves if d.node == node)
        return tuple(zip(self.topology_levels, leaf.values[: len(self.topology_levels)], strict=True))

    def fill_counts(
        self,
        free: dict[str, dict[str, int]],
        worker: dict[str, int],
        leader: dict[str, int] | None,
        excluded: dict[str, str] | None = None,
    ) -> None:
        """Each leaf's counts; a node in ``excluded`` (by taint or nodeSelector) holds nothing. The
        ``ExclusionStats`` behind Kueue's "Total nodes: N; excluded: ..." are kept in ``self.stats``."""
        excluded = excluded or {}
        self.stats: dict[str, int] = {}
        seen: dict[tuple, tuple[int, int, int, str]] = {}  # most nodes share a few free-capacity vectors
        for leaf in self.leaves:
            name = leaf.node or ""
            why = excluded.get(name)
            if why is not None:
                self.stats[why] = self.stats.get(why, 0) + 1
                leaf.state = leaf.leader_state = leaf.state_with_leader = 0
                continue
            node_free = free.get(name, {})
            key = tuple(node_free.items())
            counts = seen.get(key)
            if counts is None:
                left = dict(node_free)
                state, leader_state = count_in(left, worker), 0
                limiting = min(
                    worker, key=lambda r: (left.get(r, 0) // worker[r] if worker[r] else 1 << 62, r)
                )
                if leader is not None and count_in(left, leader) > 0:
                    leader_state = 1
                    for r, n in leader.items():
                        left[r] = left.get(r, 0) - n
                counts = seen[key] = (state, leader_state, count_in(left, worker), limiting)
            leaf.state, leaf.leader_state, leaf.state_with_leader, limiting = counts
            if leaf.state == 0:  # CountInWithLimitingResource: the resource that leaves no room
                why = f'resource "{limiting}"'
                self.stats[why] = self.stats.get(why, 0) + 1
        for root in self.roots:
            self._sum(root)

    def _sum(self, d: Domain) -> None:
        if not d.children:
            return
        for c in d.children:
            self._sum(c)
        d.state = sum(c.state for c in d.children)
        d.leader_state = max(c.leader_state for c in d.children)
        # Kueue takes the smallest cost of the leader over every child, a child that cannot hold the leader
        # (state 0, stateWithLeader 0) included, which overstates the room beside a leader when a node is
        # excluded or full; here only children that can hold it count.
        costs = [c.state - c.state_with_leader for c in d.children if c.leader_state]
        d.state_with_leader = d.state - min(costs) if costs else 0

    # -- sorting (sortedDomainsWithLeader, sortedDomains)
    @staticmethod
    def _sorted_with_leader(domains: list[Domain], least_free: bool) -> list[Domain]:
        def key(d: Domain):
            cap = d.state_with_leader if least_free else -d.state_with_leader
            return (-d.leader_state, cap, d.state_with_leader, d.values)

        return sorted(domains, key=key)

    @staticmethod
    def _sorted(domains: list[Domain], least_free: bool) -> list[Domain]:
        return sorted(domains, key=lambda d: (d.state if least_free else -d.state, d.state, d.values))

    @staticmethod
    def _best_fit(domains: list[Domain], needed: int, with_leader: bool) -> Domain:
        """``findBestFitDomainBy``: the first domain with the smallest state that still holds ``needed``."""
        state = (lambda d: d.state_with_leader) if with_leader else (lambda d: d.state)
        best = domains[0]
        for d in domains:
            if needed <= state(d) < state(best):
                best = d
        return best

    def not_fit(self, fit: int, total: int) -> str:
        """``notFitMessage``, with the exclusion stats when nodes were left out."""
        if fit == 0:
            text = f'topology "{self.name}" doesn\'t allow to fit any of {total} pod(s)'
        else:
            text = f'topology "{self.name}" allows to fit only {fit} out of {total} pod(s)'
        stats = getattr(self, "stats", {})
        if stats:
            reasons = ", ".join(sorted(f"{why}: {n}" for why, n in stats.items()))
            text += f". Total nodes: {len(self.leaves)}; excluded: {reasons}"
        return text

    def _level_with_fit(self, idx: int, req: Request) -> tuple[int, list[Domain], str]:
        domains = list(self.by_level[idx].values())
        if not domains:
            return 0, [], f"no topology domains at level: {self.levels[idx]}"
        least_free = req.unconstrained
        leaders = 1 if req.leader else 0
        ordered = self._sorted_with_leader(domains, least_free)
        top = ordered[0]
        count = req.count
        if not least_free and top.state_with_leader >= count and top.leader_state >= leaders:
            top = self._best_fit(ordered, count, leaders > 0)
        if least_free:
            for d in ordered:
                if d.state >= count:
                    return idx, [d], ""
            if req.required:
                return 0, [], self.not_fit(ordered[-1].state, count)
        if top.state_with_leader < count or top.leader_state < leaders:
            if req.required:
                return 0, [], self.not_fit(top.state, count)
            if idx > 0 and not req.unconstrained:
                return self._level_with_fit(idx - 1, req)
            results: list[Domain] = []
            remaining, remaining_leaders = count, leaders
            i = 0
            while remaining_leaders > 0 and i < len(ordered) and ordered[i].leader_state > 0:
                d = ordered[i]
                if not least_free and d.state_with_leader >= remaining:
                    d = self._best_fit(ordered[i:], remaining, True)
                results.append(d)
                remaining_leaders -= d.leader_state
                remaining -= d.state_with_leader
                i += 1
            if remaining_leaders > 0:
                return 0, [], self.not_fit(leaders - remaining_leaders, count)
            rest = self._sorted(ordered[i:], least_free)
            j = 0
            while remaining > 0 and j < len(rest):
                d = rest[j]
                if not least_free and d.state >= remaining:
                    d = self._best_fit(rest[j:], remaining, False)
                results.append(d)
                remaining -= d.state
                j += 1
            if remaining > 0:
                return 0, [], self.not_fit(count - remaining, count)
            return idx, results, ""
        return idx, [top], ""

    def _to_minimum(self, domains: list[Domain], count: int, leaders: int, least_free: bool) -> list[Domain]:
        """``updateCountsToMinimumGeneric`` for pods: fill ``domains`` in order until ``count`` workers and
        ``leaders`` leaders are placed; each domain's state becomes what it takes."""
        out: list[Domain] = []
        remaining, remaining_leaders = count, leaders
        for i, d in enumerate(domains):
            if remaining_leaders > 0:
                whole = d.state_with_leader >= remaining and d.leader_state >= remaining_leaders
                if not least_free and whole:
                    d = self._best_fit(domains[i:], remaining, True)
                if d.state_with_leader >= remaining and d.leader_state >= remaining_leaders:
                    d.state, d.leader_state = remaining, remaining_leaders
                    out.append(d)
                    return out
                # The domain takes its leader and the workers that fit beside it (Kueue keeps ``state``
                # here and clamps only ``stateWithLeader``; the pods it places are the same).
                remaining -= d.state_with_leader
                remaining_leaders -= d.leader_state
                d.state = d.state_with_leader
                out.append(d)
                continue
            if not least_free and d.state >= remaining:
                d = self._best_fit(domains[i:], remaining, False)
            d.leader_state = 0
            if d.state >= remaining:
                d.state = remaining
                out.append(d)
                return out
            remaining -= d.state
            out.append(d)
        return out

    def assign(self, req: Request) -> tuple[dict[str, list[tuple[str, int]]], str]:
        """Per role ("leader", "worker"), the lowest-level domains and their pod counts; or why not."""
        if req.level not in self.levels:
            return {}, f"no requested topology level: {req.level}"
        idx, fit, why = self._level_with_fit(self.levels.index(req.level), req)
        if why:
            return {}, why
        leaders = 1 if req.leader else 0
        fit = self._to_minimum(fit, req.count, leaders, req.unconstrained)
        level = idx
        while level < len(self.levels) - 1:
            lower: list[Domain] = []
            for d in fit:
                children = self._sorted(d.children, req.unconstrained)
                if leaders and d.leader_state:
                    children = self._sorted_with_leader(d.children, req.unconstrained)
                lower += self._to_minimum(children, d.state, d.leader_state, req.unconstrained)
            fit = lower
            level += 1
        out: dict[str, list[tuple[str, int]]] = {}
        fit.sort(key=lambda d: d.values)
        if sum(d.state for d in fit) < req.count or sum(d.leader_state for d in fit) < leaders:
            # the descent could not place every pod (Kueue logs errCodeAssumptionsViolated): no fit
            return {}, self.not_fit(sum(d.state for d in fit), req.count)
        if req.leader:
            out["leader"] = [(d.node or "", d.leader_state) for d in fit if d.leader_state]
        out["worker"] = [(d.node or "", d.state) for d in fit if d.state]
        return out, ""
