"""The Kubernetes StatefulSet controller, for ``podManagementPolicy: Parallel`` (what LWS uses).

Source: kubernetes ``pkg/controller/statefulset/stateful_set_control.go`` (v1.34):
- every missing ordinal in [start, start+replicas) gets a pod in the same sync, in slow-start batches
  of 1, 2, 4, … (``slowStartBatch``), each API call through the controller's client rate limit
  (20 QPS, burst 30), with 5 syncs running at once (``--concurrent-statefulset-syncs``) — so pods of
  many groups are created interleaved, as on a real cluster;
  a pod name still held by a terminating pod is recreated only once that object is gone: the create
  fails (AlreadyExists), the sync ends after that batch and is retried with back-off;
- Failed or Succeeded pods are deleted in those batches, and recreated on a later sync;
- ordinals outside the range are deleted in slow-start batches too, highest first (scale down);
- rolling update without the MaxUnavailableStatefulSet gate: from the highest ordinal down to the
  partition, delete one pod of an old revision, then wait until every pod at or above it is at the
  update revision and Running+Ready before the next; with the gate, up to maxUnavailable at once;
- new pods below the partition get the current revision, at or above it the update revision;
- ``status.replicas`` counts every pod object, terminating ones included.
"""

from __future__ import annotations

from collections.abc import Callable

from lwssim.engine.context import Cluster
from lwssim.engine.objects import FAILED, RUNNING, SUCCEEDED, Pod, StatefulSet
from lwssim.engine.ratelimit import TokenBucket
from lwssim.engine.store import ADDED, DELETED, MODIFIED
from lwssim.engine.workqueue import WorkQueue
from lwssim.timeline import POD_CREATED

CONCURRENT_SYNCS = 5  # kube-controller-manager --concurrent-statefulset-syncs default
RETRY_BASE = 0.005  # client-go ItemExponentialFailureRateLimiter base delay
RETRY_MAX = 1000.0  # and its cap
MAX_BATCH = 500  # stateful_set_control.go MaxBatchSize: most calls one slow-start batch makes at once


def _slot(call: tuple[int, object]) -> int:
    return call[0]


def _batch_of(slot: int) -> int:
    """Which slow-start batch holds a slot: batches of 1, 2, 4, … 256, then of MAX_BATCH."""
    if slot < 511:
        return (slot + 1).bit_length() - 1
    return 9 + (slot - 511) // MAX_BATCH


def _zero_gpus(pod: Pod) -> int:
    return 0


class StatefulSetController:
    """Level-triggered like the real one, but memoised: a full sync runs only when the set's spec
    changed (generation) or one of its pods went away or failed; pod status changes update the
    status counters in O(1). Results are the same as syncing everything every time."""

    def __init__(
        self, cluster: Cluster, max_unavailable_gate: bool = False, gpu_of: Callable[[Pod], int] = _zero_gpus
    ) -> None:
        env = self.env = cluster.env
        self.store, self.gc, self.timeline = cluster.store, cluster.gc, cluster.timeline
        self.pod_create, self.pod_delete = cluster.api.pod_create, cluster.api.delete
        self.revision_create = cluster.api.controller_revision_create
        self.revisions_take_time = cluster.api_latency_modelled
        self.gate = max_unavailable_gate
        self.gpu_of = gpu_of
        self.limiter = TokenBucket(lambda: env.now)
        self.queue = WorkQueue(env, self.reconcile, workers=CONCURRENT_SYNCS)
        self._pods: dict[int, dict[int, Pod]] = {}  # sts uid -> ordinal -> pod
        self._contrib: dict[int, tuple[int, int, int]] = {}  # pod uid -> (ready, updated, stale)
        self._totals: dict[int, list[int]] = {}  # sts uid -> [ready, updated]
        self._synced: dict[int, int] = {}  # sts uid -> generation last synced
        self._dirty: set[int] = set()
        self._counted: dict[int, str] = {}  # sts uid -> update revision the counters were computed for
        self._failed: dict[int, dict[int, Pod]] = {}  # sts uid -> Failed/Succeeded pods to delete
        self._failures: dict[int, int] = {}  # sts uid -> consecutive failed syncs (rate limiter)
        self.store.watch("StatefulSet", self._on_sts)
        self.store.watch("Pod", self._on_pod)

    def _on_sts(self, event: str, sts: StatefulSet) -> None:  # type: ignore[override]
        if event == ADDED:
            self._pods[sts.uid] = {}
            self._totals[sts.uid] = [0, 0, 0]
        elif event == DELETED:
            self._pods.pop(sts.uid, None)
            self._totals.pop(sts.uid, None)
            self._synced.pop(sts.uid, None)
            self._failures.pop(sts.uid, None)
            return
        if self._synced.get(sts.uid) != sts.generation:
            self.queue.add(sts.key)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        sts = pod.owner
        if not isinstance(sts, StatefulSet):
            return
        pods = self._pods.get(sts.uid)
        if pods is None:
            return
        totals = self._totals[sts.uid]
        old = self._contrib.pop(pod.uid, (0, 0, 0))
        deleting = pod.deletion_time is not None
        if deleting or event == DELETED:
            failed = self._failed.get(sts.uid)
            if failed:
                failed.pop(pod.uid, None)
        if event == DELETED:
            if pods.get(pod.ordinal) is pod:
                del pods[pod.ordinal]
            self._dirty.add(sts.uid)
            new = (0, 0, 0)
        else:
            pods[pod.ordinal] = pod
            new = self._contrib[pod.uid] = self._contribution(sts, pod)
            if not deleting and pod.phase in (FAILED, SUCCEEDED):
                self._failed.setdefault(sts.uid, {})[pod.uid] = pod
                self._dirty.add(sts.uid)
        if sts.ordered and new[0] != old[0]:
            self._dirty.add(sts.uid)  # OrderedReady: a pod's readiness lets the next ordinal start
        if new != old:
            totals[0] += new[0] - old[0]
            totals[1] += new[1] - old[1]
            totals[2] += new[2] - old[2]
        elif event == MODIFIED and sts.uid not in self._dirty:
            # A change that alters neither the status counters nor anything a sync reads (pod set,
            # failed pods) would make the reconcile a no-op: skip it, as a relist would find nothing.
            return
        self.queue.add(sts.key)

    def pods_by_ordinal(self, sts: StatefulSet) -> dict[int, Pod]:
        return self._pods.get(sts.uid, {})

    def reconcile(self, key: str):
        """One sync of the set; a generator only when it has API calls to wait for, else done at once
        (most reconciles only recount status after a pod changed)."""
        sts = self.store.get("StatefulSet", key)
        if not isinstance(sts, StatefulSet) or sts.uid not in self._pods:
            return None
        if not sts.deleting and (
            self._synced.get(sts.uid) != sts.generation
            or sts.uid in self._dirty
            or (sts.stored and self._totals[sts.uid][2] > 0)
        ):
            return self._sync_and_update(sts)
        if sts.stored or sts.deleting:
            self._update_status(sts)
        return None

    def _sync_and_update(self, sts: StatefulSet):
        if not sts.deleting:
            if self._synced.get(sts.uid) != sts.generation or sts.uid in self._dirty:
                self._synced[sts.uid] = sts.generation
                self._dirty.discard(sts.uid)
                if self._counted.get(sts.uid) != sts.update_revision:
                    self._counted[sts.uid] = sts.update_revision
                    self._recount(sts)
                    if self.revisions_take_time:
                        # A revision not seen before is first stored as a ControllerRevision, one create
                        # before any pod (stateful_set_control.go performUpdate → getStatefulSetRevisions
                        # → CreateControllerRevision, kubernetes v1.34).
                        yield from self._api_call()
                        yield self.env.timeout(self.revision_create())
                        if not self._live(sts):
                            return
                ok = yield from self._sync(sts, self.pods_by_ordinal(sts))
                self._retry_on_conflict(sts, not ok)
                if not ok:  # updateStatefulSet returned the error: status only, no rolling update
                    self._update_status(sts)
                    return
            if self._live(sts) and (
                self._totals[sts.uid][2] > 0  # a pod of an old revision exists: the update has work
            ):
                yield from self._rolling_update(sts, self.pods_by_ordinal(sts))
        if self._live(sts) or sts.deleting:
            self._update_status(sts)

    def _live(self, sts: StatefulSet) -> bool:
        return sts.stored and not sts.deleting

    def _api_call(self):
        """Wait for the client rate limiter before one request."""
        wait = self.limiter.reserve()
        if wait > 0:
            yield self.env.timeout(wait)

    @staticmethod
    def _contribution(sts: StatefulSet, pod: Pod) -> tuple[int, int, int]:
        """(ready, updated, stale) of one pod: computeReplicaStatus counts, plus whether it is of an
        old revision (something for the rolling update to replace)."""
        current = pod.revision == sts.update_revision
        deleting = pod.deletion_time is not None
        ready = pod.phase == RUNNING and pod.ready and not deleting
        return (1 if ready else 0, 1 if current and not deleting else 0, 0 if current else 1)

    def _recount(self, sts: StatefulSet) -> None:
        """Recompute the updated counters after the update revision may have changed."""
        totals = [0, 0, 0]
        for pod in self.pods_by_ordinal(sts).values():
            c = self._contribution(sts, pod)
            self._contrib[pod.uid] = c
            totals[0] += c[0]
            totals[1] += c[1]
            totals[2] += c[2]
        self._totals[sts.uid] = totals

    def _sync(self, sts: StatefulSet, pods: dict[int, Pod]):
        """processReplica over every ordinal of the range, then processCondemned over the pods outside
        it, each in slow-start batches; only a missing pod (create) or a Failed/Succeeded one (delete)
        makes an API call. Returns False when a create failed: like ``slowStartBatch`` the sync stops
        after that batch, skips scale down and rolling update, and is retried with back-off."""
        first, last = sts.ordinal_start, sts.ordinal_start + sts.replicas
        if len(pods) == sts.replicas and (not pods or (min(pods) == first and max(pods) == last - 1)):
            missing = []  # every ordinal of the range has its pod (the common case, cheap to see)
        else:
            missing = sorted(set(range(first, last)).difference(pods))
        failed = [p for p in self._failed.get(sts.uid, {}).values() if first <= p.ordinal < last]
        if sts.ordered:
            missing, failed = self._next_in_order(sts, pods, missing, failed)
        # (slot, what): the slot is the ordinal's place in the range, which decides its batch
        calls: list[tuple[int, int | Pod]] = [(o - first, o) for o in missing]
        if failed:
            calls = sorted(calls + [(p.ordinal - first, p) for p in failed], key=_slot)
        # Pods outside the range (scale down), as listed when the sync began, highest ordinal first.
        condemned = (
            [p for o, p in sorted(pods.items(), reverse=True) if not first <= o < last]
            if len(pods) > sts.replicas - len(missing)
            else []
        )
        ok = yield from self._batches(sts, calls)
        if ok and condemned and self._live(sts):
            yield from self._batches(sts, list(enumerate(condemned)))
        return ok

    @staticmethod
    def _next_in_order(
        sts: StatefulSet, pods: dict[int, Pod], missing: list[int], failed: list[Pod]
    ) -> tuple[list[int], list[Pod]]:
        """OrderedReady (``processReplica`` with ``monotonic``): ordinals in order, and the sync stops at
        the first that is missing (created), failed (deleted) or not yet Running and Ready."""
        for ordinal in range(sts.ordinal_start, sts.ordinal_start + sts.replicas):
            pod = pods.get(ordinal)
            if pod is None:
                return [ordinal] if ordinal in missing else [], []
            if pod in failed:
                return [], [pod]
            if not pod.running_and_ready:
                return [], []
        return [], []

    def _batches(self, sts: StatefulSet, calls: list[tuple[int, int | Pod]]):
        """``slowStartBatch(1, n, fn)`` over the n slots of a list, of which ``calls`` are those that
        make an API call: an ordinal to create or a pod to delete (unless it is terminating by then).
        Batches hold slots 0, 1-2, 3-6, … (doubling, at most 500); a batch's calls run concurrently,
        each waits for its client token, then takes one API round trip, and the batch ends with its
        slowest call. False when a create found its name taken: the sync stops after that batch."""
        ok, i = True, 0
        while i < len(calls) and ok:
            batch = _batch_of(calls[i][0])
            j = i + 1
            while j < len(calls) and _batch_of(calls[j][0]) == batch:
                j += 1
            todo = [what for _, what in calls[i:j] if isinstance(what, int) or not what.deleting]
            i = j
            start = self.env.now
            done_at = [
                start
                + self.limiter.reserve()
                + (self.pod_create() if isinstance(w, int) else self.pod_delete())
                for w in todo
            ]
            for at, _, what in sorted(zip(done_at, range(len(todo)), todo, strict=True)):
                if at > self.env.now:
                    yield self.env.timeout(at - self.env.now)
                if not self._live(sts):
                    return True
                if isinstance(what, int):
                    if what < sts.ordinal_start + sts.replicas and what not in self.pods_by_ordinal(sts):
                        ok = self._create(sts, what) and ok
                elif what.stored and not what.deleting:
                    self.gc.delete(what)
        return ok

    def _retry_on_conflict(self, sts: StatefulSet, conflict: bool) -> None:
        """A pod name still held by a pod of an earlier set of the same name (a worker set recreated
        while the old worker terminates): create fails with AlreadyExists, the sync returns an error
        and the key is retried with the workqueue's per-item exponential back-off (client-go
        DefaultControllerRateLimiter: 5 ms doubling, at most 1000 s). The old pod's deletion does not
        requeue this set: its ownerReference names the old set's UID."""
        if not conflict:
            self._failures.pop(sts.uid, None)
            return
        n = self._failures.get(sts.uid, 0)
        self._failures[sts.uid] = n + 1
        self._dirty.add(sts.uid)
        self.queue.add_after(sts.key, min(RETRY_BASE * 2**n, RETRY_MAX))

    def _revision_for(self, sts: StatefulSet, ordinal: int) -> str:
        if ordinal - sts.ordinal_start < sts.partition and sts.current_revision:
            return sts.current_revision
        return sts.update_revision

    def _create(self, sts: StatefulSet, ordinal: int) -> bool:
        revision = self._revision_for(sts, ordinal)
        template = sts.revision_templates[revision]
        pod = Pod(
            kind="Pod",
            name=f"{sts.name}-{ordinal}",
            namespace=sts.namespace,
            labels=dict(template.labels),
            annotations=dict(template.annotations),
            owner=sts,
            template=template,
            workload=sts.workload,
            lws=sts.lws,
            role=sts.role,
            group=ordinal if sts.role == "leader" else sts.group,  # -1 for a StatefulSet of its own
            ordinal=ordinal,
            revision=revision,
            node_selector=sts.node_selector,
        )
        if not sts.lws:  # a StatefulSet of its own: no LWS webhook adds the template's terms
            pod.affinity, pod.anti_affinity = template.pod_affinity, template.pod_anti_affinity
        if self.store.create(pod):
            pod.record(self.timeline, self.env.now, POD_CREATED, revision=revision, gpus=self.gpu_of(pod))
            return True
        return False

    def _rolling_update(self, sts: StatefulSet, pods: dict[int, Pod]):
        lowest = sts.ordinal_start + sts.partition
        ordinals = range(sts.ordinal_start + sts.replicas - 1, lowest - 1, -1)
        if not self.gate:
            for ordinal in ordinals:
                pod = pods.get(ordinal)
                if pod is None:
                    return
                if pod.revision != sts.update_revision and not pod.deleting:
                    yield from self._api_call()
                    self.gc.delete(pod)
                    return
                if not pod.running_and_ready:
                    return
            return
        # MaxUnavailableStatefulSet (updateStatefulSetAfterInvariantEstablished): unavailable pods are
        # counted over the whole range, the partition aside; then up to maxUnavailable - unavailable
        # pods of an old revision are deleted, highest ordinal first, whether available or not.
        first = sts.ordinal_start
        unavailable = sum(
            1 for o in range(first, first + sts.replicas) if o not in pods or not pods[o].running_and_ready
        )
        budget = sts.max_unavailable - unavailable
        for ordinal in ordinals:
            pod = pods.get(ordinal)
            if budget <= 0:
                return
            if pod is not None and pod.revision != sts.update_revision and not pod.deleting:
                yield from self._api_call()
                self.gc.delete(pod)
                budget -= 1

    def _update_status(self, sts: StatefulSet) -> None:
        if sts.uid not in self._totals:
            return  # the set was removed while this sync waited for the rate limiter
        replicas = len(self.pods_by_ordinal(sts))
        ready, updated, _ = self._totals[sts.uid]
        if updated == sts.replicas == replicas and sts.current_revision != sts.update_revision:
            sts.current_revision = sts.update_revision
        status = (replicas, ready, ready, updated)
        if status != (sts.status_replicas, sts.ready_replicas, sts.available_replicas, sts.updated_replicas):
            sts.status_replicas, sts.ready_replicas, sts.available_replicas, sts.updated_replicas = status
            self.store.update(sts)
