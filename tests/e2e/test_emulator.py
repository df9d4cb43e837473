"""The emulated cluster behaves like a GPU cluster running LWS v0.7.0 (see conftest for the setup)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from e2e_helpers import NS, RACK, get_lws, kubectl_path, lws_manifest, lws_ready, pods_of, wait_for

from lwssim.emulator import kubelet, stages
from lwssim.emulator.stack import AlreadyRunning, Stack

pytestmark = pytest.mark.e2e

GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"


def _leader(pods: list[Any], group: int = 0) -> Any:
    return next(
        p
        for p in pods
        if p.metadata.labels.get(GROUP_INDEX) == str(group) and p.metadata.labels.get(WORKER_INDEX) == "0"
    )


def test_stack_is_up(emulator: Stack) -> None:
    st = emulator.status()
    assert st["running"], st
    assert {c["name"] for c in st["components"]} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "lwssim-kubelet",
        "lws-controller",
    }
    out = subprocess.run(
        [str(kubectl_path(emulator)), "--kubeconfig", str(emulator.kubeconfig), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    items = json.loads(out.stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in items) == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    for n in items:
        assert n["status"]["capacity"]["nvidia.com/gpu"] == "8"
        i = int(n["metadata"]["name"].split("-")[1])
        assert n["metadata"]["labels"][RACK] == f"gpu-rack-{i // 2}"
        assert {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"


def test_second_up_is_refused(emulator: Stack) -> None:
    with pytest.raises(AlreadyRunning):
        Stack(emulator.dir).up()
    cli = subprocess.run(
        [sys.executable, "-m", "lwssim.emulator.cli", "up", "--state-dir", str(emulator.dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 2, cli.stderr
    assert "already runs" in cli.stderr
    assert emulator.status()["running"]


def test_lws_places_and_becomes_ready(api: Any, make_lws: Any) -> None:
    from kubernetes import client

    make_lws(lws_manifest("place", replicas=1, size=2, gpus=8))
    wait_for("LWS place ready", lambda: lws_ready(api, "place", 1), timeout=90)
    apps = client.AppsV1Api(api)
    assert apps.read_namespaced_stateful_set("place", NS)  # leader StatefulSet
    assert apps.read_namespaced_stateful_set("place-0", NS)  # worker StatefulSet of group 0
    pods = pods_of(api, "place")
    assert len(pods) == 2
    nodes = {p.spec.node_name for p in pods}
    # 8 GPUs per pod on 8-GPU nodes: the scheduler must spread them over two fake nodes.
    assert len(nodes) == 2 and all(n.startswith("gpu-") for n in nodes)
    for p in pods:
        assert p.status.phase == "Running"
        assert {c.type: c.status for c in p.status.conditions}["Ready"] == "True"
    # The pod webhook ran: workers carry their index and the leader address.
    worker = next(p for p in pods if p.metadata.labels.get(WORKER_INDEX) == "1")
    env = {e.name: e.value for e in worker.spec.containers[0].env or []}
    assert env.get("LWS_LEADER_ADDRESS", "").startswith("place-0.place.")


def test_exclusive_topology_pins_groups_to_racks(api: Any, make_lws: Any) -> None:
    from kubernetes import client

    make_lws(
        lws_manifest(
            "excl",
            replicas=2,
            size=2,
            gpus=4,
            annotations={"leaderworkerset.sigs.k8s.io/exclusive-topology": RACK},
        )
    )
    wait_for("LWS excl ready", lambda: lws_ready(api, "excl", 2), timeout=90)
    rack_of = {n.metadata.name: n.metadata.labels[RACK] for n in client.CoreV1Api(api).list_node().items}
    racks: dict[str, set[str]] = {}
    for p in pods_of(api, "excl"):
        racks.setdefault(p.metadata.labels[GROUP_INDEX], set()).add(rack_of[p.spec.node_name])
    assert set(racks) == {"0", "1"}
    # Each group sits in one rack (workers follow the leader), and the two groups never share one.
    assert all(len(r) == 1 for r in racks.values()), racks
    assert racks["0"] != racks["1"], racks


def test_capacity_shortfall_leaves_pods_pending(api: Any, make_lws: Any) -> None:
    from kubernetes import client

    make_lws(lws_manifest("short", replicas=1, size=1, gpus=9))
    v1 = client.CoreV1Api(api)

    def unschedulable() -> str | None:
        try:
            pod = v1.read_namespaced_pod("short-0", NS)
        except client.ApiException:
            return None
        for c in pod.status.conditions or []:
            if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
                return str(c.message)
        return None

    msg = wait_for("short-0 Unschedulable", unschedulable, timeout=60)
    assert "0/4 nodes are available: 4 Insufficient nvidia.com/gpu." in msg, msg
    sel = "involvedObject.name=short-0,reason=FailedScheduling"
    events = v1.list_namespaced_event(NS, field_selector=sel)
    assert any("Insufficient nvidia.com/gpu" in (e.message or "") for e in events.items)
    assert v1.read_namespaced_pod("short-0", NS).status.phase == "Pending"
    assert not get_lws(api, "short").get("status", {}).get("readyReplicas")


def test_worker_container_failure_recreates_group(api: Any, make_lws: Any) -> None:
    from kubernetes import client

    make_lws(lws_manifest("crash", replicas=1, size=2, gpus=4))
    wait_for("LWS crash ready", lambda: lws_ready(api, "crash", 1), timeout=90)
    v1 = client.CoreV1Api(api)
    leader_uid = v1.read_namespaced_pod("crash-0", NS).metadata.uid
    worker_uid = v1.read_namespaced_pod("crash-0-1", NS).metadata.uid
    # The KWOK fault stage makes the labelled worker's container fail once (restartCount 0 -> 1).
    v1.patch_namespaced_pod("crash-0-1", NS, {"metadata": {"labels": {stages.FAILURE_LABEL: "true"}}})

    def restarted() -> bool:
        try:
            p = v1.read_namespaced_pod("crash-0-1", NS)
        except client.ApiException:
            return False
        return p.metadata.uid == worker_uid and any(
            (c.restart_count or 0) > 0 for c in p.status.container_statuses or []
        )

    def leader_recreated() -> bool:
        try:
            return v1.read_namespaced_pod("crash-0", NS).metadata.uid != leader_uid
        except client.ApiException:
            return False

    # The restart may be short-lived (the group is torn down at once), so look for either sign.
    wait_for("worker restart or leader recreation", lambda: restarted() or leader_recreated(), timeout=60)
    wait_for("leader pod recreated", leader_recreated, timeout=90)
    wait_for("new worker pod", lambda: _uid_changed(v1, "crash-0-1", worker_uid), timeout=90)
    wait_for("LWS crash ready again", lambda: lws_ready(api, "crash", 1), timeout=90)


def _uid_changed(v1: Any, name: str, uid: str) -> bool:
    from kubernetes import client

    try:
        return bool(v1.read_namespaced_pod(name, NS).metadata.uid != uid)
    except client.ApiException:
        return False


def test_pod_timing_stages(api: Any, make_lws: Any) -> None:
    """Replacing the pod stages at run time changes start/ready delays of new pods."""
    stages.set_pod_timing(api, start_delay_s=1.0, ready_delay_s=2.0)
    try:
        make_lws(lws_manifest("slow", replicas=1, size=1, gpus=1))
        wait_for("LWS slow ready", lambda: lws_ready(api, "slow", 1), timeout=60)
        pod = pods_of(api, "slow")[0]
        conds = {c.type: c.last_transition_time for c in pod.status.conditions}
        started = pod.status.container_statuses[0].state.running.started_at
        sched_to_start = (started - conds["PodScheduled"]).total_seconds()
        start_to_ready = (conds["Ready"] - started).total_seconds()
        # Timestamps have 1 s resolution.
        assert sched_to_start >= 0.0 and start_to_ready >= 1.0, (sched_to_start, start_to_ready)
        assert (conds["Ready"] - conds["PodScheduled"]).total_seconds() >= 2.0
    finally:
        stages.set_pod_timing(api, 0.0, 0.0)


def test_container_failure_without_recreate_policy_keeps_group(api: Any, make_lws: Any) -> None:
    """Control for the test above: with restartPolicy None the restart is only counted."""
    from kubernetes import client

    make_lws(lws_manifest("keep", replicas=1, size=2, gpus=4, restart_policy="None"))
    wait_for("LWS keep ready", lambda: lws_ready(api, "keep", 1), timeout=90)
    v1 = client.CoreV1Api(api)
    leader_uid = v1.read_namespaced_pod("keep-0", NS).metadata.uid
    v1.patch_namespaced_pod("keep-0-1", NS, {"metadata": {"labels": {stages.FAILURE_LABEL: "true"}}})

    def restarted_and_ready() -> bool:
        p = v1.read_namespaced_pod("keep-0-1", NS)
        cs = (p.status.container_statuses or [None])[0]
        return bool(cs and cs.restart_count == 1 and cs.ready and cs.last_state.terminated)

    wait_for("worker restarted once and Ready again", restarted_and_ready, timeout=60)
    cs = v1.read_namespaced_pod("keep-0-1", NS).status.container_statuses[0]
    assert cs.last_state.terminated.exit_code == 1
    assert v1.read_namespaced_pod("keep-0", NS).metadata.uid == leader_uid


def test_node_fault_stops_the_kubelet(api: Any, make_lws: Any) -> None:
    """A faulted node's kubelet is absent, as on a real dead node (kubernetes#54368, lws#508).

    Its Lease stops being renewed, so kube-controller-manager marks it NotReady (Unknown) after the
    node-monitor grace period and taints it unreachable; the worker evicted after its tolerationSeconds stays
    Terminating (nobody confirms the deletion) and the group stays down, although a spare node is free; when
    the node returns, the deletion completes and LWS brings the group back.
    """
    from kubernetes import client

    v1 = client.CoreV1Api(api)
    body = lws_manifest("down", replicas=1, size=2, gpus=8)
    short = [
        {"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
        for k in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
    ]
    body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["tolerations"] = short
    make_lws(body)
    wait_for("LWS down ready", lambda: lws_ready(api, "down", 1), timeout=90)
    worker = v1.read_namespaced_pod("down-0-1", NS)
    node, uid = worker.spec.node_name, worker.metadata.uid

    def node_state() -> tuple[str, set[str]]:
        n = v1.read_node(node)
        ready = {c.type: c.status for c in n.status.conditions or []}.get("Ready", "")
        return ready, {t.key for t in n.spec.taints or []}

    v1.patch_node(node, {"metadata": {"labels": {kubelet.NODE_FAULT_LABEL: "true"}}})
    faulted = time.monotonic()
    try:
        # kube-controller-manager: grace period 40 s after the last renewal, checked every 5 s
        # (--node-monitor-period); nothing of the node's may renew or refresh after the fault.
        wait_for(f"{node} NotReady", lambda: node_state()[0] == "Unknown", timeout=70, interval=0.2)
        assert 38.0 <= time.monotonic() - faulted <= 50.0, time.monotonic() - faulted
        assert "node.kubernetes.io/unreachable" in node_state()[1]
        wait_for(
            "worker evicted",
            lambda: v1.read_namespaced_pod("down-0-1", NS).metadata.deletion_timestamp is not None,
            timeout=30,
        )
        time.sleep(10)  # a live kubelet (or KWOK's old delete stage) would have removed it within ms
        held = v1.read_namespaced_pod("down-0-1", NS)
        assert held.metadata.uid == uid and held.metadata.deletion_timestamp is not None
        # LWS deleted the leader in foreground (RecreateGroupOnPodRestart): it waits on the held worker.
        assert v1.read_namespaced_pod("down-0", NS).metadata.deletion_timestamp is not None
    finally:
        v1.patch_node(node, {"metadata": {"labels": {kubelet.NODE_FAULT_LABEL: None}}})
    wait_for(f"{node} Ready again", lambda: node_state()[0] == "True", timeout=30)

    def replaced() -> bool:
        try:
            return v1.read_namespaced_pod("down-0-1", NS).metadata.uid != uid
        except client.ApiException as exc:
            return exc.status == 404

    wait_for("the held worker deleted once the node is back", replaced, timeout=30)
    wait_for("group serving again", lambda: lws_ready(api, "down", 1), timeout=90)
    wait_for("taint removed", lambda: "node.kubernetes.io/unreachable" not in node_state()[1], timeout=60)
