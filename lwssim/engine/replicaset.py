"""The ReplicaSet controller (kubernetes v1.34 ``pkg/controller/replicaset/replica_set.go``), and pod
names made from ``generateName``.

What placement and recovery depend on:
- ``manageReplicas``: the active pods (``controller.FilterActivePods``: not Succeeded or Failed, no
  deletionTimestamp) are counted against ``replicas``; missing ones are created, at most
  ``burstReplicas`` (500) per sync, in slow-start batches of 1, 2, 4, … (``slowStartBatch``), each call
  through the controller's client rate limit (20 QPS, burst 30). A pod being deleted (a preemption
  victim, say) is no longer active: its replacement is created at once, while the victim terminates.
- 5 syncs run at once (``--concurrent-replicaset-syncs``).
- Pods get ``generateName: <replicaset>-`` and the API server's 5 random characters
  (``names.SimpleNameGenerator``, the alphabet of apimachinery ``rand.String``). Here they are drawn
  from a hash of the owner and a counter, so a seed gives the same names every run; the real ones are
  random, and are compared by workload, not by name.
Scale-down (surplus pods) is not simulated: nothing in a scenario scales a ReplicaSet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from lwssim.engine.context import Cluster
from lwssim.engine.objects import FAILED, SUCCEEDED, Obj, Pod, ReplicaSet
from lwssim.engine.ratelimit import TokenBucket
from lwssim.engine.store import ADDED, DELETED
from lwssim.engine.workqueue import WorkQueue
from lwssim.timeline import POD_CREATED

CONCURRENT_SYNCS = 5  # --concurrent-replicaset-syncs
BURST_REPLICAS = 500  # replica_set.go BurstReplicas
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery/pkg/util/rand: no vowels, no 0/1/3


def random_suffix(seed: str, length: int = 5) -> str:
    """``length`` characters of ``rand.String``'s alphabet, fixed by ``seed``."""
    digest = hashlib.blake2b(seed.encode(), digest_size=16).digest()
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:length])


def active(pod: Pod) -> bool:
    """``FilterActivePods``: neither finished nor being deleted."""
    return pod.phase not in (SUCCEEDED, FAILED) and not pod.deleting


def slow_start_sizes(n: int) -> list[int]:
    """``slowStartBatch(n, 1, fn)``: batch sizes 1, 2, 4, … until ``n`` calls are made."""
    sizes, size = [], 1
    while n > 0:
        sizes.append(min(size, n))
        n -= sizes[-1]
        size *= 2
    return sizes


class PodCreator:
    """What the ReplicaSet and Job controllers share: pod creates in slow-start batches, each through
    the controller's own client rate limit and one API round trip; a batch ends with its slowest call."""

    def __init__(self, cluster: Cluster, gpu_of: Callable[[Pod], int]) -> None:
        env = self.env = cluster.env
        self.store, self.timeline = cluster.store, cluster.timeline
        self.latency = cluster.api.pod_create
        self.limiter = TokenBucket(lambda: env.now)
        self.gpu_of = gpu_of
        self._made: dict[int, int] = {}  # owner uid -> pods named so far

    def name(self, owner: Obj, prefix: str) -> str:
        n = self._made.get(owner.uid, 0)
        self._made[owner.uid] = n + 1
        return prefix + random_suffix(f"{owner.key}/{owner.uid}/{n}")

    def create(self, owner: Obj, pods: list[Callable[[], Pod | None]]):
        """Create the pods the factories make, in slow-start batches (a generator for a WorkQueue).
        A factory may return None when, by its turn, the pod is no longer wanted."""
        i = 0
        for size in slow_start_sizes(len(pods)):
            start = self.env.now
            done_at = sorted(start + self.limiter.reserve() + self.latency() for _ in range(size))
            for at, make in zip(done_at, pods[i : i + size], strict=True):
                if at > self.env.now:
                    yield self.env.timeout(at - self.env.now)
                if not owner.stored or owner.deleting:
                    return
                pod = make()
                if pod is not None and self.store.create(pod):
                    pod.record(self.timeline, self.env.now, POD_CREATED, gpus=self.gpu_of(pod))
            i += size


class ReplicaSetController:
    def __init__(self, cluster: Cluster, creator: PodCreator) -> None:
        self.store, self.creator = cluster.store, creator
        self.queue = WorkQueue(cluster.env, self.reconcile, workers=CONCURRENT_SYNCS)
        self._pods: dict[int, dict[int, Pod]] = {}  # replicaset uid -> pod uid -> pod
        self.store.watch("ReplicaSet", self._on_rs)
        self.store.watch("Pod", self._on_pod)

    def _on_rs(self, event: str, rs: ReplicaSet) -> None:  # type: ignore[override]
        if event == ADDED:
            self._pods[rs.uid] = {}
        elif event == DELETED:
            self._pods.pop(rs.uid, None)
            return
        self.queue.add(rs.key)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        rs = pod.owner
        if not isinstance(rs, ReplicaSet) or rs.uid not in self._pods:
            return
        pods = self._pods[rs.uid]
        if event == DELETED or not active(pod):
            if pods.pop(pod.uid, None) is not None:
                self.queue.add(rs.key)
        elif pod.uid not in pods:
            pods[pod.uid] = pod
            # addPod: the creation is observed (expectations) and the set synced again, so a set of
            # more than burstReplicas pods is made over several syncs.
            self.queue.add(rs.key)

    def reconcile(self, key: str):
        rs = self.store.get("ReplicaSet", key)
        if not isinstance(rs, ReplicaSet) or rs.deleting or rs.uid not in self._pods:
            return None
        missing = min(rs.replicas - len(self._pods[rs.uid]), BURST_REPLICAS)
        if missing <= 0:
            return None
        return self.creator.create(rs, [lambda: self._new_pod(rs)] * missing)

    def _new_pod(self, rs: ReplicaSet) -> Pod | None:
        if len(self._pods.get(rs.uid, ())) >= rs.replicas:
            return None
        t = rs.template
        return Pod(
            kind="Pod",
            name=self.creator.name(rs, f"{rs.name}-"),
            namespace=rs.namespace,
            labels=dict(rs.labels),  # the template's, with pod-template-hash
            annotations=dict(t.annotations),
            owner=rs,
            template=t,
            workload=rs.workload,
            affinity=t.pod_affinity,
            anti_affinity=t.pod_anti_affinity,
        )
