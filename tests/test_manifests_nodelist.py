"""Nodes and bound pods from kubectl / lwssim snapshot listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwssim.errors import InputError
from lwssim.manifests.nodelist import load_nodes

DATA = Path(__file__).parent / "data"


def test_list_of_nodes_and_pods():
    nodes, pods = load_nodes(DATA / "nodes.yaml", "nodes.yaml")
    a, b = nodes
    assert dict(a.allocatable) == {"cpu": 191500, "memory": 2000 * 2**30, "nvidia.com/gpu": 8, "pods": 110}
    assert a.taints[0].key == "nvidia.com/gpu" and dict(a.labels)["example.com/rack"] == "r1"
    assert ("vllm/vllm-openai:v0.8.5", 12000000000) in a.images
    assert dict(b.allocatable) == {"cpu": 96000, "nvidia.com/gpu": 4}  # capacity fallback
    assert b.unschedulable
    # only the bound, running pod; its topologySpreadConstraints are dropped, not refused
    assert [(p.name, p.namespace, p.node) for p in pods] == [("other", "team-a", "gpu-a")]
    assert pods[0].template.requests() == {"nvidia.com/gpu": 2}


def test_json_nodelist(tmp_path):
    f = tmp_path / "n.json"
    f.write_text(
        '{"apiVersion": "v1", "kind": "NodeList", "items": [{"kind": "Node", "metadata": {"name": "x"},'
        ' "status": {"allocatable": {"cpu": "4"}}}]}'
    )
    nodes, _ = load_nodes(f, "n.json")
    assert nodes[0].name == "x" and dict(nodes[0].allocatable) == {"cpu": 4000}


def test_bad_allocatable_has_path(tmp_path):
    f = tmp_path / "n.yaml"
    f.write_text(
        "kind: NodeList\nitems:\n- kind: Node\n  metadata: {name: x}\n  status: {allocatable: {cpu: lots}}\n"
    )
    with pytest.raises(InputError) as info:
        load_nodes(f, "n.yaml")
    assert (info.value.file, info.value.field) == ("n.yaml", "items[0].status.allocatable.cpu")


def test_other_kind_rejected(tmp_path):
    f = tmp_path / "n.yaml"
    f.write_text("kind: Deployment\n")
    with pytest.raises(InputError, match="NodeList"):
        load_nodes(f, "n.yaml")
