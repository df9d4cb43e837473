"""Kueue v0.17.0's objects and configuration → :mod:`lwssim.model.kueue` (docs/kueue-v0.17-semantics.md).

Objects (``spec.workloads[]``): ResourceFlavor, ClusterQueue, LocalQueue, Topology and
WorkloadPriorityClass of ``kueue.x-k8s.io/v1beta2`` (storage version) or ``kueue.x-k8s.io/v1beta1``
(served, deprecated), read from kubernetes-sigs/kueue at tag v0.17.0:

- the CRD schemas and their CEL rules: ``apis/kueue/v1beta2/*_types.go`` and ``apis/kueue/v1beta1/*_types.go``
  (kubebuilder markers: enums, defaults, list sizes, ``XValidation`` messages);
- v1beta1 → v1beta2 conversion: ``apis/kueue/v1beta1/clusterqueue_conversion.go`` (``cohort`` becomes
  ``cohortName``, ``admissionChecks`` becomes ``admissionChecksStrategy``, flavorFungibility ``Borrow`` and
  ``Preempt`` become ``MayStopSearch``); the other kinds have the same spec in both versions;
- the validating webhooks: ``pkg/webhooks/clusterqueue_webhook.go`` (``ValidateClusterQueue``),
  ``pkg/webhooks/resourceflavor_webhook.go``, ``pkg/webhooks/common.go``.

Errors carry Kueue's words where it has them (``must be nil when cohort is empty``, ``must be less than or
equal to the nominalQuota``, ``must match the name in coveredResources``, ...). Fields whose behaviour lwssim
does not simulate and that would change admission (admission checks, a stop policy, other flavor
fungibility than the default, node taints and tolerations of a flavor, hierarchical Cohort objects) are
refused by field path, never ignored.

Configuration (``spec.controller.kueue``): Kueue's ``Configuration`` (``apis/config/v1beta2/
configuration_types.go``, defaults ``defaults.go``, validation ``pkg/config/validation.go``) plus ``enabled``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lwssim.errors import clip
from lwssim.manifests.podspec import label_selector
from lwssim.manifests.where import MAX_INT32, Where, show
from lwssim.model import kueue as m
from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.model.quantity import QuantityError, parse_quantity

GROUP = "kueue.x-k8s.io"
V1BETA2, V1BETA1 = f"{GROUP}/v1beta2", f"{GROUP}/v1beta1"
API_VERSIONS = (V1BETA2, V1BETA1)
RESOURCE_FLAVOR, CLUSTER_QUEUE, LOCAL_QUEUE = "ResourceFlavor", "ClusterQueue", "LocalQueue"
TOPOLOGY, PRIORITY_CLASS, COHORT = "Topology", "WorkloadPriorityClass", "Cohort"
KINDS = (RESOURCE_FLAVOR, CLUSTER_QUEUE, LOCAL_QUEUE, TOPOLOGY, PRIORITY_CLASS)
HOSTNAME = "kubernetes.io/hostname"

# apimachinery IsDNS1123Subdomain; the name patterns of ClusterQueueReference, ResourceFlavorReference, ...
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# TopologyLevel.nodeLabel's +kubebuilder:validation:Pattern: a qualified name (label key, resource name)
QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
QUEUEING_STRATEGIES = (m.STRICT_FIFO, m.BEST_EFFORT_FIFO)
WITHIN_CLUSTER_QUEUE = (m.NEVER, m.LOWER_PRIORITY, m.LOWER_OR_NEWER_EQUAL_PRIORITY)
RECLAIM_WITHIN_COHORT = (m.NEVER, m.LOWER_PRIORITY, m.ANY)
BORROW_WITHIN_COHORT = (m.NEVER, m.LOWER_PRIORITY)
STOP_POLICIES = ("None", "Hold", "HoldAndDrain")
# flavorFungibility: v1beta2 enums and defaults; v1beta1 also takes Borrow / Preempt, converted to
# MayStopSearch (clusterqueue_conversion.go)
MAY_STOP_SEARCH, TRY_NEXT_FLAVOR = "MayStopSearch", "TryNextFlavor"
FUNGIBILITY = {"whenCanBorrow": MAY_STOP_SEARCH, "whenCanPreempt": TRY_NEXT_FLAVOR}
V1BETA1_FUNGIBILITY = {"whenCanBorrow": "Borrow", "whenCanPreempt": "Preempt"}

_RF_SPEC = ("nodeLabels", "nodeTaints", "tolerations", "topologyName")
_CQ_SPEC = (
    "resourceGroups",
    "cohortName",
    "queueingStrategy",
    "namespaceSelector",
    "flavorFungibility",
    "preemption",
    "admissionChecksStrategy",
    "stopPolicy",
    "fairSharing",
    "admissionScope",
)
_CQ_SPEC_V1BETA1 = tuple("cohort" if f == "cohortName" else f for f in _CQ_SPEC) + ("admissionChecks",)
_LQ_SPEC = ("clusterQueue", "stopPolicy", "fairSharing")

KueueObject = m.ResourceFlavor | m.ClusterQueue | m.LocalQueue | m.Topology | m.WorkloadPriorityClass


def is_kueue(api: Any, kind: Any) -> bool:
    """A document Kueue serves (the kinds lwssim reads, and Cohort, which it refuses by name)."""
    return api in API_VERSIONS and (kind in KINDS or kind == COHORT)


def kueue_object(obj: dict, where: Where, at: float) -> KueueObject:
    """One Kueue object, validated as the API server (CRD schema and CEL) and Kueue's webhooks do."""
    kind, api = obj["kind"], obj["apiVersion"]
    if kind == COHORT:
        raise where.key("kind").unsupported(
            "Cohort objects (hierarchical cohorts, cohort quotas) are not simulated; ClusterQueues that give "
            "the same spec.cohortName form a flat cohort without one"
        )
    if at > 0:
        raise where.unsupported(
            f"a {kind} applied later is not simulated: Kueue's objects are created at the start; "
            "drop its `at`"
        )
    name = _name(obj, where)
    if kind == PRIORITY_CLASS:
        return _priority_class(obj, where, name)
    spec_at = where.key("spec")
    spec = spec_at.mapping(obj.get("spec"))
    if kind == RESOURCE_FLAVOR:
        _known(spec, _RF_SPEC, spec_at, kind, api)
        return _flavor(spec, spec_at, name)
    if kind == CLUSTER_QUEUE:
        _known(spec, _CQ_SPEC_V1BETA1 if api == V1BETA1 else _CQ_SPEC, spec_at, kind, api)
        return _cluster_queue(spec, spec_at, name, api)
    if kind == LOCAL_QUEUE:
        _known(spec, _LQ_SPEC, spec_at, kind, api)
        return _local_queue(obj, spec, where, name)
    _known(spec, ("levels",), spec_at, kind, api)
    return _topology(spec, spec_at, name)


# -- common ------------------------------------------------------------------------------------------------


def _name(obj: dict, where: Where) -> str:
    at = where.key("metadata").key("name")
    name = at.string(where.key("metadata").mapping(obj.get("metadata")).get("name"))
    check_subdomain(at, name)
    return name


def check_subdomain(where: Where, value: str) -> None:
    """apimachinery ``IsDNS1123Subdomain`` (object names; the references' kubebuilder patterns)."""
    if not value:
        raise where.error("Required value: name is required")
    if len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        raise where.error(
            f"Invalid value: {show(value)}: a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )


def _known(spec: dict, fields: tuple[str, ...], where: Where, kind: str, api: str) -> None:
    """kubectl's strict field validation: an unknown field of the CRD schema is an error. Fields renamed
    between v1beta1 and v1beta2 say so."""
    renamed = {"cohort": "cohortName", "cohortName": "cohort"}
    for key in spec:
        if key in fields:
            continue
        if key in renamed and kind == CLUSTER_QUEUE:
            other = V1BETA1 if api == V1BETA2 else V1BETA2
            raise where.key(str(key)).error(
                f'unknown field "{key}" in {kind} {api}: it is {renamed[key]} there '
                f"({key} is the {other} name)"
            )
        raise where.key(str(key)).error(
            f'unknown field "{key}" in {kind} {api}; known fields: {", ".join(fields)}'
        )


def _fields(where: Where, value: Any, known: tuple[str, ...]) -> dict:
    """A mapping whose keys must be among ``known`` (kubectl's strict field validation)."""
    given = where.mapping(value)
    for key in given:
        if key not in known:
            raise where.key(str(key)).error(f'unknown field "{key}"; known fields: {", ".join(known)}')
    return given


def _enum(where: Where, value: Any, allowed: tuple[str, ...], default: str) -> str:
    text = where.string(value, default)
    if text not in allowed:
        options = ", ".join(f'"{a}"' for a in allowed)
        raise where.error(f'Unsupported value: "{clip(text)}": supported values: {options}')
    return text


def _int32(where: Where, value: Any, default: int | None = None, minimum: int | None = None) -> int:
    n = where.integer(value, default, minimum)
    if not -MAX_INT32 - 1 <= n <= MAX_INT32:
        raise where.error(f"must be an int32 (between {-MAX_INT32 - 1} and {MAX_INT32}), got {n}")
    return n


def _items(where: Where, value: Any, most: int, least: int = 0) -> list:
    items = where.seq(value)
    if len(items) < least:
        raise where.error(f"Required value: should have at least {least} item(s)")
    if len(items) > most:
        raise where.error(f"Too many: {len(items)}: must have at most {most} items")
    return items


def _refuse_unless(where: Where, value: Any, default: Any, what: str) -> None:
    if value is not None and value != default:
        raise where.unsupported(f"{what} is not simulated; remove it (or set {show(default)}) to simulate")


# -- the kinds ---------------------------------------------------------------------------------------------


def _priority_class(obj: dict, where: Where, name: str) -> m.WorkloadPriorityClass:
    """``value`` (int32, required) and ``description`` (ignored) at the top level, as in PriorityClass."""
    if obj.get("value") is None:
        raise where.key("value").error("Required value")
    return m.WorkloadPriorityClass(name, _int32(where.key("value"), obj["value"]))


def _flavor(spec: dict, at: Where, name: str) -> m.ResourceFlavor:
    labels = at.key("nodeLabels").string_map(spec.get("nodeLabels"))
    for key in ("nodeTaints", "tolerations"):
        if at.key(key).seq(spec.get(key)):
            raise at.key(key).unsupported(
                f"a ResourceFlavor's {key} are not simulated (they would add taints checks to admission and "
                "tolerations to the admitted pods); remove them, and put taints on the node pools and "
                "tolerations in the pod templates"
            )
    topology = spec.get("topologyName")
    if topology is not None:
        check_subdomain(at.key("topologyName"), at.key("topologyName").string(topology))
        if not labels:
            raise at.error("at least one nodeLabel is required when topology is set")
    return m.ResourceFlavor(name, labels, topology)


def _topology(spec: dict, at: Where, name: str) -> m.Topology:
    levels_at = at.key("levels")
    if spec.get("levels") is None:
        raise levels_at.error("Required value")
    levels = []
    for i, raw in enumerate(_items(levels_at, spec["levels"], 16, 1)):
        level_at = levels_at.index(i)
        label = level_at.key("nodeLabel").string(_fields(level_at, raw, ("nodeLabel",)).get("nodeLabel"))
        if len(label) > 316 or not QUALIFIED_NAME.match(label):
            raise level_at.key("nodeLabel").error(
                f"Invalid value: {show(label)}: should be a label key (at most 316 characters), "
                f"matching {QUALIFIED_NAME.pattern}"
            )
        levels.append(label)
    if len(set(levels)) != len(levels):
        raise levels_at.error("Invalid value: must be unique")
    if HOSTNAME in levels and levels[-1] != HOSTNAME:
        raise levels_at.error(
            "Invalid value: the kubernetes.io/hostname label can only be used at the lowest level of topology"
        )
    return m.Topology(name, tuple(levels))


def _local_queue(obj: dict, spec: dict, where: Where, name: str) -> m.LocalQueue:
    """``metadata.namespace`` (default "default") and ``spec.clusterQueue``; a LocalQueue whose
    ClusterQueue does not exist is accepted, as Kueue accepts it."""
    at = where.key("spec")
    ns_at = where.key("metadata").key("namespace")
    ns = ns_at.string(where.key("metadata").mapping(obj.get("metadata")).get("namespace"), "default")
    cq = at.key("clusterQueue").string(spec.get("clusterQueue"), "")
    if cq:
        check_subdomain(at.key("clusterQueue"), cq)
    stop = _enum(at.key("stopPolicy"), spec.get("stopPolicy"), STOP_POLICIES, "None")
    _refuse_unless(at.key("stopPolicy"), stop, "None", "a LocalQueue's stopPolicy other than None")
    return m.LocalQueue(name, ns, cq)


def _cluster_queue(spec: dict, at: Where, name: str, api: str) -> m.ClusterQueue:
    for key, why in (
        ("admissionChecks", "admission checks (ProvisioningRequest, MultiKueue, ...)"),
        ("admissionChecksStrategy", "admission checks (ProvisioningRequest, MultiKueue, ...)"),
        ("admissionScope", "Admission Fair Sharing (admissionScope)"),
    ):
        if spec.get(key) is not None:
            raise at.key(key).unsupported(
                f"{why} are not simulated; remove {key} to simulate the ClusterQueue"
            )
    stop = _enum(at.key("stopPolicy"), spec.get("stopPolicy"), STOP_POLICIES, "None")
    _refuse_unless(at.key("stopPolicy"), stop, "None", "a ClusterQueue's stopPolicy other than None")
    _fungibility(spec.get("flavorFungibility"), at.key("flavorFungibility"), api)
    cohort_key = "cohort" if api == V1BETA1 else "cohortName"
    cohort = at.key(cohort_key).string(spec.get(cohort_key), "")
    if cohort:
        check_subdomain(at.key(cohort_key), cohort)
    selector = None
    if spec.get("namespaceSelector") is not None:
        selector = label_selector(spec["namespaceSelector"], at.key("namespaceSelector"))
        other = sorted({r.key for r in selector.requirements()} - {NAMESPACE_NAME_LABEL})
        if other:
            raise at.key("namespaceSelector").unsupported(
                f"namespace labels other than {NAMESPACE_NAME_LABEL} are not simulated (lwssim has no "
                f"Namespace objects), so a selector on {', '.join(other)} cannot be evaluated; select "
                f"namespaces by {NAMESPACE_NAME_LABEL}, or use {{}} for every namespace"
            )
    return m.ClusterQueue(
        name=name,
        resource_groups=_resource_groups(spec.get("resourceGroups"), at.key("resourceGroups"), bool(cohort)),
        cohort=cohort,
        queueing_strategy=_enum(
            at.key("queueingStrategy"), spec.get("queueingStrategy"), QUEUEING_STRATEGIES, m.BEST_EFFORT_FIFO
        ),
        namespace_selector=selector,
        preemption=_preemption(spec.get("preemption"), at.key("preemption")),
    )


def _fungibility(raw: Any, at: Where, api: str) -> None:
    """Only the defaults are simulated: whenCanBorrow MayStopSearch, whenCanPreempt TryNextFlavor, no
    preference (v1beta1's Borrow converts to MayStopSearch; its Preempt to MayStopSearch, not the default)."""
    given = _fields(at, raw, (*FUNGIBILITY, "preference"))
    for key, default in FUNGIBILITY.items():
        allowed: tuple[str, ...] = (MAY_STOP_SEARCH, TRY_NEXT_FLAVOR)
        if api == V1BETA1:
            allowed += (V1BETA1_FUNGIBILITY[key],)
        value = _enum(at.key(key), given.get(key), allowed, default)
        if api == V1BETA1 and value in V1BETA1_FUNGIBILITY.values():
            value = MAY_STOP_SEARCH
        _refuse_unless(at.key(key), value, default, f"flavorFungibility.{key} {value}")
    if given.get("preference") is not None:
        raise at.key("preference").unsupported(
            "flavorFungibility.preference is not simulated (and Kueue takes it only when whenCanBorrow and "
            "whenCanPreempt are both TryNextFlavor); remove it"
        )


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # the label the API server gives every namespace


def _preemption(raw: Any, at: Where) -> m.Preemption:
    p = _fields(at, raw, ("withinClusterQueue", "reclaimWithinCohort", "borrowWithinCohort"))
    within = _enum(at.key("withinClusterQueue"), p.get("withinClusterQueue"), WITHIN_CLUSTER_QUEUE, m.NEVER)
    reclaim = _enum(
        at.key("reclaimWithinCohort"), p.get("reclaimWithinCohort"), RECLAIM_WITHIN_COHORT, m.NEVER
    )
    b_at = at.key("borrowWithinCohort")
    borrow = _fields(b_at, p.get("borrowWithinCohort"), ("policy", "maxPriorityThreshold"))
    policy = _enum(b_at.key("policy"), borrow.get("policy"), BORROW_WITHIN_COHORT, m.NEVER)
    threshold = None
    if borrow.get("maxPriorityThreshold") is not None:
        threshold = _int32(b_at.key("maxPriorityThreshold"), borrow["maxPriorityThreshold"])
    if reclaim == m.NEVER and policy != m.NEVER:
        raise at.error("Invalid value: reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never")
    if policy != m.NEVER:
        raise b_at.key("policy").unsupported(
            "preempting while borrowing (borrowWithinCohort) is not simulated; remove it (Never) to simulate"
        )
    return m.Preemption(within, reclaim, policy, threshold)


def _resource_groups(raw: Any, at: Where, has_cohort: bool) -> tuple[m.ResourceGroup, ...]:
    """``resourceGroups`` as ``validateResourceGroups`` and the CRD check them: each resource and each
    flavor in one group only; every flavor lists the group's coveredResources, in that order."""
    seen_resources: set[str] = set()
    seen_flavors: set[str] = set()
    groups = []
    for i, rg_raw in enumerate(_items(at, raw, 16)):
        rg_at = at.index(i)
        rg = _fields(rg_at, rg_raw, ("coveredResources", "flavors"))
        cov_at = rg_at.key("coveredResources")
        covered = [
            cov_at.index(j).string(r) for j, r in enumerate(_items(cov_at, rg.get("coveredResources"), 64, 1))
        ]
        for j, resource in enumerate(covered):
            if not QUALIFIED_NAME.match(resource) or len(resource) > 316:
                raise cov_at.index(j).error(
                    f"Invalid value: {show(resource)}: a resource name must be a qualified name "
                    "(an optional DNS subdomain prefix and '/', then alphanumerics, '-', '_' or '.')"
                )
            if resource in seen_resources:
                raise cov_at.index(j).error(f'Duplicate value: "{clip(resource)}"')
            seen_resources.add(resource)
        fl_at = rg_at.key("flavors")
        flavors = []
        for j, fq_raw in enumerate(_items(fl_at, rg.get("flavors"), 64, 1)):
            fq_at = fl_at.index(j)
            fq = _fields(fq_at, fq_raw, ("name", "resources"))
            flavor = fq_at.key("name").string(fq.get("name"))
            check_subdomain(fq_at.key("name"), flavor)
            if flavor in seen_flavors:
                raise fq_at.key("name").error(f'Duplicate value: "{clip(flavor)}"')
            seen_flavors.add(flavor)
            flavors.append(
                m.FlavorQuotas(
                    flavor, _quotas(fq.get("resources"), fq_at.key("resources"), covered, has_cohort)
                )
            )
        groups.append(m.ResourceGroup(tuple(covered), tuple(flavors)))
    for what, total in (
        ("flavors", sum(len(g.flavors) for g in groups)),
        ("covered resources", len(seen_resources)),
    ):
        if total > 256:  # validateTotalFlavors, validateTotalCoveredResources
            raise at.error(
                f"Invalid value: {total}: total number of {what} across all resourceGroups must be ≤ 256, "
                f"got {total}"
            )
    return tuple(groups)


def _quotas(raw: Any, at: Where, covered: list[str], has_cohort: bool) -> tuple[m.ResourceQuota, ...]:
    items = _items(at, raw, 64, 1)
    if len(items) != len(covered):
        raise at.error(
            "Invalid value: flavors must have the same number of resources as the coveredResources "
            f"({len(items)} here, coveredResources: {', '.join(covered)})"
        )
    out = []
    for k, rq_raw in enumerate(items):
        rq_at = at.index(k)
        rq = _fields(rq_at, rq_raw, ("name", "nominalQuota", "borrowingLimit", "lendingLimit"))
        resource = rq_at.key("name").string(rq.get("name"))
        if resource != covered[k]:
            raise rq_at.key("name").error(
                f"Invalid value: {show(resource)}: must match the name in coveredResources ({covered[k]})"
            )
        if rq.get("nominalQuota") is None:
            raise rq_at.key("nominalQuota").error("Required value")
        nominal = _quantity(rq_at.key("nominalQuota"), rq["nominalQuota"])
        limits: dict[str, Decimal] = {}
        for key in ("borrowingLimit", "lendingLimit"):
            if rq.get(key) is None:
                continue
            limits[key] = _quantity(rq_at.key(key), rq[key])
            if not has_cohort:
                raise rq_at.key(key).error(
                    f"Invalid value: {show(rq[key])}: must be nil when cohort is empty"
                )
        if "lendingLimit" in limits and limits["lendingLimit"] > nominal:
            raise rq_at.key("lendingLimit").error(
                f"Invalid value: {show(rq['lendingLimit'])}: must be less than or equal to the nominalQuota"
            )
        borrowing, lending = (
            None if rq.get(key) is None else rq_at.key(key).amount(resource, rq[key])
            for key in ("borrowingLimit", "lendingLimit")
        )
        out.append(
            m.ResourceQuota(
                resource, rq_at.key("nominalQuota").amount(resource, rq["nominalQuota"]), borrowing, lending
            )
        )
    return tuple(out)


def _quantity(where: Where, value: Any) -> Decimal:
    """A quantity as Kueue compares it (``validateResourceQuantity``: not negative)."""
    try:
        q = parse_quantity(value)
    except QuantityError:
        raise where.error(f"{show(value)} is not a quantity") from None
    if q < 0:
        raise where.error(f"Invalid value: {show(value)}: must be greater than or equal to 0")
    return q


# -- every object together ---------------------------------------------------------------------------------


@dataclass
class KueueCollector:
    """The Kueue objects of a scenario as the loader reads them, with where each was written: names are
    unique per kind (LocalQueues per namespace), and references are checked once all are read."""

    flavors: dict[str, tuple[m.ResourceFlavor, Where]] = field(default_factory=dict)
    cluster_queues: dict[str, tuple[m.ClusterQueue, Where]] = field(default_factory=dict)
    local_queues: dict[str, tuple[m.LocalQueue, Where]] = field(default_factory=dict)
    topologies: dict[str, tuple[m.Topology, Where]] = field(default_factory=dict)
    priority_classes: dict[str, tuple[m.WorkloadPriorityClass, Where]] = field(default_factory=dict)

    def add(self, obj: KueueObject, where: Where) -> None:
        kind, table, key = self._table(obj)
        if key in table:
            raise where.error(f'{kind} "{key}" is defined twice (also in {table[key][1].file})')
        table[key] = (obj, where)

    def _table(self, obj: KueueObject) -> tuple[str, dict, str]:
        if isinstance(obj, m.ResourceFlavor):
            return RESOURCE_FLAVOR, self.flavors, obj.name
        if isinstance(obj, m.ClusterQueue):
            return CLUSTER_QUEUE, self.cluster_queues, obj.name
        if isinstance(obj, m.LocalQueue):
            return LOCAL_QUEUE, self.local_queues, f"{obj.namespace}/{obj.name}"
        if isinstance(obj, m.Topology):
            return TOPOLOGY, self.topologies, obj.name
        return PRIORITY_CLASS, self.priority_classes, obj.name

    def objects(self, config: m.KueueConfig) -> m.KueueObjects:
        """Every object, references checked: a ClusterQueue's flavors and a flavor's Topology must exist.
        (A LocalQueue naming no ClusterQueue is accepted, as Kueue accepts it: its Workloads stay pending.)"""
        for flavor, place in self.flavors.values():
            topology = flavor.topology_name
            if topology is not None and topology not in self.topologies:
                defined = _known_names(self.topologies, TOPOLOGY)
                at = place.key("spec").key("topologyName")
                raise at.unsupported(
                    f'ResourceFlavor "{flavor.name}" names Topology "{topology}", which the scenario does '
                    f"not define ({defined}): Kueue keeps every ClusterQueue using the flavor inactive "
                    "(TopologyNotFound); TAS on a flavor without a Topology is not simulated"
                )
        for cq, place in self.cluster_queues.values():
            rg_at = place.key("spec").key("resourceGroups")
            for i, group in enumerate(cq.resource_groups):
                for j, fq in enumerate(group.flavors):
                    if fq.flavor in self.flavors:
                        continue
                    defined = _known_names(self.flavors, RESOURCE_FLAVOR)
                    at = rg_at.index(i).key("flavors").index(j).key("name")
                    raise at.unsupported(
                        f'ClusterQueue "{cq.name}" names ResourceFlavor "{fq.flavor}", which the scenario '
                        f"does not define ({defined}): Kueue keeps the ClusterQueue inactive "
                        "(FlavorNotFound); define the flavor"
                    )
        return m.KueueObjects(
            config=config,
            flavors=tuple(o for o, _ in self.flavors.values()),
            cluster_queues=tuple(o for o, _ in self.cluster_queues.values()),
            local_queues=tuple(o for o, _ in self.local_queues.values()),
            topologies=tuple(o for o, _ in self.topologies.values()),
            priority_classes=tuple(o for o, _ in self.priority_classes.values()),
        )


def _known_names(table: dict, kind: str) -> str:
    return f"{kind}s: {', '.join(table)}" if table else f"it defines no {kind}"


# -- spec.controller.kueue: Kueue's Configuration ---------------------------------------------------------

CONFIG_API_VERSION, CONFIG_KIND = "config.kueue.x-k8s.io/v1beta2", "Configuration"
# Registered integrations (pkg/controller/jobs/*: FrameworkName), the values integrations.frameworks takes.
FRAMEWORKS = (
    "batch/job",
    "kubeflow.org/mpijob",
    "ray.io/rayjob",
    "ray.io/rayservice",
    "ray.io/raycluster",
    "jobset.x-k8s.io/jobset",
    "kubeflow.org/paddlejob",
    "kubeflow.org/pytorchjob",
    "kubeflow.org/tfjob",
    "kubeflow.org/xgboostjob",
    "kubeflow.org/jaxjob",
    "trainer.kubeflow.org/trainjob",
    "workload.codeflare.dev/appwrapper",
    "sparkoperator.k8s.io/sparkapplication",
    "pod",
    "deployment",
    "statefulset",
    m.LWS_FRAMEWORK,
)
# Configuration fields that do not change which LWS groups are admitted, when or where: accepted, ignored.
IGNORED_CONFIG = (
    "apiVersion",
    "kind",
    "namespace",
    "webhook",
    "leaderElection",
    "metrics",
    "health",
    "pprofBindAddress",
    "controller",
    "tls",
    "internalCertManagement",
    "clientConnection",
    "visibilityServer",
)
MODELLED_CONFIG = (
    "enabled",
    "manageJobsWithoutQueueName",
    "waitForPodsReady",
    "integrations",
    "featureGates",
    "objectRetentionPolicies",
)
# Configuration fields that would change admission and are not simulated: refused.
REFUSED_CONFIG = {
    "managedJobsNamespaceSelector": "namespaces are not simulated; lwssim uses Kueue's default selector "
    "(every namespace but kube-system and kueue-system)",
    "multiKueue": "MultiKueue is not simulated",
    "fairSharing": "Fair Sharing is not simulated (lwssim models classical preemption)",
    "admissionFairSharing": "Admission Fair Sharing is not simulated",
    "resources": "resource exclusions, transformations and device class mappings are not simulated: "
    "Workloads request what the pods request",
}
CONFIG_FIELDS = (*MODELLED_CONFIG, *REFUSED_CONFIG, *IGNORED_CONFIG)
# Feature gates at v0.17.0 and their defaults (pkg/features/kube_features.go, the versioned specs up to 0.17).
FEATURE_GATES = {
    "PartialAdmission": True,
    "FlavorFungibility": True,
    "VisibilityOnDemand": True,
    "PrioritySortingWithinCohort": True,
    "FairSharingPreemptWithinNominal": True,
    "FairSharingPrioritizeNonBorrowing": True,
    "MultiKueue": True,
    "LendingLimit": True,
    "MultiKueueBatchJobWithManagedBy": True,
    "TopologyAwareScheduling": True,
    "LocalQueueMetrics": True,
    "LocalQueueDefaulting": True,
    "TASProfileMixed": True,
    "HierarchicalCohorts": True,
    "AdmissionFairSharing": True,
    "ObjectRetentionPolicies": True,
    "TASFailedNodeReplacement": True,
    "ElasticJobsViaWorkloadSlices": False,
    "ElasticJobsViaWorkloadSlicesWithTAS": False,
    "TASFailedNodeReplacementFailFast": True,
    "TASReplaceNodeOnPodTermination": True,
    "ManagedJobsNamespaceSelectorAlwaysRespected": True,
    "TASBalancedPlacement": False,
    "DynamicResourceAllocation": False,
    "DRAExtendedResources": False,
    "MultiKueueAdaptersForCustomJobs": True,
    "WorkloadRequestUseMergePatch": False,
    "SanitizePodSets": True,
    "MultiKueueAllowInsecureKubeconfigs": False,
    "ReclaimablePods": True,
    "PropagateBatchJobLabelsToWorkload": True,
    "MultiKueueClusterProfile": False,
    "FailureRecoveryPolicy": False,
    "SkipFinalizersForPodsSuspendedByParent": True,
    "MultiKueueWaitForWorkloadAdmitted": True,
    "MultiKueueRedoAdmissionOnEvictionInWorker": True,
    "TLSOptions": True,
    "RemoveFinalizersWithStrictPatch": True,
    "TASReplaceNodeOnNodeTaints": True,
    "AssignQueueLabelsForPods": True,
    "TASMultiLayerTopology": False,
    "SchedulingEquivalenceHashing": False,
    "SchedulerLongRequeueInterval": False,
    "SchedulerTimestampPreemptionBuffer": False,
    "CustomMetricLabels": False,
    "SparkApplicationIntegration": False,
    "MultiKueueOrchestratedPreemption": False,
    "PriorityBoost": False,
    "AdmissionGatedBy": False,
    "ShortWorkloadNames": False,
    "FastQuotaReleaseInPodIntegration": False,
}
# Gates whose setting does not touch LWS admission (metrics, the visibility API, TLS, MultiKueue, which
# needs admission checks that are refused, other integrations): any value is accepted.
INERT_GATES = frozenset(
    {
        "VisibilityOnDemand",
        "LocalQueueMetrics",
        "TLSOptions",
        "CustomMetricLabels",
        "SparkApplicationIntegration",
        "PropagateBatchJobLabelsToWorkload",
        "WorkloadRequestUseMergePatch",
        "RemoveFinalizersWithStrictPatch",
    }
    | {g for g in FEATURE_GATES if g.startswith("MultiKueue")}
)
WAIT_FIELDS = ("timeout", "blockAdmission", "requeuingStrategy", "recoveryTimeout")
REQUEUING_FIELDS = ("timestamp", "backoffLimitCount", "backoffBaseSeconds", "backoffMaxSeconds")
EVICTION, CREATION = "Eviction", "Creation"


def kueue_config(raw: Any, where: Where) -> m.KueueConfig:
    """``spec.controller.kueue``: ``enabled`` and Kueue's Configuration, defaulted as ``defaults.go`` and
    validated as ``pkg/config/validation.go`` does. Unknown fields are refused (the schema's check)."""
    c = _fields(where, raw, CONFIG_FIELDS)
    if c.get("apiVersion") not in (None, CONFIG_API_VERSION):
        raise where.key("apiVersion").error(
            f"{show(c['apiVersion'])}: lwssim reads Kueue v0.17.0's {CONFIG_API_VERSION} Configuration"
        )
    if c.get("kind") not in (None, CONFIG_KIND):
        raise where.key("kind").error(f"{show(c['kind'])}: expected {CONFIG_KIND}")
    for key, why in REFUSED_CONFIG.items():
        if c.get(key) is not None:
            raise where.key(key).unsupported(f"{why}; remove {key} to simulate")
    retention = where.key("objectRetentionPolicies")
    workloads = retention.key("workloads").mapping(
        retention.mapping(c.get("objectRetentionPolicies")).get("workloads")
    )
    if workloads.get("afterDeactivatedByKueue") is not None:
        raise (
            retention.key("workloads")
            .key("afterDeactivatedByKueue")
            .unsupported(
                "deleting Workloads Kueue deactivated is not simulated (the LWS integration would create "
                "them anew); remove it to simulate"
            )
        )
    _feature_gates(c.get("featureGates"), where.key("featureGates"))
    config = m.KueueConfig(
        enabled=where.key("enabled").boolean(c.get("enabled"), False),
        frameworks=_frameworks(c.get("integrations"), where.key("integrations")),
        wait_for_pods_ready=_wait_for_pods_ready(c.get("waitForPodsReady"), where.key("waitForPodsReady")),
        manage_jobs_without_queue_name=where.key("manageJobsWithoutQueueName").boolean(
            c.get("manageJobsWithoutQueueName"), False
        ),
    )
    if config.manages_lws:
        _unmodelled_for_lws(config, where)
    return config


def _unmodelled_for_lws(config: m.KueueConfig, where: Where) -> None:
    """Settings that would change how LeaderWorkerSets are admitted and that lwssim does not simulate:
    ``manageJobsWithoutQueueName`` (unlabelled LWS defaulted to the LocalQueue "default",
    ``jobframework.ApplyDefaultLocalQueue``) and ``waitForPodsReady.blockAdmission`` (admission held
    until admitted Workloads are ready, ``WithPodsReadyTracking``)."""
    if config.manage_jobs_without_queue_name:
        raise where.key("manageJobsWithoutQueueName").unsupported(
            "managing LeaderWorkerSets without the kueue.x-k8s.io/queue-name label is not simulated; "
            "label each LeaderWorkerSet with its LocalQueue and remove this field"
        )
    wait = config.wait_for_pods_ready
    if wait is not None and wait.block_admission:
        raise (
            where.key("waitForPodsReady")
            .key("blockAdmission")
            .unsupported(
                "blockAdmission (no admission while admitted Workloads are not ready) is not simulated; "
                "remove it"
            )
        )


def _frameworks(raw: Any, at: Where) -> tuple[str, ...]:
    """``integrations.frameworks``: each a registered integration, once; empty or absent is
    ``["batch/job"]`` (defaults.go), so LeaderWorkerSets are managed only when listed."""
    integrations = at.mapping(raw)
    fw_at = at.key("frameworks")
    out: list[str] = []
    for i, name in enumerate(fw_at.seq(integrations.get("frameworks"))):
        name = fw_at.index(i).string(name)
        if name not in FRAMEWORKS:
            options = ", ".join(f'"{f}"' for f in FRAMEWORKS)
            raise fw_at.index(i).error(f'Unsupported value: "{clip(name)}": supported values: {options}')
        if name in out:
            raise fw_at.index(i).error(f'Duplicate value: "{name}"')
        out.append(name)
    return tuple(out) or ("batch/job",)


def _feature_gates(raw: Any, at: Where) -> None:
    """Kueue refuses unknown gates; lwssim models v0.17.0's defaults and refuses a gate set otherwise,
    unless it does not touch LWS admission (``INERT_GATES``)."""
    for name, value in at.mapping(raw).items():
        g_at = at.key(str(name))
        if name not in FEATURE_GATES:
            raise g_at.error(
                f"unrecognized feature gate: {clip(str(name))} (Kueue v0.17.0's gates: see "
                "pkg/features/kube_features.go)"
            )
        on = g_at.boolean(value)
        if on != FEATURE_GATES[name] and name not in INERT_GATES:
            default = "on" if FEATURE_GATES[name] else "off"
            raise g_at.unsupported(
                f"lwssim models Kueue v0.17.0 with {name} at its default ({default}); remove it to simulate"
            )


def _wait_for_pods_ready(raw: Any, at: Where) -> m.WaitForPodsReady | None:
    """Present = enabled (waitforpodsready.Enabled); ``timeout`` required and > 0; ``recoveryTimeout``
    defaults to timeout ("0s" turns recovery off); requeuing: timestamp Eviction, base 60 s, max 3600 s,
    no limit (defaults.go)."""
    if raw is None:
        return None
    w = _fields(at, raw, WAIT_FIELDS)
    if w.get("timeout") is None:
        raise at.key("timeout").error("Required value: must be specified")
    timeout = at.key("timeout").duration(w["timeout"])
    if timeout <= 0:
        raise at.key("timeout").error("Required value: must be specified (a duration longer than 0s)")
    recovery = None
    if w.get("recoveryTimeout") is not None:
        recovery = at.key("recoveryTimeout").duration(w["recoveryTimeout"])
    r_at = at.key("requeuingStrategy")
    r = _fields(r_at, w.get("requeuingStrategy"), REQUEUING_FIELDS)
    timestamp = _enum(r_at.key("timestamp"), r.get("timestamp"), (CREATION, EVICTION), EVICTION)
    if timestamp == CREATION:
        raise r_at.key("timestamp").unsupported(
            "requeuing by the Workload's creation time is not simulated (lwssim requeues by eviction time, "
            "Kueue's default); remove it or set Eviction"
        )
    limit = None
    if r.get("backoffLimitCount") is not None:
        limit = _int32(r_at.key("backoffLimitCount"), r["backoffLimitCount"], minimum=0)
    return m.WaitForPodsReady(
        timeout=timeout,
        recovery_timeout=recovery,
        block_admission=at.key("blockAdmission").boolean(w.get("blockAdmission"), False),
        backoff_base_seconds=float(
            _int32(r_at.key("backoffBaseSeconds"), r.get("backoffBaseSeconds"), 60, 0)
        ),
        backoff_max_seconds=float(_int32(r_at.key("backoffMaxSeconds"), r.get("backoffMaxSeconds"), 3600, 0)),
        backoff_limit_count=limit,
    )


# -- the LeaderWorkerSets' labels ----------------------------------------------------------------------------


# Topology requests lwssim does not model (slices; jobframework/tas.go: Build).
UNMODELLED_TOPOLOGY = ("kueue.x-k8s.io/podset-slice-required-topology", "kueue.x-k8s.io/podset-slice-size")


def check_lws_templates(spec: LeaderWorkerSetSpec, where: Where, objects: m.KueueObjects) -> None:
    """TAS slices on a queued LeaderWorkerSet's templates are refused: their placement is not simulated."""
    if not objects.config.manages_lws or m.QUEUE_LABEL not in dict(spec.labels):
        return
    for role, template in (
        ("leaderTemplate", spec.leader_template),
        ("workerTemplate", spec.worker_template),
    ):
        for key, _ in template.annotations if template else ():
            if key in UNMODELLED_TOPOLOGY:
                raise (
                    where.key(role)
                    .key("metadata")
                    .key("annotations")
                    .key(key)
                    .unsupported(
                        "TAS slices (podset-slice-required-topology, podset-slice-size) are not simulated; "
                        "use podset-required-topology or podset-preferred-topology"
                    )
                )


def check_lws_labels(labels: tuple[tuple[str, str], ...], where: Where, objects: m.KueueObjects) -> None:
    """What Kueue's LWS webhook checks on create when it manages LeaderWorkerSets
    (``leaderworkerset_webhook.go: validateCreate`` → ``jobframework.ValidateQueueName``): the queue-name
    label is a DNS-1123 subdomain. A LocalQueue that does not exist is not refused (the engine reports
    Kueue's "LocalQueue <name> doesn't exist"). A priority-class label naming no WorkloadPriorityClass is
    not refused either: no webhook checks it, but the LWS reconciler cannot create the Workloads
    (``PrepareWorkloadPriority`` fails with NotFound and retries), so the pods stay gated: a warning."""
    if not objects.config.manages_lws:
        return
    given = dict(labels)
    queue = given.get(m.QUEUE_LABEL)
    if queue is not None:
        check_subdomain(where.key(m.QUEUE_LABEL), queue)
    wpc = given.get(m.PRIORITY_CLASS_LABEL)
    if (
        wpc
        and objects.priority(wpc) is None
        and (queue is not None or objects.config.manage_jobs_without_queue_name)
    ):
        where.key(m.PRIORITY_CLASS_LABEL).warn(
            f'no WorkloadPriorityClass "{clip(wpc)}" in the scenario: Kueue cannot create this '
            "LeaderWorkerSet's Workloads (workloadpriorityclasses.kueue.x-k8s.io \""
            f'{clip(wpc)}" not found), so its pods stay gated'
        )
