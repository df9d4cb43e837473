"""Snapshot cleaning keeps what placement needs, drops secrets, and loads back as spec.cluster.nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lwssim.kube import snapshot
from lwssim.manifests.nodelist import load_nodes

NODE = {
    "metadata": {
        "name": "n0",
        "labels": {"rack": "r0"},
        "annotations": {"secret": "x"},
        "managedFields": [{}],
    },
    "spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}], "providerID": "aws:///i-1"},
    "status": {
        "capacity": {"nvidia.com/gpu": "8", "cpu": "96"},
        "allocatable": {"nvidia.com/gpu": "8", "cpu": "95"},
        "images": [{"names": ["vllm:1"], "sizeBytes": 10}],
        "conditions": [{"type": "Ready", "status": "True", "message": "ok"}, {"type": "DiskPressure"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
    },
}
POD = {
    "metadata": {"name": "p0", "namespace": "ml", "labels": {"app": "x"}, "annotations": {"a": "b"}},
    "spec": {
        "nodeName": "n0",
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "containers": [
            {
                "name": "c",
                "image": "vllm:1",
                "env": [{"name": "TOKEN", "value": "s3cret"}],
                "resources": {"requests": {"nvidia.com/gpu": "4"}},
            }
        ],
        "volumes": [{"name": "v", "secret": {"secretName": "s"}}],
    },
    "status": {"phase": "Running", "podIP": "10.1.1.1"},
}


def test_clean_drops_secrets_and_noise() -> None:
    doc = snapshot.build_list([NODE], [POD])
    text = yaml.safe_dump(doc)
    for leaked in ("s3cret", "TOKEN", "secretName", "managedFields", "providerID", "10.0.0.1", "annotations"):
        assert leaked not in text
    node, pod = doc["items"]
    assert node["status"]["allocatable"]["cpu"] == "95"
    assert node["status"]["images"] == [{"names": ["vllm:1"], "sizeBytes": 10}]
    assert pod["spec"]["containers"] == [
        {"name": "c", "image": "vllm:1", "resources": {"requests": {"nvidia.com/gpu": "4"}}}
    ]


def test_unbound_terminal_and_orphan_pods_are_left_out() -> None:
    pending = {**POD, "spec": {**POD["spec"], "nodeName": None}}
    done = {**POD, "status": {"phase": "Succeeded"}}
    orphan = {**POD, "spec": {**POD["spec"], "nodeName": "gone"}}
    doc = snapshot.build_list([NODE], [pending, done, orphan])
    assert [i["kind"] for i in doc["items"]] == ["Node"]


def test_round_trip_into_the_node_loader(tmp_path: Path) -> None:
    path = tmp_path / "snap.yaml"
    path.write_text(snapshot.dump(snapshot.build_list([NODE], [POD])))
    nodes, pods = load_nodes(path, str(path))
    assert [n.name for n in nodes] == ["n0"]
    assert dict(nodes[0].allocatable)["nvidia.com/gpu"] == 8
    assert nodes[0].images == (("vllm:1", 10),)
    assert nodes[0].taints[0].key == "gpu"
    assert [(p.name, p.namespace, p.node) for p in pods] == [("p0", "ml", "n0")]
    assert pods[0].template.requests()["nvidia.com/gpu"] == 4


def test_write_new_never_overwrites_without_force(tmp_path: Path) -> None:
    path = tmp_path / "out.yaml"
    path.write_text("mine")
    with pytest.raises(FileExistsError):
        snapshot.write_new(str(path), "new", force=False)
    assert path.read_text() == "mine"
    snapshot.write_new(str(path), "new", force=True)
    assert path.read_text() == "new"
