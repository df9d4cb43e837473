"""The JSON Schema (draft 2020-12) of scenario files, and the structural check the loader runs with it.

One definition serves both: ``lwssim schema`` prints :func:`scenario_schema`, and :func:`check_structure`
walks a scenario with the same dict before any value is converted, so the loader's idea of known fields,
types and enums cannot drift from the published schema. The walker implements the subset of JSON Schema
this schema uses (type, properties, additionalProperties, required, enum, items, pattern, minimum,
maximum, exclusiveMinimum, minProperties, maxProperties, minItems, anyOf split by type, $ref); ``oneOf``
is left to the converters, which say which alternatives were mixed.
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from typing import Any

from lwssim.manifests.where import Where, show, type_name
from lwssim.model.autoscaling import CLOUD_PROVIDERS

SCHEMA_ID = "https://lwssim.io/schemas/scenario-v1alpha1.json"
API_VERSION = "lwssim.io/v1alpha1"
KIND = "Scenario"
# Go's time.ParseDuration grammar (lwssim.model.quantity.parse_duration): "0" or number+unit repeated.
DURATION_PATTERN = r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+)$"
# k8s.io/apimachinery resource.Quantity: sign, number, then a binary/decimal suffix or an exponent.
QUANTITY_PATTERN = (
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
LWS_VERSION_PATTERN = r"^v0\.(7|8|9|10)\.[0-9]+$"
KUBERNETES_VERSION_PATTERN = r"^v1\.(34|35|36|37)(\.[0-9]+)?$"
# Of an autoscaled cluster's nodes, measured without a workload (lwssim/check.py).
NODE_METRICS = (
    "nodesAtEnd",
    "nodesLaunched",
    "nodeLaunchFailures",
    "nodesDeleted",
    "gpuHoursProvisioned",
    "gpuHoursIdleInPartialGroups",
)
METRICS = (
    "groupsServing",
    "groupsReadyReported",
    "timeToAllServing",
    "availability",
    "groupRecreations",
    "pendingPods",
    "podsPreempted",
    "rolloutMinServing",
    "rolloutDuration",
    "groupsAdmitted",
    "admissionEvictions",
    *NODE_METRICS,
)
DURATION_METRICS = ("timeToAllServing", "rolloutDuration")
# Metrics an expectation may give without a workload: pendingPods of every workload, and the nodes'.
CLUSTER_METRICS = ("pendingPods", *NODE_METRICS)
COMPARATORS = ("atLeast", "atMost", "equals")
SCRIPTED_ACTIONS = ("podCrash", "podDelete", "nodeDown", "nodeUp", "domainDown", "domainUp")


def _obj(
    properties: dict[str, Any], description: str = "", required: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _duration(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": DURATION_PATTERN,
        "x-lwssim-kind": "duration",
        "description": description,
    }


def _dist(description: str) -> dict[str, Any]:
    return {"$ref": "#/$defs/distribution", "description": description}


STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _defs() -> dict[str, Any]:
    d = "a duration (Go style: 90s, 5m, 1h30m)"
    return {
        "duration": _duration(d),
        "quantity": {
            "type": ["number", "string"],
            "pattern": QUANTITY_PATTERN,
            "x-lwssim-kind": "quantity",
            "description": "a Kubernetes quantity: 8, 500m, 2Ti",
        },
        "distribution": {
            "description": "a duration, or a distribution of durations (sampled from the scenario seed)",
            "anyOf": [
                {"$ref": "#/$defs/duration"},
                _obj(
                    {
                        "fixed": {"$ref": "#/$defs/duration"},
                        "uniform": _obj(
                            {"min": {"$ref": "#/$defs/duration"}, "max": {"$ref": "#/$defs/duration"}},
                            required=("min", "max"),
                        ),
                        "normal": _obj(
                            {"mean": {"$ref": "#/$defs/duration"}, "stddev": {"$ref": "#/$defs/duration"}},
                            "truncated at 0",
                            required=("mean", "stddev"),
                        ),
                        "lognormal": _obj(
                            {
                                "median": {"$ref": "#/$defs/duration"},
                                "sigma": {"type": "number", "minimum": 0},
                            },
                            "median·exp(N(0, sigma))",
                            required=("median", "sigma"),
                        ),
                    },
                    "exactly one distribution",
                    minProperties=1,
                    maxProperties=1,
                ),
            ],
        },
        "imagePull": _obj(
            {
                "cold": _dist(
                    "pull of an image the node does not have (default 7m: 10–20 GB images, BentoML)"
                ),
                "cached": _dist("image already on the node, IfNotPresent (default 0s)"),
            }
        ),
        "roleTiming": _obj(
            {
                "imagePull": {"$ref": "#/$defs/imagePull"},
                "containerStart": _dist("container created → started"),
                "modelLoad": _dist("container started → pod Ready"),
                "termination": _dist("deletion → pod gone"),
            },
            "per-role overrides of the shared timing",
        ),
        "comparison": _obj({c: {"type": "number"} for c in COMPARATORS}, minProperties=1),
        "durationComparison": _obj({c: {"$ref": "#/$defs/duration"} for c in COMPARATORS}, minProperties=1),
        "domain": _obj({"key": {"type": "string"}, "value": {"type": "string"}}, required=("key", "value")),
    }


def _cluster() -> dict[str, Any]:
    pool = _obj(
        {
            "name": {
                "type": "string",
                "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                "description": "nodes are named <pool>-<i>",
            },
            "count": {"type": "integer", "minimum": 0},
            "capacity": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/quantity"},
                "description": "allocatable resources of each node, e.g. {nvidia.com/gpu: 8, cpu: 192}",
            },
            "labels": STRING_MAP,
            "taints": {
                "type": "array",
                "items": _obj(
                    {
                        "key": {"type": "string"},
                        "value": {"type": "string"},
                        "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
                    },
                    required=("key", "effect"),
                ),
            },
            "topology": {
                "type": "array",
                "description": "generated domain labels, outermost first",
                "items": _obj(
                    {
                        "key": {"type": "string"},
                        "size": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "node i gets <pool>-<short>-<i // size>",
                        },
                    },
                    required=("key", "size"),
                ),
            },
            "costPerNodeHour": {"type": "number", "minimum": 0},
            "min": {
                "type": "integer",
                "minimum": 0,
                "description": "with autoscaling: the nodes always kept (karpenter: the first min nodes "
                "are a static node group Karpenter does not manage); count is the size at the start",
            },
            "max": {
                "type": "integer",
                "minimum": 0,
                "description": "with autoscaling: the most nodes the pool can have (its NodePool's limit "
                "in nodes, or the cloud quota); a pool with max may grow",
            },
        },
        required=("name", "count", "capacity"),
    )
    return _obj(
        {
            "nodePools": {"type": "array", "items": pool},
            "autoscaling": _autoscaling(),
            "nodes": {
                "type": "string",
                "description": "a NodeList / List file (kubectl get nodes, lwssim snapshot), "
                "relative to the scenario file",
            },
        },
        "the simulated nodes: pools, then listed nodes",
    )


def _autoscaling() -> dict[str, Any]:
    node_pool = _obj(
        {
            "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
            "pool": {"type": "string", "description": "the lwssim pool whose nodes it launches"},
            "weight": {"type": "integer", "minimum": 0, "maximum": 100},
            "expireAfter": {
                "type": "string",
                "description": "template.spec.expireAfter: nodes older are replaced (default 720h; Never)",
            },
            "limits": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/quantity"},
                "description": "NodePool spec.limits: the most of each resource its nodes may have",
            },
            "disruption": _obj(
                {
                    "consolidationPolicy": {"enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"]},
                    "consolidateAfter": {
                        "type": "string",
                        "description": "a duration, or Never (default 0s)",
                    },
                    "budgets": {
                        "type": "array",
                        "items": _obj(
                            {
                                "nodes": {"type": "string", "pattern": r"^((100|[0-9]{1,2})%|[0-9]+)$"},
                            },
                            required=("nodes",),
                        ),
                    },
                },
            ),
        },
        "a Karpenter NodePool (karpenter.sh/v1 spec, the fields lwssim simulates)",
        required=("name", "pool"),
    )
    return _obj(
        {
            "provider": {"enum": ["karpenter", "clusterAutoscaler"]},
            "batchIdleDuration": _duration("Karpenter --batch-idle-duration (default 1s)"),
            "batchMaxDuration": _duration("Karpenter --batch-max-duration (default 10s)"),
            "nodePools": {
                "type": "array",
                "items": node_pool,
                "description": "Karpenter NodePools; a pool with max and no NodePool gets one of its name",
            },
            "clusterAutoscaler": _cluster_autoscaler(),
        },
        "node autoscaling: pools with max grow and shrink (docs/autoscaling.md)",
        required=("provider",),
    )


def _cluster_autoscaler() -> dict[str, Any]:
    """cluster-autoscaler's flags, camelCase (defaults: cluster-autoscaler-1.34.5 config/flags/flags.go)."""
    fraction = {"type": "number", "minimum": 0, "maximum": 1}
    return _obj(
        {
            "expander": {"enum": ["random", "least-waste", "priority"], "default": "least-waste"},
            "priorities": {
                "type": "object",
                "description": "the priority expander ConfigMap: priority (an integer) → node group regexes",
                "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            "scanInterval": _duration("default 10s"),
            "maxNodeProvisionTime": _duration("default 15m"),
            "scaleDownEnabled": {"type": "boolean", "default": True},
            "scaleDownUnneededTime": _duration("default 10m"),
            "scaleDownDelayAfterAdd": _duration("default 10m"),
            "scaleDownUtilizationThreshold": {**fraction, "default": 0.5},
            "scaleDownGpuUtilizationThreshold": {**fraction, "default": 0.5},
            "maxNodesPerScaleUp": {"type": "integer", "minimum": 1, "default": 1000},
            "maxScaleDownParallelism": {"type": "integer", "minimum": 1, "default": 10},
            "initialNodeGroupBackoffDuration": _duration("default 5m"),
            "maxNodeGroupBackoffDuration": _duration("default 30m"),
            "nodeGroupBackoffResetTimeout": _duration("default 3h"),
            "cloudProvider": {
                "enum": list(CLOUD_PROVIDERS),
                "default": "gce",
                "description": "whose node groups: only azure's scale up atomically (AtomicIncreaseSize)",
            },
            "enableProvisioningRequests": {
                "type": "boolean",
                "default": False,
                "description": "--enable-provisioning-requests: serve spec.workloads ProvisioningRequests",
            },
        },
        "cluster-autoscaler's settings (provider clusterAutoscaler); node groups are the pools with max",
    )


def _node_provisioning() -> dict[str, Any]:
    return _obj(
        {
            "vmAllocation": _dist("create call → instance running; default lognormal median 20s sigma 0.5"),
            "nodeReady": _dist("instance running → Node Ready; default lognormal median 60s sigma 0.3"),
            "gpuAllocatable": _dist("Node Ready → GPUs allocatable; default uniform 30s-120s"),
            "stockoutProbability": {"type": "number", "minimum": 0, "maximum": 1},
            "unavailableOfferingTTL": _duration(
                "after a stockout, no new launch of that pool for this long (default 3m)"
            ),
        },
        "how long a node an autoscaler asks for takes (docs/defaults.md)",
    )


def _timing() -> dict[str, Any]:
    return _obj(
        {
            "schedulingThroughput": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "pods/s the scheduler binds (default 100, clusterloader2 gate)",
            },
            "imagePull": {"$ref": "#/$defs/imagePull"},
            "containerStart": _dist("default 2s (SIG Scalability pod startup SLO)"),
            "modelLoad": _dist("container started → pod Ready; default 4m (BLIS node-to-serving)"),
            "termination": _dist("deletion → pod gone; default 30s (terminationGracePeriodSeconds)"),
            "apiLatency": _api_latency(),
            "leader": {"$ref": "#/$defs/roleTiming"},
            "worker": {"$ref": "#/$defs/roleTiming"},
            "nodeProvisioning": _node_provisioning(),
        },
        "durations of pod lifecycle phases",
    )


def _api_latency() -> dict[str, Any]:
    per_kind = {
        "podCreate": "StatefulSet controller creates a pod (through the LWS pod webhook); default "
        "lognormal median 60ms sigma 0.55",
        "controllerRevisionCreate": "StatefulSet controller stores a revision it has not seen (a new "
        "StatefulSet or template) before it creates pods; default lognormal median 30ms sigma 0.6",
        "statefulSetCreate": "LWS creates a group's worker StatefulSet; default lognormal median 23ms "
        "sigma 0.7",
        "delete": "one level of the garbage collector's cascade, or a StatefulSet controller's pod "
        "delete; default lognormal median 33ms sigma 0.6",
    }
    return {
        "description": "API latency of a controller's call, from the event it reacts to until the call's "
        "result is stored: one distribution for every call, or one per kind of call (defaults measured "
        "on lwssim emulator's kube-apiserver)",
        "anyOf": [
            {"$ref": "#/$defs/distribution"},
            _obj(
                {k: _dist(v) for k, v in per_kind.items()},
                "per kind of call; the kinds not given keep their defaults",
                minProperties=1,
            ),
        ],
    }


def _controller() -> dict[str, Any]:
    return _obj(
        {
            "lwsVersion": {
                "type": "string",
                "pattern": LWS_VERSION_PATTERN,
                "default": "v0.7.0",
                "description": "LWS release whose semantics apply (v0.7.x … v0.10.x)",
                "x-lwssim-kind": "lwsVersion",
            },
            "kubernetesVersion": {
                "type": "string",
                "pattern": KUBERNETES_VERSION_PATTERN,
                "default": "v1.34",
                "description": "Kubernetes minor of the cluster (v1.34 … v1.37): sets the default of the "
                "feature gates LWS depends on (MaxUnavailableStatefulSet: on from v1.37)",
                "x-lwssim-kind": "kubernetesVersion",
            },
            "gangScheduling": {"enum": ["none", "volcano"], "default": "none"},
            "featureGates": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "scoringStrategy": {"enum": ["LeastAllocated", "MostAllocated"], "default": "LeastAllocated"},
            "kueue": _kueue(),
        }
    )


def _kueue() -> dict[str, Any]:
    """``controller.kueue``: ``enabled`` and Kueue v0.17.0's Configuration (apis/config/v1beta2), field by
    field as in Kueue's own config file. The loader (manifests/kueue.py) refuses the fields that would change
    admission and are not simulated, and validates the values as pkg/config/validation.go does."""
    free = {"type": "object", "description": "accepted and ignored: it does not change admission"}
    refused = {"type": "object", "description": "refused: not simulated"}
    seconds = {"type": "integer", "minimum": 0}
    ignored: dict[str, Any] = {
        k: free
        for k in (
            "webhook",
            "leaderElection",
            "metrics",
            "health",
            "controller",
            "tls",
            "internalCertManagement",
            "clientConnection",
            "visibilityServer",
        )
    }
    return _obj(
        {
            "enabled": {"type": "boolean", "default": False, "description": "run Kueue (default false)"},
            "apiVersion": {"enum": ["config.kueue.x-k8s.io/v1beta2"]},
            "kind": {"enum": ["Configuration"]},
            "namespace": {"type": "string", "description": "accepted and ignored"},
            "pprofBindAddress": {"type": "string", "description": "accepted and ignored"},
            **ignored,
            "manageJobsWithoutQueueName": {"type": "boolean", "default": False},
            "managedJobsNamespaceSelector": refused,
            "waitForPodsReady": _obj(
                {
                    "timeout": _duration("admitted → every pod of the group Ready, else evicted; > 0"),
                    "recoveryTimeout": _duration(
                        "a ready group's pod not Ready → evicted (default: timeout; 0s: off)"
                    ),
                    "blockAdmission": {"type": "boolean", "default": False},
                    "requeuingStrategy": _obj(
                        {
                            "timestamp": {
                                "enum": ["Eviction", "Creation"],
                                "default": "Eviction",
                                "description": "Creation is refused (not simulated)",
                            },
                            "backoffLimitCount": {
                                **seconds,
                                "description": "requeues before deactivation (default: no limit)",
                            },
                            "backoffBaseSeconds": {**seconds, "default": 60},
                            "backoffMaxSeconds": {**seconds, "default": 3600},
                        }
                    ),
                },
                "present = enabled (Kueue's waitForPodsReady)",
                required=("timeout",),
            ),
            "integrations": _obj(
                {
                    "frameworks": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "default [batch/job]: LeaderWorkerSets are managed only if "
                        "leaderworkerset.x-k8s.io/leaderworkerset is listed",
                    },
                    "externalFrameworks": {"type": "array", "items": {"type": "string"}},
                    "labelKeysToCopy": {"type": "array", "items": {"type": "string"}},
                }
            ),
            "featureGates": {
                "type": "object",
                "additionalProperties": {"type": "boolean"},
                "description": "Kueue's gates; a gate that changes admission may only be set to its default",
            },
            "objectRetentionPolicies": {
                "type": "object",
                "description": "workloads.afterFinished is ignored; afterDeactivatedByKueue is refused",
            },
            "multiKueue": refused,
            "fairSharing": refused,
            "admissionFairSharing": refused,
            "resources": refused,
        },
        "Kueue v0.17.0 (docs/kueue-v0.17-semantics.md): enabled plus Kueue's Configuration fields, camelCase",
    )


def _faults() -> dict[str, Any]:
    scripted = _obj(
        {
            "at": {"$ref": "#/$defs/duration"},
            "podCrash": {"type": "string", "description": "a container of this pod exits once"},
            "podDelete": {"type": "string"},
            "nodeDown": _obj(
                {"pod": {"type": "string"}, "node": {"type": "string"}},
                "the node running pod, or the named node, stops answering",
                minProperties=1,
                maxProperties=1,
            ),
            "nodeUp": _obj({"node": {"type": "string"}}, required=("node",)),
            "domainDown": {"$ref": "#/$defs/domain"},
            "domainUp": {"$ref": "#/$defs/domain"},
        },
        required=("at",),
        oneOf=[{"required": [a]} for a in SCRIPTED_ACTIONS],
    )
    return _obj(
        {
            "nodeFailures": _obj(
                {
                    "ratePerNodeDay": {
                        "type": "number",
                        "minimum": 0,
                        "default": 0.0038,
                        "description": "default: Llama 3 paper, 419 interruptions / (2,048 nodes × 54 days)",
                    },
                    "repair": _dist("node down → back"),
                    "causes": {
                        "type": "array",
                        "items": _obj(
                            {
                                "name": {"type": "string"},
                                "weight": {"type": "number", "minimum": 0},
                                "repair": _dist("default: nodeFailures.repair"),
                                "effect": {"enum": ["nodeDown", "reboot"], "default": "nodeDown"},
                            },
                            required=("name", "weight"),
                        ),
                        "description": "default: the Llama 3 cause mix",
                    },
                },
                required=("repair",),
            ),
            "domainFailures": {
                "type": "array",
                "items": _obj(
                    {
                        "key": {"type": "string"},
                        "ratePerDomainDay": {"type": "number", "minimum": 0},
                        "repair": _dist("domain down → back"),
                    },
                    required=("key", "ratePerDomainDay", "repair"),
                ),
            },
            "containerCrashes": _obj(
                {"ratePerPodDay": {"type": "number", "minimum": 0}}, required=("ratePerPodDay",)
            ),
            "nodeMonitorGracePeriod": _duration("node silent → NotReady (default 40s)"),
            "forceDeleteAfter": _duration(
                "stuck Terminating pods on a dead node are force-deleted after this"
            ),
            "repairedNodesKeepImages": {"type": "boolean", "default": False},
            "scripted": {"type": "array", "items": scripted},
        }
    )


def _events() -> dict[str, Any]:
    return {
        "type": "array",
        "items": _obj(
            {
                "at": {"$ref": "#/$defs/duration"},
                "patch": _obj(
                    {
                        "workload": {"type": "string"},
                        "spec": {
                            "type": "object",
                            "description": "JSON merge patch (RFC 7386) of the manifest spec",
                        },
                    },
                    required=("workload", "spec"),
                ),
                "scale": _obj(
                    {"workload": {"type": "string"}, "replicas": {"type": "integer", "minimum": 0}},
                    required=("workload", "replicas"),
                ),
            },
            required=("at",),
            oneOf=[{"required": ["patch"]}, {"required": ["scale"]}],
        ),
    }


def _expect() -> dict[str, Any]:
    props: dict[str, Any] = {
        "workload": {
            "type": "string",
            "description": "metadata.name of the workload; omit for cluster-wide pendingPods",
        },
        "quantile": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "over Monte Carlo runs (lwssim plan)",
        },
        "lwsVersions": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": LWS_VERSION_PATTERN, "x-lwssim-kind": "lwsVersion"},
            "description": "the LWS versions this expectation holds for; lwssim check also runs the scenario "
            "under each version named here (without it: every version the scenario runs under)",
        },
    }
    for m in METRICS:
        props[m] = {"$ref": "#/$defs/durationComparison" if m in DURATION_METRICS else "#/$defs/comparison"}
    return {"type": "array", "items": _obj(props, minProperties=1)}


@cache
def _schema() -> dict[str, Any]:
    spec = _obj(
        {
            "seed": {"type": "integer", "minimum": 0, "default": 0},
            "horizon": {"$ref": "#/$defs/duration", "description": "simulated time span (default 6h)"},
            "cluster": _cluster(),
            "workloads": {
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    {
                        "file": {
                            "type": "string",
                            "description": "relative to the scenario; multi-document YAML allowed",
                        },
                        "manifest": {
                            "type": "object",
                            "description": "an inline object as kubectl apply takes it: LeaderWorkerSet, "
                            "LLMInferenceService, Deployment, StatefulSet, Job, Pod, PodDisruptionBudget, "
                            "PriorityClass, and Kueue's ResourceFlavor, ClusterQueue, LocalQueue, Topology, "
                            "WorkloadPriorityClass",
                        },
                        "at": {
                            "$ref": "#/$defs/duration",
                            "description": "apply the object at this simulated time instead of at the start",
                        },
                    },
                    minProperties=1,
                    maxProperties=2,
                ),
            },
            "timing": _timing(),
            "controller": _controller(),
            "faults": _faults(),
            "events": _events(),
            "expect": _expect(),
        },
        required=("cluster", "workloads"),
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "lwssim Scenario",
        "description": "A LeaderWorkerSet deployment to simulate: cluster, workloads, timing, faults, "
        "events, expectations (docs/contract.md).",
        **_obj(
            {
                "apiVersion": {"const": API_VERSION, "enum": [API_VERSION]},
                "kind": {"const": KIND, "enum": [KIND]},
                "metadata": _obj({"name": {"type": "string", "minLength": 1}}, required=("name",)),
                "spec": spec,
            },
            required=("apiVersion", "kind", "metadata", "spec"),
        ),
        "$defs": _defs(),
    }


def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema (a fresh copy the caller may change)."""
    import copy

    return copy.deepcopy(_schema())


# -- the structural check -------------------------------------------------------------------------------

_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}


def check_structure(instance: Any, where: Where) -> None:
    """Raise InputError at the first place ``instance`` breaks the scenario schema."""
    root = _schema()
    _check(instance, root, where, root)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        target = root["$defs"][ref.rsplit("/", 1)[-1]]
        extra = {k: v for k, v in schema.items() if k not in ("$ref", "description")}
        schema = {**target, **extra}
    return schema


def _branches(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of an ``anyOf``, those of nested ones spelled out."""
    out = []
    for b in schema["anyOf"]:
        b = _resolve(b, root)
        out.extend(_branches(b, root) if "anyOf" in b else [b])
    return out


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    return [t] if isinstance(t, str) else list(t or [])


def _check(value: Any, schema: dict[str, Any], where: Where, root: dict[str, Any]) -> None:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        branches = _branches(schema, root)
        fitting = [b for b in branches if any(_JSON_TYPES[t](value) for t in _types(b))]
        if fitting:
            # Mappings of several shapes: the branch that names one of the keys given, else the first.
            named = [b for b in fitting if isinstance(value, dict) and value.keys() & b.get("properties", {})]
            _check(value, (named or fitting)[0], where, root)
            return
        wanted = " or ".join(_describe(b) for b in branches)
        raise where.error(f"expected {wanted}, got {type_name(value)} {show(value)}")
    types = _types(schema)
    if types and not any(_JSON_TYPES[t](value) for t in types):
        raise where.error(f"expected {_describe(schema)}, got {type_name(value)} {show(value)}")
    if "enum" in schema and value not in schema["enum"]:
        options = ", ".join(show(e) for e in schema["enum"])
        hint = _suggest(value, [e for e in schema["enum"] if isinstance(e, str)])
        raise where.error(f"{show(value)} is not one of {options}{hint}")
    if isinstance(value, str) and "pattern" in schema and not re.match(schema["pattern"], value):
        raise where.error(_pattern_message(value, schema))
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(value, schema, where)
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        raise where.error("must not be empty")
    if isinstance(value, dict):
        _check_object(value, schema, where, root)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise where.error(f"needs at least {schema['minItems']} item(s)")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], where.index(i), root)


def _check_bounds(value: float, schema: dict[str, Any], where: Where) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise where.error(f"must be at least {schema['minimum']}, got {value}")
    if "maximum" in schema and value > schema["maximum"]:
        raise where.error(f"must be at most {schema['maximum']}, got {value}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise where.error(f"must be greater than {schema['exclusiveMinimum']}, got {value}")


def _check_object(value: dict, schema: dict[str, Any], where: Where, root: dict[str, Any]) -> None:
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in value:
        if not isinstance(key, str):
            raise where.error(f"field names must be strings, got {type_name(key)} {show(key)}")
        if key not in props and extra is False:
            raise where.error(
                f'unknown field "{key}"{_suggest(key, list(props))}; known fields: {", ".join(props)}'
            )
    for key in schema.get("required", []):
        if value.get(key) is None:
            raise where.key(key).error("required field is missing")
    n = len(value)
    if n < schema.get("minProperties", 0):
        raise where.error(f"needs at least {schema['minProperties']} of: {', '.join(props)}")
    if "maxProperties" in schema and n > schema["maxProperties"]:
        raise where.error(f"give exactly one of {', '.join(props)}, not {', '.join(map(str, value))}")
    for key, item in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is not None:
            _check(item, sub, where.key(key), root)


def _suggest(word: Any, options: list[str]) -> str:
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _describe(schema: dict[str, Any]) -> str:
    kind = schema.get("x-lwssim-kind")
    if kind == "duration":
        return "a duration like 90s, 5m or 1h30m"
    if kind == "quantity":
        return "a quantity like 8, 500m or 2Ti"
    if "enum" in schema and "type" not in schema:
        return "one of " + ", ".join(show(e) for e in schema["enum"])
    return " or ".join(_TYPE_WORDS[t] for t in _types(schema)) or "a value"


def _pattern_message(value: str, schema: dict[str, Any]) -> str:
    kind = schema.get("x-lwssim-kind")
    if kind == "duration":
        return f"{show(value)} is not a duration (write it like 90s, 5m or 1h30m)"
    if kind == "quantity":
        return f"{show(value)} is not a quantity"
    if kind == "lwsVersion":
        return f"{show(value)}: lwssim models LWS v0.7.x, v0.8.x, v0.9.x and v0.10.x"
    if kind == "kubernetesVersion":
        return f"{show(value)}: lwssim models Kubernetes v1.34 to v1.37 (e.g. v1.35 or v1.35.2)"
    return f"{show(value)} does not match {schema['pattern']}"
