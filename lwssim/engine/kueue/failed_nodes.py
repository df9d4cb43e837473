"""What Kueue's TAS does when a node of an admitted group's assignment fails (kueue v0.17.0, gates
``TASFailedNodeReplacement`` and ``TASFailedNodeReplacementFailFast`` on by default;
docs/kueue-v0.17-semantics.md §4.5).

- ``pkg/controller/tas/node_controller.go``: a node NotReady for ``NodeFailureDelay`` (30 s,
  ``pkg/controller/tas/constants.go``) is failed; it goes into the ``unhealthyNodes`` of every admitted
  Workload assigned to it. A Workload that already lists one is evicted at once ("Workload eviction triggered
  due to multiple TAS assigned node failures, including: ...").
- ``pkg/scheduler/scheduler.go`` with ``tas_flavor_snapshot.go: findReplacementAssignment,
  requiredReplacementDomain``: the pods assigned to the failed node get other nodes, inside the domain the
  request required (anywhere for preferred and implied requests), the tightest that fits first; the rest
  of the assignment stays. No replacement: evicted, reason ``NodeFailures`` ("Workload was evicted as there
  was no replacement for unhealthy node(s): ..."). The group's pods LWS recreates then get the new hosts.

Whether ``TASReplaceNodeOnPodTermination`` acts before the 30 s is not verified; lwssim waits the 30 s.
"""

from __future__ import annotations

from collections.abc import Callable

from lwssim.engine.context import Cluster
from lwssim.engine.kueue import tas
from lwssim.engine.kueue.scheduler import REQUIRED, KueueScheduler, per_pod
from lwssim.engine.objects import Workload
from lwssim.model.kueue import KueueObjects

NODE_FAILURE_DELAY = 30.0
NODE_FAILURES = "NodeFailures"


class FailedNodes:
    def __init__(
        self,
        cluster: Cluster,
        objects: KueueObjects,
        scheduler: KueueScheduler,
        evict: Callable[[Workload, str, str], None],
        reassigned: Callable[[Workload], None],
    ) -> None:
        self.env, self.nodes, self.defer = cluster.env, cluster.nodes, cluster.defer
        self.objects, self.scheduler, self._evict, self._reassigned = objects, scheduler, evict, reassigned
        self.unhealthy: dict[int, set[str]] = {}  # Workload uid -> its failed nodes (status.unhealthyNodes)

    def node_changed(self, i: int) -> None:
        """Node ``i``'s taints changed: NotReady (unreachable) starts the failure timer."""
        if self._not_ready(i):
            self.defer(NODE_FAILURE_DELAY, lambda: self._failed(i))

    def _not_ready(self, i: int) -> bool:
        return any(t.key == "node.kubernetes.io/unreachable" for t in self.nodes.taints(i))

    def _failed(self, i: int) -> None:
        if not self._not_ready(i):
            return
        node = self.nodes.names[i]
        for admitted in list(self.scheduler.admitted.values()):
            for wl in list(admitted.values()):
                if wl.evicting or not any(node in _hosts(sels) for sels in wl.topology.values()):
                    continue
                failed = self.unhealthy.setdefault(wl.uid, set())
                if node in failed:
                    continue
                if failed:
                    nodes = ",".join(sorted(failed | {node}))
                    self._evict(
                        wl,
                        NODE_FAILURES,
                        f"Workload eviction triggered due to multiple TAS assigned node failures, including: "
                        f"{nodes}",
                    )
                    continue
                failed.add(node)
                if self._replace(wl, node):
                    self._reassigned(wl)  # a Workload update: its TopologyUngater reconcile
                else:
                    self._evict(
                        wl,
                        NODE_FAILURES,
                        f"Workload was evicted as there was no replacement for unhealthy node(s): {node}",
                    )

    def forget(self, wl: Workload) -> None:
        """A new admission starts with no unhealthy nodes."""
        self.unhealthy.pop(wl.uid, None)

    def _replace(self, wl: Workload, node: str) -> bool:
        """``findReplacementAssignment``: other hosts for the pods assigned to ``node``."""
        flavors = {ps: f for ps, _, f in wl.flavors}
        new_topology = {ps: list(sels) for ps, sels in wl.topology.items()}
        taken: dict[str, dict[str, int]] = {}
        for ps in wl.pod_sets:
            sels = new_topology.get(ps.name, [])
            moving = [k for k, sel in enumerate(sels) if node in _hosts([sel])]
            if not moving:
                continue
            flavor = self.objects.flavor(flavors.get(ps.name, ""))
            topology = (
                self.objects.topology(flavor.topology_name) if flavor and flavor.topology_name else None
            )
            if flavor is None or topology is None:
                return False
            snapshot = self.scheduler.snapshot(topology, flavor)
            free = self.scheduler.free_capacity(snapshot, {})
            excluded = self.scheduler.excluded(snapshot, ps)
            need = per_pod(ps)
            domain = self._required_domain(snapshot, ps.topology, node)
            for k in moving:
                choice = None
                for leaf in snapshot.leaves:
                    name = leaf.node or ""
                    if name == node or name in excluded or (domain and leaf.values[: len(domain)] != domain):
                        continue
                    left = dict(free.get(name, {}))
                    for r, n in taken.get(name, {}).items():
                        left[r] = left.get(r, 0) - n
                    fits = tas.count_in(left, need)
                    if fits >= 1 and (choice is None or (fits, leaf.values) < choice[0]):
                        choice = ((fits, leaf.values), name)
                if choice is None:
                    return False
                name = choice[1]
                used = taken.setdefault(name, {})
                for r, n in need.items():
                    used[r] = used.get(r, 0) + n
                sels[k] = snapshot.node_selector(name)
        wl.topology = new_topology
        return True

    def _required_domain(
        self, snapshot: tas.Snapshot, annotations: tuple[tuple[str, str], ...], node: str
    ) -> tuple[str, ...]:
        """``requiredReplacementDomain``: for a required level, the failed node's domain at that level (the
        failed node is out of the snapshot: its labels say where it was)."""
        level = dict(annotations).get(REQUIRED)
        if level is None or level not in snapshot.levels:
            return ()
        labels = self.nodes.node_labels[self.nodes.index[node]]
        levels = snapshot.levels[: snapshot.levels.index(level) + 1]
        return tuple(node if key == tas.HOSTNAME else labels.get(key, "") for key in levels)


def _hosts(selectors: list[tuple[tuple[str, str], ...]]) -> set[str]:
    return {v for sel in selectors for k, v in sel if k == tas.HOSTNAME}
