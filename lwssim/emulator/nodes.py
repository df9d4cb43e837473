"""Fake GPU Nodes for KWOK: capacity, topology labels and the annotation that hands them to kwok.

Node ``i`` of pool ``gpu`` is named ``gpu-<i>``; with ``--topology example.com/rack=4`` it gets the
label ``example.com/rack: gpu-rack-<i // 4>`` (the segment after the last ``/`` or ``.`` of the key
names the domain kind).  KWOK manages only nodes annotated ``kwok.x-k8s.io/node=fake`` and gives
them status (Ready, addresses) through the node stages; capacity is set here at creation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class NodeSpec:
    """Shape of a pool of identical fake GPU nodes."""

    count: int = 2
    gpus_per_node: int = 8
    cpu: str = "96"
    memory: str = "1024Gi"
    pods: str = "110"
    pool: str = "gpu"
    topology: dict[str, int] = field(default_factory=dict)  # label key -> nodes per domain
    labels: dict[str, str] = field(default_factory=dict)


def domain_word(key: str) -> str:
    """Short name of a topology level from its label key: ``example.com/rack`` -> ``rack``."""
    tail = key.rsplit("/", 1)[-1]
    tail = tail.rsplit(".", 1)[-1]
    return re.sub(r"[^a-z0-9-]", "-", tail.lower()) or "domain"


def parse_topology(items: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Parse ``KEY=SIZE`` options (e.g. ``example.com/rack=4``)."""
    out: dict[str, int] = {}
    for item in items:
        key, sep, size = item.partition("=")
        if not sep or not key or not size.isdigit() or int(size) < 1:
            raise ValueError(f"--topology wants KEY=SIZE with SIZE >= 1, got {item!r}")
        out[key] = int(size)
    return out


def node_manifests(spec: NodeSpec) -> list[dict[str, Any]]:
    """Node objects for the pool, status capacity included (KWOK keeps what is given)."""
    nodes = []
    resources = {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods}
    if spec.gpus_per_node > 0:
        resources[GPU_RESOURCE] = str(spec.gpus_per_node)
    for i in range(spec.count):
        name = f"{spec.pool}-{i}"
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
            "lwssim.emulator/pool": spec.pool,
            **spec.labels,
        }
        for key, size in spec.topology.items():
            labels[key] = f"{spec.pool}-{domain_word(key)}-{i // size}"
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                },
                # No taint: LWS workloads need no toleration to land on these nodes.
                "spec": {},
                "status": {"capacity": dict(resources), "allocatable": dict(resources)},
            }
        )
    return nodes


def create_nodes(api_client: Any, spec: NodeSpec) -> list[str]:
    """Create (or replace) the pool's Nodes; returns their names."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    v1 = client.CoreV1Api(api_client)
    names = []
    for body in node_manifests(spec):
        name = body["metadata"]["name"]
        try:
            v1.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            v1.delete_node(name)
            v1.create_node(body)
        # The apiserver drops status on create; set capacity through the status subresource.
        v1.patch_node_status(name, {"status": body["status"]})
        names.append(name)
    return names
