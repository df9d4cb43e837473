"""PodTemplateSpec reading: requests from limits, extended resources, probes, affinity, tolerations."""

from __future__ import annotations

import pytest

from lwssim.errors import InputError, UnsupportedError
from lwssim.manifests.podspec import pod_template
from lwssim.manifests.where import Where

AT = Where("m.yaml", "spec.leaderWorkerTemplate.workerTemplate")


def tpl(spec, metadata=None):
    return pod_template({"metadata": metadata or {}, "spec": spec}, AT)


def one(**container):
    return {"containers": [{"name": "c", "image": "img", **container}]}


def test_requests_default_to_limits_per_resource():
    t = tpl(
        one(
            resources={
                "limits": {"nvidia.com/gpu": "8", "memory": "1Gi", "cpu": "2"},
                "requests": {"cpu": "500m"},
            }
        )
    )
    assert t.requests() == {"nvidia.com/gpu": 8, "memory": 2**30, "cpu": 500}


def test_extended_resources_counted():
    t = tpl(one(resources={"limits": {"rdma/roce_gdr": 1, "nvidia.com/gpu": 8}}))
    assert t.requests() == {"rdma/roce_gdr": 1, "nvidia.com/gpu": 8}


def test_init_containers_and_overhead_follow_pod_requests():
    spec = one(resources={"requests": {"cpu": "1"}})
    spec["initContainers"] = [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "3"}}}]
    spec["overhead"] = {"cpu": "100m"}
    assert tpl(spec).requests() == {"cpu": 3100}


def test_bad_quantity_names_full_path():
    with pytest.raises(InputError) as info:
        tpl(one(resources={"limits": {"nvidia.com/gpu": "8x"}}))
    assert info.value.field == (
        "spec.leaderWorkerTemplate.workerTemplate.spec.containers[0].resources.limits.nvidia.com/gpu"
    )
    assert info.value.message == '"8x" is not a quantity'


def test_probe_defaults():
    t = tpl(one(startupProbe={"failureThreshold": 60}, readinessProbe={"initialDelaySeconds": 15}))
    c = t.containers[0]
    assert (c.startup_probe.period, c.startup_probe.failure_threshold, c.startup_probe.budget) == (
        10,
        60,
        600,
    )
    assert (c.readiness_probe.initial_delay, c.readiness_probe.failure_threshold) == (15, 3)


def test_pod_defaults_and_metadata():
    t = tpl(one(), {"labels": {"role": "leader"}, "annotations": {"a": "b"}})
    assert (t.scheduler_name, t.priority, t.termination_grace_period) == ("default-scheduler", 0, 30)
    assert t.labels == (("role", "leader"),) and t.annotations == (("a", "b"),)


def test_affinity_and_tolerations():
    spec = one()
    spec["nodeSelector"] = {"pool": "h100"}
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [{"key": "gpu", "operator": "In", "values": ["h100"]}],
                        "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}],
                    }
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "z", "operator": "Exists"}]}}
            ],
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "x"}},
                    "topologyKey": "kubernetes.io/hostname",
                    "namespaces": ["ns"],
                }
            ]
        },
    }
    spec["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 300}
    ]
    t = tpl(spec)
    assert t.node_selector == (("pool", "h100"),)
    assert t.required_node_terms[0].match_fields[0].values == ("n1",)
    assert t.preferred_node_terms[0].weight == 5
    assert t.pod_anti_affinity[0].selector.matches({"app": "x"}) and t.pod_anti_affinity[0].namespaces == (
        "ns",
    )
    assert t.tolerations[0].toleration_seconds == 300.0


@pytest.mark.parametrize(
    "spec_patch, field",
    [
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "k", "operator": "Like", "values": ["x"]}]}
                            ]
                        }
                    }
                }
            },
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
            ".matchExpressions[0].operator",
        ),
        ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "tolerations[0].operator"),
        ({"priority": "high"}, "priority"),
        ({"containers": []}, "containers"),
    ],
)
def test_bad_fields_have_paths(spec_patch, field):
    spec = {**one(), **spec_patch}
    with pytest.raises(InputError) as info:
        tpl(spec)
    assert info.value.field == f"spec.leaderWorkerTemplate.workerTemplate.spec.{field}"


def test_missing_image_rejected():
    with pytest.raises(InputError, match="image"):
        tpl({"containers": [{"name": "c"}]})


def test_topology_spread_refused_not_ignored():
    spec = {**one(), "topologySpreadConstraints": [{"maxSkew": 1}]}
    with pytest.raises(UnsupportedError):
        tpl(spec)


def test_unknown_kubernetes_fields_ignored():
    spec = one(env=[{"name": "A", "value": "1"}], volumeMounts=[], securityContext={})
    spec["volumes"] = [{"name": "v", "emptyDir": {}}]
    assert tpl(spec).containers[0].image == "img"
