"""KServe LLMInferenceService → the LeaderWorkerSet(s) KServe creates for it (docs/lws-v0.7-semantics.md §5).

Mapping read from kserve/kserve ``pkg/controller/v1alpha2/llmisvc/workload_multi_node.go``
(expectedMainMultiNodeLWS / expectedPrefillMultiNodeLWS / propagateLeaderWorkerSetMetadata) and
``pkg/apis/serving/v1alpha2/llm_inference_service_types_func.go`` (ParallelismSpec.GetSize):

- multi-node only when ``spec.worker`` is set; LWS ``<name>-kserve-mn``; ``spec.prefill.worker`` adds
  ``<name>-kserve-mn-prefill`` (its own replicas and parallelism; subGroupSize = size when data-parallel);
- size = max(max(data,1) // max(dataLocal,1), 1) for data parallelism, else ``pipeline``;
- leader template = ``spec.template`` (a bare PodSpec; absent → the worker template is used), worker
  template = ``spec.worker``; RecreateGroupOnPodRestart, LeaderCreated, RollingUpdate with the LWS webhook's
  1/0 unless ``spec.rolloutStrategy`` gives maxUnavailable/maxSurge;
- annotations with prefixes ``leaderworkerset.sigs.k8s.io``, ``k8s.v1.cni.cncf.io``, ``kueue.x-k8s.io``
  propagate to the LWS and both templates; ``kueue.x-k8s.io`` labels likewise.

KServe also merges its well-known config presets into the templates. lwssim applies only the parts that
change simulated behaviour, and only where the user left them out (kserve/kserve
``config/llmisvcconfig/config-llm-worker-data-parallel.yaml``): the ``main`` container's image, the leader's
startup probe (10 s × 60) and readiness probe (30 s × 60), and the leader's 60 s grace period.
"""

from __future__ import annotations

import copy
from typing import Any

from lwssim.errors import InputError
from lwssim.manifests.limits import MAX_GROUP_SIZE, check_at_most
from lwssim.manifests.lws import check_dns1035, check_name_fits_pod_labels, int_or_percent
from lwssim.manifests.podspec import pod_spec
from lwssim.manifests.where import MAX_INT32, Where
from lwssim.model.lws import (
    LEADER_CREATED,
    RECREATE_GROUP_ON_POD_RESTART,
    LeaderWorkerSetSpec,
    RollingUpdate,
    Workload,
)
from lwssim.model.scenario import ControllerConfig

API_GROUP = "serving.kserve.io"
API_VERSIONS = (f"{API_GROUP}/v1alpha1", f"{API_GROUP}/v1alpha2")
KIND = "LLMInferenceService"
MAIN_SUFFIX = "-kserve-mn"
PREFILL_SUFFIX = "-kserve-mn-prefill"
PREFILL_WORKLOAD_SUFFIX = "-prefill"
PROPAGATED_ANNOTATION_PREFIXES = ("leaderworkerset.sigs.k8s.io", "k8s.v1.cni.cncf.io", "kueue.x-k8s.io")
PROPAGATED_LABEL_PREFIXES = ("kueue.x-k8s.io",)
PRESET_IMAGE = "ghcr.io/llm-d/llm-d-cuda:v0.6.0"  # kserve-config-llm-worker-data-parallel, main container
PRESET_STARTUP_PROBE = {"periodSeconds": 10, "failureThreshold": 60}
PRESET_READINESS_PROBE = {"periodSeconds": 30, "failureThreshold": 60}
PRESET_GRACE_SECONDS = 60


def llmisvc_workloads(
    doc: Any, where: Where, controller: ControllerConfig | None = None, source: str = ""
) -> list[Workload]:
    """The workloads of one LLMInferenceService: itself, and ``<name>-prefill`` if prefill is multi-node."""
    del controller  # KServe builds the LWS the same way whatever the LWS version
    obj = where.mapping(doc)
    meta_at = where.key("metadata")
    meta = meta_at.mapping(obj.get("metadata"))
    name = meta_at.key("name").string(meta.get("name"), "")
    if not name:
        raise meta_at.key("name").error("Required value: name is required")
    namespace = meta_at.key("namespace").string(meta.get("namespace"), "default")
    annotations = _prefixed(
        meta_at.key("annotations").string_map(meta.get("annotations")), PROPAGATED_ANNOTATION_PREFIXES
    )
    labels = _prefixed(meta_at.key("labels").string_map(meta.get("labels")), PROPAGATED_LABEL_PREFIXES)
    spec_at = where.key("spec")
    spec = spec_at.mapping(obj.get("spec"))
    if spec.get("worker") is None:
        raise spec_at.key("worker").unsupported(
            f'LLMInferenceService "{name}" has no spec.worker, so KServe runs it single-node as a '
            "Deployment, not a LeaderWorkerSet; lwssim simulates multi-node (LeaderWorkerSet) services only"
        )
    rollout = _rollout(spec_at.key("rolloutStrategy"), spec.get("rolloutStrategy"))
    common: dict[str, Any] = dict(
        namespace=namespace,
        annotations=annotations,
        labels=labels,
        meta_name_at=meta_at.key("name"),
        rollout=rollout,
    )
    workloads = [
        Workload(
            name,
            namespace,
            KIND,
            _lws(spec, spec_at, name + MAIN_SUFFIX, name, prefill=False, **common),
            source,
        )
    ]
    prefill = spec_at.key("prefill").mapping(spec.get("prefill"))
    if prefill.get("worker") is not None:
        lws = _lws(prefill, spec_at.key("prefill"), name + PREFILL_SUFFIX, name, prefill=True, **common)
        workloads.append(Workload(name + PREFILL_WORKLOAD_SUFFIX, namespace, KIND, lws, source))
    return workloads


def _prefixed(items: tuple[tuple[str, str], ...], prefixes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in items if k.startswith(prefixes))


def group_size(parallelism: Any, where: Where) -> tuple[int, bool]:
    """LWS size from ``parallelism`` and whether it is data-parallel, after KServe's validation.

    Validation (docs/lws-v0.7-semantics.md §5;
    K:pkg/apis/serving/v1alpha2/llm_inference_service_validation.go): a worker
    needs data or pipeline parallelism; pipeline and data exclude each other; data and dataLocal go together.
    """
    p = where.mapping(parallelism)
    vals: dict[str, int | None] = {}
    for key in ("tensor", "pipeline", "data", "dataLocal", "dataRPCPort"):
        vals[key] = None if p.get(key) is None else where.key(key).integer(p[key], minimum=1)
    if vals["dataRPCPort"] is not None and vals["dataRPCPort"] > 65535:
        raise where.key("dataRPCPort").error(
            f"Invalid value: {vals['dataRPCPort']}: must be between 1 and 65535"
        )
    where.key("expert").boolean(p.get("expert"), False)
    data, local, pipeline = vals["data"], vals["dataLocal"], vals["pipeline"]
    is_dp = data is not None or local is not None
    if pipeline is not None and is_dp:
        raise where.error("pipeline parallelism and data parallelism are mutually exclusive")
    if is_dp and (data is None or local is None):
        missing = "dataLocal" if local is None else "data"
        raise where.key(missing).error("Required value: data and dataLocal must be set together")
    if is_dp:
        size = max((data or 1) // (local or 1), 1)
        if data and local and data % local:
            _warn_lost_ranks(where, data, local, size)
        check_at_most(where.key("data"), "the group size, data // dataLocal,", size, MAX_GROUP_SIZE, "pods")
        return size, True
    if pipeline is not None:
        check_at_most(where.key("pipeline"), "the group size", pipeline, MAX_GROUP_SIZE, "pods")
        return pipeline, False
    raise where.error("Required value: a multi-node service (spec.worker) needs data or pipeline parallelism")


def _warn_lost_ranks(where: Where, data: int, local: int, size: int) -> None:
    """KServe divides integers (ParallelismSpec.GetSize), and each pod starts ``dataLocal`` ranks from
    ``LWS_WORKER_INDEX * dataLocal`` (config-llm-worker-data-parallel), so the remainder gets no pod."""
    if data < local:
        where.warn(
            f"data {data} is less than dataLocal {local}: KServe makes a group of 1 pod that starts "
            f"{local} data-parallel ranks of a {data}-rank job"
        )
        return
    first, last = size * local, data - 1
    ranks = f"rank {first}" if first == last else f"ranks {first}-{last}"
    where.warn(
        f"data {data} is not a multiple of dataLocal {local}: KServe makes groups of {data} // {local} = "
        f"{size} pods of {local} ranks each, so data-parallel {ranks} run nowhere"
    )


def _rollout(where: Where, value: Any) -> dict | None:
    """``spec.rolloutStrategy`` {maxUnavailable, maxSurge}; None keeps the LWS webhook default (1/0)."""
    if value is None:
        return None
    rs = where.mapping(value)
    return {k: rs[k] for k in ("maxUnavailable", "maxSurge") if rs.get(k) is not None} or None


def _lws(
    part: dict,
    part_at: Where,
    lws_name: str,
    svc_name: str,
    *,
    prefill: bool,
    namespace: str,
    annotations: tuple[tuple[str, str], ...],
    labels: tuple[tuple[str, str], ...],
    meta_name_at: Where,
    rollout: dict | None,
) -> LeaderWorkerSetSpec:
    """One LWS from the main spec or ``spec.prefill`` (same shape: replicas, parallelism, templates)."""
    try:
        check_dns1035(meta_name_at, lws_name)
    except InputError as exc:  # say why: the LWS name is derived from the service name
        raise meta_name_at.error(
            f'derived LeaderWorkerSet name "{lws_name}" is invalid: {exc.message}'
        ) from None
    replicas = part_at.key("replicas").integer(part.get("replicas"), 1, minimum=0)
    size, data_parallel = group_size(part.get("parallelism"), part_at.key("parallelism"))
    if replicas * size > MAX_INT32:
        raise part_at.key("replicas").error(
            f"the product of replicas and worker replicas must not exceed {MAX_INT32}"
        )
    common_labels = (("app.kubernetes.io/name", svc_name),) + labels
    worker = pod_spec(
        _with_preset(part.get("worker"), leader=False),
        part_at.key("worker"),
        labels=tuple(sorted(common_labels)),
        annotations=annotations,
    )
    leader = None
    if part.get("template") is not None:
        leader = pod_spec(
            _with_preset(part.get("template"), leader=True),
            part_at.key("template"),
            labels=tuple(sorted(common_labels)),
            annotations=annotations,
        )
    rolling = RollingUpdate(1, 0, 0)
    if rollout:
        mu, ms = rollout.get("maxUnavailable", 1), rollout.get("maxSurge", 0)
        rs_at = Where(part_at.file, "spec.rolloutStrategy")
        mu_v = int_or_percent(rs_at.key("maxUnavailable"), mu, replicas, round_up=False)
        ms_v = int_or_percent(rs_at.key("maxSurge"), ms, replicas, round_up=True)
        if mu_v == 0 and ms_v == 0 and replicas != 0:
            raise rs_at.key("maxUnavailable").error("must not be 0 when `maxSurge` is 0")
        rolling = RollingUpdate(mu, ms, 0)
    check_name_fits_pod_labels(meta_name_at, lws_name, replicas, size)
    return LeaderWorkerSetSpec(
        name=lws_name,
        namespace=namespace,
        replicas=replicas,
        size=size,
        leader_template=leader,
        worker_template=worker,
        restart_policy=RECREATE_GROUP_ON_POD_RESTART,
        startup_policy=LEADER_CREATED,
        subgroup_size=size if prefill and data_parallel else None,
        rolling_update=rolling,
        annotations=annotations,
        labels=tuple(sorted(common_labels)),
    )


def _with_preset(podspec: Any, leader: bool) -> Any:
    """The PodSpec with KServe preset values filled in where the user gave none (see module docstring)."""
    if not isinstance(podspec, dict) or not isinstance(podspec.get("containers"), list):
        return podspec
    out = copy.deepcopy(podspec)
    for c in out["containers"]:
        if not isinstance(c, dict) or c.get("name") != "main":
            continue
        c.setdefault("image", PRESET_IMAGE)
        if leader:
            c.setdefault("startupProbe", dict(PRESET_STARTUP_PROBE))
            c.setdefault("readinessProbe", dict(PRESET_READINESS_PROBE))
    if leader:
        out.setdefault("terminationGracePeriodSeconds", PRESET_GRACE_SECONDS)
    return out
