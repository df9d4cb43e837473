"""Kueue v0.17.0's objects and configuration in scenario files (lwssim/manifests/kueue.py): each kind parsed
into lwssim.model.kueue with Kueue's defaults, both served API versions, quantities in the unit pod requests
use, and every refusal as one exit-2 message naming the file and the field path."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import yaml
from support import assert_input_contract, load, run_cli, write_scenario

from lwssim.errors import InputError, InputWarning, UnsupportedError
from lwssim.manifests.kueue import FEATURE_GATES
from lwssim.model.kueue import (
    ANY,
    BEST_EFFORT_FIFO,
    NEVER,
    STRICT_FIFO,
    ClusterQueue,
    FlavorQuotas,
    KueueConfig,
    LocalQueue,
    Preemption,
    ResourceFlavor,
    ResourceGroup,
    ResourceQuota,
    Topology,
    WaitForPodsReady,
    WorkloadPriorityClass,
)
from lwssim.model.pod import LabelSelector, Requirement

V2, V1 = "kueue.x-k8s.io/v1beta2", "kueue.x-k8s.io/v1beta1"
LWS_FW = "leaderworkerset.x-k8s.io/leaderworkerset"
ENABLED = {"enabled": True, "integrations": {"frameworks": [LWS_FW]}}


def obj(kind: str, name: str, spec: dict | None = None, api: str = V2, **top: object) -> dict:
    out: dict = {"apiVersion": api, "kind": kind, "metadata": {"name": name}, **top}
    if spec is not None:
        out["spec"] = spec
    return out


def flavor(name: str = "h100", **spec: object) -> dict:
    return obj("ResourceFlavor", name, dict(spec))


def cq(name: str = "cq", groups: list | None = None, api: str = V2, **spec: object) -> dict:
    if groups is None:
        groups = [
            {
                "coveredResources": ["nvidia.com/gpu"],
                "flavors": [{"name": "h100", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 16}]}],
            }
        ]
    return obj("ClusterQueue", name, {"resourceGroups": groups, **spec}, api)


def lws(labels: dict | None = None) -> dict:
    meta: dict = {"name": "llm"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": 2,
                "workerTemplate": {
                    "spec": {
                        "containers": [
                            {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 8}}}
                        ]
                    }
                },
            },
        },
    }


def doc(*objects: dict, kueue: dict | None = None, workload: dict | None = None) -> dict:
    entries = [{"manifest": o} for o in objects]
    spec: dict = {
        "cluster": {"nodePools": [{"name": "h100", "count": 2, "capacity": {"nvidia.com/gpu": 8}}]},
        "workloads": [*entries, {"manifest": workload or lws()}],
    }
    if kueue is not None:
        spec["controller"] = {"kueue": kueue}
    return {"apiVersion": "lwssim.io/v1alpha1", "kind": "Scenario", "metadata": {"name": "k"}, "spec": spec}


def refused(d: dict) -> InputError:
    with pytest.raises(InputError) as info:
        load(d)
    return info.value


# -- each kind, with defaults ----------------------------------------------------------------------------


def test_every_kind_parses_into_the_model_with_kueue_defaults():
    s = load(
        doc(
            flavor(nodeLabels={"pool": "h100"}),
            cq(),
            obj("LocalQueue", "lq", {"clusterQueue": "cq"}),
            obj(
                "Topology", "t", {"levels": [{"nodeLabel": "rack"}, {"nodeLabel": "kubernetes.io/hostname"}]}
            ),
            obj("WorkloadPriorityClass", "high", value=1000, description="ignored"),
            kueue=ENABLED,
        )
    )
    k = s.kueue
    assert k.flavors == (ResourceFlavor("h100", (("pool", "h100"),)),)
    assert k.cluster_queues == (
        ClusterQueue(
            "cq",
            (
                ResourceGroup(
                    ("nvidia.com/gpu",), (FlavorQuotas("h100", (ResourceQuota("nvidia.com/gpu", 16),)),)
                ),
            ),
            cohort="",
            queueing_strategy=BEST_EFFORT_FIFO,
            namespace_selector=None,  # absent: a nothing selector
            preemption=Preemption(NEVER, NEVER, NEVER, None),
        ),
    )
    assert k.local_queues == (LocalQueue("lq", "default", "cq"),)
    assert k.topologies == (Topology("t", ("rack", "kubernetes.io/hostname")),)
    assert k.priority_classes == (WorkloadPriorityClass("high", 1000),)
    assert k.config == KueueConfig(True, (LWS_FW,), None, False) and k.config.manages_lws
    assert k.priority("high") == 1000 and k.local_queue("default", "lq") is not None


def test_no_kueue_is_the_default():
    k = load(doc()).kueue
    assert k.config == KueueConfig() and not k.config.manages_lws and k.config.frameworks == ("batch/job",)
    assert not (k.flavors or k.cluster_queues or k.local_queues)


def test_cluster_queue_fields_and_quantities_in_the_pod_request_units():
    groups = [
        {
            "coveredResources": ["cpu", "memory"],
            "flavors": [
                {
                    "name": "h100",
                    "resources": [
                        {"name": "cpu", "nominalQuota": "1500m", "borrowingLimit": 2},
                        {"name": "memory", "nominalQuota": "1Gi", "lendingLimit": "512Mi"},
                    ],
                }
            ],
        },
        {
            "coveredResources": ["nvidia.com/gpu"],
            "flavors": [{"name": "a100", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": "8"}]}],
        },
    ]
    preemption = {
        "withinClusterQueue": "LowerOrNewerEqualPriority",
        "reclaimWithinCohort": "Any",
    }
    q = load(
        doc(
            flavor(),
            flavor("a100"),
            cq(
                groups=groups,
                cohortName="team",
                queueingStrategy="StrictFIFO",
                namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "team-a"}},
                preemption=preemption,
                stopPolicy="None",
                flavorFungibility={"whenCanBorrow": "MayStopSearch", "whenCanPreempt": "TryNextFlavor"},
            ),
            kueue=ENABLED,
        )
    ).kueue.cluster_queue("cq")
    cpu, memory = q.resource_groups[0].flavors[0].resources
    assert cpu == ResourceQuota("cpu", 1500, 2000, None)  # millicores, as pod requests count cpu
    assert memory == ResourceQuota("memory", 2**30, None, 2**29)  # bytes
    assert q.resource_groups[1].flavors[0].resources == (ResourceQuota("nvidia.com/gpu", 8),)
    assert (q.cohort, q.queueing_strategy) == ("team", STRICT_FIFO)
    assert q.namespace_selector == LabelSelector(match_labels=(("kubernetes.io/metadata.name", "team-a"),))
    assert q.preemption == Preemption("LowerOrNewerEqualPriority", ANY)


@pytest.mark.parametrize(
    "spec, field, words",
    [
        (
            {"preemption": {"reclaimWithinCohort": "Any", "borrowWithinCohort": {"policy": "LowerPriority"}}},
            "spec.preemption.borrowWithinCohort.policy",
            "borrowWithinCohort) is not simulated",
        ),
        ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, "spec.namespaceSelector", "team cannot be"),
    ],
)
def test_cluster_queue_settings_not_simulated_are_refused(spec, field, words):
    with pytest.raises(UnsupportedError) as e:
        load(doc(flavor(), cq(cohortName="c", **spec), kueue=ENABLED))
    assert words in str(e.value) and field in e.value.render()


def test_empty_namespace_selector_selects_everything():
    q = load(doc(flavor(), cq(namespaceSelector={}), kueue=ENABLED)).kueue.cluster_queue("cq")
    assert q.namespace_selector == LabelSelector() and q.namespace_selector.matches({"any": "ns"})
    key = "kubernetes.io/metadata.name"
    expr = {"matchExpressions": [{"key": key, "operator": "In", "values": ["a"]}]}
    q = load(doc(flavor(), cq(namespaceSelector=expr), kueue=ENABLED)).kueue.cluster_queue("cq")
    assert q.namespace_selector.match_expressions == (Requirement(key, "In", ("a",)),)


def test_v1beta1_maps_cohort_and_borrow_to_the_v1beta2_model():
    q = load(
        doc(
            flavor(),
            obj("ResourceFlavor", "b", {}, V1),
            cq(api=V1, cohort="team", flavorFungibility={"whenCanBorrow": "Borrow"}),
            obj("LocalQueue", "lq", {"clusterQueue": "cq"}, V1),
            obj("WorkloadPriorityClass", "p", api=V1, value=-5),
            kueue=ENABLED,
        )
    ).kueue
    assert q.cluster_queue("cq").cohort == "team" and q.priority("p") == -5
    assert [f.name for f in q.flavors] == ["h100", "b"]


def test_local_queue_namespace_and_an_unknown_cluster_queue_are_accepted():
    lq = obj("LocalQueue", "lq", {"clusterQueue": "nowhere"})
    lq["metadata"]["namespace"] = "team-a"
    k = load(doc(lq, kueue=ENABLED)).kueue
    assert k.local_queues == (LocalQueue("lq", "team-a", "nowhere"),) and k.cluster_queue("nowhere") is None


def test_a_queue_label_naming_no_local_queue_is_accepted():
    s = load(doc(kueue=ENABLED, workload=lws({"kueue.x-k8s.io/queue-name": "missing"})))
    assert dict(s.workloads[0].lws.labels)["kueue.x-k8s.io/queue-name"] == "missing"


def test_a_file_entry_with_several_kueue_documents(tmp_path: Path):
    (tmp_path / "kueue.yaml").write_text(yaml.safe_dump_all([flavor(), cq(), obj("LocalQueue", "lq", {})]))
    d = doc(kueue=ENABLED)
    d["spec"]["workloads"].insert(0, {"file": "kueue.yaml"})
    from lwssim.manifests.scenario import load_scenario

    k = load_scenario(write_scenario(tmp_path, d)).kueue
    assert [len(k.flavors), len(k.cluster_queues)] == [1, 1] and k.local_queues[0].cluster_queue == ""


# -- configuration --------------------------------------------------------------------------------------


def test_configuration_defaults_and_wait_for_pods_ready():
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "enabled": True,
        "manageJobsWithoutQueueName": True,
        "waitForPodsReady": {"timeout": "5m"},
        "clientConnection": {"qps": 50, "burst": 100},  # accepted, ignored
        "leaderElection": {"leaderElect": True},
        "featureGates": {"TopologyAwareScheduling": True, "VisibilityOnDemand": False},
        "objectRetentionPolicies": {"workloads": {"afterFinished": "1h"}},
    }
    c = load(doc(kueue=config)).kueue.config
    assert c.enabled and c.manage_jobs_without_queue_name and c.frameworks == ("batch/job",)
    assert not c.manages_lws  # LWS is managed only when its framework is listed
    assert c.wait_for_pods_ready == WaitForPodsReady(300.0)
    assert c.wait_for_pods_ready.recovery == 300.0


def test_wait_for_pods_ready_every_field():
    w = {
        "timeout": "10m",
        "recoveryTimeout": "0s",
        "blockAdmission": False,
        "requeuingStrategy": {
            "timestamp": "Eviction",
            "backoffLimitCount": 3,
            "backoffBaseSeconds": 10,
            "backoffMaxSeconds": 100,
        },
    }
    got = load(doc(kueue={**ENABLED, "waitForPodsReady": w})).kueue.config.wait_for_pods_ready
    assert got == WaitForPodsReady(600.0, 0.0, False, 10.0, 100.0, 3) and got.recovery == 0.0


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("manageJobsWithoutQueueName", True, "without the kueue.x-k8s.io/queue-name label is not simulated"),
        ("waitForPodsReady", {"timeout": "1m", "blockAdmission": True}, "blockAdmission"),
    ],
)
def test_settings_that_change_lws_admission_unmodelled_are_refused(field, value, words):
    with pytest.raises(UnsupportedError) as e:
        load(doc(kueue={**ENABLED, field: value}))
    assert words in str(e.value) and f"spec.controller.kueue.{field}" in e.value.render()


def test_the_shipped_configuration_loads(tmp_path: Path):
    """config/components/manager/controller_manager_config.yaml at v0.17.0, its uncommented part."""
    shipped = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {"groupKindConcurrency": {"Job.batch": 5, "Pod": 5}},
        "clientConnection": {"qps": 50, "burst": 100},
        "integrations": {"frameworks": ["batch/job", "pod", "deployment", "statefulset", LWS_FW]},
    }
    c = load(doc(kueue={"enabled": True, **shipped})).kueue.config
    assert c.manages_lws and c.frameworks[-1] == LWS_FW


def test_every_feature_gate_at_its_default_is_accepted():
    c = load(doc(kueue={**ENABLED, "featureGates": dict(FEATURE_GATES)})).kueue.config
    assert c.enabled


# -- refusals -------------------------------------------------------------------------------------------

GROUP = {"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": "h100", "resources": []}]}


def quota(**fields: object) -> list:
    r = {"name": "nvidia.com/gpu", "nominalQuota": 8, **fields}
    return [{"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": "h100", "resources": [r]}]}]


W = "spec.workloads[{}].manifest"
RG = W.format(1) + ".spec.resourceGroups[0]"
CASES = [
    # ClusterQueue: CRD schema, CEL and ValidateClusterQueue
    (
        [flavor(), cq(queueingStrategy="FIFO")],
        W.format(1) + ".spec.queueingStrategy",
        'Unsupported value: "FIFO": supported values: "StrictFIFO", "BestEffortFIFO"',
    ),
    (
        [flavor(), cq(groups=quota(borrowingLimit=1))],
        RG + ".flavors[0].resources[0].borrowingLimit",
        "must be nil when cohort is empty",
    ),
    (
        [flavor(), cq(groups=quota(lendingLimit=1))],
        RG + ".flavors[0].resources[0].lendingLimit",
        "must be nil when cohort is empty",
    ),
    (
        [flavor(), cq(groups=quota(lendingLimit=9), cohortName="c")],
        RG + ".flavors[0].resources[0].lendingLimit",
        "must be less than or equal to the nominalQuota",
    ),
    (
        [flavor(), cq(groups=quota(nominalQuota=-1))],
        RG + ".flavors[0].resources[0].nominalQuota",
        "must be greater than or equal to 0",
    ),
    (
        [flavor(), cq(groups=quota(nominalQuota="8x"))],
        RG + ".flavors[0].resources[0].nominalQuota",
        '"8x" is not a quantity',
    ),
    (
        [flavor(), cq(groups=quota(nominalQuota=None))],
        RG + ".flavors[0].resources[0].nominalQuota",
        "Required value",
    ),
    (
        [flavor(), cq(groups=quota(name="cpu"))],
        RG + ".flavors[0].resources[0].name",
        "must match the name in coveredResources",
    ),
    ([flavor(), cq(groups=quota(extra=1))], RG + ".flavors[0].resources[0].extra", 'unknown field "extra"'),
    ([flavor(), cq(groups=[GROUP])], RG + ".flavors[0].resources", "should have at least 1 item"),
    (
        [flavor(), cq(groups=[{**quota()[0], "coveredResources": ["nvidia.com/gpu", "cpu"]}])],
        RG + ".flavors[0].resources",
        "flavors must have the same number of resources as the coveredResources",
    ),
    (
        [flavor(), cq(groups=quota() + quota())],
        W.format(1) + ".spec.resourceGroups[1].coveredResources[0]",
        'Duplicate value: "nvidia.com/gpu"',
    ),
    (
        [
            flavor(),
            cq(
                groups=quota()
                + [
                    {
                        **quota()[0],
                        "coveredResources": ["cpu"],
                        "flavors": [{"name": "h100", "resources": [{"name": "cpu", "nominalQuota": 1}]}],
                    }
                ]
            ),
        ],
        W.format(1) + ".spec.resourceGroups[1].flavors[0].name",
        'Duplicate value: "h100"',
    ),
    (
        [flavor(), cq(preemption={"borrowWithinCohort": {"policy": "LowerPriority"}})],
        W.format(1) + ".spec.preemption",
        "reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never",
    ),
    (
        [flavor(), cq(preemption={"withinClusterQueue": "Any"})],
        W.format(1) + ".spec.preemption.withinClusterQueue",
        'Unsupported value: "Any"',
    ),
    ([flavor(), cq(cohortName="Bad_Name")], W.format(1) + ".spec.cohortName", "RFC 1123 subdomain"),
    ([flavor(), cq(cohort="c")], W.format(1) + ".spec.cohort", "it is cohortName there"),
    ([flavor(), cq(api=V1, cohortName="c")], W.format(1) + ".spec.cohortName", "it is cohort there"),
    (
        [flavor(), cq(stopPolicy="Hold")],
        W.format(1) + ".spec.stopPolicy",
        "stopPolicy other than None is not simulated",
    ),
    ([flavor(), cq(stopPolicy="Later")], W.format(1) + ".spec.stopPolicy", 'Unsupported value: "Later"'),
    (
        [flavor(), cq(admissionChecksStrategy={"admissionChecks": [{"name": "prov"}]})],
        W.format(1) + ".spec.admissionChecksStrategy",
        "admission checks",
    ),
    (
        [flavor(), cq(api=V1, admissionChecks=["prov"])],
        W.format(1) + ".spec.admissionChecks",
        "admission checks",
    ),
    (
        [flavor(), cq(admissionScope={"admissionMode": "UsageBasedAdmissionFairSharing"})],
        W.format(1) + ".spec.admissionScope",
        "Admission Fair Sharing",
    ),
    (
        [flavor(), cq(flavorFungibility={"whenCanBorrow": "TryNextFlavor"})],
        W.format(1) + ".spec.flavorFungibility.whenCanBorrow",
        "is not simulated",
    ),
    (
        [flavor(), cq(api=V1, flavorFungibility={"whenCanPreempt": "Preempt"})],
        W.format(1) + ".spec.flavorFungibility.whenCanPreempt",
        "flavorFungibility.whenCanPreempt MayStopSearch",
    ),
    (
        [flavor(), cq(flavorFungibility={"preference": "PreemptionOverBorrowing"})],
        W.format(1) + ".spec.flavorFungibility.preference",
        "is not simulated",
    ),
    ([flavor(), cq(unknown=1)], W.format(1) + ".spec.unknown", 'unknown field "unknown" in ClusterQueue'),
    ([flavor(), cq(), cq()], W.format(2), 'ClusterQueue "cq" is defined twice'),
    (
        [cq()],
        W.format(0) + ".spec.resourceGroups[0].flavors[0].name",
        'names ResourceFlavor "h100", which the scenario does not define',
    ),
    # ResourceFlavor
    (
        [flavor(nodeTaints=[{"key": "k", "effect": "NoSchedule"}])],
        W.format(0) + ".spec.nodeTaints",
        "nodeTaints are not simulated",
    ),
    (
        [flavor(tolerations=[{"key": "k", "operator": "Exists"}])],
        W.format(0) + ".spec.tolerations",
        "tolerations are not simulated",
    ),
    (
        [flavor(topologyName="t")],
        W.format(0) + ".spec",
        "at least one nodeLabel is required when topology is set",
    ),
    (
        [flavor(topologyName="t", nodeLabels={"a": "b"})],
        W.format(0) + ".spec.topologyName",
        'names Topology "t", which the scenario does not define',
    ),
    ([flavor(), flavor()], W.format(1), 'ResourceFlavor "h100" is defined twice'),
    ([obj("ResourceFlavor", "UPPER", {})], W.format(0) + ".metadata.name", "RFC 1123 subdomain"),
    # Topology
    ([obj("Topology", "t", {"levels": []})], W.format(0) + ".spec.levels", "at least 1 item"),
    (
        [obj("Topology", "t", {"levels": [{"nodeLabel": "a"}, {"nodeLabel": "a"}]})],
        W.format(0) + ".spec.levels",
        "must be unique",
    ),
    (
        [obj("Topology", "t", {"levels": [{"nodeLabel": "kubernetes.io/hostname"}, {"nodeLabel": "rack"}]})],
        W.format(0) + ".spec.levels",
        "the kubernetes.io/hostname label can only be used at the lowest level of topology",
    ),
    (
        [obj("Topology", "t", {"levels": [{"nodeLabel": "bad key!"}]})],
        W.format(0) + ".spec.levels[0].nodeLabel",
        "should be a label key",
    ),
    # LocalQueue, WorkloadPriorityClass, Cohort
    (
        [obj("LocalQueue", "lq", {"clusterQueue": "cq", "stopPolicy": "HoldAndDrain"})],
        W.format(0) + ".spec.stopPolicy",
        "stopPolicy other than None is not simulated",
    ),
    (
        [obj("LocalQueue", "lq", {}), obj("LocalQueue", "lq", {})],
        W.format(1),
        'LocalQueue "default/lq" is defined twice',
    ),
    ([obj("WorkloadPriorityClass", "p")], W.format(0) + ".value", "Required value"),
    ([obj("WorkloadPriorityClass", "p", value=2**31)], W.format(0) + ".value", "must be an int32"),
    (
        [obj("Cohort", "c", {})],
        W.format(0) + ".kind",
        "Cohort objects (hierarchical cohorts, cohort quotas) are not",
    ),
]


@pytest.mark.parametrize(
    ("objects", "path", "message"), CASES, ids=[f"{i}:{c[1]}" for i, c in enumerate(CASES)]
)
def test_bad_objects_are_refused_naming_the_field(objects, path, message):
    err = refused(doc(*copy.deepcopy(objects), kueue=ENABLED))
    assert err.field == path, err.render()
    assert message in err.message, err.message


KUEUE_AT = "spec.controller.kueue"
CONFIG_CASES = [
    ({"waitForPodsReady": {"timeout": "0s"}}, KUEUE_AT + ".waitForPodsReady.timeout", "must be specified"),
    ({"waitForPodsReady": {}}, KUEUE_AT + ".waitForPodsReady.timeout", "required field is missing"),
    ({"waitForPodsReady": {"timeout": "5"}}, KUEUE_AT + ".waitForPodsReady.timeout", "is not a duration"),
    (
        {"waitForPodsReady": {"timeout": "5m", "requeuingStrategy": {"timestamp": "Creation"}}},
        KUEUE_AT + ".waitForPodsReady.requeuingStrategy.timestamp",
        "requeuing by the Workload's creation time is not simulated",
    ),
    (
        {"waitForPodsReady": {"timeout": "5m", "requeuingStrategy": {"backoffBaseSeconds": -1}}},
        KUEUE_AT + ".waitForPodsReady.requeuingStrategy.backoffBaseSeconds",
        "must be at least 0",
    ),
    (
        {"waitForPodsReady": {"timeout": "5m", "enable": True}},
        KUEUE_AT + ".waitForPodsReady",
        'unknown field "enable"',
    ),
    (
        {"integrations": {"frameworks": ["leaderworkerset"]}},
        KUEUE_AT + ".integrations.frameworks[0]",
        'Unsupported value: "leaderworkerset"',
    ),
    (
        {"integrations": {"frameworks": ["pod", "pod"]}},
        KUEUE_AT + ".integrations.frameworks[1]",
        'Duplicate value: "pod"',
    ),
    (
        {"fairSharing": {"preemptionStrategies": ["LessThanInitialShare"]}},
        KUEUE_AT + ".fairSharing",
        "Fair Sharing is not simulated",
    ),
    (
        {"admissionFairSharing": {"usageHalfLifeTime": "1h"}},
        KUEUE_AT + ".admissionFairSharing",
        "Admission Fair Sharing is not simulated",
    ),
    ({"multiKueue": {"origin": "x"}}, KUEUE_AT + ".multiKueue", "MultiKueue is not simulated"),
    ({"resources": {"excludeResourcePrefixes": ["x"]}}, KUEUE_AT + ".resources", "transformations"),
    ({"managedJobsNamespaceSelector": {}}, KUEUE_AT + ".managedJobsNamespaceSelector", "not simulated"),
    (
        {"objectRetentionPolicies": {"workloads": {"afterDeactivatedByKueue": "1h"}}},
        KUEUE_AT + ".objectRetentionPolicies.workloads.afterDeactivatedByKueue",
        "is not simulated",
    ),
    (
        {"featureGates": {"TASProfileMixed": False}},
        KUEUE_AT + ".featureGates.TASProfileMixed",
        "with TASProfileMixed at its default (on)",
    ),
    (
        {"featureGates": {"NoSuchGate": True}},
        KUEUE_AT + ".featureGates.NoSuchGate",
        "unrecognized feature gate",
    ),
    ({"enabeld": True}, KUEUE_AT, 'unknown field "enabeld" (did you mean "enabled"?)'),
    ({"apiVersion": "config.kueue.x-k8s.io/v1beta1"}, KUEUE_AT + ".apiVersion", "is not one of"),
]


@pytest.mark.parametrize(("config", "path", "message"), CONFIG_CASES, ids=[c[1] for c in CONFIG_CASES])
def test_bad_configuration_is_refused_naming_the_field(config, path, message):
    err = refused(doc(kueue={"enabled": True, **config}))
    assert err.field == path, err.render()
    assert message in err.message, err.message


def test_not_simulated_is_an_unsupported_error():
    assert isinstance(refused(doc(flavor(), cq(stopPolicy="Hold"), kueue=ENABLED)), UnsupportedError)
    assert isinstance(refused(doc(kueue={"fairSharing": {}})), UnsupportedError)


def test_a_kueue_object_applied_later_is_refused():
    d = doc(flavor(), kueue=ENABLED)
    d["spec"]["workloads"][0]["at"] = "1h"
    err = refused(d)
    assert err.field == W.format(0) and "ResourceFlavor applied later is not simulated" in err.message


def test_the_queue_name_label_must_be_a_subdomain_when_kueue_manages_lws():
    bad = lws({"kueue.x-k8s.io/queue-name": "Not_A_Name"})
    err = refused(doc(kueue=ENABLED, workload=bad))
    assert err.field == "spec.workloads[0].manifest.metadata.labels.kueue.x-k8s.io/queue-name"
    assert "RFC 1123 subdomain" in err.message
    assert load(doc(kueue={"enabled": True}, workload=bad)).kueue.config.enabled  # no LWS webhook: accepted


def test_warnings_for_objects_kueue_leaves_unused_and_an_unknown_priority_class():
    def warned(d: dict) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load(d)
        return [str(w.message) for w in caught if issubclass(w.category, InputWarning)]

    assert any("Kueue is not enabled" in w for w in warned(doc(flavor(), cq())))
    assert any(
        LWS_FW in w and "integrations.frameworks" in w
        for w in warned(doc(flavor(), cq(), kueue={"enabled": True}))
    )
    labels = {"kueue.x-k8s.io/queue-name": "lq", "kueue.x-k8s.io/priority-class": "nope"}
    got = warned(doc(flavor(), cq(), kueue=ENABLED, workload=lws(labels)))
    assert any('no WorkloadPriorityClass "nope"' in w and "priority-class" in w for w in got), got
    labels["kueue.x-k8s.io/priority-class"] = "high"
    assert not warned(
        doc(
            flavor(), cq(), obj("WorkloadPriorityClass", "high", value=1), kueue=ENABLED, workload=lws(labels)
        )
    )


def test_the_cli_refuses_with_exit_2_and_no_traceback(tmp_path: Path):
    path = write_scenario(tmp_path, doc(cq(), kueue=ENABLED))
    out = run_cli(["simulate", str(path)])
    assert_input_contract(out)
    assert out.code == 2
    assert f"{path}: spec.workloads[0].manifest.spec.resourceGroups[0].flavors[0].name" in out.stderr


def test_resource_names_and_totals_as_the_webhook_checks_them():
    err = refused(doc(flavor(), cq(groups=[{**quota()[0], "coveredResources": ["bad name"]}]), kueue=ENABLED))
    assert err.field == RG + ".coveredResources[0]" and "qualified name" in err.message
    many = [
        {
            "coveredResources": [f"example.com/r{g}"],
            "flavors": [
                {"name": f"f{g}-{i}", "resources": [{"name": f"example.com/r{g}", "nominalQuota": 1}]}
                for i in range(64)
            ],
        }
        for g in range(5)
    ]
    err = refused(doc(cq(groups=many), kueue=ENABLED))
    assert err.field == W.format(0) + ".spec.resourceGroups"
    assert "total number of flavors across all resourceGroups must be ≤ 256, got 320" in err.message


def test_the_schema_and_the_loader_know_the_same_configuration_fields():
    from lwssim.manifests import kueue
    from lwssim.manifests.schema import scenario_schema

    props = scenario_schema()["properties"]["spec"]["properties"]["controller"]["properties"]["kueue"]
    assert set(props["properties"]) == set(kueue.CONFIG_FIELDS)
    wait = props["properties"]["waitForPodsReady"]
    assert set(wait["properties"]) == set(kueue.WAIT_FIELDS)
    assert set(wait["properties"]["requeuingStrategy"]["properties"]) == set(kueue.REQUEUING_FIELDS)


def test_a_kueue_object_given_as_the_scenario_says_where_it_goes(tmp_path: Path):
    from lwssim.manifests.scenario import load_scenario

    path = tmp_path / "cq.yaml"
    path.write_text(yaml.safe_dump(cq()))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert "this is ClusterQueue (kueue.x-k8s.io/v1beta2), not a lwssim Scenario" in info.value.message
    assert "spec.workloads[].file" in info.value.message
