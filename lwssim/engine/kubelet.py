"""The kubelets of all nodes: image pulls, container start, model load until Ready, restarts, termination.

- Each node pulls an image once; later pods of that image on that node take ``imagePull.cached``
  (imagePullPolicy IfNotPresent).
- Pulls are serialized per node (KubeletConfiguration ``serializeImagePulls: true``, the default):
  a second image waits for the first, so two cold pods on one node take two pulls.
- ``containerStart`` runs from images ready to containers running (phase Running);
  ``modelLoad`` from containers running to the Ready condition.
- A startup probe grants ``initialDelay + period × failureThreshold`` seconds from container start;
  a model load that takes longer is killed at the budget and the container restarted (kubelet
  ``prober``: startup probe failure ⇒ kill + restart per restartPolicy Always).
- Container restarts increment ``restartCount`` and follow CrashLoopBackOff (docs/defaults.md): the first
  restart is immediate, then 10 s doubling to 300 s; a container that ran 10 min resets the back-off
  (kubelet ``backOffPeriod``/``MaxContainerBackOff``, ``containerBackOffResetTime``). The back-off is
  per pod: a recreated pod starts afresh (docs/lws-v0.7-semantics.md §3.8 (c)).
- Deletion: the kubelet stops the containers within ``termination`` (graceful shutdown) and then
  deletes the object (one ``delete`` API latency; until then LWS still sees a Terminating leader as
  ready, as getReplicaStates does); a pod whose containers never started stops at once.
- A node that stops answering runs nothing and reports nothing; when it answers again its kubelet
  finishes the termination of pods deleted meanwhile (their containers died with the node) and
  restarts the containers of the others (``restartCount`` + 1: the containers did not survive).
"""

from __future__ import annotations

import numpy as np
import simpy

from lwssim.engine.context import Cluster
from lwssim.engine.objects import FAILED, RUNNING, SUCCEEDED, Pod
from lwssim.engine.store import ADDED, DELETED, MODIFIED
from lwssim.engine.tasks import Task
from lwssim.model.timing import Distribution, Timing
from lwssim.timeline import (
    POD_CONTAINERS_STARTED,
    POD_INITIALIZED,
    POD_READY,
    POD_RESTARTED,
    POD_SUCCEEDED,
)

BACKOFF_INITIAL = 10.0  # kubelet initial container back-off
BACKOFF_MAX = 300.0  # kubelet MaxContainerBackOff
BACKOFF_RESET = 600.0  # a container running this long resets its back-off
STARTUP_PROBE_FAILED = "StartupProbeFailed"


class LivePods:
    """Pods whose containers run, indexable in O(1) so a crash can pick one uniformly at random."""

    def __init__(self) -> None:
        self.pods: list[Pod] = []
        self._pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.pods)

    def add(self, pod: Pod) -> None:
        if pod.uid not in self._pos:
            self._pos[pod.uid] = len(self.pods)
            self.pods.append(pod)

    def remove(self, pod: Pod) -> None:
        i = self._pos.pop(pod.uid, None)
        if i is None:
            return
        last = self.pods.pop()
        if last is not pod:
            self.pods[i] = last
            self._pos[last.uid] = i


class Kubelets:
    def __init__(self, cluster: Cluster, timing: Timing, rng: np.random.Generator) -> None:
        self.env, self.store, self.gc = cluster.env, cluster.store, cluster.gc
        self.nodes, self.timeline = cluster.nodes, cluster.timeline
        # The kubelet's own DELETE once the containers stopped (status_manager.go, with the pod's UID as
        # precondition): without an API latency model the object goes at once.
        self.final_delete = cluster.api.delete if cluster.api_latency_modelled else None
        self.timing, self.rng = timing, rng
        self.node_up = [True] * len(self.nodes)
        self.live = LivePods()
        self._pullers: dict[int, simpy.Resource] = {}
        self._running: dict[int, Task] = {}
        self._terminating: dict[int, Task] = {}
        self._on_node: dict[int, dict[int, Pod]] = {}  # node index -> pods bound there (insertion order)
        self._restarts: dict[int, int] = {}  # pod uid -> restarts counted by the back-off
        self._started_at: dict[int, float] = {}
        self._distributions: dict[tuple[str, str], Distribution] = {}  # (role, phase) -> timing
        self.store.watch("Pod", self._on_pod)

    def _sample(self, pod: Pod, phase: str) -> float:
        key = (pod.role or "worker", phase)
        dist = self._distributions.get(key)
        if dist is None:
            dist = self._distributions[key] = self.timing.for_role(*key)
        return dist.sample(self.rng)

    def pods_on(self, i: int) -> list[Pod]:
        """Pods bound to node ``i`` (what the node controller lists by spec.nodeName)."""
        return list(self._on_node.get(i, {}).values())

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if pod.node is None:
            return
        i = self.nodes.index[pod.node]
        if event == DELETED:
            self._forget(pod, i)
            return
        if event not in (ADDED, MODIFIED):
            return
        self._on_node.setdefault(i, {})[pod.uid] = pod
        if not self.node_up[i]:
            return  # the kubelet of a dead node sees nothing
        if pod.deleting:
            if pod.uid not in self._terminating:
                self._terminating[pod.uid] = Task(self.env, self._terminate(pod))
        elif pod.uid not in self._running and not pod.started and pod.phase not in (FAILED, SUCCEEDED):
            self._running[pod.uid] = Task(self.env, self._lifecycle(pod, i))

    def _forget(self, pod: Pod, i: int) -> None:
        self._on_node.get(i, {}).pop(pod.uid, None)
        self.live.remove(pod)
        self._restarts.pop(pod.uid, None)
        self._started_at.pop(pod.uid, None)

    def _pull(self, pod: Pod, i: int):
        for image in pod.template.images():
            if self.nodes.has_image(i, image):
                yield self.env.timeout(self._sample(pod, "image_pull_cached"))
                continue
            puller = self._pullers.get(i)
            if puller is None:
                puller = self._pullers[i] = simpy.Resource(self.env, capacity=1)
            with puller.request() as turn:
                yield turn
                if self.nodes.has_image(i, image):
                    yield self.env.timeout(self._sample(pod, "image_pull_cached"))
                else:
                    yield self.env.timeout(self._sample(pod, "image_pull_cold"))
                    self.nodes.add_image(i, image)

    def _lifecycle(self, pod: Pod, i: int, pull: bool = True, delay: float = 0.0):
        """Pull (unless restarting), then start and load until Ready; a startup probe may restart it."""
        try:
            if pull:
                yield from self._pull(pod, i)
                pod.initialized = True
                pod.record(self.timeline, self.env.now, POD_INITIALIZED)
            while True:
                if delay > 0:
                    yield self.env.timeout(delay)  # CrashLoopBackOff
                yield self.env.timeout(self._sample(pod, "container_start"))
                pod.started, pod.phase = True, RUNNING
                self._started_at[pod.uid] = self.env.now
                self.live.add(pod)
                pod.record(self.timeline, self.env.now, POD_CONTAINERS_STARTED)
                self.store.update(pod)
                if pod.run_duration is not None:
                    Task(self.env, self._exit(pod, i, self.env.now, pod.run_duration.sample(self.rng)))
                load = self._sample(pod, "model_load")
                budget = pod.template.startup_budget()
                if budget is not None and load > budget:
                    yield self.env.timeout(budget)
                    delay = self._restart(pod, STARTUP_PROBE_FAILED)
                    self.store.update(pod)  # this process stays registered: no second start
                    continue
                yield self.env.timeout(load)
                pod.ready, pod.ready_at = True, self.env.now
                pod.record(self.timeline, self.env.now, POD_READY)
                self.store.update(pod)
                return
        except simpy.Interrupt:
            pass
        finally:
            if self._running.get(pod.uid) is self.env.active_process:
                del self._running[pod.uid]

    def _exit(self, pod: Pod, i: int, started: float, runs: float):
        """A Job's containers exit 0 after ``runs`` seconds: phase Succeeded, the pod holds nothing more
        (kube-scheduler's informer drops terminal pods; its field selector excludes them)."""
        yield self.env.timeout(runs)
        if not pod.stored or pod.deleting or not self.node_up[i] or self._started_at.get(pod.uid) != started:
            return
        proc = self._running.pop(pod.uid, None)
        if proc is not None and proc.is_alive:
            proc.interrupt("succeeded")
        pod.phase, pod.ready, pod.ready_at = SUCCEEDED, False, None
        self.live.remove(pod)
        pod.record(self.timeline, self.env.now, POD_SUCCEEDED)
        self.store.update(pod)

    def _restart(self, pod: Pod, reason: str) -> float:
        """The container exited: count the restart, drop readiness, return the back-off before it runs.

        The caller announces the change (store.update) once the restart is registered in ``_running``."""
        ran = self.env.now - self._started_at.get(pod.uid, self.env.now)
        count = 0 if ran >= BACKOFF_RESET else self._restarts.get(pod.uid, 0)
        self._restarts[pod.uid] = count + 1
        delay = 0.0 if count == 0 else min(BACKOFF_INITIAL * 2 ** (count - 1), BACKOFF_MAX)
        pod.restart_count += 1
        pod.ready, pod.ready_at, pod.started = False, None, False
        self.live.remove(pod)
        pod.record(self.timeline, self.env.now, POD_RESTARTED, restartCount=pod.restart_count, reason=reason)
        return delay

    def crash(self, pod: Pod, reason: str) -> bool:
        """A container of ``pod`` exits (GPU Xid error, OOM, a scripted podCrash). False if none runs."""
        if pod.node is None or pod.deleting or not pod.started:
            return False
        i = self.nodes.index[pod.node]
        if not self.node_up[i] or not pod.stored:
            return False
        proc = self._running.pop(pod.uid, None)
        if proc is not None and proc.is_alive:
            proc.interrupt("crashed")
        delay = self._restart(pod, reason)
        self._running[pod.uid] = Task(self.env, self._lifecycle(pod, i, pull=False, delay=delay))
        self.store.update(pod)
        return True

    def _terminate(self, pod: Pod):
        try:
            proc = self._running.pop(pod.uid, None)
            if proc is not None and proc.is_alive:
                proc.interrupt("deleted")
            self.live.remove(pod)
            if pod.started:
                yield self.env.timeout(self._sample(pod, "termination"))
            if self.final_delete is not None:
                yield self.env.timeout(self.final_delete())
        except simpy.Interrupt:
            return  # the node died meanwhile: the pod stays Terminating until it answers again
        self._terminating.pop(pod.uid, None)
        self._stopped(pod)

    def _stopped(self, pod: Pod) -> None:
        pod.terminated = True
        pod.ready = False
        self.gc.try_finalize(pod)

    # -- node loss and return (driven by the node lifecycle, engine/nodes.py)
    def node_stopped(self, i: int) -> None:
        """Node ``i`` stops answering: its containers die and it reports nothing more."""
        self.node_up[i] = False
        for pod in self.pods_on(i):
            for procs in (self._running, self._terminating):
                proc = procs.pop(pod.uid, None)
                if proc is not None and proc.is_alive:
                    proc.interrupt("node down")
            self.live.remove(pod)

    def node_returned(self, i: int) -> None:
        """Node ``i`` answers again: finish terminations, restart the containers that died with it."""
        self.node_up[i] = True
        for pod in self.pods_on(i):
            if not pod.stored:
                continue
            if pod.deleting:
                self._stopped(pod)  # containers are already gone: nothing left to stop
                continue
            if pod.uid in self._running:
                continue
            if pod.started or pod.restart_count:
                delay = self._restart(pod, "NodeRestarted")
                self._running[pod.uid] = Task(self.env, self._lifecycle(pod, i, pull=True, delay=delay))
                self.store.update(pod)
            else:
                self._running[pod.uid] = Task(self.env, self._lifecycle(pod, i))
