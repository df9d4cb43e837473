"""The LWS controllers (v0.7.0) and the LWS pod mutating webhook.

Sources (kubernetes-sigs/lws v0.7.0): ``pkg/controllers/leaderworkerset_controller.go`` (leader
StatefulSet, rolling-update parameters, status), ``pkg/controllers/pod_controller.go`` (worker
StatefulSets, restart policy), ``pkg/webhooks/pod_webhook.go`` (labels, exclusive placement).
Section numbers refer to ../shared/reference/lws-v0.7-semantics.md.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import replace

import simpy

from lwssim.engine.gc import GarbageCollector
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import FOREGROUND, PENDING, RUNNING, LeaderWorkerSet, Pod, StatefulSet
from lwssim.engine.scheduling.gang import GROUP_NAME_ANNOTATION, PodGroup
from lwssim.engine.store import DELETED, MODIFIED, Store, no_latency
from lwssim.engine.workqueue import WorkQueue
from lwssim.model import lws as L
from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.model.pod import LabelSelector, PodAffinityTerm, PodTemplate, Requirement
from lwssim.model.scenario import ControllerConfig
from lwssim.timeline import GROUP_RECREATED, LWS_STATUS, ROLLOUT_FINISHED, Timeline

NAME = L.LWS_PREFIX + "name"
WORKER_INDEX = L.LWS_PREFIX + "worker-index"
GROUP_INDEX = L.LWS_PREFIX + "group-index"
GROUP_KEY = L.LWS_PREFIX + "group-key"
REVISION = L.LWS_PREFIX + "template-revision-hash"
SUBGROUP_INDEX = L.LWS_PREFIX + "subgroup-index"
SUBGROUP_KEY = L.LWS_PREFIX + "subgroup-key"
SIZE = L.LWS_PREFIX + "size"
LEADER_NAME = L.LWS_PREFIX + "leader-name"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def revision_key(spec: LeaderWorkerSetSpec) -> str:
    """Hash of what a ControllerRevision snapshots: leaderWorkerTemplate and networkConfig (§1.3)."""
    snapshot = (
        spec.leader_template,
        spec.worker_template,
        spec.size,
        spec.restart_policy,
        spec.subgroup_size,
        spec.subgroup_type,
        spec.subdomain_policy,
    )
    return sha1(repr(snapshot))[:10]


def scaled(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    pct = int(value.rstrip("%")) * total / 100
    return math.ceil(pct) if round_up else math.floor(pct)


def _exclusive_terms(key_label: str, own: str, topology_key: str) -> tuple[PodAffinityTerm, PodAffinityTerm]:
    """Required affinity to the own key and anti-affinity to any other key, per topology domain (§3.5)."""
    affinity = PodAffinityTerm(LabelSelector((), (Requirement(key_label, "In", (own,)),)), topology_key)
    anti = PodAffinityTerm(
        LabelSelector((), (Requirement(key_label, "Exists"), Requirement(key_label, "NotIn", (own,)))),
        topology_key,
    )
    return affinity, anti


class LWSControllers:
    """The LeaderWorkerSet reconciler, the pod reconciler and the pod webhook of one LWS manager."""

    def __init__(
        self,
        env: simpy.Environment,
        store: Store,
        gc: GarbageCollector,
        nodes: NodeTable,
        timeline: Timeline,
        config: ControllerConfig,
        api_latency: Callable[[], float] = no_latency,
    ) -> None:
        self.env, self.store, self.gc, self.nodes, self.timeline = env, store, gc, nodes, timeline
        self.api_latency = api_latency
        self.config = config
        # Memo of group_state per leader pod uid, per LWS, kept current from watch events;
        # the status it sums is what updateConditions computes by listing every leader pod.
        self._states: dict[str, dict[int, tuple[bool | None, bool, int]]] = {}
        self._totals: dict[str, list[int]] = {}
        self._dirty: dict[str, dict[int, Pod]] = {}
        self._memo_revision: dict[str, str] = {}
        # LWS key -> (LWS version, leader set uid, its generation) its last full reconcile read
        self._seen: dict[str, tuple[int, int, int]] = {}
        self._templates: dict[tuple[PodTemplate, tuple, tuple], PodTemplate] = {}
        self._views: dict[int, tuple] = {}  # worker set uid -> what group_state last read of it
        self.lws_queue = WorkQueue(env, self.reconcile_lws)
        self.pod_queue = WorkQueue(env, self.reconcile_pod)
        store.admit("Pod", self.mutate_pod)
        store.watch("LeaderWorkerSet", lambda ev, obj: self.lws_queue.add(obj.key))
        store.watch("StatefulSet", self._on_sts)
        store.watch("Pod", self._on_pod)

    # -- watches (§3.2): the LWS reconciler sees StatefulSets, the pod reconciler pods and worker sets
    def _on_sts(self, event: str, sts: StatefulSet) -> None:  # type: ignore[override]
        leader = sts.owner
        if not isinstance(leader, Pod):  # the leader set
            if sts.lws:
                self.lws_queue.add(f"{sts.namespace}/{sts.lws}")
            return
        # A worker set. Both reconcilers are triggered by every event of it (pod_controller.go Owns,
        # and the LWS controller's watch), but most are status updates that change nothing either
        # reads; those reconciles would find nothing to do, so they are not enqueued:
        # - the pod reconciler reads only whether the worker set exists (ADDED, DELETED);
        # - the LWS reconciler reads the fields ``group_state`` reads, and has no leader to revisit.
        key = f"{sts.namespace}/{sts.lws}"
        view = self._worker_view(sts)
        if event == DELETED:
            self._views.pop(sts.uid, None)
        elif event == MODIFIED and self._views.get(sts.uid) == view and not self._dirty.get(key):
            if self.config.gang_scheduling == "volcano":
                self.pod_queue.add(leader.key)
            return
        else:
            self._views[sts.uid] = view
        self._dirty.setdefault(key, {})[leader.uid] = leader
        if sts.lws:
            self.lws_queue.add(key)
        if event != MODIFIED or self.config.gang_scheduling == "volcano":
            self.pod_queue.add(leader.key)

    def _worker_view(self, workers: StatefulSet) -> tuple:
        """What ``group_state`` reads of a worker set."""
        if self.config.group_ready_ignores_workers:
            counted = workers.status_replicas  # v0.7/v0.8: all worker pods exist
        else:
            counted = workers.available_replicas  # v0.9+: all available
        return (workers.replicas, counted, workers.current_revision, workers.update_revision)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if pod.role == "leader" and pod.lws:
            self._dirty.setdefault(f"{pod.namespace}/{pod.lws}", {})[pod.uid] = pod
        # A worker's only rule is the restart policy: enqueue it only when that rule can fire. A pod
        # that is gone has nothing left to reconcile (Get finds nothing; a pod of the same name that
        # replaces it is enqueued by its own events).
        if event == DELETED or NAME not in pod.labels:
            return
        restarted = pod.restart_count > 0 and pod.phase in (RUNNING, PENDING)
        if pod.role == "leader":
            if restarted or not self._leader_settled(pod):
                self.pod_queue.add(pod.key)
        elif pod.deleting or restarted:
            self.pod_queue.add(pod.key)

    def _leader_settled(self, leader: Pod) -> bool:
        """True when the pod reconciler has nothing to do for this leader whatever its state: it is
        being deleted, or its worker set exists and its revision is known. What could change that
        (a restart, the worker set going away) is an event that enqueues the leader itself."""
        if self.config.gang_scheduling == "volcano":
            return False
        if leader.deleting:
            return True
        lws = self.lws_of(leader)
        return (
            lws is not None
            and leader.revision in lws.revisions
            and self.store.get("StatefulSet", leader.key) is not None
        )

    def lws_of(self, obj: Pod | StatefulSet) -> LeaderWorkerSet | None:
        lws = self.store.get("LeaderWorkerSet", f"{obj.namespace}/{obj.lws}")
        return lws if isinstance(lws, LeaderWorkerSet) else None

    # -- pod webhook (§3.5)
    def mutate_pod(self, pod: Pod) -> None:  # type: ignore[override]
        if NAME not in pod.labels:
            return
        lws = self.lws_of(pod)
        if lws is None or lws.spec is None:
            return
        spec = lws.spec
        if pod.role == "leader":
            pod.labels[GROUP_INDEX] = str(pod.ordinal)
            pod.labels[GROUP_KEY] = sha1(f"{pod.namespace}/{pod.name}")
            key = spec.exclusive_topology
            own_terms = {t.topology_key for t in pod.template.pod_affinity + pod.template.pod_anti_affinity}
            if key and key not in own_terms:
                aff, anti = _exclusive_terms(GROUP_KEY, pod.labels[GROUP_KEY], key)
                pod.affinity += (aff,)
                pod.anti_affinity += (anti,)
        else:
            pod.labels[WORKER_INDEX] = str(pod.ordinal)
        self._subgroup(pod, spec)
        if self.config.gang_scheduling == "volcano":  # volcano_provider.go InjectPodGroupMetadata
            pod.annotations[GROUP_NAME_ANNOTATION] = (
                f"{lws.name}-{pod.labels.get(GROUP_INDEX, pod.group)}-{pod.revision}"
            )
        pod.affinity = pod.template.pod_affinity + pod.affinity
        pod.anti_affinity = pod.template.pod_anti_affinity + pod.anti_affinity

    def _subgroup(self, pod: Pod, spec: LeaderWorkerSetSpec) -> None:
        """Subgroup labels and subgroup exclusive placement (pod_webhook.go:135-166)."""
        size = spec.subgroup_size
        if not size:
            return
        if pod.role == "leader":
            if spec.subgroup_type == "LeaderExcluded":
                return
            index = 0
        elif (spec.size - 1) % size == 0:
            index = (pod.ordinal - 1) // size
        else:
            index = pod.ordinal // size
        pod.labels[SUBGROUP_INDEX] = str(index)
        leader_name = pod.name if pod.role == "leader" else f"{pod.lws}-{pod.group}"
        pod.labels[SUBGROUP_KEY] = sha1(f"{leader_name}/{index}")  # genGroupUniqueKey(leaderName, index)
        key = spec.subgroup_exclusive_topology
        if key:
            aff, anti = _exclusive_terms(SUBGROUP_KEY, pod.labels[SUBGROUP_KEY], key)
            pod.affinity += (aff,)
            pod.anti_affinity += (anti,)

    # -- LWS reconcile (§3.3)
    def reconcile_lws(self, key: str) -> None:
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

    def _leader_template(self, lws: LeaderWorkerSet, revision: str) -> PodTemplate:
        spec = lws.revisions[revision]
        base = spec.effective_leader_template
        labels = dict(base.labels) | {NAME: lws.name, WORKER_INDEX: "0", REVISION: revision}
        annotations = dict(base.annotations) | {SIZE: str(spec.size)}
        if spec.exclusive_topology:
            annotations[L.EXCLUSIVE_TOPOLOGY] = spec.exclusive_topology
        return self._derived(base, labels, annotations)

    def _derived(self, base: PodTemplate, labels: dict[str, str], annotations: dict[str, str]) -> PodTemplate:
        """``base`` with these labels and annotations. Equal templates are one object: a recreated
        group's worker set gets the template its predecessor had, its hash and placement known."""
        key = (base, tuple(sorted(labels.items())), tuple(sorted(annotations.items())))
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = replace(base, labels=key[1], annotations=key[2])
        return template

    def _apply_leader_sts(
        self, lws: LeaderWorkerSet, sts: StatefulSet | None, partition: int, replicas: int
    ) -> None:
        spec = lws.spec
        assert spec is not None
        # v0.7/v0.8 pass maxUnavailable verbatim; v0.9+ maxUnavailable + maxSurge (lws#781).
        max_unavailable = scaled(spec.rolling_update.max_unavailable, spec.replicas, False)
        if self.config.version_tuple >= (0, 9, 0):
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
        sts.annotations[L.LWS_PREFIX + "replicas"] = str(lws.spec.replicas if lws.spec else 0)

    # -- rolling update (§3.9, leaderworkerset_controller.go rollingUpdateParameters)
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

        def want(unready: int) -> int:
            return n + max(unready - 1, 0) if unready <= surge else burst

        if lws.template_changed:
            return min(n, sts.replicas), want(n)
        if sts.partition == 0 and sts.replicas == n:
            return 0, n
        states = self.replica_states(lws, sts.replicas)
        unready = sum(1 for i in range(n) if i >= len(states) or not all(states[i]))
        if int(sts.annotations.get(L.LWS_PREFIX + "replicas", n)) != n:
            return min(sts.partition, burst), want(unready)
        step = scaled(spec.rolling_update.max_unavailable, n, False) + surge - (burst - sts.replicas)
        return rolling_update_partition(states, sts.replicas, step, sts.partition), want(unready)

    def replica_states(self, lws: LeaderWorkerSet, count: int) -> list[tuple[bool, bool]]:
        """(ready, updated) per index < count; a missing leader or worker set is neither."""
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
        """Ready and updated as LWS computes them (§3.7); ready None when the worker set is missing.

        v0.7/v0.8 ``StatefulsetReady``: spec.replicas == status.replicas, i.e. all worker pods exist,
        even Pending; v0.9+ require them available (lws#705).
        """
        assert lws.spec is not None
        leader_ready = leader.phase == RUNNING and leader.ready
        leader_updated = leader.revision == lws.revision
        if lws.spec.size == 1:
            return leader_ready, leader_updated
        workers = self.store.get("StatefulSet", leader.key)
        if not isinstance(workers, StatefulSet):
            return None, False
        if self.config.group_ready_ignores_workers:
            workers_ready = workers.replicas == workers.status_replicas
        else:
            workers_ready = workers.replicas == workers.available_replicas
        workers_ready = workers_ready and workers.current_revision == workers.update_revision
        return leader_ready and workers_ready, leader_updated and workers.update_revision == lws.revision

    def _update_status(self, lws: LeaderWorkerSet) -> None:
        """readyReplicas and updatedReplicas over existing leader pods (updateConditions), from the group
        states ``reconcile_lws`` has just refreshed (nothing in between marks a leader dirty)."""
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
        dirty = self._dirty.pop(key, {})
        changed = False
        if self._memo_revision.get(key) != lws.revision:
            self._memo_revision[key] = lws.revision
            states.clear()
            totals[:] = [0, 0]
            dirty = {p.uid: p for p in self.store.dependents(sts) if isinstance(p, Pod)} if sts else {}
            changed = True
        for uid, leader in dirty.items():
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

    # -- pod reconcile (§3.4)
    def reconcile_pod(self, key: str):
        """The pod reconciler; a generator only when it creates a worker set (one API round trip)."""
        pod = self.store.get("Pod", key)
        if not isinstance(pod, Pod):
            return None
        lws = self.lws_of(pod)
        if lws is None or lws.spec is None:
            return None
        if self._handle_restart_policy(pod, lws):
            return None
        if pod.role != "leader" or pod.deleting:
            return None
        if self.config.gang_scheduling == "volcano":
            self._ensure_pod_group(lws, pod)
        if lws.spec.size == 1:
            return None
        if lws.spec.startup_policy == L.LEADER_READY and not pod.ready:
            return None
        spec = lws.revisions.get(pod.revision)
        if spec is None:
            self.pod_queue.add_after(key, 1.0)  # revision not found yet: RequeueAfter 1s
            return None
        node_selector: tuple[tuple[str, str], ...] = ()
        topology_key = lws.spec.exclusive_topology
        if topology_key:
            if pod.node is None:
                return None  # workers wait for the leader to be bound (§3.4 step 10)
            value = self.nodes.node_labels[self.nodes.index[pod.node]].get(topology_key)
            if value is None:
                return None  # label missing: the real controller errors and backs off forever
            node_selector = ((topology_key, value),)
        if self.store.get("StatefulSet", pod.key) is not None:
            return None
        return self._create_workers(key, pod, lws, spec, node_selector)

    def _create_workers(
        self,
        key: str,
        pod: Pod,
        lws: LeaderWorkerSet,
        spec: LeaderWorkerSetSpec,
        node_selector: tuple[tuple[str, str], ...],
    ):
        # The create is one API round trip; this reconciler (MaxConcurrentReconciles 1) waits for it, so
        # worker sets of many leaders are created one after another.
        yield self.env.timeout(self.api_latency())
        if (
            self.store.get("Pod", key) is pod
            and not pod.deleting
            and self.store.get("StatefulSet", pod.key) is None
        ):
            self._create_worker_sts(lws, pod, spec, node_selector)

    def _ensure_pod_group(self, lws: LeaderWorkerSet, leader: Pod) -> None:
        """CreatePodGroupIfNotExists (volcano_provider.go): minMember = size, or 1 with LeaderReady;
        minResources = leader + (size−1) × worker requests; owned by the leader pod."""
        spec = lws.spec
        assert spec is not None
        name = leader.annotations.get(GROUP_NAME_ANNOTATION, "")
        if not name or self.store.get("PodGroup", f"{leader.namespace}/{name}") is not None:
            return
        resources = dict(spec.effective_leader_template.requests())
        for r, v in spec.worker_template.requests().items():
            resources[r] = resources.get(r, 0) + (spec.size - 1) * v
        self.store.create(
            PodGroup(
                kind="PodGroup",
                name=name,
                namespace=leader.namespace,
                owner=leader,
                min_member=1 if spec.startup_policy == L.LEADER_READY else spec.size,
                min_resources=resources,
            )
        )

    def _create_worker_sts(
        self,
        lws: LeaderWorkerSet,
        leader: Pod,
        spec: LeaderWorkerSetSpec,
        node_selector: tuple[tuple[str, str], ...],
    ) -> None:
        base = spec.worker_template
        labels = dict(base.labels) | {
            NAME: lws.name,
            GROUP_INDEX: leader.labels.get(GROUP_INDEX, str(leader.group)),
            GROUP_KEY: leader.labels.get(GROUP_KEY, ""),
            REVISION: leader.revision,
        }
        annotations = dict(base.annotations) | {SIZE: str(spec.size), LEADER_NAME: leader.name}
        template = self._derived(base, labels, annotations)
        # v0.7 takes the worker count from the current LWS size (pod_controller.go:355).
        size = lws.spec.size if lws.spec else spec.size
        sts = StatefulSet(
            kind="StatefulSet",
            name=leader.name,
            namespace=leader.namespace,
            owner=leader,
            labels={NAME: lws.name, GROUP_INDEX: str(leader.group)},
            template=template,
            replicas=size - 1,
            ordinal_start=1,
            update_revision=leader.revision,
            current_revision=leader.revision,
            workload=lws.workload,
            lws=lws.name,
            role="worker",
            group=leader.group,
            node_selector=node_selector,
            revision_templates={leader.revision: template},
        )
        self.store.create(sts)

    def _handle_restart_policy(self, pod: Pod, lws: LeaderWorkerSet) -> bool:
        """RecreateGroupOnPodRestart (§3.8, pod_controller.go handleRestartPolicy): a restarted
        container or a deleted pod makes LWS delete the leader in foreground. True: leader deleted."""
        assert lws.spec is not None
        policy = lws.spec.restart_policy
        if policy == L.RESTART_NONE:
            return False
        restarted = pod.restart_count > 0 and pod.phase in (RUNNING, PENDING)
        if not restarted and not pod.deleting:
            return False
        if pod.role == "leader":
            leader = pod
        else:
            found = self.store.get("Pod", f"{pod.namespace}/{pod.lws}-{pod.group}")
            if not isinstance(found, Pod):
                return False
            leader = found
            if leader.revision != pod.revision:
                return False
            if self.config.version_tuple >= (0, 9, 0) and _owning_leader(pod) not in (None, leader):
                return False  # a worker of the previous leader (v0.9 fix of lws#804, #805)
        if leader.deleting:
            return True
        if policy == L.RECREATE_GROUP_AFTER_START and self._group_has_pending(leader):
            return False  # v0.9+: skip while any pod of the group is still Pending (lws#726)
        reason = "container restarted" if restarted else "pod deleted"
        leader.record(
            self.timeline, self.env.now, GROUP_RECREATED, reason=f"{pod.name}: {reason}", trigger=pod.name
        )
        self.gc.delete(leader, FOREGROUND)
        return True

    def _group_has_pending(self, leader: Pod) -> bool:
        workers = self.store.get("StatefulSet", leader.key)
        pods = [leader] + (
            [p for p in self.store.dependents(workers) if isinstance(p, Pod)] if workers else []
        )
        return any(p.phase == PENDING for p in pods)


def _spec_version(sts: StatefulSet | None) -> tuple[int, int]:
    """Which leader StatefulSet, at which spec generation."""
    return (sts.uid, sts.generation) if sts is not None else (0, 0)


def _owning_leader(worker: Pod) -> Pod | None:
    """The leader pod that owns the worker's StatefulSet (ownerReference, compared by UID)."""
    sts = worker.owner
    owner = sts.owner if isinstance(sts, StatefulSet) else None
    return owner if isinstance(owner, Pod) else None


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
