"""Preflight's pure checks: each fails on the trap it names and passes on a fixed manifest."""

from __future__ import annotations

import copy

from support import GPU, lws

from lwssim.kube import checks as C
from lwssim.manifests.lws import lws_spec
from lwssim.manifests.where import Where
from lwssim.model.cluster import Node
from lwssim.model.lws import Workload
from lwssim.model.pod import Taint

DOC = lws(
    replicas=2,
    worker_spec={"containers": [{"name": "c", "image": "i", "resources": {"requests": {GPU: "8"}}}]},
)


def _nodes(n: int = 4, rack: int = 2, taint: bool = False) -> list[Node]:
    return [
        Node(
            f"g{i}",
            (("nvidia.com/gpu", 8), ("pods", 110)),
            (("rack", f"r{i // rack}"),),
            (Taint("gpu", "true", "NoSchedule"),) if taint else (),
        )
        for i in range(n)
    ]


def _workload(doc: dict) -> Workload:
    spec = lws_spec(doc, Where("t.yaml"))
    return Workload(spec.name, spec.namespace, "LeaderWorkerSet", spec)


def test_name_length() -> None:
    assert C.name_length(DOC, "x").status == C.PASS
    long = copy.deepcopy(DOC)
    long["metadata"]["name"] = "a" * 55
    check = C.name_length(long, "x")
    assert check.status == C.FAIL and "too long" in check.message


def test_name_length_of_llmisvc_counts_the_kserve_suffix() -> None:
    doc = {
        "kind": "LLMInferenceService",
        "metadata": {"name": "b" * 45},
        "spec": {"worker": {}, "parallelism": {"data": 4, "dataLocal": 1}},
    }
    assert C.lws_shape(doc) == ("b" * 45 + "-kserve-mn", 1, 4)
    assert C.name_length(doc, "x").status == C.FAIL


def test_max_unavailable_zero_trap_before_v09_only() -> None:
    doc = copy.deepcopy(DOC)
    doc["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 1}}
    assert C.max_unavailable_trap(doc, "x", (0, 7, 0)).status == C.FAIL
    assert C.max_unavailable_trap(doc, "x", (0, 9, 0)).status == C.PASS
    assert C.max_unavailable_trap(DOC, "x", (0, 7, 0)).status == C.PASS


def test_resources_exist() -> None:
    w = _workload(DOC)
    assert C.resources_exist(w, _nodes()).status == C.PASS
    doc = copy.deepcopy(DOC)
    doc["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["resources"] = {
        "requests": {"nvidia.com/h200": "1"}
    }
    check = C.resources_exist(_workload(doc), _nodes())
    assert check.status == C.FAIL and "nvidia.com/h200" in check.message


def test_taints_without_toleration_fail_node_match() -> None:
    w = _workload(DOC)
    assert C.node_match(w, _nodes()).status == C.PASS
    check = C.node_match(w, _nodes(taint=True))
    assert check.status == C.FAIL and "gpu=true:NoSchedule" in check.message


def test_exclusive_topology() -> None:
    doc = copy.deepcopy(DOC)
    doc["metadata"]["annotations"] = {"leaderworkerset.sigs.k8s.io/exclusive-topology": "rack"}
    assert C.exclusive_topology(_workload(doc), _nodes(), []).status == C.PASS
    assert C.exclusive_topology(_workload(doc), _nodes(rack=4), []).status == C.WARN  # 1 domain, 2 groups
    doc["metadata"]["annotations"] = {"leaderworkerset.sigs.k8s.io/exclusive-topology": "zone"}
    assert C.exclusive_topology(_workload(doc), _nodes(), []).status == C.FAIL
    assert C.exclusive_topology(_workload(DOC), _nodes(), []) is None


def test_quota() -> None:
    requests, pods = C.total_requests([_workload(DOC)])
    assert requests["nvidia.com/gpu"] == 32 and pods == 4
    quota = {
        "metadata": {"name": "q"},
        "spec": {"hard": {"requests.nvidia.com/gpu": "40", "pods": "10"}},
        "status": {"used": {"requests.nvidia.com/gpu": "16"}},
    }
    [check] = C.quota(requests, pods, [quota])
    assert check.status == C.FAIL and "need 32, 24 left" in check.message
    quota["status"]["used"] = {}
    assert C.quota(requests, pods, [quota])[0].status == C.PASS
