"""The labels and annotations LWS puts on its pods and StatefulSets, and the hashes in them.

Keys: ``api/leaderworkerset/v1/leaderworkerset_types.go`` (kubernetes-sigs/lws v0.7.0); the revision
hash: ``pkg/utils/revision/revision_utils.go``. § = docs/lws-v0.7-semantics.md.
"""

from __future__ import annotations

import hashlib

from lwssim.model import lws as L
from lwssim.model.lws import LeaderWorkerSetSpec

NAME = L.LWS_PREFIX + "name"
WORKER_INDEX = L.LWS_PREFIX + "worker-index"
GROUP_INDEX = L.LWS_PREFIX + "group-index"
GROUP_KEY = L.LWS_PREFIX + "group-key"
REVISION = L.LWS_PREFIX + "template-revision-hash"
SUBGROUP_INDEX = L.LWS_PREFIX + "subgroup-index"
SUBGROUP_KEY = L.LWS_PREFIX + "subgroup-key"
SIZE = L.LWS_PREFIX + "size"
LEADER_NAME = L.LWS_PREFIX + "leader-name"
REPLICAS = L.LWS_PREFIX + "replicas"  # on the leader set: the LWS replicas it was last applied for


def sha1(text: str) -> str:
    """genGroupUniqueKey's hash (pkg/webhooks/pod_webhook.go)."""
    return hashlib.sha1(text.encode()).hexdigest()


def revision_key(spec: LeaderWorkerSetSpec) -> str:
    """Hash of what a ControllerRevision snapshots: leaderWorkerTemplate and networkConfig (§1.3)."""
    snapshot = (
        spec.leader_template,
        spec.worker_template,
        spec.size,
        spec.restart_policy,
        spec.subgroup_size,
        spec.subgroup_type,
        spec.subdomain_policy,
    )
    return sha1(repr(snapshot))[:10]
