"""The LWS pod mutating webhook (kubernetes-sigs/lws v0.7.0 ``pkg/webhooks/pod_webhook.go``, §3.5):
group and worker labels, exclusive placement, subgroups, and volcano's PodGroup annotation."""

from __future__ import annotations

from lwssim.engine.lws.labels import (
    GROUP_INDEX,
    GROUP_KEY,
    NAME,
    SUBGROUP_INDEX,
    SUBGROUP_KEY,
    WORKER_INDEX,
    sha1,
)
from lwssim.engine.lws.utils import lws_of
from lwssim.engine.lws.versions import V0_7, LWSVersion
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling.gang import GROUP_NAME_ANNOTATION
from lwssim.engine.store import Store
from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.model.pod import LabelSelector, PodAffinityTerm, Requirement


class PodWebhook:
    """PodWebhook.Default, run by the store on every pod it creates."""

    def __init__(self, store: Store, volcano: bool, version: LWSVersion = V0_7) -> None:
        self.store, self.volcano, self.version = store, volcano, version

    def default(self, pod: Pod) -> None:
        if NAME not in pod.labels:
            return
        lws = lws_of(self.store, pod)
        if lws is None or lws.spec is None:
            return
        spec = lws.spec
        if pod.role == "leader":
            pod.labels[GROUP_INDEX] = str(pod.ordinal)
            pod.labels[GROUP_KEY] = sha1(f"{pod.namespace}/{pod.name}")
            key = spec.exclusive_topology
            own_terms = {t.topology_key for t in pod.template.pod_affinity + pod.template.pod_anti_affinity}
            if key and key not in own_terms:  # exclusiveAffinityApplied
                aff, anti = _exclusive_terms(GROUP_KEY, pod.labels[GROUP_KEY], key)
                pod.affinity += (aff,)
                pod.anti_affinity += (anti,)
        else:
            pod.labels[WORKER_INDEX] = str(pod.ordinal)
        _subgroup(pod, spec, self.version.subgroup_of_one_fixed)
        if self.volcano:  # volcano_provider.go InjectPodGroupMetadata
            pod.annotations[GROUP_NAME_ANNOTATION] = (
                f"{lws.name}-{pod.labels.get(GROUP_INDEX, pod.group)}-{pod.revision}"
            )
        pod.affinity = pod.template.pod_affinity + pod.affinity
        pod.anti_affinity = pod.template.pod_anti_affinity + pod.anti_affinity


def _exclusive_terms(key_label: str, own: str, topology_key: str) -> tuple[PodAffinityTerm, PodAffinityTerm]:
    """SetExclusiveAffinities: required affinity to the own key and anti-affinity to any other key,
    per topology domain (docs/lws-v0.7-semantics.md §3.5)."""
    affinity = PodAffinityTerm(LabelSelector((), (Requirement(key_label, "In", (own,)),)), topology_key)
    anti = PodAffinityTerm(
        LabelSelector((), (Requirement(key_label, "Exists"), Requirement(key_label, "NotIn", (own,)))),
        topology_key,
    )
    return affinity, anti


def _subgroup(pod: Pod, spec: LeaderWorkerSetSpec, size_one_fixed: bool) -> None:
    """Subgroup labels and subgroup exclusive placement (pod_webhook.go:135-166, getSubGroupIndex); with
    subGroupSize 1, before v0.10 worker 1 shares subgroup 0 with the leader (lws#918)."""
    size = spec.subgroup_size
    if not size:
        return
    if pod.role == "leader":
        if spec.subgroup_type == "LeaderExcluded":
            return
        index = 0
    elif (spec.size - 1) % size == 0 and not (size_one_fixed and spec.size % size == 0):
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
