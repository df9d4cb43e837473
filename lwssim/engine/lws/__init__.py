"""The LWS manager (v0.7.0): its two controllers and its pod webhook, wired to the store.

Cut as kubernetes-sigs/lws v0.7.0 cuts them: ``controllers/leaderworkerset.py`` (the LWS reconciler:
leader StatefulSet, rolling update, status), ``controllers/pod.py`` (the pod reconciler: worker
StatefulSets, restart policy, PodGroups), ``webhooks/pod.py`` (the pod mutating webhook). Which watch
events reach each reconciler is declared in ``predicates.py``; what differs between LWS versions, in
``versions.py``. The controllers talk to each other only through the store.
Section numbers refer to docs/lws-v0.7-semantics.md.
"""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.lws.controllers.leaderworkerset import LeaderWorkerSetReconciler
from lwssim.engine.lws.controllers.pod import PodReconciler
from lwssim.engine.lws.templates import TemplateCache
from lwssim.engine.lws.versions import lws_version
from lwssim.engine.lws.webhooks.pod import PodWebhook
from lwssim.model.scenario import ControllerConfig

__all__ = ["LWSControllers"]


class LWSControllers:
    """One LWS manager, set up as cmd/main.go does: the LWS and pod reconcilers, the pod webhook."""

    def __init__(self, cluster: Cluster, config: ControllerConfig) -> None:
        store = cluster.store
        version = lws_version(config)
        volcano = config.gang_scheduling == "volcano"
        templates = TemplateCache()  # both controllers stamp templates; equal ones are one object
        self.leaderworkerset = LeaderWorkerSetReconciler(cluster, version, templates)
        self.pod = PodReconciler(cluster, version, volcano, templates)
        self.leaderworkerset.setup_with_manager(store)
        self.pod.setup_with_manager(store)
        self.webhook = PodWebhook(store, volcano, version)
        store.admit("Pod", self.webhook.default)
