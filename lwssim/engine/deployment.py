"""The Deployment controller (kubernetes v1.34 ``pkg/controller/deployment``), for what placement needs:
a new Deployment gets one ReplicaSet ``<deployment>-<pod-template-hash>`` of its template and replicas
(``getNewReplicaSet``: one create), whose controller makes the pods. Rollouts and scaling of Deployments
are not simulated (a scenario neither patches nor scales them)."""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.objects import Deployment, ReplicaSet
from lwssim.engine.replicaset import random_suffix
from lwssim.engine.store import ADDED
from lwssim.engine.tasks import Task
from lwssim.model.pod import PodTemplate

TEMPLATE_HASH = "pod-template-hash"


def template_hash(template: PodTemplate) -> str:
    """A stand-in for ``controller.ComputeHash`` (FNV-32a of the template, safe-encoded): stable per
    template, not the real value. Names a Deployment's ReplicaSet and a StatefulSet's revision."""
    return random_suffix(repr(template), 10)


class DeploymentController:
    def __init__(self, cluster: Cluster) -> None:
        self.env, self.store = cluster.env, cluster.store
        self.create_latency = cluster.api.pod_create  # one create, timed like a pod's
        self.store.watch("Deployment", self._on_deployment)

    def _on_deployment(self, event: str, d: Deployment) -> None:  # type: ignore[override]
        if event == ADDED:
            Task(self.env, self._new_replicaset(d))

    def _new_replicaset(self, d: Deployment):
        yield self.env.timeout(self.create_latency())
        if not d.stored or d.deleting:
            return
        h = template_hash(d.template)
        labels = dict(d.template.labels) | {TEMPLATE_HASH: h}
        self.store.create(
            ReplicaSet(
                kind="ReplicaSet",
                name=f"{d.name}-{h}",
                namespace=d.namespace,
                labels=labels,
                owner=d,
                template=d.template,
                replicas=d.replicas,
                workload=d.workload,
            )
        )
