"""Workload manifests: dispatch each document by kind, and re-derive after merge patches (events)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from lwssim.manifests import kinds, kueue, llmisvc, lws, priority, provreq
from lwssim.manifests.where import Where
from lwssim.model.autoscaling import PodTemplateObject, ProvisioningRequest
from lwssim.model.lws import Workload
from lwssim.model.scenario import ControllerConfig
from lwssim.model.workloads import DisruptionBudget, PodWorkload, PriorityClass

SUPPORTED = (
    f"{lws.KIND} ({lws.API_VERSION}), {llmisvc.KIND} ({' | '.join(llmisvc.API_VERSIONS)}), "
    + ", ".join(
        f"{k} ({a})" for a, k in sorted(kinds.KINDS | {kinds.PDB, (priority.API_VERSION, priority.KIND)})
    )
    + f", Kueue's {', '.join(kueue.KINDS)} ({' | '.join(kueue.API_VERSIONS)})"
    + f", {provreq.KIND} ({provreq.API_VERSION}), PodTemplate (v1)"
)
Object = (
    Workload
    | PodWorkload
    | DisruptionBudget
    | PriorityClass
    | kueue.KueueObject
    | ProvisioningRequest
    | PodTemplateObject
)


def read_document(
    doc: Any, where: Where, controller: ControllerConfig, source: str, at: float = 0.0
) -> list[Object]:
    """The objects one manifest document defines: LeaderWorkerSets (one per LLMInferenceService role),
    pod workloads, budgets, PriorityClasses, Kueue's objects. ``kind: List`` documents are read item
    by item."""
    obj = where.mapping(doc)
    kind, api = obj.get("kind"), obj.get("apiVersion")
    if kind == "List":
        items_at = where.key("items")
        out: list[Object] = []
        for i, item in enumerate(items_at.seq(obj.get("items"))):
            out += read_document(item, items_at.index(i), controller, source, at)
        return out
    if kind == lws.KIND and api == lws.API_VERSION:
        spec = lws.lws_spec(obj, where, controller)
        return [Workload(spec.name, spec.namespace, lws.KIND, spec, source, at)]
    if kind == llmisvc.KIND and api in llmisvc.API_VERSIONS:
        return [replace(w, at=at) for w in llmisvc.llmisvc_workloads(obj, where, controller, source)]
    if kueue.is_kueue(api, kind):
        return [kueue.kueue_object(obj, where, at)]
    typed = (api, kind) if isinstance(api, str) and isinstance(kind, str) else None
    if typed in kinds.KINDS:
        return [kinds.pod_workload(obj, where, source, at)]
    if typed == kinds.PDB:
        return [kinds.disruption_budget(obj, where, at)]
    if typed == (provreq.API_VERSION, provreq.KIND):
        return [provreq.provisioning_request(obj, where, at)]
    if typed == provreq.POD_TEMPLATE:
        return [provreq.pod_template_object(obj, where)]
    if typed == (priority.API_VERSION, priority.KIND):
        if at > 0:
            raise where.unsupported(
                "a PriorityClass applied later is not simulated: pods are admitted with the classes "
                "the scenario starts with; drop its `at`"
            )
        return [priority.priority_class(obj, where)]
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
    what = f"{kind or '(no kind)'} {api or '(no apiVersion)'}" + (f' "{name}"' if name else "")
    raise where.key("kind").error(f"{what} is not an object lwssim simulates; expected {SUPPORTED}")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def replicas_path(kind: str, workload: str, service: str) -> tuple[str, ...]:
    """Where a scale event writes replicas in the manifest: the LWS's, the LLMISVC's, or its prefill's."""
    if kind == llmisvc.KIND and workload != service:
        return ("spec", "prefill", "replicas")
    return ("spec", "replicas")


def with_value(doc: dict, path: tuple[str, ...], value: Any) -> dict:
    """A copy of ``doc`` with ``path`` set, creating mappings on the way."""
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return out
