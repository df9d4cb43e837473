"""Node lifecycle: a node that stops answering, what kube-controller-manager does about it, its return.

Sources (kubernetes v1.34): ``pkg/controller/nodelifecycle`` and ``pkg/controller/tainteviction``,
``plugin/pkg/admission/defaulttolerationseconds``; figures in docs/defaults.md, behaviour in
docs/lws-v0.7-semantics.md §3.8 ("Node death").
- After ``node-monitor-grace-period`` without a heartbeat the node's Ready condition turns Unknown:
  taints ``node.kubernetes.io/unreachable`` NoSchedule and NoExecute are added, and the controller
  marks every pod on the node Ready=False (``MarkPodsNotReady``).
- NoExecute taint eviction: a pod that does not tolerate the taint is deleted at once; one that
  tolerates it for ``tolerationSeconds`` is deleted after that long (the minimum over matching
  tolerations; none ⇒ never). The DefaultTolerationSeconds admission plugin adds
  ``unreachable:NoExecute for 300s`` to every pod whose template has no toleration of its own for it.
- A deleted pod on an unreachable node stays Terminating: only its kubelet can confirm its containers
  stopped. ``forceDeleteAfter`` models an operator, or the ``node.kubernetes.io/out-of-service`` taint
  and PodGC, force-deleting what the node still holds that long after it went NotReady.
- The node answering again: taints go, the scheduler sees it again, its kubelet finishes terminations
  and restarts the rest; a repaired (replaced) node comes back without images unless configured.
"""

from __future__ import annotations

from collections.abc import Callable

from lwssim.engine.context import Cluster
from lwssim.engine.kubelet import Kubelets
from lwssim.engine.objects import Pod
from lwssim.engine.tasks import Task
from lwssim.model.pod import PodTemplate, Taint, Toleration
from lwssim.timeline import GROUP_RECREATED, NODE_DOWN, NODE_NOT_READY, NODE_UP, POD_NOT_READY

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
NO_EXECUTE = "NoExecute"
UNREACHABLE_TAINTS = (Taint(UNREACHABLE, "", "NoSchedule"), Taint(UNREACHABLE, "", NO_EXECUTE))
DEFAULT_TOLERATION_SECONDS = 300.0  # DefaultTolerationSeconds admission plugin
DEFAULT_TOLERATION = Toleration(UNREACHABLE, "Exists", "", NO_EXECUTE, DEFAULT_TOLERATION_SECONDS)


def unreachable_eviction_delay(template: PodTemplate) -> float | None:
    """Seconds from the unreachable NoExecute taint to eviction; None: the pod is never evicted.

    Admission adds the 300 s toleration unless some toleration has key unreachable (or empty) and
    effect NoExecute (or empty); the taint manager then takes ``getMinTolerationTime`` over the
    tolerations that match the taint (``tainteviction/taint_eviction.go``).
    """
    tolerations = list(template.tolerations)
    if not any(t.key in (UNREACHABLE, "") and t.effect in (NO_EXECUTE, "") for t in tolerations):
        tolerations.append(DEFAULT_TOLERATION)
    taint = UNREACHABLE_TAINTS[1]
    matching = [t for t in tolerations if t.tolerates(taint)]
    if not matching:
        return 0.0
    seconds = [t.toleration_seconds for t in matching if t.toleration_seconds is not None]
    if not seconds:
        return None
    return max(0.0, min(seconds))


def delete_pod(cluster: Cluster, pod: Pod, reason: str) -> None:
    """DELETE a pod from outside LWS (eviction, an operator). A leader's deletion recreates its group
    under every restart policy (ownerReference cascade, docs/lws-v0.7-semantics.md §3.8): count it as a
    recreation."""
    if pod.deleting:
        return
    if pod.role == "leader":
        pod.record(
            cluster.timeline,
            cluster.env.now,
            GROUP_RECREATED,
            reason=f"{pod.name}: {reason}",
            trigger=pod.name,
        )
    cluster.gc.delete(pod)


class NodeLifecycle:
    """Which nodes answer, and the node controller's reaction to those that do not."""

    def __init__(
        self,
        cluster: Cluster,
        kubelets: Kubelets,
        node_changed: Callable[[int], None],
        *,
        grace_period: float,
        force_delete_after: float | None,
        keep_images: bool,
    ) -> None:
        """``kubelets`` and ``node_changed`` (the scheduler's) are told of a node's loss and return
        directly: see ``Cluster`` for why."""
        self.cluster = cluster
        self.env, self.store, self.gc = cluster.env, cluster.store, cluster.gc
        self.nodes, self.timeline = cluster.nodes, cluster.timeline
        self.kubelets, self.node_changed = kubelets, node_changed
        self.grace_period = grace_period
        self.force_delete_after = force_delete_after
        self.keep_images = keep_images
        self._down: dict[int, int] = {}  # node index -> reasons it is down (a node and its domain)
        self._epoch: dict[int, int] = {}  # bumped on every loss, so stale timers do nothing
        self.not_ready: set[int] = set()

    def is_down(self, i: int) -> bool:
        return self._down.get(i, 0) > 0

    def down(self, i: int, cause: str, fault: int) -> list[Pod]:
        """Node ``i`` stops answering; returns the pods it held (what the fault hit)."""
        self._down[i] = self._down.get(i, 0) + 1
        if self._down[i] > 1:
            return []
        epoch = self._epoch[i] = self._epoch.get(i, 0) + 1
        pods = [p for p in self.kubelets.pods_on(i) if not p.deleting]
        self.kubelets.node_stopped(i)
        self.timeline.add(self.env.now, NODE_DOWN, self.nodes.names[i], cause=cause, fault=fault)
        Task(self.env, self._monitor(i, epoch))
        return pods

    def up(self, i: int, keep_images: bool | None = None, force: bool = False) -> None:
        """Node ``i`` answers again (repaired, rebooted, reconnected)."""
        if not self.is_down(i):
            return
        self._down[i] = 0 if force else self._down[i] - 1
        if self._down[i] > 0:
            return
        self._epoch[i] += 1
        if not (self.keep_images if keep_images is None else keep_images):
            self.nodes.clear_images(i)
        if i in self.not_ready:
            self.not_ready.discard(i)
            self.nodes.set_extra_taints(i, ())
            self.node_changed(i)
        self.timeline.add(self.env.now, NODE_UP, self.nodes.names[i])
        self.kubelets.node_returned(i)

    def _monitor(self, i: int, epoch: int):
        """node-monitor-grace-period without a heartbeat ⇒ NotReady, taints, pods NotReady, evictions."""
        yield self.env.timeout(self.grace_period)
        if self._epoch.get(i) != epoch:
            return
        self.not_ready.add(i)
        self.nodes.set_extra_taints(i, UNREACHABLE_TAINTS)
        self.node_changed(i)
        self.timeline.add(self.env.now, NODE_NOT_READY, self.nodes.names[i])
        evictions: dict[float, list[Pod]] = {}
        for pod in self.kubelets.pods_on(i):
            if pod.ready:
                pod.ready = False
                pod.record(self.timeline, self.env.now, POD_NOT_READY)
                self.store.update(pod)
            delay = unreachable_eviction_delay(pod.template)
            if delay is not None:
                evictions.setdefault(delay, []).append(pod)
        for delay in sorted(evictions):
            Task(self.env, self._evict(i, epoch, delay, evictions[delay]))
        if self.force_delete_after is not None:
            Task(self.env, self._force_delete(i, epoch))

    def _evict(self, i: int, epoch: int, delay: float, pods: list[Pod]):
        """The taint manager deletes pods whose toleration ran out (a plain, graceful DELETE)."""
        if delay > 0:
            yield self.env.timeout(delay)
        if self._epoch.get(i) != epoch:
            return
        for pod in pods:
            if self.store.get("Pod", pod.key) is pod and pod.node == self.nodes.names[i]:
                delete_pod(self.cluster, pod, "evicted (node unreachable)")

    def _force_delete(self, i: int, epoch: int):
        assert self.force_delete_after is not None
        yield self.env.timeout(self.force_delete_after)
        if self._epoch.get(i) != epoch:
            return
        for pod in self.kubelets.pods_on(i):
            if self.store.get("Pod", pod.key) is pod:
                if not pod.deleting and pod.role == "leader":
                    delete_pod(self.cluster, pod, "force-deleted (node out of service)")
                self.gc.force_delete(pod)
