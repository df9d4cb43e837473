"""Preflight's pure checks: each fails on the trap it names, says so in numbers and names (the subject,
the resource or constraint, what is asked, what the best node, domain or quota offers), and passes on a
fixed manifest."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from support import GPU, Bench, container, lws, node, template

from lwssim.kube import checks as C
from lwssim.kube import fit
from lwssim.kube.manifests import load as load_manifests
from lwssim.kube.preflight import manifest_checks, read_snapshot, simulation
from lwssim.kube.snapshot import build_list
from lwssim.manifests.lws import lws_spec
from lwssim.manifests.where import Where
from lwssim.model.cluster import Node
from lwssim.model.lws import Workload
from lwssim.model.pod import Taint, Toleration

DOC = lws(
    replicas=2,
    worker_spec={"containers": [{"name": "c", "image": "i", "resources": {"requests": {GPU: "8"}}}]},
)
EXCLUSIVE = "leaderworkerset.sigs.k8s.io/exclusive-topology"


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


def _requests(doc: dict, requests: dict, role: str = "workerTemplate") -> dict:
    doc = copy.deepcopy(doc)
    lwt = doc["spec"]["leaderWorkerTemplate"]
    if role not in lwt:
        lwt[role] = copy.deepcopy(lwt["workerTemplate"])
    lwt[role]["spec"]["containers"][0]["resources"] = {"requests": requests}
    return doc


def _one(check: C.Check, **match: object) -> C.Shortfall:
    found = [s for s in check.shortfalls if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, check.shortfalls)
    return found[0]


# -- raw manifest checks ------------------------------------------------------------------------------------


def test_name_length_says_how_long_and_how_long_it_may_be() -> None:
    assert C.name_length(DOC, "x").status == C.PASS and not C.name_length(DOC, "x").shortfalls
    long = copy.deepcopy(DOC)
    long["metadata"]["name"] = "a" * 55
    check = C.name_length(long, "LeaderWorkerSet/aaa")
    assert check.status == C.FAIL and "too long" in check.message and check.subject == "LeaderWorkerSet/aaa"
    short = _one(check, constraint="nameLength")
    assert short.asked == 55 and short.offered < 55
    assert f"at most {short.offered} characters (it has 55)" in check.fix
    # the limit is the rule's own: a name of that length fits, one character more does not
    fits, over = copy.deepcopy(DOC), copy.deepcopy(DOC)
    fits["metadata"]["name"] = "a" * short.offered
    over["metadata"]["name"] = "a" * (short.offered + 1)
    assert C.name_length(fits, "x").status == C.PASS and C.name_length(over, "x").status == C.FAIL


def test_name_length_of_llmisvc_counts_the_kserve_suffix() -> None:
    doc = {
        "kind": "LLMInferenceService",
        "metadata": {"name": "b" * 45},
        "spec": {"worker": {}, "parallelism": {"data": 4, "dataLocal": 1}},
    }
    assert C.lws_shape(doc) == ("b" * 45 + "-kserve-mn", 1, 4)
    check = C.name_length(doc, "x")
    short = _one(check, constraint="nameLength")
    assert check.status == C.FAIL and short.asked == 45  # the name the user wrote, without -kserve-mn
    doc["metadata"]["name"] = "b" * short.offered
    assert C.name_length(doc, "x").status == C.PASS


def test_max_unavailable_zero_trap_before_v09_only() -> None:
    doc = copy.deepcopy(DOC)
    doc["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 1}}
    check = C.max_unavailable_trap(doc, "LeaderWorkerSet/llm", (0, 7, 0))
    assert check.status == C.FAIL and check.subject == "LeaderWorkerSet/llm"
    assert "spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable is 0" in check.message
    assert "LWS v0.7.0" in check.message and "from v0.7.0 to v0.9+" in check.fix
    short = _one(check, constraint="maxUnavailable")
    assert (short.asked, short.offered) == (0, 1)
    assert C.max_unavailable_trap(doc, "x", (0, 9, 0)).status == C.PASS
    assert C.max_unavailable_trap(DOC, "x", (0, 7, 0)).status == C.PASS


# -- placement --------------------------------------------------------------------------------------------


def test_resources_exist_names_the_role_the_resource_and_the_amount() -> None:
    w = _workload(DOC)
    assert C.resources_exist(w, _nodes()).status == C.PASS
    doc = _requests(DOC, {"nvidia.com/h200": "2"})
    doc = _requests(doc, {GPU: "8"}, role="leaderTemplate")  # the leader asks for what exists
    check = C.resources_exist(_workload(doc), _nodes())
    assert check.status == C.FAIL and check.subject == "llm"
    assert check.message.startswith("worker pods of llm (spec.leaderWorkerTemplate.workerTemplate) request 2")
    assert "0/4 nodes allocate nvidia.com/h200" in check.message
    assert "nodes offer nvidia.com/gpu" in check.fix  # the likely typo's neighbour
    short = _one(check, resource="nvidia.com/h200")
    assert (short.role, short.asked, short.offered, short.node_count) == ("worker", 2, 0, 4)


def test_node_match_too_big_says_how_much_is_asked_and_allocated() -> None:
    """The issue's case: 6 nodes of 8 GPUs, pods of 16."""
    nodes = [node(f"gpu-{i}") for i in range(6)]
    check = C.node_match(_workload(lws("toobig", replicas=2, gpus=16)), nodes)
    assert check.status == C.FAIL and check.subject == "toobig"
    assert (
        "leader and worker pods of toobig (spec.leaderWorkerTemplate.workerTemplate) request 16 "
        "nvidia.com/gpu; the largest matching node (gpu-0 … gpu-5) allocates 8" in check.message
    )
    assert check.message.endswith("0/6 nodes are available: 6 Insufficient nvidia.com/gpu.")
    assert "request at most 8 nvidia.com/gpu per leader and worker pod, or add nodes with ≥ 16" in check.fix
    for role in ("leader", "worker"):
        short = _one(check, role=role)
        assert (short.constraint, short.resource, short.asked, short.offered) == (
            "NodeResourcesFit",
            GPU,
            16,
            8,
        )
        assert short.node_count == 6 and short.offered_by == tuple(f"gpu-{i}" for i in range(6))
    assert C.node_match(_workload(lws("fits", gpus=8)), nodes).status == C.PASS


def test_node_match_fit_error_is_the_schedulers_own() -> None:
    """The FitError preflight prints is the first sentence of the one the simulated scheduler records."""
    nodes = [node("a", gpus=8), node("b", gpus=4, taints=(Taint("x", "y"),)), node("c", cpu=1000)]
    tmpl = template(gpus=16, requests={GPU: 16, "cpu": 4000})
    verdict = fit.filter_pass(tmpl, nodes)
    assert verdict is not None
    assert Bench(nodes).message(tmpl).startswith(verdict.message)
    assert verdict.matching == ("a", "c")  # b is out for its taint, before its size is looked at
    by_reason = {r.reason: r.nodes for r in verdict.rejections}
    assert by_reason == {
        "Insufficient cpu": ("c",),
        f"Insufficient {GPU}": ("a", "c"),
        "node(s) had untolerated taint(s)": ("b",),
    }


def test_node_match_lists_each_failing_constraint_as_the_fit_error_counts_it() -> None:
    """Two tainted 16-GPU nodes, four 8-GPU ones: the taint and the size each get their numbers."""
    nodes = [node(f"big-{i}", gpus=16, taints=(Taint("gpu", "true"),)) for i in range(2)]
    nodes += [node(f"small-{i}", gpus=8) for i in range(4)]
    check = C.node_match(_workload(lws("w", size=1, gpus=16)), nodes)
    assert check.status == C.FAIL
    assert "0/6 nodes are available: 2 node(s) had untolerated taint(s), 4 Insufficient nvidia.com/gpu." in (
        check.message
    )
    taint = _one(check, constraint="TaintToleration")
    assert (taint.node_count, taint.offered, taint.asked) == (2, ["gpu=true:NoSchedule"], [])
    assert taint.offered_by == ("big-0", "big-1") and "gpu=true:NoSchedule of 2 nodes" in check.message
    size = _one(check, constraint="NodeResourcesFit")
    # only the untainted nodes match: 8 is the most a pod may have without a toleration
    assert (size.node_count, size.asked, size.offered) == (4, 16, 8)
    assert (
        "request at most 8 nvidia.com/gpu" in check.fix
        and "add tolerations of gpu=true:NoSchedule" in check.fix
    )
    tolerant = lws("w", size=1, gpus=16, worker_spec={"tolerations": [{"key": "gpu", "operator": "Exists"}]})
    assert C.node_match(_workload(tolerant), nodes).status == C.PASS


def test_node_match_cpu_and_memory_in_kubernetes_quantities() -> None:
    nodes = [node(f"n{i}", cpu=96_000, memory=2 * 2**40) for i in range(2)]
    leader = {"containers": [container(gpus=1)]}
    doc = _requests(lws("cpuheavy", size=2, leader=leader), {"cpu": "200", "memory": "3Ti", GPU: "1"})
    check = C.node_match(_workload(doc), nodes)
    assert "request 200 cpu; the largest matching node (n0, n1) allocates 96" in check.message
    assert "request 3Ti memory; the largest matching node (n0, n1) allocates 2Ti" in check.message
    assert "request at most 96 cpu and at most 2Ti memory per worker pod" in check.fix
    cpu, memory = _one(check, resource="cpu", role="worker"), _one(check, resource="memory", role="worker")
    assert (cpu.asked, cpu.offered) == (200, 96) and (memory.asked, memory.offered) == (3 * 2**40, 2 * 2**40)
    assert not [s for s in check.shortfalls if s.role == "leader"]  # the leader has its own, small template


def test_node_match_no_node_has_it_all_at_once() -> None:
    nodes = [node("gpus", gpus=16, cpu=8_000), node("cpus", gpus=8, cpu=64_000)]
    check = C.node_match(_workload(lws("w", size=1, gpus=16, worker_spec={})), nodes)
    assert check.status == C.PASS
    doc = _requests(lws("w", size=1), {GPU: "16", "cpu": "32"})
    check = C.node_match(_workload(doc), nodes)
    assert "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient nvidia.com/gpu." in check.message
    assert "1 of the 2 matching nodes allocate less, at most 8 (gpus)" in check.message
    assert "add nodes with 32 cpu and 16 nvidia.com/gpu at once" in check.fix
    assert _one(check, resource="cpu").offered_by == ("gpus",)


def test_node_match_selector_names_what_is_asked_and_what_nodes_carry() -> None:
    nodes = [node(f"g{i}", labels=(("nvidia.com/gpu.product", "NVIDIA-H100"),)) for i in range(3)]
    doc = lws("sel", size=1, gpus=8, worker_spec={"nodeSelector": {"nvidia.com/gpu.product": "H200"}})
    check = C.node_match(_workload(doc), nodes)
    assert "select nvidia.com/gpu.product=H200, which 3 nodes (g0, g1, g2) do not match" in check.message
    assert "they carry nvidia.com/gpu.product=NVIDIA-H100" in check.message
    assert check.message.endswith(
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    )
    short = _one(check, constraint="NodeAffinity")
    assert short.asked == ["nvidia.com/gpu.product=H200"] and short.offered == [
        "nvidia.com/gpu.product=NVIDIA-H100"
    ]
    assert "label nodes nvidia.com/gpu.product=H200" in check.fix
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["B200"]}
                        ]
                    }
                ]
            }
        }
    }
    check = C.node_match(_workload(lws("aff", size=1, gpus=8, worker_spec={"affinity": affinity})), nodes)
    assert _one(check, constraint="NodeAffinity").asked == ["nvidia.com/gpu.product In (B200)"]


def test_node_match_cordoned_nodes_are_named() -> None:
    nodes = [node("a", unschedulable=True), node("b", gpus=4)]
    check = C.node_match(_workload(lws("w", size=1, gpus=8)), nodes)
    assert (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable."
        in check.message
    )
    assert _one(check, constraint="NodeUnschedulable").offered_by == ("a",)
    assert "uncordon a" in check.fix
    assert _one(check, constraint="NodeResourcesFit").offered == 4


def test_taints_without_toleration_fail_node_match() -> None:
    w = _workload(DOC)
    assert C.node_match(w, _nodes()).status == C.PASS
    check = C.node_match(w, _nodes(taint=True))
    assert check.status == C.FAIL and "gpu=true:NoSchedule" in check.message
    tolerating = copy.deepcopy(DOC)
    tolerating["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["tolerations"] = [
        {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    ]
    assert C.node_match(_workload(tolerating), _nodes(taint=True)).status == C.PASS
    assert C.toleration_text(Toleration("gpu", "Equal", "true", "NoSchedule")) == "gpu=true:NoSchedule"


def test_exclusive_topology_without_the_label() -> None:
    doc = copy.deepcopy(DOC)
    doc["metadata"]["annotations"] = {EXCLUSIVE: "zone"}
    check = C.exclusive_topology(_workload(doc), _nodes(), [])
    assert check.status == C.FAIL and 'none of the 4 nodes has the label "zone"' in check.message
    assert _one(check).node_count == 4 and _one(check).asked == "zone"
    assert C.exclusive_topology(_workload(DOC), _nodes(), []) is None


def test_exclusive_topology_domain_too_small_in_numbers() -> None:
    doc = lws("topo", replicas=2, size=3, gpus=8, annotations={EXCLUSIVE: "rack"})
    check = C.exclusive_topology(_workload(doc), _nodes(), [])
    assert check.status == C.FAIL and check.subject == "topo"
    assert 'a group of topo needs 3 pods requesting 24 nvidia.com/gpu in one "rack" domain' in check.message
    assert "the largest of the 2 domains, rack=r0 (g0, g1), has 16 nvidia.com/gpu free" in check.message
    assert "fits 2 of the 3 pods" in check.message and "groups of at most 2 pods" in check.fix
    gpus, pods = _one(check, resource=GPU), _one(check, resource="pods")
    assert (gpus.asked, gpus.offered, gpus.domain) == (24, 16, "rack=r0")
    assert (pods.asked, pods.offered) == (3, 2)
    assert C.exclusive_topology(_workload(doc), _nodes(rack=3), []).status != C.FAIL


def test_exclusive_topology_fewer_domains_than_groups() -> None:
    doc = copy.deepcopy(DOC)
    doc["metadata"]["annotations"] = {EXCLUSIVE: "rack"}
    assert C.exclusive_topology(_workload(doc), _nodes(), []).status == C.PASS
    check = C.exclusive_topology(_workload(doc), _nodes(rack=4), [])  # 1 domain, 2 groups
    assert (
        check.status == C.WARN and '1 of the 1 "rack" domains (r0) can hold a group of llm' in check.message
    )
    assert "2 groups are wanted" in check.message and "lower replicas to 1" in check.fix
    assert (_one(check).asked, _one(check).offered) == (2, 1)


def test_quota_in_numbers() -> None:
    requests, pods = C.total_requests([_workload(DOC)])
    assert requests["nvidia.com/gpu"] == 32 and pods == 4
    quota = {
        "metadata": {"name": "q"},
        "spec": {"hard": {"requests.nvidia.com/gpu": "40", "pods": "10", "requests.cpu": "2"}},
        "status": {"used": {"requests.nvidia.com/gpu": "16", "requests.cpu": "500m"}},
    }
    [check] = C.quota(requests | {"cpu": 4000}, pods, [quota], "llm")
    assert check.status == C.FAIL and check.subject == "llm"
    assert "ResourceQuota q would refuse pods of llm" in check.message
    assert "requests.nvidia.com/gpu: the 4 pods ask 32, hard 40 − used 16 leaves 24" in check.message
    assert "requests.cpu: the 4 pods ask 4, hard 2 − used 500m leaves 1500m" in check.message
    assert "raise requests.cpu to ≥ 4500m, requests.nvidia.com/gpu to ≥ 48 in ResourceQuota q" in check.fix
    gpus, cpu = _one(check, resource="requests.nvidia.com/gpu"), _one(check, resource="requests.cpu")
    assert (gpus.asked, gpus.offered) == (32, 24) and (cpu.asked, cpu.offered) == (4, 1.5)
    assert not [s for s in check.shortfalls if s.resource == "pods"]  # 4 pods of 10: fine
    quota["status"]["used"] = {}
    assert C.quota(requests, pods, [quota])[0].status == C.PASS


def test_shortfalls_in_json() -> None:
    check = C.node_match(_workload(lws("toobig", size=1, gpus=16)), [node("gpu-0")])
    doc = check.to_dict()
    assert doc["shortfalls"] == [
        {
            "constraint": "NodeResourcesFit",
            "resource": GPU,
            "role": "leader",
            "template": "spec.leaderWorkerTemplate.workerTemplate",
            "reason": f"Insufficient {GPU}",
            "asked": 16,
            "offered": 8,
            "nodeCount": 1,
            "offeredBy": ["gpu-0"],
        }
    ]
    assert "shortfalls" not in C.node_match(_workload(lws("ok", size=1)), [node("gpu-0")]).to_dict()


@pytest.mark.parametrize(("amount", "text"), [(500, "500m"), (2000, "2"), (1500, "1500m")])
def test_cpu_quantity(amount: int, text: str) -> None:
    assert C.quantity("cpu", amount) == text and C.number("cpu", amount) == amount / 1000


# -- the snapshot path preflight takes, without a cluster ---------------------------------------------------


def _api_node(name: str, gpus: int) -> dict:
    alloc = {"cpu": "96", "memory": "1Ti", "pods": "110", GPU: str(gpus)}
    return {"metadata": {"name": name, "labels": {}}, "status": {"capacity": alloc, "allocatable": alloc}}


def test_manifest_checks_from_a_snapshot(tmp_path: Path) -> None:
    nodes, existing = read_snapshot(build_list([_api_node(f"gpu-{i}", 8) for i in range(6)], []))
    path = tmp_path / "toobig.yaml"
    path.write_text(yaml.safe_dump(lws("toobig", replicas=2, gpus=16)))
    checks, workloads = manifest_checks(load_manifests([str(path)], "default"), nodes, existing, "v0.7.0")
    [match] = [c for c in checks if c.name == "node-match"]
    assert (
        match.status == C.FAIL and "0/6 nodes are available: 6 Insufficient nvidia.com/gpu." in match.message
    )
    assert [w.name for w in workloads] == ["toobig"]
    [skipped] = simulation(nodes, existing, workloads, "v0.7.0", checks)
    assert skipped.status == C.WARN and "skipped" in skipped.message


def test_simulation_says_how_many_groups_would_serve(tmp_path: Path) -> None:
    nodes, existing = read_snapshot(build_list([_api_node("gpu-0", 8)], []))
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(lws("two", replicas=2, size=1, gpus=8)))
    checks, workloads = manifest_checks(load_manifests([str(path)], "default"), nodes, existing, "v0.7.0")
    assert all(c.status == C.PASS for c in checks)
    [sim] = simulation(nodes, existing, workloads, "v0.7.0", checks)
    assert sim.status == C.WARN and sim.message.startswith(
        "1/2 group(s) of two would serve; 1 pod(s) pending"
    )
    assert "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." in sim.message
    assert (_one(sim).asked, _one(sim).offered) == (2, 1) and "lower replicas from 2 to 1" in sim.fix


def _api_pod(name: str, node_name: str, gpus: int, priority: int) -> dict:
    limits = {GPU: str(gpus)}
    return {
        "metadata": {"name": name, "namespace": "batch"},
        "spec": {
            "nodeName": node_name,
            "priority": priority,
            "containers": [
                {"name": "c", "image": "b:1", "resources": {"limits": limits, "requests": limits}}
            ],
        },
        "status": {"phase": "Running"},
    }


def test_preflight_names_the_running_pods_applying_would_preempt(tmp_path: Path) -> None:
    """Two nodes, each held by a batch pod of priority 10; a one-group LWS of priority 1000 (its
    PriorityClass from the cluster) preempts both; at priority 0 it preempts nobody and stays Pending."""
    from lwssim.kube.preflight import cluster_admission

    pods = [_api_pod(f"batch-{i}", f"gpu-{i}", 8, 10) for i in range(2)]
    nodes, existing = read_snapshot(build_list([_api_node(f"gpu-{i}", 8) for i in range(2)], pods))
    path = tmp_path / "llm.yaml"
    path.write_text(
        yaml.safe_dump(lws("llm", replicas=1, size=2, gpus=8, worker_spec={"priorityClassName": "serve"}))
    )
    _, workloads = manifest_checks(load_manifests([str(path)], "default"), nodes, existing, "v0.7.0")
    serve = {"metadata": {"name": "serve"}, "value": 1000}
    admission = cluster_admission([serve])
    high = [
        Workload(w.name, w.namespace, w.kind, admission.admit_lws(w.lws, Where("x")), w.source)
        for w in workloads
    ]
    checks = simulation(nodes, existing, high, "v0.7.0", [])
    [pre] = [c for c in checks if c.name == "preemption"]
    assert pre.status == C.WARN and "applying would preempt 2 running pod(s)" in pre.message
    assert {v["pod"] for v in pre.details["victims"]} == {"batch/batch-0", "batch/batch-1"}
    assert {v["byPriority"] for v in pre.details["victims"]} == {1000}
    low = simulation(nodes, existing, workloads, "v0.7.0", [])
    assert not [c for c in low if c.name == "preemption"], "priority 0 pods cannot preempt priority 10"
