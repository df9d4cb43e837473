"""``lwssim snapshot``: the live cluster as a Kubernetes ``List`` of Nodes and bound Pods.

The output is what ``spec.cluster.nodes`` of a scenario reads (lwssim/manifests/nodelist.py): node
capacity, allocatable, labels, taints and cached images; pods with their placement-relevant spec. Anything
the simulator does not need is dropped, so a snapshot carries no secrets: no env, no volumes, no
annotations except the few scheduling reads, no managedFields, no status except node capacity and images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lwssim.kube.client import Connection, to_dict

TERMINAL = ("Succeeded", "Failed")
# Pod spec fields placement depends on (kube-scheduler filters/scores, pod overhead, priority).
POD_SPEC_KEEP = (
    "nodeName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "schedulerName",
    "priority",
    "priorityClassName",
    "overhead",
    "terminationGracePeriodSeconds",
)
CONTAINER_KEEP = ("name", "image", "resources")
NODE_CONDITIONS_KEEP = ("Ready",)


def clean_node(node: dict) -> dict:
    """A Node reduced to name, labels, taints, unschedulable, capacity, allocatable, images, Ready."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    out_spec = {k: spec[k] for k in ("taints", "unschedulable") if spec.get(k)}
    out_status: dict[str, Any] = {
        k: status[k] for k in ("capacity", "allocatable") if status.get(k) is not None
    }
    images = [
        {"names": list(i.get("names") or []), "sizeBytes": int(i.get("sizeBytes") or 0)}
        for i in status.get("images") or []
        if i.get("names")
    ]
    if images:
        out_status["images"] = images
    conds = [
        {"type": c.get("type"), "status": c.get("status")}
        for c in status.get("conditions") or []
        if c.get("type") in NODE_CONDITIONS_KEEP
    ]
    if conds:
        out_status["conditions"] = conds
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": meta.get("name"), "labels": dict(meta.get("labels") or {})},
        "spec": out_spec,
        "status": out_status,
    }


def _container(c: dict) -> dict:
    return {k: c[k] for k in CONTAINER_KEEP if c.get(k) is not None}


def clean_pod(pod: dict) -> dict | None:
    """A bound, non-terminal Pod with placement fields only; None for pods that hold nothing."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in TERMINAL:
        return None
    out_spec: dict[str, Any] = {k: spec[k] for k in POD_SPEC_KEEP if spec.get(k) is not None}
    out_spec["containers"] = [_container(c) for c in spec.get("containers") or []]
    if spec.get("initContainers"):
        out_spec["initContainers"] = [_container(c) for c in spec["initContainers"]]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace") or "default",
            "labels": dict(meta.get("labels") or {}),
        },
        "spec": out_spec,
        "status": {"phase": status.get("phase") or "Pending"},
    }


def build_list(nodes: list[dict], pods: list[dict]) -> dict:
    """The ``List`` document: nodes sorted by name, then pods bound to a listed node, sorted by ns/name."""
    clean_nodes = sorted((clean_node(n) for n in nodes), key=lambda n: n["metadata"]["name"])
    names = {n["metadata"]["name"] for n in clean_nodes}
    clean_pods = [p for p in (clean_pod(p) for p in pods) if p and p["spec"]["nodeName"] in names]
    clean_pods.sort(key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": clean_nodes + clean_pods}


def take(conn: Connection) -> dict:
    """Read nodes and pods (all namespaces) from the cluster and build the snapshot ``List``."""
    from kubernetes import client

    v1 = client.CoreV1Api(conn.api)
    nodes = to_dict(conn.api, v1.list_node(_request_timeout=30))["items"]
    pods = to_dict(
        conn.api,
        v1.list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed", _request_timeout=60
        ),
    )["items"]
    return build_list(nodes, pods)


def dump(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def write_new(path: str, text: str, force: bool) -> None:
    """Write ``text`` to ``path``; refuse to replace an existing file unless ``force`` (user data is kept).

    Raises FileExistsError (the caller turns it into exit 2) rather than ever truncating what exists.
    """
    target = Path(path)
    if force:
        tmp = target.with_name(f".{target.name}.lwssim-tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        return
    with target.open("x", encoding="utf-8") as fh:  # exclusive create: atomic check-and-create
        fh.write(text)
