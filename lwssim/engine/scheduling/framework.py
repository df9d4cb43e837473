"""kube-scheduler: one pod at a time from the queue, a scheduling cycle, bind.

The parts are cut as kube-scheduler cuts them (kubernetes v1.34 ``pkg/scheduler``): the scheduling queue
(``queue.py``, ``backend/queue``), the cache of nodes and bound pods (``cache.py``, ``backend/cache``), the
default profile's plugins as one table (``profile.py``, ``apis/config/v1/default_plugins.go``; the plugins
themselves in ``plugins.py``), one scheduling cycle (``cycle.py``, ``schedule_one.go``) and its FitError
(``fiterror.py``, ``framework/types.go``), the PostFilter plugin DefaultPreemption (``preemption.py``) and the
queue's nominator (``nominator.py``). This module is the scheduler around them: the informer's event
handlers, the loop that pops a pod and runs a cycle, the handling of a failure (``handleSchedulingFailure``:
park the pod, apply the PostFilter's nomination), the binding, and the QueueingHints that move parked pods
when a cluster event may help them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lwssim.engine.context import Cluster
from lwssim.engine.objects import FAILED, SUCCEEDED, Pod
from lwssim.engine.scheduling.cache import SchedulerCache
from lwssim.engine.scheduling.cycle import Result, SchedulingCycle
from lwssim.engine.scheduling.nominator import Nominator
from lwssim.engine.scheduling.preemption import DefaultPreemption
from lwssim.engine.scheduling.profile import AFFINITY_REJECTION, INTER_POD_AFFINITY, NODE_RESOURCES_FIT
from lwssim.engine.scheduling.queue import SchedulingQueue
from lwssim.engine.scheduling.ties import TieBreak
from lwssim.engine.store import ADDED, DELETED, MODIFIED
from lwssim.engine.tasks import Task
from lwssim.timeline import POD_NOMINATED, POD_SCHEDULED, POD_UNSCHEDULABLE

DEFAULT_SCHEDULER = "default-scheduler"
FIT = NODE_RESOURCES_FIT.name
INTER_POD = INTER_POD_AFFINITY.name
FINISHED = (SUCCEEDED, FAILED)
SCHEDULING_GATED = "Scheduling is blocked due to non-empty scheduling gates"


class Scheduler:
    def __init__(
        self,
        cluster: Cluster,
        rng: np.random.Generator,
        throughput: float,
        strategy: str = "LeastAllocated",
        gang_schedulers: tuple[str, ...] = (),
    ) -> None:
        env, store, nodes = cluster.env, cluster.store, cluster.nodes
        self.env, self.store, self.nodes, self.rng, self.timeline = env, store, nodes, rng, cluster.timeline
        self.defer = cluster.defer
        self.ties = TieBreak(rng)  # the only draws from ``rng``
        self.period = 1.0 / throughput
        self.strategy = strategy
        self.gang_schedulers = gang_schedulers
        self.version = 0
        self.queue = SchedulingQueue(env, lambda: self.version)
        self.cache = SchedulerCache(nodes, strategy)
        self.nominator = Nominator(len(nodes.resources), len(nodes))
        self.cycle = SchedulingCycle(nodes, self.cache, self.ties, self.nominator)
        self.preemption = DefaultPreemption(
            cluster, self.cycle, self.queue, self.nominator, self.ties, self.nominate
        )
        self.cycle.preemption = self.preemption
        # Told of every pod a cycle found no node for (PodScheduled=False/Unschedulable): an autoscaler.
        self.unschedulable_hooks: list[Callable[[Pod], None]] = []
        store.watch("Pod", self._on_pod)
        Task(env, self._run())  # a SimPy process nobody waits on

    # -- informer
    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if event == ADDED:
            if pod.node is not None:
                self.account(pod)
            elif pod.template.scheduler_name == DEFAULT_SCHEDULER:
                if pod.scheduling_gates:
                    # The API server's PodScheduled=False/SchedulingGated condition at creation (kubernetes
                    # v1.34 pkg/registry/core/pod/strategy.go: applySchedulingGatedCondition), recorded
                    # after the creator's PodCreated record.
                    self.defer(0.0, lambda: self._gated(pod))
                self.queue.add(pod)
            elif pod.template.scheduler_name not in self.gang_schedulers:
                self.pend(
                    pod,
                    f'no scheduler named "{pod.template.scheduler_name}" runs in this cluster; '
                    "the pod waits unscheduled",
                )
        elif event == MODIFIED and pod.deleting and pod.node is None:
            self.queue.forget(pod)
        elif event == MODIFIED and pod.uid in self.queue.held:
            self.queue.ungated(pod)
        elif event == MODIFIED and pod.phase in FINISHED and self.cache.holds(pod):
            # The pod informer's field selector leaves out Succeeded and Failed pods (scheduler.go
            # ``status.phase!=Succeeded,status.phase!=Failed``): a finished pod is a delete to it.
            self.release(pod)
        elif event == DELETED:
            if self.cache.holds(pod):
                self.release(pod)
            self.queue.forget(pod)
            self._drop_nomination(pod)

    def account(self, pod: Pod) -> None:
        """A pod bound to a node holds its requests there and counts for inter-pod affinity."""
        self.cache.add_pod(pod)
        self._changed()

    def unaccount(self, pod: Pod) -> None:
        self.cache.remove_pod(pod)
        self._changed()

    def release(self, pod: Pod) -> None:
        """The pod object is gone: its node's resources are free (AssignedPod/Delete QueueingHints)."""
        self.unaccount(pod)
        # NodeResourcesFit always Queue; InterPodAffinity only when the deleted pod matched all of the
        # pending pod's anti-affinity terms.
        self.queue.move(
            lambda p, plugins: (
                FIT in plugins or (INTER_POD in plugins and _matches_all(p.anti_affinity, p, pod))
            ),
            pod_delete=True,
        )

    def node_changed(self, i: int) -> None:
        """Node ``i``'s taints or schedulability changed (NotReady, repaired): the cache re-filters that
        node for every pod shape; every rejection may change (QueueingHint: Queue)."""
        self.version += 1
        self.cache.node_changed(i)
        self.queue.move(lambda p, plugins: True)

    def node_replaced(self, i: int) -> None:
        """A node was added (Node/Add) or deleted, or its allocatable changed (Node/UpdateNodeAllocatable):
        the cache derives its pod shapes again, and every parked pod may fit now (QueueingHint: Queue)."""
        self.version += 1
        self.cache.node_replaced(i)
        self.queue.move(lambda p, plugins: True)

    def _changed(self) -> None:
        self.version += 1
        self.queue.cluster_changed()

    # -- scheduling loop
    def _run(self):
        while True:
            pod = yield from self.queue.pop()
            if pod.node is not None or pod.deleting or not pod.stored:
                continue
            started = self.env.now
            yield self.env.timeout(self.period)
            if pod.deleting or not pod.stored:
                continue
            self.schedule_one(pod, started)

    def schedule_one(self, pod: Pod, started: float) -> None:
        node = self.cycle.find_node(pod)
        if isinstance(node, int):
            self.bind(pod, node)
            return
        message, plugins, result = node
        if result is not None and result.victims:  # Preempt → prepareCandidateAsync, within the cycle
            self.preemption.prepare_candidate_async(pod, result.nominated_node, result.victims)
        # handleSchedulingFailure: the FailedScheduling event, back to the queue, the nomination
        self.pend(pod, message)
        self.queue.add_unschedulable(pod, plugins, started)
        if result is not None:
            self.nominate(pod, result.nominated_node, preempting=bool(result.victims))
        for hook in self.unschedulable_hooks:
            hook(pod)

    def find_node(self, pod: Pod) -> Result:
        """A node index, or kube-scheduler's FitError message, the plugins that rejected the pod and the
        PostFilter result (the node preemption would nominate, and its victims)."""
        return self.cycle.find_node(pod)

    # -- nominations (the nominator follows the pods' status.nominatedNodeName)
    def nominate(self, pod: Pod, node: str, preempting: bool = False) -> None:
        """Patch ``pod``'s nominatedNodeName to ``node`` ("" clears it) as ``AddNominatedPod`` + ``updatePod``
        do, and react to the update as the scheduler's informer does: a pod nominated elsewhere, or no
        longer, frees its old node for pods of lower or equal priority (``updatePodInSchedulingQueue``)."""
        old = pod.nominated_node
        if node:
            self.nominator.add(pod, self.nodes.index[node], self.cache.needs_of(pod))
            pod.nominated_node = node
            if preempting:
                pod.record(self.timeline, self.env.now, POD_NOMINATED, node=node)
        else:
            self.nominator.delete(pod)
            pod.nominated_node = None
        if old is not None and old != node:
            self._nominated_pod_left(pod)

    def _drop_nomination(self, pod: Pod) -> None:
        """A pod object is gone: it leaves the nominator; an unscheduled one that was nominated lets pods of
        lower or equal priority take its place (``deletePodFromSchedulingQueue``)."""
        self.nominator.delete(pod)
        if pod.node is None and pod.nominated_node is not None:
            self._nominated_pod_left(pod)

    def _nominated_pod_left(self, pod: Pod) -> None:
        """``MoveAllToActiveOrBackoffQueue(AssignedPodDelete, getLEPriorityPreCheck)`` for a pod that no
        longer holds its nominated node: NodeResourcesFit queues (the pod had a nominatedNodeName),
        InterPodAffinity when it matched all the pending pod's anti-affinity terms."""
        priority = pod.template.priority
        self.queue.move(
            lambda p, plugins: (
                p.template.priority <= priority
                and (FIT in plugins or (INTER_POD in plugins and _matches_all(p.anti_affinity, p, pod)))
            ),
            pod_delete=True,
        )

    def _gated(self, pod: Pod) -> None:
        if pod.scheduling_gates and pod.stored and pod.node is None:
            self.pend(pod, SCHEDULING_GATED)

    def pend(self, pod: Pod, reason: str) -> None:
        """Record why a pod stays Pending, once per distinct reason (the FailedScheduling event)."""
        if pod.pending_reason != reason:
            pod.pending_reason = reason
            pod.record(self.timeline, self.env.now, POD_UNSCHEDULABLE, reason=reason)

    def bind(self, pod: Pod, i: int) -> None:
        pod.node = self.nodes.names[i]
        self.account(pod)
        self.nominator.delete(pod)  # assume: DeleteNominatedPodIfExists (nominatedNodeName stays, as in 1.34)
        self.bind_placed(pod)

    def bind_placed(self, pod: Pod) -> None:
        """Announce the binding of a pod whose node is chosen and whose resources are accounted."""
        pod.scheduled_at = self.env.now
        self.cache.started(pod)
        pod.pending_reason = None
        self.queue.forget(pod)
        pod.record(self.timeline, self.env.now, POD_SCHEDULED, node=pod.node)
        self.store.update(pod)
        # InterPodAffinity AssignedPod/Add QueueingHint: the new pod matches all the pending pod's terms.
        self.queue.move(lambda p, plugins: _matches_all(p.affinity, p, pod), only=AFFINITY_REJECTION)


def _matches_all(terms: tuple, pending: Pod, other: Pod) -> bool:
    """``podMatchesAllAffinityTerms``: false for no terms (interpodaffinity/filtering.go)."""
    return bool(terms) and all(
        other.namespace in (t.namespaces or (pending.namespace,)) and t.selector.matches(other.labels)
        for t in terms
    )
