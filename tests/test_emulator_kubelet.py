"""The emulator's kubelet stand-in (lwssim/emulator/kubelet.py): deletions wait for a downed node's return,
and each deletion names the UID of the pod that was terminating (never a newer pod of the same name)."""

from __future__ import annotations

from types import SimpleNamespace

from lwssim.emulator.kubelet import TERMINATION_ANNOTATION, Kubelet


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def pod(
    uid: str, name: str, node: str, deleting: bool = True, annotations: dict | None = None
) -> SimpleNamespace:
    meta = SimpleNamespace(
        uid=uid,
        name=name,
        namespace="default",
        deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None,
        annotations=annotations,
    )
    return SimpleNamespace(metadata=meta, spec=SimpleNamespace(node_name=node))


def test_deletion_waits_for_the_termination_then_names_the_uid() -> None:
    clock = Clock()
    k = Kubelet(None, termination_s=5.0, clock=clock)
    k.pod_event("MODIFIED", pod("old", "llm-0-1", "gpu-1"))
    assert k.pop_due() is None
    clock.t = 5.0
    uid, t = k.pop_due()
    assert (uid, t.name, t.node) == ("old", "llm-0-1", "gpu-1")
    # The same pod seen again (e.g. the GC removing its finalizer) is not deleted twice.
    k.pod_event("MODIFIED", pod("old", "llm-0-1", "gpu-1"))
    clock.t = 20.0
    assert k.pop_due() is None


def test_a_newer_pod_of_the_same_name_is_a_different_deletion() -> None:
    clock = Clock()
    k = Kubelet(None, clock=clock)
    k.pod_event("MODIFIED", pod("old", "llm-0-1", "gpu-1"))
    assert k.pop_due()[0] == "old"
    k.pod_event("DELETED", pod("old", "llm-0-1", "gpu-1"))
    k.pod_event("ADDED", pod("new", "llm-0-1", "gpu-2", deleting=False))
    assert k.pop_due() is None  # the replacement runs: nothing to delete
    k.pod_event("MODIFIED", pod("new", "llm-0-1", "gpu-2"))
    assert k.pop_due()[0] == "new"


def test_pods_of_a_node_whose_kubelet_is_down_stay_terminating_until_it_returns() -> None:
    clock = Clock()
    k = Kubelet(None, termination_s=2.0, clock=clock)
    k.kubelet_stopped("gpu-3")
    k.pod_event("MODIFIED", pod("a", "llm-0-1", "gpu-3"))
    k.pod_event("MODIFIED", pod("b", "llm-1-1", "gpu-0"))
    clock.t = 100.0
    assert k.pop_due()[0] == "b"
    assert k.pop_due() is None  # "a" is parked, not dropped
    clock.t = 500.0
    assert k.pop_due() is None
    k.kubelet_back("gpu-3")
    assert k.pop_due() is None  # the returning kubelet still takes the termination time
    clock.t = 502.0
    assert k.pop_due()[0] == "a"


def test_unbound_pods_and_annotation_override() -> None:
    clock = Clock()
    k = Kubelet(None, termination_s=30.0, clock=clock)
    k.pod_event("MODIFIED", pod("u", "x", ""))  # the apiserver removes unbound pods itself
    k.pod_event("MODIFIED", pod("f", "y", "gpu-0", annotations={TERMINATION_ANNOTATION: "1.5"}))
    clock.t = 1.5
    assert k.pop_due()[0] == "f"
    assert not k.terminating


def test_a_delete_the_api_server_does_not_answer_is_tried_again_on_the_next_sync() -> None:
    """Port 1 of 127.0.0.1 refuses connections: the stand-in keeps the pod and retries RETRY_S later,
    where it used to end its process."""
    from kubernetes import client

    from lwssim.emulator.kubelet import RETRY_S

    config = client.Configuration(host="http://127.0.0.1:1")
    config.retries = 0
    clock = Clock()
    k = Kubelet(client.ApiClient(config), clock=clock)
    k.pod_event("MODIFIED", pod("old", "llm-0-1", "gpu-1"))
    k.delete(*k.pop_due())
    assert k.pop_due() is None
    clock.t = RETRY_S
    uid, t = k.pop_due()
    assert (uid, t.name) == ("old", "llm-0-1")
