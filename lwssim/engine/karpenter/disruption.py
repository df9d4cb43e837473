"""Karpenter's disruption controller, for empty nodes (consolidationPolicy WhenEmpty).

kubernetes-sigs/karpenter v1.14.1 (docs/autoscaling-semantics.md §1.4):
- ``pkg/controllers/disruption/controller.go``: the controller polls every 10 s (``pollingPeriod``).
- ``pkg/controllers/nodeclaim/disruption/consolidation.go``: a NodeClaim is Consolidatable once it is
  Initialized and ``consolidateAfter`` has passed since ``status.lastPodEventTime`` (else since it was
  initialized); ``Never`` turns consolidation off.
- ``emptiness.go``: the candidates without pods are taken, as many as each NodePool's budget allows
  (``helpers.go: BuildDisruptionBudgetMapping``: the most restrictive budget, percentages of the
  NodePool's nodes rounded up, less the nodes already being disrupted), then validated again after
  ``commandValidationDelay`` (15 s, ``consolidation.go``): a node that took a pod meanwhile is kept.
- Executed (``queue.go``): the node is tainted ``karpenter.sh/disrupted:NoSchedule`` and its NodeClaim
  deleted; with no pods to drain, the instance and the Node go after the termination controller's
  ``MinDrainTime`` (5 s, ``node/termination/controller.go``; ``nodeclaim.py``).
A pool's first ``min`` nodes are not Karpenter's and are never candidates.
"""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.karpenter.nodeclaim import NodeClaim, NodeClaims
from lwssim.engine.scheduling.cache import SchedulerCache
from lwssim.engine.tasks import Task
from lwssim.model.autoscaling import WHEN_EMPTY

POLLING_PERIOD = 10.0
COMMAND_VALIDATION_DELAY = 15.0
EMPTY = "Empty"  # v1.DisruptionReasonEmpty


class Disruption:
    def __init__(self, cluster: Cluster, claims: NodeClaims, cache: SchedulerCache) -> None:
        self.env, self.claims, self.cache = cluster.env, claims, cache
        Task(self.env, self._run())

    def _run(self):
        env = self.env
        while True:
            yield env.timeout(POLLING_PERIOD)
            chosen = self._empty_candidates()
            if not chosen:
                continue
            yield env.timeout(COMMAND_VALIDATION_DELAY)
            for claim in chosen:
                if not claim.deleting and self._consolidatable(claim) and self._empty(claim):
                    self.claims.delete(claim, EMPTY)

    def _consolidatable(self, claim: NodeClaim) -> bool:
        np_ = claim.node_pool
        if np_ is None or not claim.initialized or claim.deleting or claim.row is None:
            return False
        after = np_.disruption.consolidate_after
        if after is None or np_.disruption.consolidation_policy != WHEN_EMPTY:
            return False
        return self.env.now - claim.last_pod_event >= after

    def _empty(self, claim: NodeClaim) -> bool:
        assert claim.row is not None
        return not self.cache.pods_on(claim.row)

    def _empty_candidates(self) -> list[NodeClaim]:
        """The empty consolidatable nodes each NodePool's budget lets go now, oldest first."""
        ready = [c for c in self.claims.empty if self._consolidatable(c)]
        if not ready:
            return []
        # Budgets: of every node of the NodePool, those being disrupted already count against it.
        total: dict[str, int] = {}
        going: dict[str, int] = {}
        for c in self.claims.claims:
            if c.node_pool is not None:
                name = c.node_pool.name
                total[name] = total.get(name, 0) + 1
                going[name] = going.get(name, 0) + c.deleting
        allowed = {
            c.node_pool.name: c.node_pool.disruption.allowed(total[c.node_pool.name])
            - going[c.node_pool.name]
            for c in ready
            if c.node_pool is not None
        }
        chosen: list[NodeClaim] = []
        for c in ready:
            assert c.node_pool is not None
            if allowed[c.node_pool.name] > 0 and self._empty(c):
                chosen.append(c)
                allowed[c.node_pool.name] -= 1
        return chosen
