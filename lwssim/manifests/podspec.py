"""PodTemplateSpec → :class:`PodTemplate`: the parts of a pod that placement, startup and failure depend on.

Unknown fields are ignored (real manifests carry many: env, volumes, command …), but every field lwssim
reads is type-checked and reported with its full path. Fields that change placement and that the model
cannot represent (``topologySpreadConstraints``, ``namespaceSelector``) are refused, not ignored
(docs/design.md: "refuse loudly what the model cannot represent").
"""

from __future__ import annotations

from typing import Any

from lwssim.errors import clip
from lwssim.manifests.limits import MAX_QUANTITY
from lwssim.manifests.where import Where
from lwssim.model.pod import (
    Container,
    LabelSelector,
    NodeSelectorTerm,
    PodAffinityTerm,
    PodTemplate,
    PreferredNodeTerm,
    Probe,
    Requirement,
    Toleration,
)

NODE_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")  # v1.NodeSelectorOperator
LABEL_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")  # metav1.LabelSelectorOperator
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")  # v1.PreemptionPolicy


def _enum(where: Where, value: Any, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``, or "" when not given (admission fills it in)."""
    if value is None:
        return ""
    text = where.string(value)
    if text not in allowed:
        raise where.error(f'Unsupported value: "{clip(text)}": supported values: {", ".join(allowed)}')
    return text


def pod_template(value: Any, where: Where) -> PodTemplate:
    """A PodTemplateSpec (``{metadata, spec}``), e.g. ``leaderWorkerTemplate.workerTemplate``."""
    doc = where.mapping(value)
    meta_at = where.key("metadata")
    meta = meta_at.mapping(doc.get("metadata"))
    return pod_spec(
        doc.get("spec"),
        where.key("spec"),
        labels=meta_at.key("labels").string_map(meta.get("labels")),
        annotations=meta_at.key("annotations").string_map(meta.get("annotations")),
    )


def pod_spec(
    value: Any,
    where: Where,
    labels: tuple[tuple[str, str], ...] = (),
    annotations: tuple[tuple[str, str], ...] = (),
) -> PodTemplate:
    """A PodSpec (KServe's ``template``/``worker`` are bare PodSpecs) with the given metadata."""
    spec = where.mapping(value)
    containers_at = where.key("containers")
    raw_containers = containers_at.seq(spec.get("containers"))
    if not raw_containers:
        raise containers_at.error("Required value: a pod needs at least one container")
    if spec.get("topologySpreadConstraints"):
        raise where.key("topologySpreadConstraints").unsupported(
            "topologySpreadConstraints are not simulated; remove them or express the placement with "
            "node affinity / pod (anti-)affinity"
        )
    affinity_at = where.key("affinity")
    affinity = affinity_at.mapping(spec.get("affinity"))
    required, preferred = _node_affinity(affinity.get("nodeAffinity"), affinity_at.key("nodeAffinity"))
    template = PodTemplate(
        labels=labels,
        annotations=annotations,
        containers=_containers(raw_containers, containers_at),
        init_containers=_containers(
            where.key("initContainers").seq(spec.get("initContainers")), where.key("initContainers")
        ),
        node_selector=where.key("nodeSelector").string_map(spec.get("nodeSelector")),
        required_node_terms=required,
        preferred_node_terms=preferred,
        pod_affinity=_pod_affinity(affinity.get("podAffinity"), affinity_at.key("podAffinity")),
        pod_anti_affinity=_pod_affinity(affinity.get("podAntiAffinity"), affinity_at.key("podAntiAffinity")),
        tolerations=_tolerations(spec.get("tolerations"), where.key("tolerations")),
        scheduler_name=where.key("schedulerName").string(spec.get("schedulerName"), "default-scheduler"),
        # A scenario's pods are admitted with their PriorityClass (manifests/priority.py); a snapshot's
        # pods carry the integer the cluster resolved.
        priority=where.key("priority").integer(spec.get("priority"), 0),
        priority_class_name=where.key("priorityClassName").string(spec.get("priorityClassName"), ""),
        preemption_policy=_enum(
            where.key("preemptionPolicy"), spec.get("preemptionPolicy"), PREEMPTION_POLICIES
        ),
        termination_grace_period=float(
            where.key("terminationGracePeriodSeconds").integer(
                spec.get("terminationGracePeriodSeconds"), 30, minimum=0
            )
        ),
        overhead=tuple(sorted(where.key("overhead").resources(spec.get("overhead")).items())),
    )
    for name, total in template.requests().items():  # each amount is within the limit; their sum too
        if total > MAX_QUANTITY:
            limit = "lwssim's limit of 10^18 for one amount"
            raise containers_at.error(f"the pod requests {total:,} of {clip(name)} in all, beyond {limit}")
    return template


def _containers(items: list, where: Where) -> tuple[Container, ...]:
    out = []
    for i, raw in enumerate(items):
        at = where.index(i)
        c = at.mapping(raw)
        name = at.key("name").string(c.get("name"))
        image_at = at.key("image")
        if c.get("image") is None:
            raise image_at.error("Required value: container image")
        out.append(
            Container(
                name=name,
                image=image_at.string(c.get("image")),
                requests=_requests(c.get("resources"), at.key("resources")),
                startup_probe=_probe(c.get("startupProbe"), at.key("startupProbe")),
                readiness_probe=_probe(c.get("readinessProbe"), at.key("readinessProbe")),
            )
        )
    return tuple(out)


def _requests(value: Any, where: Where) -> tuple[tuple[str, int], ...]:
    """Effective requests: a resource given only in ``limits`` is requested at its limit.

    Kubernetes API defaulting (``SetDefaults_ResourceRequirements``, pkg/apis/core/v1/defaults.go);
    extended resources such as ``nvidia.com/gpu`` or ``rdma/roce_gdr`` are counted like any other.
    """
    res = where.mapping(value)
    limits = where.key("limits").resources(res.get("limits"))
    requests = where.key("requests").resources(res.get("requests"))
    merged = {**limits, **requests}
    return tuple(sorted(merged.items()))


def _probe(value: Any, where: Where) -> Probe | None:
    """Probe timing with kubelet defaults: period 10 s, failureThreshold 3, initial delay 0."""
    if value is None:
        return None
    p = where.mapping(value)
    return Probe(
        initial_delay=float(where.key("initialDelaySeconds").integer(p.get("initialDelaySeconds"), 0, 0)),
        period=float(where.key("periodSeconds").integer(p.get("periodSeconds"), 10, 1)),
        failure_threshold=where.key("failureThreshold").integer(p.get("failureThreshold"), 3, 1),
    )


def _requirements(value: Any, where: Where, operators: tuple[str, ...]) -> tuple[Requirement, ...]:
    out = []
    for i, raw in enumerate(where.seq(value)):
        at = where.index(i)
        r = at.mapping(raw)
        key = at.key("key").string(r.get("key"))
        op = at.key("operator").string(r.get("operator"))
        if op not in operators:
            raise at.key("operator").error(
                f'Unsupported value: "{op}": supported values: {", ".join(operators)}'
            )
        values = tuple(
            at.key("values").index(j).string(v) for j, v in enumerate(at.key("values").seq(r.get("values")))
        )
        if op in ("In", "NotIn") and not values:
            raise at.key("values").error(f"Required value: must be specified when `operator` is '{op}'")
        if op in ("Exists", "DoesNotExist") and values:
            raise at.key("values").error(f"Forbidden: may not be specified when `operator` is '{op}'")
        if op in ("Gt", "Lt") and len(values) != 1:
            raise at.key("values").error(
                f"Required value: must be specified single value when `operator` is '{op}'"
            )
        out.append(Requirement(key, op, values))
    return tuple(out)


def _node_term(value: Any, where: Where) -> NodeSelectorTerm:
    t = where.mapping(value)
    fields = _requirements(t.get("matchFields"), where.key("matchFields"), NODE_SELECTOR_OPERATORS)
    for i, f in enumerate(fields):
        if f.key != "metadata.name":
            raise (
                where.key("matchFields")
                .index(i)
                .key("key")
                .error(f'Unsupported value: "{f.key}": supported values: "metadata.name"')
            )
    return NodeSelectorTerm(
        match_expressions=_requirements(
            t.get("matchExpressions"), where.key("matchExpressions"), NODE_SELECTOR_OPERATORS
        ),
        match_fields=fields,
    )


def _node_affinity(
    value: Any, where: Where
) -> tuple[tuple[NodeSelectorTerm, ...], tuple[PreferredNodeTerm, ...]]:
    na = where.mapping(value)
    req_at = where.key("requiredDuringSchedulingIgnoredDuringExecution")
    req = req_at.mapping(na.get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms_at = req_at.key("nodeSelectorTerms")
    required = tuple(
        _node_term(t, terms_at.index(i)) for i, t in enumerate(terms_at.seq(req.get("nodeSelectorTerms")))
    )
    if req and not required:
        raise terms_at.error("Required value: must have at least one node selector term")
    pref_at = where.key("preferredDuringSchedulingIgnoredDuringExecution")
    preferred = []
    for i, raw in enumerate(pref_at.seq(na.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        at = pref_at.index(i)
        p = at.mapping(raw)
        weight = at.key("weight").integer(p.get("weight"))
        if not 1 <= weight <= 100:
            raise at.key("weight").error(f"Invalid value: {weight}: must be in the range 1-100")
        preferred.append(PreferredNodeTerm(weight, _node_term(p.get("preference"), at.key("preference"))))
    return required, tuple(preferred)


def label_selector(value: Any, where: Where) -> LabelSelector:
    s = where.mapping(value)
    return LabelSelector(
        match_labels=where.key("matchLabels").string_map(s.get("matchLabels")),
        match_expressions=_requirements(
            s.get("matchExpressions"), where.key("matchExpressions"), LABEL_SELECTOR_OPERATORS
        ),
    )


def _pod_affinity(value: Any, where: Where) -> tuple[PodAffinityTerm, ...]:
    """Required (anti-)affinity terms; preferred terms only score and are not simulated."""
    pa = where.mapping(value)
    req_at = where.key("requiredDuringSchedulingIgnoredDuringExecution")
    out = []
    for i, raw in enumerate(req_at.seq(pa.get("requiredDuringSchedulingIgnoredDuringExecution"))):
        at = req_at.index(i)
        t = at.mapping(raw)
        if t.get("namespaceSelector") is not None:
            raise at.key("namespaceSelector").unsupported(
                "namespaceSelector is not simulated; list the namespaces in `namespaces` instead"
            )
        topology_key = at.key("topologyKey").string(t.get("topologyKey"))
        if not topology_key:
            raise at.key("topologyKey").error("Required value: can not be empty")
        ns_at = at.key("namespaces")
        out.append(
            PodAffinityTerm(
                selector=label_selector(t.get("labelSelector"), at.key("labelSelector")),
                topology_key=topology_key,
                namespaces=tuple(
                    ns_at.index(j).string(n) for j, n in enumerate(ns_at.seq(t.get("namespaces")))
                ),
            )
        )
    return tuple(out)


def _tolerations(value: Any, where: Where) -> tuple[Toleration, ...]:
    out = []
    for i, raw in enumerate(where.seq(value)):
        at = where.index(i)
        t = at.mapping(raw)
        key = at.key("key").string(t.get("key"), "")
        op = at.key("operator").string(t.get("operator"), "Equal")
        if op not in ("Equal", "Exists"):
            raise at.key("operator").error(f'Unsupported value: "{op}": supported values: "Equal", "Exists"')
        value_ = at.key("value").string(t.get("value"), "")
        if op == "Exists" and value_:
            raise at.key("operator").error("Invalid value: value must be empty when `operator` is 'Exists'")
        if not key and op != "Exists":
            raise at.key("operator").error("Invalid value: operator must be Exists when `key` is empty")
        effect = at.key("effect").string(t.get("effect"), "")
        if effect and effect not in TAINT_EFFECTS:
            raise at.key("effect").error(
                f'Unsupported value: "{effect}": supported values: {", ".join(TAINT_EFFECTS)}'
            )
        seconds = t.get("tolerationSeconds")
        out.append(
            Toleration(
                key=key,
                operator=op,
                value=value_,
                effect=effect,
                toleration_seconds=None
                if seconds is None
                else float(at.key("tolerationSeconds").integer(seconds)),
            )
        )
    return tuple(out)
