"""cluster-autoscaler's ProvisioningRequests (``autoscaling.x-k8s.io/v1``) and the PodTemplates they name →
:mod:`lwssim.model.autoscaling`.

Read as the CRD and cluster-autoscaler-1.34.5 read them (``apis/provisioningrequest/autoscaling.x-k8s.io/v1/
types.go``; ``provisioningrequest/supported_classes.go``): ``spec.provisioningClassName`` (the two classes
cluster-autoscaler serves; it ignores others, which lwssim refuses so that a typo is not a silent no-op),
``spec.podSets[]`` of ``{podTemplateRef: {name}, count}`` (1 to 32 sets), ``spec.parameters`` (a string map;
``noRetry: "true"`` fails a check-capacity request instead of retrying it). A PodTemplate is a
``v1 PodTemplate`` with its ``template``.
"""

from __future__ import annotations

from typing import Any

from lwssim.manifests.kinds import metadata
from lwssim.manifests.podspec import pod_template
from lwssim.manifests.where import Where
from lwssim.model.autoscaling import PROVISIONING_CLASSES, PodTemplateObject, ProvisioningRequest

API_VERSION = "autoscaling.x-k8s.io/v1"
KIND = "ProvisioningRequest"
POD_TEMPLATE = ("v1", "PodTemplate")
MAX_POD_SETS = 32  # types.go: +kubebuilder:validation:MaxItems=32


def provisioning_request(obj: dict, where: Where, at: float) -> ProvisioningRequest:
    name, namespace, _, _ = metadata(obj, where)
    spec_at = where.key("spec")
    spec = spec_at.mapping(obj.get("spec"))
    cls = spec.get("provisioningClassName")
    if cls not in PROVISIONING_CLASSES:
        raise spec_at.key("provisioningClassName").error(
            f"{cls!r} is not a class cluster-autoscaler 1.34 serves: {', '.join(PROVISIONING_CLASSES)}"
        )
    sets_at = spec_at.key("podSets")
    sets = sets_at.seq(spec.get("podSets"))
    if not 1 <= len(sets) <= MAX_POD_SETS:
        raise sets_at.error(f"needs 1 to {MAX_POD_SETS} pod sets, got {len(sets)}")
    pod_sets = []
    for i, raw in enumerate(sets):
        s_at = sets_at.index(i)
        s = s_at.mapping(raw)
        ref = s_at.key("podTemplateRef").mapping(s.get("podTemplateRef"))
        template = s_at.key("podTemplateRef").key("name").string(ref.get("name"))
        count = s.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise s_at.key("count").error(f"must be a whole number of pods, at least 1, got {count!r}")
        pod_sets.append((template, count))
    params: dict[str, Any] = spec_at.key("parameters").string_map(spec.get("parameters"))  # type: ignore[assignment]
    return ProvisioningRequest(
        name=name,
        namespace=namespace,
        class_name=str(cls),
        pod_sets=tuple(pod_sets),
        no_retry=dict(params).get("noRetry") == "true",
        at=at,
    )


def pod_template_object(obj: dict, where: Where) -> PodTemplateObject:
    name, namespace, _, _ = metadata(obj, where)
    return PodTemplateObject(name, namespace, pod_template(obj.get("template"), where.key("template")))
