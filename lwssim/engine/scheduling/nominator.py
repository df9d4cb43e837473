"""The scheduling queue's nominator: which pending pods preemption nominated to which node.

kubernetes v1.34 ``pkg/scheduler/backend/queue/nominator.go``: ``nominatedPods`` (node → pods, in the order
they were nominated) and ``nominatedPodToNode``. A pod leaves it when it is assumed on a node
(``schedule_one.go assume`` → ``DeleteNominatedPodIfExists``), deleted, or its nomination is cleared.
``RunFilterPluginsWithNominatedPods`` counts the pods nominated to a node with a priority at least the
incoming pod's as if they ran there (``framework/runtime/framework.go addGENominatedPods``): that is
what keeps a lower-priority pod off the resources a preemption freed.
"""

from __future__ import annotations

from lwssim.engine.objects import Pod


class Nominator:
    def __init__(self) -> None:
        self._pods: dict[int, list[Pod]] = {}  # node index -> nominated pods, in nomination order
        self._node_of: dict[int, int] = {}  # pod uid -> node index

    def empty(self) -> bool:
        return not self._node_of

    def add(self, pod: Pod, node: int) -> None:
        """``AddNominatedPod`` with ``ModeOverride``: the pod's nomination is ``node`` from now on."""
        self.delete(pod)
        self._node_of[pod.uid] = node
        self._pods.setdefault(node, []).append(pod)

    def delete(self, pod: Pod) -> bool:
        """``DeleteNominatedPodIfExists``; whether the pod was nominated."""
        node = self._node_of.pop(pod.uid, None)
        if node is None:
            return False
        pods = self._pods[node]
        pods.remove(pod)
        if not pods:
            del self._pods[node]
        return True

    def node_of(self, pod: Pod) -> int | None:
        return self._node_of.get(pod.uid)

    def pods_on(self, node: int) -> list[Pod]:
        """``NominatedPodsForNode``."""
        return list(self._pods.get(node, ()))

    def at_least(self, pod: Pod) -> dict[int, list[Pod]]:
        """Per node, the pods nominated there whose priority is at least ``pod``'s, ``pod`` itself left
        out: what ``addGENominatedPods`` adds to each node before filtering ``pod``."""
        if not self._node_of:
            return {}
        priority = pod.template.priority
        out: dict[int, list[Pod]] = {}
        for node, pods in self._pods.items():
            ge = [p for p in pods if p.template.priority >= priority and p.uid != pod.uid]
            if ge:
                out[node] = ge
        return out
