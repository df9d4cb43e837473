"""The kubelets of all nodes: image pulls, container start, model load until Ready, termination.

- Each node pulls an image once; later pods of that image on that node take ``imagePull.cached``
  (imagePullPolicy IfNotPresent).
- Pulls are serialized per node (KubeletConfiguration ``serializeImagePulls: true``, the default):
  a second image waits for the first, so two cold pods on one node take two pulls.
- ``containerStart`` runs from images ready to containers running (phase Running);
  ``modelLoad`` from containers running to the Ready condition.
- Deletion: the kubelet stops the containers within ``termination`` (graceful shutdown) and then
  lets the API remove the object; a pod whose containers never started stops at once.
"""

from __future__ import annotations

import numpy as np
import simpy

from lwssim.engine.gc import GarbageCollector
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import RUNNING, Pod
from lwssim.engine.store import ADDED, MODIFIED, Store
from lwssim.model.timing import Timing
from lwssim.timeline import POD_CONTAINERS_STARTED, POD_INITIALIZED, POD_READY, Timeline


class Kubelets:
    def __init__(
        self,
        env: simpy.Environment,
        store: Store,
        gc: GarbageCollector,
        nodes: NodeTable,
        timing: Timing,
        rng: np.random.Generator,
        timeline: Timeline,
    ) -> None:
        self.env, self.store, self.gc, self.nodes = env, store, gc, nodes
        self.timing, self.rng, self.timeline = timing, rng, timeline
        self.node_up = np.ones(len(nodes), dtype=bool)
        self._pullers: dict[int, simpy.Resource] = {}
        self._running: dict[int, simpy.Process] = {}
        self._terminating: set[int] = set()
        store.watch("Pod", self._on_pod)

    def _sample(self, pod: Pod, phase: str) -> float:
        return self.timing.for_role(pod.role or "worker", phase).sample(self.rng)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if event not in (ADDED, MODIFIED) or pod.node is None:
            return
        i = self.nodes.index[pod.node]
        if not self.node_up[i]:
            return  # the kubelet of a dead node sees nothing
        if pod.deleting:
            if pod.uid not in self._terminating:
                self._terminating.add(pod.uid)
                self.env.process(self._terminate(pod))
        elif pod.uid not in self._running and not pod.started and pod.phase != "Failed":
            self._running[pod.uid] = self.env.process(self._start(pod, i))

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

    def _start(self, pod: Pod, i: int):
        try:
            yield from self._pull(pod, i)
            pod.initialized = True
            self._record(pod, POD_INITIALIZED)
            yield self.env.timeout(self._sample(pod, "container_start"))
            pod.started, pod.phase = True, RUNNING
            self._record(pod, POD_CONTAINERS_STARTED)
            self.store.update(pod)
            yield self.env.timeout(self._sample(pod, "model_load"))
            pod.ready, pod.ready_at = True, self.env.now
            self._record(pod, POD_READY)
            self.store.update(pod)
        except simpy.Interrupt:
            pass
        finally:
            self._running.pop(pod.uid, None)

    def _terminate(self, pod: Pod):
        proc = self._running.pop(pod.uid, None)
        if proc is not None and proc.is_alive:
            proc.interrupt("deleted")
        if pod.started:
            yield self.env.timeout(self._sample(pod, "termination"))
        if not self.node_up[self.nodes.index[pod.node]]:
            return  # the node died meanwhile: the pod stays Terminating
        self._terminating.discard(pod.uid)
        pod.terminated = True
        pod.ready = False
        self.gc.try_finalize(pod)

    def _record(self, pod: Pod, kind: str) -> None:
        self.timeline.add(self.env.now, kind, pod.name, pod.workload, pod.group, pod.role)
