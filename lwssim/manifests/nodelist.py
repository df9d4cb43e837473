"""Existing nodes and bound pods from ``kubectl get nodes -o yaml|json`` or ``lwssim snapshot`` output.

Accepted: a ``NodeList``, a ``List`` of Nodes and Pods, or bare ``Node``/``Pod`` documents. Nodes offer
``status.allocatable`` (falling back to ``status.capacity``, as kube-scheduler's NodeInfo does when
allocatable is unset); bound pods in a non-terminal phase hold resources and count for (anti-)affinity.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from lwssim.manifests.podspec import TAINT_EFFECTS, pod_spec
from lwssim.manifests.where import Where
from lwssim.manifests.yamlio import load_documents
from lwssim.model.cluster import ExistingPod, Node
from lwssim.model.pod import Taint

TERMINAL_PHASES = ("Succeeded", "Failed")


def load_nodes(
    path: Path, shown: str, referenced_by: Where | None = None
) -> tuple[list[Node], list[ExistingPod]]:
    """Read a node/pod listing file; ``shown`` is how messages name it."""
    docs = load_documents(path, shown, referenced_by)
    nodes: list[Node] = []
    pods: list[ExistingPod] = []
    for d, doc in enumerate(docs):
        where = Where(shown if len(docs) == 1 else f"{shown} (document {d + 1})")
        read_objects(doc, where, nodes, pods)
    if not nodes:  # a PodList, or pods alone: nothing to place them on
        kinds = sorted({str(d.get("kind")) for d in docs if isinstance(d, dict)}) or ["nothing"]
        raise (referenced_by or Where(shown)).error(
            f"{shown} lists no Node (it holds {', '.join(kinds)}); expected a NodeList "
            "(kubectl get nodes -o yaml), a List of Nodes and bound Pods (lwssim snapshot) or Node documents"
        )
    return nodes, pods


def read_objects(doc: Any, where: Where, nodes: list[Node], pods: list[ExistingPod]) -> None:
    obj = where.mapping(doc)
    kind = obj.get("kind")
    if kind in ("NodeList", "List", "PodList"):
        items_at = where.key("items")
        for i, item in enumerate(items_at.seq(obj.get("items"))):
            read_objects(item, items_at.index(i), nodes, pods)
    elif kind == "Node":
        nodes.append(node(obj, where))
    elif kind == "Pod":
        pod = existing_pod(obj, where)
        if pod is not None:
            pods.append(pod)
    else:
        raise where.key("kind").error(f'expected NodeList, List, Node or Pod, got "{kind}"')


def node(obj: dict, where: Where) -> Node:
    meta_at, spec_at, status_at = where.key("metadata"), where.key("spec"), where.key("status")
    meta = meta_at.mapping(obj.get("metadata"))
    spec = spec_at.mapping(obj.get("spec"))
    status = status_at.mapping(obj.get("status"))
    name = meta_at.key("name").string(meta.get("name"))
    if status.get("allocatable") is not None:
        allocatable = status_at.key("allocatable").resources(status.get("allocatable"))
    else:
        allocatable = status_at.key("capacity").resources(status.get("capacity"))
    taints = []
    taints_at = spec_at.key("taints")
    for i, raw in enumerate(taints_at.seq(spec.get("taints"))):
        taints.append(taint(raw, taints_at.index(i)))
    images: list[tuple[str, int]] = []
    images_at = status_at.key("images")
    for i, raw in enumerate(images_at.seq(status.get("images"))):
        at = images_at.index(i)
        img = at.mapping(raw)
        size = at.key("sizeBytes").integer(img.get("sizeBytes"), 0, minimum=0)
        names_at = at.key("names")
        images.extend(
            (names_at.index(j).string(n), size) for j, n in enumerate(names_at.seq(img.get("names")))
        )
    return Node(
        name=name,
        allocatable=tuple(sorted(allocatable.items())),
        labels=meta_at.key("labels").string_map(meta.get("labels")),
        taints=tuple(taints),
        unschedulable=spec_at.key("unschedulable").boolean(spec.get("unschedulable"), False),
        images=tuple(sorted(set(images))),
    )


def taint(raw: Any, at: Where) -> Taint:
    t = at.mapping(raw)
    effect = at.key("effect").string(t.get("effect"))
    if effect not in TAINT_EFFECTS:
        raise at.key("effect").error(
            f'Unsupported value: "{effect}": supported values: {", ".join(TAINT_EFFECTS)}'
        )
    return Taint(
        key=at.key("key").string(t.get("key")),
        value=at.key("value").string(t.get("value"), ""),
        effect=effect,
    )


def existing_pod(obj: dict, where: Where) -> ExistingPod | None:
    """A bound, non-terminal pod; others (pending, finished) hold nothing and are skipped.

    Placement-only fields the simulator cannot represent are dropped rather than refused here: the pod is
    already placed, and a snapshot must load whatever else runs on the cluster.
    """
    meta_at, spec_at = where.key("metadata"), where.key("spec")
    meta = meta_at.mapping(obj.get("metadata"))
    spec = spec_at.mapping(obj.get("spec"))
    status = where.key("status").mapping(obj.get("status"))
    node_name = spec.get("nodeName")
    if not node_name or status.get("phase") in TERMINAL_PHASES:
        return None
    spec = copy.deepcopy(spec)
    spec.pop("topologySpreadConstraints", None)
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = ((spec.get("affinity") or {}).get(kind) or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        for term in terms or []:
            if isinstance(term, dict):
                term.pop("namespaceSelector", None)
    template = pod_spec(
        spec,
        spec_at,
        labels=meta_at.key("labels").string_map(meta.get("labels")),
        annotations=meta_at.key("annotations").string_map(meta.get("annotations")),
    )
    return ExistingPod(
        name=meta_at.key("name").string(meta.get("name")),
        namespace=meta_at.key("namespace").string(meta.get("namespace"), "default"),
        node=spec_at.key("nodeName").string(node_name),
        template=template,
    )
