"""Karpenter's disruption controller: consolidation of empty nodes (every policy) and, with
``WhenEmptyOrUnderutilized``, of nodes whose pods fit elsewhere.

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
- ``multinodeconsolidation.go`` / ``singlenodeconsolidation.go`` (WhenEmptyOrUnderutilized): candidates
  sorted by disruption cost (here: fewest pods first), the budget applied; the largest first-n whose pods all
  fit on the other nodes, with at most one new node of the same instance type, is taken (a binary search, as
  ``firstNConsolidationOption``); one new node is worth it only for two or more (it must cost less than what
  it replaces, and every pool is one instance type); else each candidate alone, delete only. A node with a
  pod annotated ``karpenter.sh/do-not-disrupt: "true"`` or a pod whose PodDisruptionBudget allows no
  disruption (or that several budgets cover) is no candidate (``statenode.go: ValidatePodsDisruptable``).
  The replacement is launched first and the candidates deleted once it is Initialized (``queue.go``); their
  pods are evicted (``nodeclaim.py``). Replacements in another, cheaper pool are not simulated: the loader
  refuses WhenEmptyOrUnderutilized with more than one NodePool.
A pool's first ``min`` nodes are not Karpenter's and are never candidates; nor is a node that stopped
answering (lwssim leaves it to the scenario's repair: Karpenter's node repair is off by default, and its
pods stuck Terminating would keep it from being empty anyway).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lwssim.engine.context import Cluster
from lwssim.engine.karpenter.nodeclaim import NodeClaim, NodeClaims
from lwssim.engine.objects import FAILED, SUCCEEDED, Pod, PodDisruptionBudget
from lwssim.engine.scheduling.cache import SchedulerCache
from lwssim.engine.tasks import Task
from lwssim.model.autoscaling import WHEN_EMPTY_OR_UNDERUTILIZED
from lwssim.model.cluster import NodePool

POLLING_PERIOD = 10.0
COMMAND_VALIDATION_DELAY = 15.0
EMPTY = "Empty"  # v1.DisruptionReasonEmpty
UNDERUTILIZED = "Underutilized"  # v1.DisruptionReasonUnderutilized
MAX_CANDIDATES = 100  # multinodeconsolidation.go: maxParallel
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"


class Disruption:
    def __init__(
        self, cluster: Cluster, claims: NodeClaims, cache: SchedulerCache, is_down: Callable[[int], bool]
    ) -> None:
        self.env, self.claims, self.cache, self.store = cluster.env, claims, cache, cluster.store
        self.is_down = is_down
        self.nodes = cluster.nodes
        Task(self.env, self._run())

    def _run(self):
        env = self.env
        while True:
            yield env.timeout(POLLING_PERIOD)
            chosen = self._empty_candidates()
            if chosen:
                yield env.timeout(COMMAND_VALIDATION_DELAY)
                for claim in chosen:
                    if not claim.deleting and self._consolidatable(claim) and self._empty(claim):
                        self.claims.delete(claim, EMPTY)
                continue
            chosen, new = self._underutilized()
            if not chosen:
                continue
            yield env.timeout(COMMAND_VALIDATION_DELAY)
            if all(self._candidate(c) for c in chosen) and self._fits(chosen) == (True, new):
                for c in chosen:  # StartCommand: tainted and counted as disrupted from now on
                    c.deleting = True
                    self.claims.empty.pop(c, None)
                Task(env, self._execute(chosen, new))

    def _consolidatable(self, claim: NodeClaim, policy: str | None = None) -> bool:
        np_ = claim.node_pool
        if np_ is None or not claim.initialized or claim.deleting or claim.row is None:
            return False
        if self.is_down(claim.row):  # a node that stopped answering is left to its repair
            return False
        after = np_.disruption.consolidate_after
        if after is None or (policy is not None and np_.disruption.consolidation_policy != policy):
            return False
        return self.env.now - claim.last_pod_event >= after

    # -- WhenEmptyOrUnderutilized
    def _pods(self, claim: NodeClaim) -> list[Pod]:
        assert claim.row is not None
        return [p for p in self.cache.pods_on(claim.row) if p.phase not in (SUCCEEDED, FAILED)]

    def _candidate(self, claim: NodeClaim) -> bool:
        """Consolidatable under WhenEmptyOrUnderutilized, and every pod may be disrupted."""
        if not self._consolidatable(claim, WHEN_EMPTY_OR_UNDERUTILIZED):
            return False
        budgets = [o for o in self.store.list("PodDisruptionBudget") if isinstance(o, PodDisruptionBudget)]
        for pod in self._pods(claim):
            if dict(pod.template.annotations).get(DO_NOT_DISRUPT) == "true":
                return False
            covering = [b for b in budgets if b.namespace == pod.namespace and b.selector.matches(pod.labels)]
            if len(covering) > 1 or (covering and covering[0].disruptions_allowed <= 0):
                return False
        return True

    def _underutilized(self) -> tuple[list[NodeClaim], bool]:
        """The consolidation to try: the largest first-n of the candidates that works (pods fit elsewhere,
        with one new node only for two or more), else the first candidate that works alone, delete only."""
        cands = [c for c in self.claims.claims if c not in self.claims.empty and self._candidate(c)]
        if not cands:
            return [], False
        allowed = self._allowed(cands)
        cands.sort(key=lambda c: len(self._pods(c)))
        kept = []
        for c in cands:
            assert c.node_pool is not None
            if allowed[c.node_pool.name] > 0:
                kept.append(c)
                allowed[c.node_pool.name] -= 1
        kept = kept[:MAX_CANDIDATES]
        best: tuple[list[NodeClaim], bool] = ([], False)
        lo, hi = 2, len(kept)
        while lo <= hi:  # firstNConsolidationOption
            mid = (lo + hi) // 2
            ok, new = self._fits(kept[:mid])
            if ok:
                best, lo = (kept[:mid], new), mid + 1
            else:
                hi = mid - 1
        if best[0]:
            return best
        for c in kept:  # single-node consolidation: delete only (a new node of its type costs as much)
            ok, new = self._fits([c])
            if ok and not new:
                return [c], False
        return [], False

    def _fits(self, chosen: list[NodeClaim]) -> tuple[bool, bool]:
        """Whether the pods of ``chosen`` fit on the other initialized nodes plus at most one new node of
        the first one's pool, and whether that new node is needed."""
        nodes, cache = self.nodes, self.cache
        gone = {c.row for c in chosen} | {
            c.row for c in self.claims.claims if c.deleting or not c.initialized
        }
        dest = nodes.present.copy()
        dest[[r for r in gone if r is not None]] = False
        free = nodes.free_copy()
        pool: NodePool = chosen[0].pool
        room: list[int] | None = None
        pods = [p for c in chosen for p in self._pods(c)]
        pods.sort(key=lambda p: tuple(-v for v in cache.shape(p).cpu_mem))
        for pod in pods:
            shape = cache.shape(pod)
            ok = (shape.stage == 0) & dest
            for col, need in shape.needs:
                ok &= free[col] >= need
            hits = np.flatnonzero(ok)
            if len(hits):
                for col, need in shape.needs:
                    free[col][int(hits[0])] -= need
                continue
            if room is None:
                if not cache.passes_static_at(pod, chosen[0].row if chosen[0].row is not None else 0):
                    return False, False
                room = self.claims.capacity_of(pool).tolist()
            if not all(room[col] >= need for col, need in shape.needs):
                return False, False
            for col, need in shape.needs:
                room[col] -= need
        return True, room is not None

    def _execute(self, chosen: list[NodeClaim], new: bool):
        """``queue.go``: launch the replacement and wait until it is Initialized, then delete the
        candidates (their pods evicted); a replacement that fails leaves the candidates in place."""
        if new:
            first = chosen[0]
            assert first.node_pool is not None
            replacement = self.claims.create(first.pool, first.node_pool, [])
            while not replacement.initialized:
                if replacement not in self.claims.claims:  # its launch failed
                    for c in chosen:
                        c.deleting = False
                    return
                yield self.env.timeout(1.0)
        for c in chosen:
            self.claims.delete(c, UNDERUTILIZED)

    def _allowed(self, ready: list[NodeClaim]) -> dict[str, int]:
        """Budgets: of every node of the NodePool, those being disrupted already count against it."""
        total: dict[str, int] = {}
        going: dict[str, int] = {}
        for c in self.claims.claims:
            if c.node_pool is not None:
                name = c.node_pool.name
                total[name] = total.get(name, 0) + 1
                going[name] = going.get(name, 0) + c.deleting
        return {
            c.node_pool.name: c.node_pool.disruption.allowed(total[c.node_pool.name])
            - going[c.node_pool.name]
            for c in ready
            if c.node_pool is not None
        }

    def _empty(self, claim: NodeClaim) -> bool:
        assert claim.row is not None
        return not self.cache.pods_on(claim.row)

    def _empty_candidates(self) -> list[NodeClaim]:
        """The empty consolidatable nodes each NodePool's budget lets go now, oldest first."""
        ready = [c for c in self.claims.empty if self._consolidatable(c)]
        if not ready:
            return []
        allowed = self._allowed(ready)
        chosen: list[NodeClaim] = []
        for c in ready:
            assert c.node_pool is not None
            if allowed[c.node_pool.name] > 0 and self._empty(c):
                chosen.append(c)
                allowed[c.node_pool.name] -= 1
        return chosen
