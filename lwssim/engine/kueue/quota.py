"""Kueue's quota tree: ClusterQueues with nominal quota, borrowing and lending limits, joined in flat
cohorts (kueue v0.17.0 ``pkg/cache/scheduler/resource_node.go``: ``localQuota``, ``available``,
``potentialAvailable``, ``addUsage``, ``removeUsage``, ``accumulateFromChild``).

A cohort here is the name ClusterQueues share (``spec.cohortName``), with no Cohort object above it: its
subtree quota is what its members lend, its usage what they use beyond what they keep for themselves.
Amounts are in lwssim's canonical units (millicores, bytes, whole GPUs), as Kueue counts them
(``pkg/resources``: MilliValue for cpu, Value otherwise).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from lwssim.model.kueue import ClusterQueue
from lwssim.model.quantity import CPU, MEMORY

FlavorResource = tuple[str, str]  # (flavor, resource)


@dataclass
class Quota:
    nominal: int
    borrowing_limit: int | None = None
    lending_limit: int | None = None

    @property
    def local(self) -> int:
        """``localQuota``: the part the ClusterQueue keeps (nominal − lendingLimit), 0 without a limit."""
        return max(0, self.nominal - self.lending_limit) if self.lending_limit is not None else 0


@dataclass
class Cohort:
    name: str
    subtree: Counter[FlavorResource] = field(default_factory=Counter)
    usage: Counter[FlavorResource] = field(default_factory=Counter)


@dataclass
class QueueQuota:
    """One ClusterQueue's quotas and usage, and the cohort it belongs to (None: alone)."""

    spec: ClusterQueue
    quotas: dict[FlavorResource, Quota]
    cohort: Cohort | None = None
    usage: Counter[FlavorResource] = field(default_factory=Counter)

    def nominal(self, fr: FlavorResource) -> int:
        q = self.quotas.get(fr)
        return q.nominal if q else 0

    def _local(self, fr: FlavorResource) -> int:
        q = self.quotas.get(fr)
        return q.local if q else 0

    def local_available(self, fr: FlavorResource) -> int:
        return max(0, self._local(fr) - self.usage[fr])

    def available(self, fr: FlavorResource) -> int:
        """What a Workload may take now without preempting: own unused quota plus what the cohort has
        unused, capped by the borrowing limit."""
        if self.cohort is None:
            return self.nominal(fr) - self.usage[fr]
        parent = self.cohort.subtree[fr] - self.cohort.usage[fr]
        q = self.quotas.get(fr)
        if q is not None and q.borrowing_limit is not None:
            stored = q.nominal - q.local
            used = max(0, self.usage[fr] - q.local)
            parent = min(stored - used + q.borrowing_limit, parent)
        return self.local_available(fr) + parent

    def potential(self, fr: FlavorResource) -> int:
        """``potentialAvailable``, the "maximum capacity" of Kueue's messages: all the quota this queue
        could ever use, if every other queue of its cohort used nothing."""
        if self.cohort is None:
            return self.nominal(fr)
        total = self._local(fr) + self.cohort.subtree[fr]
        q = self.quotas.get(fr)
        if q is not None and q.borrowing_limit is not None:
            total = min(q.nominal + q.borrowing_limit, total)
        return total

    def add(self, fr: FlavorResource, amount: int) -> None:
        local = self.local_available(fr)
        self.usage[fr] += amount
        if self.cohort is not None and amount > local:
            self.cohort.usage[fr] += amount - local

    def remove(self, fr: FlavorResource, amount: int) -> None:
        in_parent = self.usage[fr] - self._local(fr)
        self.usage[fr] -= amount
        if self.cohort is not None and in_parent > 0:
            self.cohort.usage[fr] -= min(amount, in_parent)

    def borrowing(self, fr: FlavorResource, extra: int = 0) -> bool:
        return self.usage[fr] + extra > self.nominal(fr)


def build(queues: tuple[ClusterQueue, ...]) -> dict[str, QueueQuota]:
    """Every ClusterQueue's quota node, linked into its cohort (``updateCohortResourceNode``)."""
    cohorts: dict[str, Cohort] = {}
    out: dict[str, QueueQuota] = {}
    for cq in queues:
        quotas = {
            (f.flavor, r.name): Quota(r.nominal, r.borrowing_limit, r.lending_limit)
            for g in cq.resource_groups
            for f in g.flavors
            for r in f.resources
        }
        cohort = cohorts.setdefault(cq.cohort, Cohort(cq.cohort)) if cq.cohort else None
        out[cq.name] = QueueQuota(cq, quotas, cohort)
        if cohort is not None:
            for fr, q in quotas.items():
                cohort.subtree[fr] += q.nominal - q.local
    return out


def quantity_string(resource: str, amount: int) -> str:
    """``resources.ResourceQuantityString``: cpu as a milli quantity, memory binary SI, others decimal SI,
    printed as ``resource.Quantity.String()`` prints them (the canonical form: ``500m``, ``2``, ``64Gi``)."""
    if resource == CPU:
        return _decimal(amount, milli=True)
    if resource == MEMORY:
        for exp, suffix in ((6, "Ei"), (5, "Pi"), (4, "Ti"), (3, "Gi"), (2, "Mi"), (1, "Ki")):
            if amount and amount % (1024**exp) == 0:
                return f"{amount // 1024**exp}{suffix}"
        return str(amount)
    return _decimal(amount, milli=False)


def _decimal(amount: int, milli: bool) -> str:
    """A decimal SI quantity in canonical form: the largest exponent of 1000 that keeps it whole."""
    if amount == 0:
        return "0"
    suffixes = ("m", "", "k", "M", "G", "T", "P", "E") if milli else ("", "k", "M", "G", "T", "P", "E")
    i = 0
    while amount % 1000 == 0 and i < len(suffixes) - 1:
        amount //= 1000
        i += 1
    return f"{amount}{suffixes[i]}"
