"""The pod reconciler (kubernetes-sigs/lws v0.7.0 ``pkg/controllers/pod_controller.go``, §3.4): a worker
StatefulSet per leader, the restart policy (docs/lws-v0.7-semantics.md §3.8), and with volcano the group's
PodGroup."""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.lws.labels import GROUP_INDEX, GROUP_KEY, LEADER_NAME, NAME, REVISION, SIZE
from lwssim.engine.lws.predicates import PodEventFilter
from lwssim.engine.lws.templates import TemplateCache
from lwssim.engine.lws.utils import container_restarted, lws_of
from lwssim.engine.lws.versions import LWSVersion
from lwssim.engine.objects import FOREGROUND, PENDING, LeaderWorkerSet, Pod, StatefulSet
from lwssim.engine.scheduling.gang import GROUP_NAME_ANNOTATION, PodGroup
from lwssim.engine.store import Store
from lwssim.engine.workqueue import WorkQueue
from lwssim.model import lws as L
from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.timeline import GROUP_RECREATED


class PodReconciler:
    def __init__(
        self, cluster: Cluster, version: LWSVersion, volcano: bool, templates: TemplateCache
    ) -> None:
        env = cluster.env
        self.env, self.store, self.gc, self.nodes = env, cluster.store, cluster.gc, cluster.nodes
        self.timeline = cluster.timeline
        self.version, self.volcano, self.templates = version, volcano, templates
        self.statefulset_create = cluster.api.statefulset_create
        self.queue = WorkQueue(env, self.reconcile)

    def setup_with_manager(self, store: Store) -> PodEventFilter:
        """Start watching (SetupWithManager): the events that enqueue a pod are in ``predicates``."""
        return PodEventFilter(store, self.queue, self.volcano)

    def reconcile(self, key: str):
        """Reconcile; a generator only when it creates a worker set (one API round trip)."""
        pod = self.store.get("Pod", key)
        if not isinstance(pod, Pod):
            return None
        lws = lws_of(self.store, pod)
        if lws is None or lws.spec is None:
            return None
        if self._handle_restart_policy(pod, lws):
            return None
        if pod.role != "leader" or pod.deleting:
            return None
        if self.volcano:
            self._ensure_pod_group(lws, pod)
        if lws.spec.size == 1:
            return None
        if lws.spec.startup_policy == L.LEADER_READY and not pod.ready:
            return None
        spec = lws.revisions.get(pod.revision)
        if spec is None:
            self.queue.add_after(key, 1.0)  # revision not found yet: RequeueAfter 1s
            return None
        node_selector: tuple[tuple[str, str], ...] = ()
        topology_key = lws.spec.exclusive_topology
        if topology_key:
            if pod.node is None:
                return None  # workers wait for the leader to be bound (docs/lws-v0.7-semantics.md §3.4 step
                # 10)
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
        yield self.env.timeout(self.statefulset_create())
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
        """constructWorkerStatefulSetApplyConfiguration."""
        base = spec.worker_template
        labels = dict(base.labels) | {
            NAME: lws.name,
            GROUP_INDEX: leader.labels.get(GROUP_INDEX, str(leader.group)),
            GROUP_KEY: leader.labels.get(GROUP_KEY, ""),
            REVISION: leader.revision,
        }
        annotations = dict(base.annotations) | {SIZE: str(spec.size), LEADER_NAME: leader.name}
        template = self.templates.derived(base, labels, annotations)
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
        """RecreateGroupOnPodRestart (docs/lws-v0.7-semantics.md §3.8, handleRestartPolicy): a restarted
        container or a deleted
        pod makes LWS delete the leader in foreground. True: leader deleted."""
        assert lws.spec is not None
        policy = lws.spec.restart_policy
        if policy == L.RESTART_NONE:
            return False
        restarted = container_restarted(pod)
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
            if self.version.restart_ignores_previous_leaders_workers and _owning_leader(pod) not in (
                None,
                leader,
            ):
                return False  # a worker of the previous leader (lws#804, lws#805)
        if leader.deleting:
            return True
        if policy == L.RECREATE_GROUP_AFTER_START and self._group_has_pending(leader):
            return False  # skip while any pod of the group is still Pending (lws#726)
        reason = "container restarted" if restarted else "pod deleted"
        if pod.preempted_by:
            reason = f"preempted by {pod.preempted_by}"
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


def _owning_leader(worker: Pod) -> Pod | None:
    """The leader pod that owns the worker's StatefulSet (ownerReference, compared by UID)."""
    sts = worker.owner
    owner = sts.owner if isinstance(sts, StatefulSet) else None
    return owner if isinstance(owner, Pod) else None
