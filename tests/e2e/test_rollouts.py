"""Repeated rolling updates on the emulator: LWS never recreates a group that no real cluster would.

KWOK deleted pods by name without a UID precondition, so during rolling updates a queued delete of an old
worker removed the StatefulSet's brand-new replacement of the same name and LWS v0.7 then recreated the whole
group (5 of 11 emulator rollouts). A real kubelet deletes with the pod's UID as precondition
(kubernetes v1.34.4 pkg/kubelet/status/status_manager.go); so does the emulator now (emulator/kubelet.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_helpers import LWS_GROUP, NS, get_lws, lws_manifest, pods_of, wait_for

from lwssim.emulator import stages
from lwssim.kube.observe import RECREATE_MESSAGE

pytestmark = pytest.mark.e2e

ROLLOUTS = 20


def recreations(api: Any, name: str) -> list[str]:
    """LWS's own account of every group it recreated (the event the observer reads too)."""
    from kubernetes import client

    events = client.CoreV1Api(api).list_namespaced_event(
        NS, field_selector=f"involvedObject.kind=LeaderWorkerSet,involvedObject.name={name}"
    )
    return [e.message for e in events.items if RECREATE_MESSAGE.search(e.message or "")]


def rolled_out(api: Any, name: str, revision: str, replicas: int, size: int) -> bool:
    """Every pod runs the new template (the leader's defaults to the worker's), is Ready and is not being
    deleted; LWS counts every group updated and ready."""
    current = [
        p
        for p in pods_of(api, name)
        if (p.metadata.annotations or {}).get("lwssim.test/revision") == revision
        and p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    status = get_lws(api, name).get("status", {})
    done = status.get("updatedReplicas") == status.get("readyReplicas") == replicas
    return done and len(current) == replicas * size


def test_rollouts_recreate_no_group(api: Any, make_lws: Any) -> None:
    from kubernetes import client

    co = client.CustomObjectsApi(api)
    body = lws_manifest("roll", replicas=2, size=2, gpus=4)
    body["spec"]["rolloutStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 1},
    }
    body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["annotations"] = {
        "lwssim.test/revision": "0"
    }
    stages.set_pod_timing(api, start_delay_s=0.5, ready_delay_s=1.0)
    try:
        make_lws(body)
        wait_for("first revision serving", lambda: rolled_out(api, "roll", "0", 2, 2), timeout=90)
        for i in range(1, ROLLOUTS + 1):
            patch = {
                "spec": {
                    "leaderWorkerTemplate": {
                        "workerTemplate": {"metadata": {"annotations": {"lwssim.test/revision": str(i)}}}
                    }
                }
            }
            co.patch_namespaced_custom_object(LWS_GROUP, "v1", NS, "leaderworkersets", "roll", patch)
            wait_for(f"rollout {i} done", lambda i=i: rolled_out(api, "roll", str(i), 2, 2), timeout=120)
    finally:
        stages.set_pod_timing(api, 0.0, 0.0)
    assert recreations(api, "roll") == []
