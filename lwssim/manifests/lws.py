"""LeaderWorkerSet manifest → :class:`LeaderWorkerSetSpec`, defaulted and validated as the cluster would.

Defaults are the CRD's and the LWS mutating webhook's (docs/lws-v0.7-semantics.md §1.1;
L:pkg/webhooks/leaderworkerset_webhook.go ``Default``); rejections are the validating webhook's, with its
messages (docs/lws-v0.7-semantics.md §1.2; same file, ``generalValidate``), plus the worker-pod label limit
that makes the
cluster fail later (docs/lws-v0.7-semantics.md §2; L:site/content/en/docs/troubleshooting/_index.md §3).
"""

from __future__ import annotations

import re
from typing import Any

from lwssim.manifests.limits import MAX_GROUP_SIZE, check_at_most
from lwssim.manifests.podspec import pod_template
from lwssim.manifests.where import MAX_INT32, Where, show
from lwssim.model.lws import (
    LEADER_CREATED,
    LEADER_READY,
    LWS_PREFIX,
    RECREATE_GROUP_AFTER_START,
    RECREATE_GROUP_ON_POD_RESTART,
    RESTART_NONE,
    SUBGROUP_EXCLUSIVE_TOPOLOGY,
    LeaderWorkerSetSpec,
    RollingUpdate,
)
from lwssim.model.scenario import MAX_UNAVAILABLE_STATEFULSET, ControllerConfig

API_VERSION = "leaderworkerset.x-k8s.io/v1"
KIND = "LeaderWorkerSet"

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PERCENT = re.compile(r"^[0-9]+%$")  # apimachinery IsValidPercent
LABEL_VALUE_MAX = 63
REVISION_HASH_MAX = 10  # ControllerRevision hash: decimal FNV-32, up to 10 characters
# v0.8 only: experimental annotation, restartPolicy RecreateGroupAfterStart from v0.9 (lws#725).
RECREATE_AFTER_START_ANNOTATION = LWS_PREFIX + "experimental-recreate-group-after-start"
MAX_REPLICAS_V010 = 1_000_000  # v0.10 validation (lws#913)
# Fields the LeaderWorkerSet v1 CRD schema declares (L:config/crd/bases/leaderworkerset.x-k8s.io_
# leaderworkersets.yaml at v0.7.0). kubectl apply validates fields strictly by default, so a misplaced
# field (say startupPolicy under leaderWorkerTemplate) is an error, not something silently ignored.
SCHEMA_FIELDS = {
    "spec": ("leaderWorkerTemplate", "networkConfig", "replicas", "rolloutStrategy", "startupPolicy"),
    "spec.leaderWorkerTemplate": (
        "leaderTemplate",
        "restartPolicy",
        "size",
        "subGroupPolicy",
        "workerTemplate",
    ),
    "spec.leaderWorkerTemplate.subGroupPolicy": ("subGroupPolicyType", "subGroupSize"),
    "spec.rolloutStrategy": ("rollingUpdateConfiguration", "type"),
    "spec.rolloutStrategy.rollingUpdateConfiguration": ("maxSurge", "maxUnavailable", "partition"),
    "spec.networkConfig": ("subdomainPolicy",),
}


# Fields a later release added to the CRD (api/leaderworkerset/v1/leaderworkerset_types.go at each tag): an
# older version's API server refuses them as unknown.
ADDED_FIELDS = {
    "spec.leaderWorkerTemplate": {
        "volumeClaimTemplates": (0, 8),
        "persistentVolumeClaimRetentionPolicy": (0, 8),
    }
}


def check_schema_fields(doc: dict, where: Where, controller: ControllerConfig) -> None:
    """Refuse fields the CRD of ``controller``'s LWS version does not declare, as the API server's strict
    field validation does."""
    version = controller.version_tuple
    for path, known in SCHEMA_FIELDS.items():
        node: Any = doc
        at = where
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            at = at.key(part)
        if not isinstance(node, dict):
            continue
        added = {f for f, since in ADDED_FIELDS.get(path, {}).items() if version[:2] >= since}
        for name in node:
            if name == "volumeClaimTemplates" and name in added:
                raise at.key(name).unsupported("volumeClaimTemplates (LWS v0.8+) are not modelled")
            if name not in known and name not in added:
                raise at.key(name).error(
                    f'unknown field "{name}": the LeaderWorkerSet v1 schema of LWS {controller.lws_version} '
                    f"declares only {', '.join(known + tuple(sorted(added)))} here (kubectl apply would "
                    "reject it)"
                )


def _enum(where: Where, value: Any, allowed: tuple[str, ...], default: str) -> str:
    """A CRD enum field; the apiserver's message for a value outside it."""
    if value is None:
        return default
    text = where.string(value)
    if text not in allowed:
        supported = ", ".join(f'"{a}"' for a in allowed)
        raise where.error(f'Unsupported value: "{text}": supported values: {supported}')
    return text


def check_dns1035(where: Where, name: str) -> None:
    """NameIsDNS1035Label: the LWS name is also its headless Service's name (docs/lws-v0.7-semantics.md
    §1.2)."""
    if not name:
        raise where.error("Required value: name or generateName is required")
    if len(name) > LABEL_VALUE_MAX:
        raise where.error(f'Invalid value: "{name}": must be no more than 63 characters')
    if not DNS1035.match(name):
        raise where.error(
            f'Invalid value: "{name}": a DNS-1035 label must consist of lower case alphanumeric characters '
            "or '-', start with an alphabetic character, and end with an alphanumeric character "
            "(e.g. 'my-name', or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        )


def check_name_fits_pod_labels(where: Where, name: str, replicas: int, size: int) -> None:
    """Refuse names whose pods the cluster cannot create (docs/lws-v0.7-semantics.md §2; troubleshooting doc
    §3).

    The StatefulSet controller labels each pod with ``statefulset.kubernetes.io/pod-name`` and
    ``controller-revision-hash`` = ``<sts>-<hash>`` (hash up to 10 characters); label values are limited
    to 63 characters. Worker StatefulSets are named ``<lws>-<g>``, so the longest labels are those of the
    highest group's workers — which is why LWS documents a limit of about 51 − ⌊replicas/10⌋ characters.
    """
    g = max(replicas - 1, 0)
    sts = f"{name}-{g}" if size > 1 else name
    pod = f"{name}-{g}-{size - 1}" if size > 1 else f"{name}-{g}"
    longest = max(len(sts) + 1 + REVISION_HASH_MAX, len(pod))
    if longest > LABEL_VALUE_MAX:
        kind = "worker" if size > 1 else "leader"
        raise where.error(
            f'name "{name}" ({len(name)} characters) is too long for {replicas} group(s) of size {size}: '
            f"the {kind} pods of group {g} would carry a label (controller-revision-hash "
            f'"{sts}-<hash>" / pod-name "{pod}") longer than 63 characters, so the StatefulSet controller '
            f"could not create them; shorten it to at most {len(name) - (longest - LABEL_VALUE_MAX)} "
            "characters (LWS troubleshooting: names over ~51 characters)"
        )


def int_or_percent(where: Where, value: Any, replicas: int, round_up: bool) -> int:
    """Validate like validatePositiveIntOrPercent + isNotMoreThan100Percent; return the scaled value."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise where.error(f"Invalid value: {show(value)}: must be an integer or percentage (e.g '5%')")
    if isinstance(value, int):
        if value < 0:
            raise where.error(f"Invalid value: {value}: must be greater than or equal to 0")
        return value
    if not PERCENT.match(value):
        raise where.error(
            f'Invalid value: "{value}": a valid percent string must be a numeric string followed by an '
            "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
        )
    pct = int(value[:-1])
    if pct > 100:
        raise where.error(f'Invalid value: "{value}": must not be greater than 100%')
    scaled = pct * replicas
    return -(-scaled // 100) if round_up else scaled // 100  # intstr.GetScaledValueFromIntOrPercent


def lws_spec(doc: Any, where: Where, controller: ControllerConfig | None = None) -> LeaderWorkerSetSpec:
    """A LeaderWorkerSet object (``{apiVersion, kind, metadata, spec}``) as the LWS controllers see it."""
    controller = controller or ControllerConfig()
    obj = where.mapping(doc)
    check_schema_fields(obj, where, controller)
    meta_at = where.key("metadata")
    meta = meta_at.mapping(obj.get("metadata"))
    name = meta_at.key("name").string(meta.get("name"), "")
    check_dns1035(meta_at.key("name"), name)
    namespace = meta_at.key("namespace").string(meta.get("namespace"), "default")
    if not DNS1123_LABEL.match(namespace) or len(namespace) > LABEL_VALUE_MAX:
        raise meta_at.key("namespace").error(f'Invalid value: "{namespace}": not a valid namespace name')
    annotations = meta_at.key("annotations").string_map(meta.get("annotations"))
    labels = meta_at.key("labels").string_map(meta.get("labels"))

    spec_at = where.key("spec")
    spec = spec_at.mapping(obj.get("spec"))
    replicas = spec_at.key("replicas").integer(spec.get("replicas"), 1)  # CRD default
    if replicas < 0:
        raise spec_at.key("replicas").error(
            f"Invalid value: {replicas}: replicas must be equal or greater than 0"
        )
    if controller.version_tuple >= (0, 10, 0) and replicas > MAX_REPLICAS_V010:
        raise spec_at.key("replicas").error(
            f"Invalid value: {replicas}: must be no more than {MAX_REPLICAS_V010}"
        )

    lwt_at = spec_at.key("leaderWorkerTemplate")
    lwt = lwt_at.mapping(spec.get("leaderWorkerTemplate"))
    size = lwt_at.key("size").integer(lwt.get("size"), 1)  # CRD default
    if size < 1:
        raise lwt_at.key("size").error(f"Invalid value: {size}: size must be equal or greater than 1")
    if replicas * size > MAX_INT32:
        raise spec_at.key("replicas").error(
            f"Invalid value: {replicas}: "
            f"the product of replicas and worker replicas must not exceed {MAX_INT32}"
        )
    check_at_most(lwt_at.key("size"), "the group size", size, MAX_GROUP_SIZE, "pods")

    restart_policy = _restart_policy(
        lwt_at.key("restartPolicy"), lwt.get("restartPolicy"), controller, annotations
    )
    startup_policy = _enum(
        spec_at.key("startupPolicy"),
        spec.get("startupPolicy"),
        (LEADER_CREATED, LEADER_READY),
        LEADER_CREATED,
    )
    rolling = _rollout(spec_at.key("rolloutStrategy"), spec.get("rolloutStrategy"), replicas, controller)
    subgroup_size, subgroup_type = _subgroup(lwt_at.key("subGroupPolicy"), lwt.get("subGroupPolicy"), size)
    if subgroup_size is None and SUBGROUP_EXCLUSIVE_TOPOLOGY in dict(annotations):
        raise (
            meta_at.key("annotations")
            .key(SUBGROUP_EXCLUSIVE_TOPOLOGY)
            .error(
                f'Invalid value: "{dict(annotations)[SUBGROUP_EXCLUSIVE_TOPOLOGY]}": '
                "cannot have subgroup-exclusive-topology without subGroupSize set"
            )
        )
    net_at = spec_at.key("networkConfig")
    net = net_at.mapping(spec.get("networkConfig"))
    subdomain = _enum(
        net_at.key("subdomainPolicy"), net.get("subdomainPolicy"), ("Shared", "UniquePerReplica"), "Shared"
    )  # webhook default

    if lwt.get("workerTemplate") is None:
        raise lwt_at.key("workerTemplate").error("Required value")
    worker = pod_template(lwt.get("workerTemplate"), lwt_at.key("workerTemplate"))
    leader = None
    if lwt.get("leaderTemplate") is not None:
        leader = pod_template(lwt.get("leaderTemplate"), lwt_at.key("leaderTemplate"))

    check_name_fits_pod_labels(meta_at.key("name"), name, replicas, size)
    return LeaderWorkerSetSpec(
        name=name,
        namespace=namespace,
        replicas=replicas,
        size=size,
        leader_template=leader,
        worker_template=worker,
        restart_policy=restart_policy,
        startup_policy=startup_policy,
        subgroup_size=subgroup_size,
        subgroup_type=subgroup_type,
        rolling_update=rolling,
        subdomain_policy=subdomain,
        annotations=annotations,
        labels=labels,
    )


def _restart_policy(
    where: Where, value: Any, controller: ControllerConfig, annotations: tuple[tuple[str, str], ...]
) -> str:
    """CRD enum + webhook default; ``Default`` → ``None``; RecreateGroupAfterStart from v0.9 (§1.1)."""
    v09 = controller.version_tuple >= (0, 9, 0)
    allowed = (RECREATE_GROUP_ON_POD_RESTART, RESTART_NONE, "Default")
    if v09:
        allowed += (RECREATE_GROUP_AFTER_START,)
    elif value == RECREATE_GROUP_AFTER_START:
        raise where.error(
            f'Unsupported value: "{RECREATE_GROUP_AFTER_START}": needs LWS v0.9 or later '
            f"(spec.controller.lwsVersion is {controller.lws_version}); supported values: "
            '"RecreateGroupOnPodRestart", "None", "Default"'
        )
    policy = _enum(where, value, allowed, RECREATE_GROUP_ON_POD_RESTART)
    if policy == "Default":
        return RESTART_NONE
    if (
        policy == RECREATE_GROUP_ON_POD_RESTART
        and controller.version_tuple[:2] == (0, 8)
        and dict(annotations).get(RECREATE_AFTER_START_ANNOTATION) == "true"
    ):
        return RECREATE_GROUP_AFTER_START  # v0.8's experimental annotation (docs/lws-v0.7-semantics.md §1.1)
    return policy


def _rollout(where: Where, value: Any, replicas: int, controller: ControllerConfig) -> RollingUpdate:
    """Webhook: {1, 0, 0} only when rollingUpdateConfiguration is nil; else CRD per-field defaults."""
    rs = where.mapping(value)
    _enum(where.key("type"), rs.get("type"), ("RollingUpdate",), "RollingUpdate")
    cfg_at = where.key("rollingUpdateConfiguration")
    if rs.get("rollingUpdateConfiguration") is None:
        return RollingUpdate(max_unavailable=1, max_surge=0, partition=0)
    cfg = cfg_at.mapping(rs.get("rollingUpdateConfiguration"))
    mu_raw = 1 if cfg.get("maxUnavailable") is None else cfg["maxUnavailable"]
    ms_raw = 0 if cfg.get("maxSurge") is None else cfg["maxSurge"]
    mu = int_or_percent(cfg_at.key("maxUnavailable"), mu_raw, replicas, round_up=False)
    ms = int_or_percent(cfg_at.key("maxSurge"), ms_raw, replicas, round_up=True)
    partition = cfg_at.key("partition").integer(cfg.get("partition"), 0)
    if partition < 0 and controller.version_tuple >= (0, 8, 0):  # validated from v0.8 (lws#618)
        raise cfg_at.key("partition").error(f"Invalid value: {partition}: must be greater than or equal to 0")
    if mu == 0 and ms == 0 and replicas != 0:
        raise cfg_at.key("maxUnavailable").error(
            f"Invalid value: {show(mu_raw)}: must not be 0 when `maxSurge` is 0"
        )
    if (
        str(mu_raw).rstrip("%") == "0"
        and controller.version_tuple < (0, 9, 0)
        and controller.gate(MAX_UNAVAILABLE_STATEFULSET)
    ):
        why = "on by default" if controller.kubernetes_minor >= 37 else "set in spec.controller.featureGates"
        raise cfg_at.key("maxUnavailable").error(
            f"{show(mu_raw)}: LWS {controller.lws_version} copies it into the leader StatefulSet, which the "
            f"API server rejects when the MaxUnavailableStatefulSet gate is on (Kubernetes "
            f"{controller.kubernetes_version}: {why}; apps validation: maxUnavailable cannot be 0), "
            "so no pod would ever be created (lws#776): "
            "set it to 1 or more, or use LWS v0.9 or later"
        )
    return RollingUpdate(max_unavailable=mu_raw, max_surge=ms_raw, partition=partition)


def _subgroup(where: Where, value: Any, size: int) -> tuple[int | None, str]:
    """subGroupPolicy: type defaults to LeaderWorker (CRD); size rules from validateUpdateSubGroupPolicy."""
    if value is None:
        return None, "LeaderWorker"
    sg = where.mapping(value)
    kind = _enum(
        where.key("subGroupPolicyType"),
        sg.get("subGroupPolicyType"),
        ("LeaderWorker", "LeaderExcluded"),
        "LeaderWorker",
    )
    at = where.key("subGroupSize")
    if sg.get("subGroupSize") is None:
        raise at.error("Required value: subGroupSize must be set when subGroupPolicy is given")
    n = at.integer(sg.get("subGroupSize"))
    if n < 1:
        raise at.error(f"Invalid value: {n}: subGroupSize must be equal or greater than 1")
    if size % n != 0 and (size - 1) % n != 0:
        raise at.error(f"Invalid value: {n}: size or size - 1 must be divisible by subGroupSize")
    if size < n:
        raise at.error(f"Invalid value: {n}: subGroupSize cannot be larger than size")
    if kind == "LeaderExcluded" and (size - 1) % n != 0:
        raise at.error(
            f"Invalid value: {n}: size-1 must be divisible by subGroupSize when using LeaderExcluded"
        )
    return n, kind
