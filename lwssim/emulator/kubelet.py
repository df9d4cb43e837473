"""The kubelet duties KWOK's stages cannot do faithfully: falling silent when the node fails, and
confirming the deletion of exactly the pod it terminated.

KWOK (sigs.k8s.io/kwok v0.7.0) fakes every kubelet of the emulator, but two of its behaviours are ones no
real kubelet has, and both change what LWS does:

* **A failed node still finished deletions.** A node fault that only flips the node's Ready condition leaves
  KWOK holding the node's Lease, so its ``delete`` stage still removed evicted pods within milliseconds, the
  worker StatefulSet recreated them elsewhere and the group came back. On a real dead node the pod stays
  Terminating until the node returns, the Node object is deleted or someone force-deletes it
  (kubernetes#54368), which is what keeps an LWS group down (lws#508). Here a node fault takes the node's
  Lease (``kube-node-lease/<node>``) away from KWOK: KWOK treats the nodes whose Lease it does not hold as
  read-only (``pkg/kwok/controllers/controller.go``, ``readOnlyFunc``: no status, no stage, no heartbeat),
  kube-controller-manager sees the Lease stop being renewed and marks the node NotReady after its
  ``--node-monitor-grace-period``, exactly as for a dead kubelet, and this module defers the node's pod
  deletions until the node returns. Giving the Lease back lets KWOK renew it on its next try
  (``node_lease_controller.go``: a Lease with no holder is taken) and manage the node again.
* **Deletion by name hit the new namesake.** KWOK deletes with grace 0 and no precondition
  (``pod_controller.go``, ``deleteOpt``), so a queued delete of an old StatefulSet pod removed the
  controller's brand-new replacement of the same name, and LWS recreated the whole group. A real kubelet
  deletes with a UID precondition "to prevent deleting a newly created pod with the same name and namespace"
  (kubernetes v1.34.4 ``pkg/kubelet/status/status_manager.go``). Here every pod deletion is made by this
  module with that precondition; the emulator's stages no longer delete pods.

It runs as one process of the emulator (``python -m lwssim.emulator.kubelet --kubeconfig K``), watching
Nodes and Pods through the official client. The fault is asked for with a node label, so ``kubectl`` is
enough: ``kubectl label node gpu-3 lwssim.emulator/node-not-ready=true`` (remove the label to repair).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NODE_FAULT_LABEL = "lwssim.emulator/node-not-ready"
TERMINATION_ANNOTATION = "lwssim.emulator/termination-seconds"
FAULT_HOLDER = "lwssim-emulator-node-fault"
LEASE_NAMESPACE = "kube-node-lease"
# Held for this long, KWOK never finds the Lease expired and so never takes it back by itself.
FAULT_LEASE_SECONDS = 10 * 365 * 86400
# A delete that failed (API server error or no answer) is tried again on the status manager's next sync
# (kubernetes v1.34 pkg/kubelet/status/status_manager.go: syncPeriod 10 s).
RETRY_S = 10.0

log = logging.getLogger("lwssim.emulator.kubelet")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def take_lease(api_client: Any, node: str) -> None:
    """The node's kubelet stops: hold its Lease so KWOK neither renews it nor acts for the node."""
    from kubernetes import client

    client.CoordinationV1Api(api_client).patch_namespaced_lease(
        node,
        LEASE_NAMESPACE,
        {
            "spec": {
                "holderIdentity": FAULT_HOLDER,
                "leaseDurationSeconds": FAULT_LEASE_SECONDS,
                "renewTime": _now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        },
    )


def release_lease(api_client: Any, node: str) -> None:
    """The node's kubelet is back: a Lease without holder is taken by KWOK on its next renewal try."""
    from kubernetes import client

    client.CoordinationV1Api(api_client).patch_namespaced_lease(
        node, LEASE_NAMESPACE, {"spec": {"holderIdentity": None}}
    )


@dataclass(order=True)
class _Due:
    at: float
    uid: str = field(compare=False)


@dataclass
class _Terminating:
    namespace: str
    name: str
    node: str
    termination_s: float
    parked: bool = False


class Kubelet:
    """Node faults from labels, and UID-safe pod deletions deferred while a pod's node is down.

    ``termination_s`` is how long a pod takes to terminate once deleted (its containers' exit, at most
    its grace period); a pod's ``lwssim.emulator/termination-seconds`` annotation overrides it.
    """

    def __init__(
        self, api_client: Any, termination_s: float = 0.0, clock: Callable[[], float] = time.monotonic
    ):
        self.api = api_client
        self.termination_s = termination_s
        self.clock = clock
        self.down: set[str] = set()
        self.terminating: dict[str, _Terminating] = {}
        self.deleted: set[str] = set()
        self.due: list[_Due] = []
        self.cond = threading.Condition(threading.RLock())
        self.stopping = threading.Event()

    # ---- events (watch threads) ----------------------------------------------------------------
    def node_event(self, kind: str, node: Any) -> None:
        name = node.metadata.name
        faulted = kind != "DELETED" and (node.metadata.labels or {}).get(NODE_FAULT_LABEL) == "true"
        with self.cond:
            was = name in self.down
        if faulted and not was:
            take_lease(self.api, name)
            self.kubelet_stopped(name)
            log.info("node %s: kubelet stopped (lease taken from kwok)", name)
        elif not faulted and was:
            if kind != "DELETED":
                release_lease(self.api, name)
            self.kubelet_back(name)
            log.info("node %s: kubelet back (lease released to kwok)", name)

    def kubelet_stopped(self, node: str) -> None:
        with self.cond:
            self.down.add(node)

    def kubelet_back(self, node: str) -> None:
        """A returning kubelet finds the pods deleted while it was away and finishes terminating them."""
        with self.cond:
            self.down.discard(node)
            now = self.clock()
            for uid, t in self.terminating.items():
                if t.node == node and t.parked:
                    t.parked = False
                    heapq.heappush(self.due, _Due(now + t.termination_s, uid))
            self.cond.notify()

    def pod_event(self, kind: str, pod: Any) -> None:
        uid = pod.metadata.uid
        with self.cond:
            if kind == "DELETED":
                self.terminating.pop(uid, None)
                self.deleted.discard(uid)
                return
            if pod.metadata.deletion_timestamp is None or not pod.spec.node_name:
                return  # unbound pods are removed by the apiserver itself
            if uid in self.terminating or uid in self.deleted:
                return
            t = _Terminating(
                pod.metadata.namespace, pod.metadata.name, pod.spec.node_name, self._termination(pod)
            )
            self.terminating[uid] = t
            heapq.heappush(self.due, _Due(self.clock() + t.termination_s, uid))
            self.cond.notify()

    def _termination(self, pod: Any) -> float:
        value = (pod.metadata.annotations or {}).get(TERMINATION_ANNOTATION)
        try:
            return max(float(value), 0.0) if value is not None else self.termination_s
        except ValueError:
            return self.termination_s

    # ---- deletions (main thread) ---------------------------------------------------------------
    def next_deletion(self) -> tuple[str, _Terminating] | None:
        """Wait for the next pod whose termination is over on a node whose kubelet runs."""
        with self.cond:
            while not self.stopping.is_set():
                item = self.pop_due()
                if item is not None:
                    return item
                self.cond.wait(timeout=(self.due[0].at - self.clock()) if self.due else 1.0)
        return None

    def pop_due(self) -> tuple[str, _Terminating] | None:
        """The next pod to delete now, if any; pods of a node whose kubelet is down are parked."""
        with self.cond:
            now = self.clock()
            while self.due and self.due[0].at <= now:
                uid = heapq.heappop(self.due).uid
                t = self.terminating.get(uid)
                if t is None:
                    continue
                if t.node in self.down:
                    t.parked = True  # a dead kubelet confirms nothing: wait for the node to return
                    continue
                del self.terminating[uid]
                self.deleted.add(uid)
                return uid, t
        return None

    def delete(self, uid: str, t: _Terminating) -> None:
        """Confirm the deletion as the kubelet's status manager does: grace 0, UID precondition."""
        import urllib3
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        body = client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid))
        try:
            client.CoreV1Api(self.api).delete_namespaced_pod(t.name, t.namespace, body=body)
            log.info("deleted pod %s/%s (uid %s)", t.namespace, t.name, uid)
        except ApiException as exc:
            if exc.status in (404, 409):  # gone already, or a newer pod of that name: not ours
                log.info("pod %s/%s uid %s not deleted: %s", t.namespace, t.name, uid, exc.reason)
            else:
                self.retry(uid, t, f"{exc.status} {exc.reason}")
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # the API server did not answer
            self.retry(uid, t, str(exc))

    def retry(self, uid: str, t: _Terminating, why: str) -> None:
        """Keep the pod for another try RETRY_S later (it used to end the process)."""
        log.warning("delete of pod %s/%s failed (%s); retrying in %.0f s", t.namespace, t.name, why, RETRY_S)
        with self.cond:
            self.deleted.discard(uid)
            self.terminating[uid] = t
            heapq.heappush(self.due, _Due(self.clock() + RETRY_S, uid))
            self.cond.notify_all()

    def run(self) -> None:
        threads = [
            threading.Thread(target=self._watch, args=("Node",), daemon=True),
            threading.Thread(target=self._watch, args=("Pod",), daemon=True),
        ]
        for th in threads:
            th.start()
        while (item := self.next_deletion()) is not None:
            self.delete(*item)

    def stop(self) -> None:
        with self.cond:
            self.stopping.set()
            self.cond.notify_all()

    def _watch(self, kind: str) -> None:
        """List, then watch from that resourceVersion; start over on any error (e.g. 410 Gone)."""
        from kubernetes import client, watch

        v1 = client.CoreV1Api(self.api)
        lister = v1.list_node if kind == "Node" else v1.list_pod_for_all_namespaces
        handle = self.node_event if kind == "Node" else self.pod_event
        while not self.stopping.is_set():
            try:
                listed = lister()
                for obj in listed.items:
                    handle("ADDED", obj)
                stream = watch.Watch().stream(
                    lister, resource_version=listed.metadata.resource_version, timeout_seconds=300
                )
                for ev in stream:
                    handle(ev["type"], ev["object"])
            except Exception as exc:  # noqa: BLE001 - a watch ends for many reasons; relist
                log.warning("%s watch restarts: %s", kind, exc)
                time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lwssim.emulator.kubelet", description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--termination-seconds", type=float, default=0.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    from kubernetes import config

    kubelet = Kubelet(config.new_client_from_config(args.kubeconfig), args.termination_seconds)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: kubelet.stop())
    kubelet.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
