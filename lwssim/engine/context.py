"""The handle every engine component is built from: one simulated cluster's shared parts.

A component takes a ``Cluster`` plus only its own settings and its own random generator, and binds
what it uses on hot paths to its own attributes once, when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final

import simpy

from lwssim.engine.gc import GarbageCollector
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.store import DELETED, MODIFIED, Store, no_latency
from lwssim.engine.tasks import Task
from lwssim.timeline import POD_DELETED, POD_DELETING, Timeline


class ApiCalls:
    """Samplers of the API latency of each kind of call a controller makes (model/timing.ApiLatency)."""

    def __init__(
        self,
        pod_create: Callable[[], float],
        controller_revision_create: Callable[[], float],
        statefulset_create: Callable[[], float],
        delete: Callable[[], float],
    ) -> None:
        self.pod_create: Final = pod_create
        self.controller_revision_create: Final = controller_revision_create
        self.statefulset_create: Final = statefulset_create
        self.delete: Final = delete


NO_LATENCY: Final = ApiCalls(no_latency, no_latency, no_latency, no_latency)


class Cluster:
    """The environment, the object store, the garbage collector, the node table, the timeline and the
    API-latency model of one run; fixed once built.

    Components talk through the store, as controllers talk through the API server (docs/design.md). These
    shortcuts past it are deliberate, for speed, and each stands for what the real component does:
    - the node table (``nodes``): the scheduler, the kubelets and the node lifecycle read and write
      node resources, images and taints in its shared arrays, and the LWS controllers read node labels
      there, instead of watching Node objects (each real component keeps an informer cache of Nodes;
      the scheduler's cache also counts the pods it bound);
    - the node lifecycle calls the scheduler's ``node_changed`` when it taints a node or lifts the
      taints (kube-scheduler learns it from a Node update event and, by the TaintToleration queueing
      hint, moves the pods that node may now fit back to the active queue);
    - the node lifecycle asks the kubelets for a node's pods (the node controller lists pods by
      ``spec.nodeName``) and tells them directly that a node stopped or answers again, and the fault
      injector crashes containers through them (on a real cluster both are the machine itself);
    - every component writes its own records into ``timeline`` when it acts (a real cluster's
      Timeline is assembled by the observer from watch events and object status; the simulator knows
      when each fact happened, so it writes it there);
    - ``defer`` runs an action later with nothing in between: the garbage collector's cascade (the real
      one GETs and DELETEs each dependent from its attemptToDelete workers).
    """

    def __init__(
        self,
        env: simpy.Environment,
        nodes: NodeTable,
        timeline: Timeline,
        api: ApiCalls | None = None,
    ) -> None:
        self.env: Final = env
        self.nodes: Final = nodes
        self.timeline: Final = timeline
        # Without a latency model API calls take no time and the garbage collector cascades at once
        # (unit tests); with one, every call and every cascade hop waits for a drawn latency.
        self.api: Final[ApiCalls] = NO_LATENCY if api is None else api
        self.api_latency_modelled: Final = api is not None
        self.store: Final = Store(lambda: env.now)
        self._deleting_recorded: set[int] = set()
        # Registered before any controller's watch, so its records precede what they cause.
        self.store.watch("Pod", self._record_pod_deletion)
        self.gc: Final = GarbageCollector(self)

    def defer(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` seconds from now."""
        Task(self.env, _after(self.env, delay, action))

    def _record_pod_deletion(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        """API facts every controller sees: deletionTimestamp set (Terminating), object gone."""
        if event == MODIFIED and pod.deleting and pod.uid not in self._deleting_recorded:
            self._deleting_recorded.add(pod.uid)
            pod.record(self.timeline, self.env.now, POD_DELETING)
        elif event == DELETED:
            if pod.uid not in self._deleting_recorded:
                pod.record(self.timeline, self.env.now, POD_DELETING)
            self._deleting_recorded.discard(pod.uid)
            pod.record(self.timeline, self.env.now, POD_DELETED)


def _after(
    env: simpy.Environment, delay: float, action: Callable[[], None]
) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(delay)
    action()
