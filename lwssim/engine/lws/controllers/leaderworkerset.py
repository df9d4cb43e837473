"""The LeaderWorkerSet reconciler (docs/lws-v0.7-semantics.md §3.3; kubernetes-sigs/lws v0.7.0
``pkg/controllers/leaderworkerset_controller.go``): the leader StatefulSet, the rolling update's
parameters and partition (docs/lws-v0.7-semantics.md §3.9), and the status."""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.lws.intstr import scaled
from lwssim.engine.lws.labels import NAME, REPLICAS, REVISION, SIZE, WORKER_INDEX
from lwssim.engine.lws.predicates import LeaderWorkerSetEventFilter
from lwssim.engine.lws.templates import TemplateCache
from lwssim.engine.lws.utils import ready_workers
from lwssim.engine.lws.versions import LWSVersion
from lwssim.engine.objects import RUNNING, LeaderWorkerSet, Pod, StatefulSet
from lwssim.engine.store import Store
from lwssim.engine.workqueue import WorkQueue
from lwssim.model import lws as L
from lwssim.model.pod import PodTemplate
from lwssim.timeline import LWS_STATUS, ROLLOUT_FINISHED


class LeaderWorkerSetReconciler:
    def __init__(self, cluster: Cluster, version: LWSVersion, templates: TemplateCache) -> None:
        env = cluster.env
        self.env, self.store, self.timeline = env, cluster.store, cluster.timeline
        self.version, self.templates = version, templates
        # Memo of group_state per leader pod uid, per LWS, kept current from watch events;
        # the status it sums is what updateConditions computes by listing every leader pod.
        self._states: dict[str, dict[int, tuple[bool | None, bool, int]]] = {}
        self._totals: dict[str, list[int]] = {}
        self.changed: dict[str, dict[int, Pod]] = {}  # LWS key -> leaders changed since its last reconcile
        self._memo_revision: dict[str, str] = {}
        # LWS key -> (LWS version, leader set uid, its generation) its last full reconcile read
        self._seen: dict[str, tuple[int, int, int]] = {}
        self.queue = WorkQueue(env, self.reconcile)

    def setup_with_manager(self, store: Store) -> LeaderWorkerSetEventFilter:
        """Start watching (SetupWithManager): the events that enqueue an LWS are in ``predicates``."""
        return LeaderWorkerSetEventFilter(store, self.queue, self.version, self.changed)

    def reconcile(self, key: str) -> None:
        lws = self.store.get("LeaderWorkerSet", key)
        if not isinstance(lws, LeaderWorkerSet) or lws.deleting or lws.spec is None:
            return
        sts = self.store.get("StatefulSet", key)
        leader_sts = sts if isinstance(sts, StatefulSet) else None
        # Level-triggered, but most reconciles are triggered by status: a worker set's counters that
        # leave every group's state as it was, or the leader set's status. When the LWS object, the
        # leader set's spec (its generation: only this controller writes it) and every group state are
        # what the last reconcile saw, the rolling update and the leader set come out the same, and
        # only the status can differ.
        seen = (lws.resource_version, *_spec_version(leader_sts))
        if not self._refresh_states(lws, leader_sts) and self._seen.get(key) == seen:
            self._update_status(lws)
            return
        partition, replicas = self.rolling_update_parameters(lws, leader_sts)
        lws.template_changed = False
        self._apply_leader_sts(lws, leader_sts, partition, replicas)
        self._update_status(lws)
        # What this reconcile read, not what it wrote: a changed partition is an input to the next one.
        self._seen[key] = seen

    # -- the leader StatefulSet (SSAWithStatefulset, constructLeaderStatefulSetApplyConfiguration)
    def _leader_template(self, lws: LeaderWorkerSet, revision: str) -> PodTemplate:
        spec = lws.revisions[revision]
        base = spec.effective_leader_template
        labels = dict(base.labels) | {NAME: lws.name, WORKER_INDEX: "0", REVISION: revision}
        annotations = dict(base.annotations) | {SIZE: str(spec.size)}
        if spec.exclusive_topology:
            annotations[L.EXCLUSIVE_TOPOLOGY] = spec.exclusive_topology
        return self.templates.derived(base, labels, annotations)

    def _apply_leader_sts(
        self, lws: LeaderWorkerSet, sts: StatefulSet | None, partition: int, replicas: int
    ) -> None:
        spec = lws.spec
        assert spec is not None
        max_unavailable = scaled(spec.rolling_update.max_unavailable, spec.replicas, False)
        if self.version.leader_max_unavailable_adds_surge:
            max_unavailable += scaled(spec.rolling_update.max_surge, spec.replicas, True)
        if sts is None:
            sts = StatefulSet(
                kind="StatefulSet",
                name=lws.name,
                namespace=lws.namespace,
                owner=lws,
                workload=lws.workload,
                lws=lws.name,
                role="leader",
            )
            sts.current_revision = lws.revision
            self._set_leader_sts(lws, sts, partition, replicas, max_unavailable)
            self.store.create(sts)
            return
        before = _leader_sts_spec(sts)
        self._set_leader_sts(lws, sts, partition, replicas, max_unavailable)
        if before != _leader_sts_spec(
            sts
        ):  # server-side apply of identical content changes nothing and notifies no one
            sts.generation += 1
            self.store.update(sts)

    def _set_leader_sts(
        self, lws: LeaderWorkerSet, sts: StatefulSet, partition: int, replicas: int, max_unavailable: int
    ) -> None:
        for revision in lws.revisions:
            if revision not in sts.revision_templates:
                sts.revision_templates[revision] = self._leader_template(lws, revision)
        sts.replicas, sts.partition = replicas, partition
        sts.max_unavailable = max(max_unavailable, 1)
        sts.update_revision = lws.revision
        sts.template = sts.revision_templates[lws.revision]
        sts.annotations[REPLICAS] = str(lws.spec.replicas if lws.spec else 0)

    # -- rolling update (docs/lws-v0.7-semantics.md §3.9, rollingUpdateParameters)
    def rolling_update_parameters(self, lws: LeaderWorkerSet, sts: StatefulSet | None) -> tuple[int, int]:
        spec = lws.spec
        assert spec is not None
        n = spec.replicas
        partition, replicas = self._rolling_update(lws, sts, n)
        return max(partition, spec.rolling_update.partition), replicas

    def _rolling_update(self, lws: LeaderWorkerSet, sts: StatefulSet | None, n: int) -> tuple[int, int]:
        spec = lws.spec
        assert spec is not None
        if sts is None:
            return 0, n
        surge = min(scaled(spec.rolling_update.max_surge, n, True), n)
        burst = n + surge
        max_unavailable = scaled(spec.rolling_update.max_unavailable, n, False)
        v09 = self.version.surge_reclaimed_within_max_unavailable

        def want(unready: int) -> int:
            return rolling_update_replicas(n, surge, max_unavailable, unready, v09)

        if lws.template_changed:
            if v09 and sts.replicas < n:  # scaling up first: no temporary surge group (lws#778)
                return min(n, sts.replicas), n
            return min(n, sts.replicas), want(n)
        if sts.partition == 0 and sts.replicas == n:
            return 0, n
        if v09 and sts.replicas < n:
            return sts.partition, n
        states = self.replica_states(lws, sts.replicas)
        unready = sum(1 for i in range(n) if i >= len(states) or not all(states[i]))
        if int(sts.annotations.get(REPLICAS, n)) != n:
            return min(sts.partition, burst), want(unready)
        step = max_unavailable + surge - (burst - sts.replicas)
        return rolling_update_partition(states, sts.replicas, step, sts.partition), want(unready)

    def replica_states(self, lws: LeaderWorkerSet, count: int) -> list[tuple[bool, bool]]:
        """(ready, updated) per index < count (getReplicaStates); no leader or worker set: neither."""
        states = []
        for i in range(count):
            leader = self.store.get("Pod", f"{lws.namespace}/{lws.name}-{i}")
            if not isinstance(leader, Pod):
                states.append((False, False))
                continue
            ready, updated = self.group_state(lws, leader)
            if ready is None:
                states.append((False, False))
            else:
                states.append((ready, updated))
        return states

    def group_state(self, lws: LeaderWorkerSet, leader: Pod) -> tuple[bool | None, bool]:
        """Ready and updated as LWS computes them (docs/lws-v0.7-semantics.md §3.7); ready None when the
        worker set is missing.
        Which worker count makes a worker set ready depends on the version (``ready_workers``)."""
        assert lws.spec is not None
        leader_ready = leader.phase == RUNNING and leader.ready
        leader_updated = leader.revision == lws.revision
        if lws.spec.size == 1:
            return leader_ready, leader_updated
        workers = self.store.get("StatefulSet", leader.key)
        if not isinstance(workers, StatefulSet):
            return None, False
        workers_ready = workers.replicas == ready_workers(workers, self.version)
        workers_ready = workers_ready and workers.current_revision == workers.update_revision
        return leader_ready and workers_ready, leader_updated and workers.update_revision == lws.revision

    # -- status (updateStatus, updateConditions)
    def _update_status(self, lws: LeaderWorkerSet) -> None:
        """readyReplicas and updatedReplicas over existing leader pods (updateConditions), from the group
        states ``reconcile`` has just refreshed (nothing in between marks a leader changed)."""
        spec = lws.spec
        assert spec is not None
        sts = self.store.get("StatefulSet", lws.key)
        states, totals = self._states[lws.key], self._totals[lws.key]
        replicas = sts.status_replicas if isinstance(sts, StatefulSet) else 0
        status = (replicas, totals[0], totals[1])
        if status != (lws.status_replicas, lws.ready_replicas, lws.updated_replicas):
            lws.status_replicas, lws.ready_replicas, lws.updated_replicas = status
            self.timeline.add(
                self.env.now,
                LWS_STATUS,
                lws.name,
                lws.workload,
                replicas=replicas,
                readyReplicas=totals[0],
                updatedReplicas=totals[1],
            )
        if len(lws.revisions) > 1 and spec.rolling_update.partition == 0:
            done = sum(1 for ready, updated, g in states.values() if ready and updated and g < spec.replicas)
            if done == spec.replicas:
                lws.revisions = {lws.revision: lws.revisions[lws.revision]}  # truncate old revisions
                self.timeline.add(
                    self.env.now, ROLLOUT_FINISHED, lws.name, lws.workload, revision=lws.revision
                )

    def _refresh_states(self, lws: LeaderWorkerSet, sts: StatefulSet | None) -> bool:
        """Bring the memo of group states up to date with the leaders that changed since last time;
        True when some group's (ready, updated) state or the set of groups changed."""
        key = lws.key
        states = self._states.setdefault(key, {})
        totals = self._totals.setdefault(key, [0, 0])
        leaders = self.changed.pop(key, {})
        changed = False
        if self._memo_revision.get(key) != lws.revision:
            self._memo_revision[key] = lws.revision
            states.clear()
            totals[:] = [0, 0]
            leaders = {p.uid: p for p in self.store.dependents(sts) if isinstance(p, Pod)} if sts else {}
            changed = True
        for uid, leader in leaders.items():
            old = states.pop(uid, None)
            if old is not None:
                totals[0] -= bool(old[0])
                totals[1] -= old[1]
            new = None
            if leader.stored:
                ready, updated = self.group_state(lws, leader)
                if ready is not None:  # no worker set yet: skipped entirely, as updateConditions does
                    new = states[uid] = (ready, updated, leader.group)
                    totals[0] += bool(ready)
                    totals[1] += updated
            changed = changed or new != old
        return changed


def _spec_version(sts: StatefulSet | None) -> tuple[int, int]:
    """Which leader StatefulSet, at which spec generation."""
    return (sts.uid, sts.generation) if sts is not None else (0, 0)


def _leader_sts_spec(sts: StatefulSet) -> tuple:
    """What the LWS controller applies to its leader StatefulSet, to tell a no-op apply."""
    return (
        sts.replicas,
        sts.partition,
        sts.max_unavailable,
        sts.update_revision,
        len(sts.revision_templates),
        dict(sts.annotations),
    )


def rolling_update_partition(states: list[tuple[bool, bool]], replicas: int, step: int, current: int) -> int:
    """The leader StatefulSet partition for one rolling-update step (rollingUpdatePartition).

    Roll up to ``step`` groups below the tail of ready+updated groups, never below groups that are
    not ready (maxUnavailable), dropping past continuously unready ones so a broken update cannot
    stick (lws#567); the partition only ever moves down.
    """
    tail = 0
    for ready, updated in reversed(states):
        if not (ready and updated):
            break
        tail += 1
    base = max(replicas - tail - step, 0)
    partition = base + sum(1 for i in range(base) if not states[i][0])
    idx = min(partition, replicas - 1)
    while idx >= base:
        ready, updated = states[idx]
        if not ready or updated:
            partition = idx
        else:
            break
        idx -= 1
    return min(partition, current)


def rolling_update_replicas(n: int, surge: int, max_unavailable: int, unready: int, v09: bool) -> int:
    """The leader set's replicas during a rollout (``wantReplicas``): the surge groups stay until the unready
    ones fit the budget, then go; from v0.9 the budget is maxUnavailable (calculateRollingUpdateReplicas,
    lws#778), before it one group at a time."""
    if unready > surge:
        return n + surge
    return n + max(unready - (max_unavailable if v09 else 1), 0)
