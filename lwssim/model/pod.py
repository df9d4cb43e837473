"""Pod templates: the parts of a Kubernetes PodSpec that placement, startup and failure depend on."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, fields, replace
from functools import cached_property

# Label-selector operators of metav1.LabelSelectorRequirement and v1.NodeSelectorRequirement.
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry: ``key operator values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Evaluate against a label map, with apimachinery's semantics (Gt/Lt compare integers)."""
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator == "Gt" else have < want


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector: ``matchLabels`` are ANDed with ``matchExpressions``; empty matches all."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(k, "In", (v,)) for k, v in self.match_labels) + self.match_expressions

    def matches(self, labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements())


@dataclass(frozen=True)
class NodeSelectorTerm:
    """One term of ``requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`` (terms are ORed).

    ``match_fields`` supports only ``metadata.name``, the one field Kubernetes allows.
    """

    match_expressions: tuple[Requirement, ...] = ()
    match_fields: tuple[Requirement, ...] = ()


@dataclass(frozen=True)
class PreferredNodeTerm:
    weight: int
    term: NodeSelectorTerm


@dataclass(frozen=True)
class PodAffinityTerm:
    """A required (anti-)affinity term: pods matching ``selector`` in ``namespaces`` within ``topology_key``.

    An empty ``namespaces`` means the incoming pod's own namespace (``namespaceSelector`` unsupported).
    """

    selector: LabelSelector
    topology_key: str
    namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" matches every effect
    toleration_seconds: float | None = None

    def tolerates(self, taint: Taint) -> bool:
        """v1.Toleration.ToleratesTaint: empty key with Exists tolerates everything."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"  # NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True)
class Probe:
    """A probe's timing; lwssim models the budget it grants, not the check itself."""

    initial_delay: float = 0.0
    period: float = 10.0
    failure_threshold: int = 3

    @property
    def budget(self) -> float:
        """Seconds a container may take before this probe fails it (startup probe semantics)."""
        return self.initial_delay + self.period * self.failure_threshold


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    requests: tuple[tuple[str, int], ...] = ()  # canonical amounts, see quantity.resource_amount
    startup_probe: Probe | None = None
    readiness_probe: Probe | None = None


@dataclass(frozen=True)
class PodTemplate:
    """What lwssim needs of a PodTemplateSpec. Frozen and hashable so the scheduler can cache per template."""

    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    node_selector: tuple[tuple[str, str], ...] = ()
    required_node_terms: tuple[NodeSelectorTerm, ...] = ()
    preferred_node_terms: tuple[PreferredNodeTerm, ...] = ()
    pod_affinity: tuple[PodAffinityTerm, ...] = ()
    pod_anti_affinity: tuple[PodAffinityTerm, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    scheduler_name: str = "default-scheduler"
    priority: int = 0  # resolved as the Priority admission plugin does (manifests/priority.py)
    preemption_policy: str = "PreemptLowerPriority"  # PreemptLowerPriority | Never (from the PriorityClass)
    priority_class_name: str = ""
    termination_grace_period: float = 30.0
    overhead: tuple[tuple[str, int], ...] = ()

    def requests(self) -> dict[str, int]:
        """Effective pod requests as kube-scheduler computes them (``resource.PodRequests``).

        max(sum of app containers, largest init container) per resource, plus pod overhead. Requests
        default to limits where only limits are given; the loader has already applied that.
        """
        total: dict[str, int] = {}
        for c in self.containers:
            for name, amount in c.requests:
                total[name] = total.get(name, 0) + amount
        for c in self.init_containers:
            for name, amount in c.requests:
                total[name] = max(total.get(name, 0), amount)
        for name, amount in self.overhead:
            total[name] = total.get(name, 0) + amount
        return total

    @cached_property
    def placement(self) -> PodTemplate:
        """This template without labels and annotations, which no scheduler filter or score reads:
        the scheduler caches per placement, so every group's worker template shares one entry.
        Equal placements are one object, so cache lookups compare by identity."""
        stripped = replace(self, labels=(), annotations=()) if self.labels or self.annotations else self
        return _PLACEMENTS.setdefault(stripped, stripped)

    def __hash__(self) -> int:
        return self._hash

    def __getstate__(self) -> dict[str, object]:
        """Pickle the fields only: the cached hash holds for this process alone (str hashes are salted)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @cached_property
    def _hash(self) -> int:
        """Computed once: templates are frozen, and the scheduler hashes them per scheduling cycle."""
        return hash(tuple(getattr(self, f.name) for f in fields(self)))

    def images(self) -> tuple[str, ...]:
        """Images the kubelet pulls, init containers first, each once."""
        return self._images

    @cached_property
    def _images(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.init_containers + self.containers:
            seen.setdefault(c.image, None)
        return tuple(seen)

    def startup_budget(self) -> float | None:
        """Smallest startup-probe budget among containers, if any container has a startup probe."""
        return self._startup_budget

    @cached_property
    def _startup_budget(self) -> float | None:
        budgets = [c.startup_probe.budget for c in self.containers if c.startup_probe]
        return min(budgets) if budgets else None


_PLACEMENTS: weakref.WeakValueDictionary[PodTemplate, PodTemplate] = weakref.WeakValueDictionary()
