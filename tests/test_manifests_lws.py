"""LeaderWorkerSet defaults and webhook validation, as kubernetes-sigs/lws v0.7.0 writes them
(api/leaderworkerset/v1/leaderworkerset_types.go, pkg/webhooks/leaderworkerset_webhook.go)."""

from __future__ import annotations

import copy

import pytest

from lwssim.errors import InputError
from lwssim.manifests.lws import lws_spec
from lwssim.manifests.where import Where
from lwssim.model.scenario import ControllerConfig

BASE = {
    "apiVersion": "leaderworkerset.x-k8s.io/v1",
    "kind": "LeaderWorkerSet",
    "metadata": {"name": "llm"},
    "spec": {
        "leaderWorkerTemplate": {"workerTemplate": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
    },
}


def make(**spec_overrides):
    doc = copy.deepcopy(BASE)
    for key, value in spec_overrides.items():
        if key in ("size", "restartPolicy", "subGroupPolicy"):
            doc["spec"]["leaderWorkerTemplate"][key] = value
        elif key == "name":
            doc["metadata"]["name"] = value
        elif key == "annotations":
            doc["metadata"]["annotations"] = value
        else:
            doc["spec"][key] = value
    return doc


def load(doc, version="v0.7.0"):
    return lws_spec(doc, Where("lws.yaml"), ControllerConfig(lws_version=version))


def error(doc, version="v0.7.0") -> InputError:
    with pytest.raises(InputError) as info:
        load(doc, version)
    return info.value


def test_defaults_s1_1_crd_and_webhook():
    s = load(make())
    assert (s.namespace, s.replicas, s.size) == ("default", 1, 1)
    assert s.restart_policy == "RecreateGroupOnPodRestart"
    assert s.startup_policy == "LeaderCreated"
    assert (s.rolling_update.max_unavailable, s.rolling_update.max_surge, s.rolling_update.partition) == (
        1,
        0,
        0,
    )
    assert s.subdomain_policy == "Shared"
    assert s.subgroup_size is None and s.subgroup_type == "LeaderWorker"
    assert s.leader_template is None and s.effective_leader_template == s.worker_template


def test_restart_policy_default_is_rewritten_to_none_s1_1():
    assert load(make(restartPolicy="Default")).restart_policy == "None"


def test_rolling_update_config_present_gets_crd_per_field_defaults_s1_1():
    s = load(make(replicas=4, rolloutStrategy={"rollingUpdateConfiguration": {"maxSurge": 2}}))
    assert (s.rolling_update.max_unavailable, s.rolling_update.max_surge, s.rolling_update.partition) == (
        1,
        2,
        0,
    )


def test_annotations_and_labels_kept():
    s = load(make(annotations={"leaderworkerset.sigs.k8s.io/exclusive-topology": "example.com/rack"}))
    assert s.exclusive_topology == "example.com/rack"


@pytest.mark.parametrize(
    "name, why",
    [("LLM", "DNS-1035"), ("1llm", "DNS-1035"), ("a" * 64, "no more than 63"), ("", "Required value")],
)
def test_name_must_be_dns1035_label_s1_2(name, why):
    e = error(make(name=name))
    assert e.field == "metadata.name" and why in e.message


def test_negative_replicas_rejected_s1_2():
    e = error(make(replicas=-1))
    assert e.field == "spec.replicas" and "replicas must be equal or greater than 0" in e.message


def test_size_below_one_rejected_s1_2():
    e = error(make(size=0))
    assert e.field == "spec.leaderWorkerTemplate.size" and "size must be equal or greater than 1" in e.message


def test_replicas_times_size_over_maxint32_rejected_s1_2():
    e = error(make(name="x", replicas=2**16, size=2**16))
    assert "must not exceed 2147483647" in e.message


@pytest.mark.parametrize(
    "cfg, field, text",
    [
        ({"maxUnavailable": -1}, "maxUnavailable", "greater than or equal to 0"),
        ({"maxSurge": "abc"}, "maxSurge", "valid percent"),
        ({"maxUnavailable": "150%"}, "maxUnavailable", "must not be greater than 100%"),
        ({"maxUnavailable": 0, "maxSurge": 0}, "maxUnavailable", "must not be 0 when `maxSurge` is 0"),
        ({"maxUnavailable": "10%", "maxSurge": "0%"}, "maxUnavailable", "must not be 0 when `maxSurge` is 0"),
    ],
)
def test_rollout_int_or_percent_rules_s1_2(cfg, field, text):
    e = error(make(replicas=4, rolloutStrategy={"rollingUpdateConfiguration": cfg}))
    assert e.field == f"spec.rolloutStrategy.rollingUpdateConfiguration.{field}" and text in e.message


def test_both_zero_allowed_when_replicas_zero_s1_2():
    assert load(make(replicas=0, rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 0}}))


def test_max_unavailable_above_replicas_allowed_s1_2():
    assert load(make(replicas=2, rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 5}}))


def test_negative_partition_only_validated_from_v08_s1_2():
    doc = make(rolloutStrategy={"rollingUpdateConfiguration": {"partition": -1}})
    assert load(doc, "v0.7.0").rolling_update.partition == -1
    assert "greater than or equal to 0" in error(doc, "v0.8.0").message


@pytest.mark.parametrize(
    "size, policy, text",
    [
        (4, {"subGroupSize": 0}, "equal or greater than 1"),
        (8, {"subGroupSize": 3}, "size or size - 1 must be divisible"),
        (1, {"subGroupSize": 2}, "cannot be larger than size"),
        (4, {"subGroupSize": 2, "subGroupPolicyType": "LeaderExcluded"}, "size-1 must be divisible"),
    ],
)
def test_subgroup_size_rules_s1_2(size, policy, text):
    e = error(make(size=size, subGroupPolicy=policy))
    assert e.field == "spec.leaderWorkerTemplate.subGroupPolicy.subGroupSize" and text in e.message


def test_subgroup_ok_and_type_default_s1_1():
    s = load(make(size=5, subGroupPolicy={"subGroupSize": 2}))
    assert (s.subgroup_size, s.subgroup_type) == (2, "LeaderWorker")


def test_subgroup_exclusive_topology_needs_subgroup_policy_s1_2():
    e = error(make(annotations={"leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology": "rack"}))
    assert "without subGroupSize" in e.message
    assert e.field == "metadata.annotations.leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology"


def test_recreate_group_after_start_needs_v09_s1_1():
    doc = make(restartPolicy="RecreateGroupAfterStart")
    assert "v0.9" in error(doc, "v0.8.2").message
    assert load(doc, "v0.9.0").restart_policy == "RecreateGroupAfterStart"


def test_v08_experimental_annotation_means_recreate_after_start_s1_1():
    doc = make(annotations={"leaderworkerset.sigs.k8s.io/experimental-recreate-group-after-start": "true"})
    assert load(doc, "v0.8.0").restart_policy == "RecreateGroupAfterStart"
    assert load(doc, "v0.7.0").restart_policy == "RecreateGroupOnPodRestart"


def test_unknown_enum_value_uses_apiserver_words():
    e = error(make(startupPolicy="LeaderStarted"))
    assert e.field == "spec.startupPolicy" and 'Unsupported value: "LeaderStarted"' in e.message


def test_name_too_long_for_worker_pod_labels_s2():
    # 50 chars fit with groups 0-9 (label "<name>-9-<10-char hash>" = 63); 51 do not.
    assert load(make(name="a" * 50, replicas=10, size=2))
    e = error(make(name="a" * 51, replicas=2, size=2))
    assert (
        e.field == "metadata.name"
        and "63 characters" in e.message
        and "shorten it to at most 50" in e.message
    )
    # more groups → longer worker StatefulSet names → shorter limit (troubleshooting doc: 51 - replicas/10)
    assert "at most 49" in error(make(name="a" * 50, replicas=11, size=2)).message
    # size 1: no worker StatefulSet, only the leader's labels count
    assert load(make(name="a" * 52, replicas=1, size=1))


def test_worker_template_required():
    doc = make()
    del doc["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    assert error(doc).field == "spec.leaderWorkerTemplate.workerTemplate"


def test_wrong_type_has_path():
    e = error(make(replicas="two"))
    assert e.field == "spec.replicas" and "expected an integer" in e.message


def test_field_the_crd_schema_does_not_declare_is_rejected_like_strict_field_validation():
    """A misplaced field (startupPolicy under leaderWorkerTemplate) is what kubectl apply's strict
    field validation rejects; silently ignoring it would simulate LeaderCreated instead of LeaderReady."""
    doc = make()
    doc["spec"]["leaderWorkerTemplate"]["startupPolicy"] = "LeaderReady"
    err = error(doc)
    assert err.field.endswith("spec.leaderWorkerTemplate.startupPolicy")
    assert 'unknown field "startupPolicy"' in err.message
    doc = make()
    doc["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"maxSurges": 1}}
    assert error(doc).field.endswith("rollingUpdateConfiguration.maxSurges")


@pytest.mark.parametrize(
    ("lws", "kubernetes", "gates", "refused"),
    [
        ("v0.7.0", "v1.37", (), True),  # gate on by default from v1.37
        ("v0.8.0", "v1.35", (("MaxUnavailableStatefulSet", True),), True),  # on by hand
        ("v0.8.0", "v1.36", (), False),  # gate off: the API server drops the field
        ("v0.9.0", "v1.37", (), False),  # v0.9 writes maxUnavailable + maxSurge (lws#781)
    ],
)
def test_max_unavailable_0_with_the_statefulset_gate_on_is_refused_before_v0_9__lws_776(
    lws, kubernetes, gates, refused
):
    doc = make(
        replicas=2, rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    config = ControllerConfig(lws_version=lws, kubernetes_version=kubernetes, feature_gates=gates)
    if not refused:
        assert lws_spec(doc, Where("lws.yaml"), config).rolling_update.max_unavailable == 0
        return
    with pytest.raises(InputError) as info:
        lws_spec(doc, Where("lws.yaml"), config)
    assert "rollingUpdateConfiguration.maxUnavailable" in str(info.value)
    assert "lws#776" in str(info.value) and "no pod would ever be created" in str(info.value)


@pytest.mark.parametrize(
    ("field", "version", "refused_with"),
    [
        (
            "volumeClaimTemplates",
            "v0.7.0",
            'unknown field "volumeClaimTemplates": the LeaderWorkerSet v1 schema of LWS v0.7.0',
        ),
        (
            "persistentVolumeClaimRetentionPolicy",
            "v0.7.0",
            'unknown field "persistentVolumeClaimRetentionPolicy"',
        ),
        ("volumeClaimTemplates", "v0.8.0", "volumeClaimTemplates (LWS v0.8+) are not modelled"),
        (
            "persistentVolumeClaimRetentionPolicy",
            "v0.9.0",
            None,
        ),  # known from v0.8; without claims it does nothing
    ],
)
def test_fields_a_version_added_are_unknown_to_the_versions_before__leaderworkerset_types_go(
    field, version, refused_with
):
    value = (
        [{"metadata": {"name": "cache"}}] if field == "volumeClaimTemplates" else {"whenDeleted": "Delete"}
    )
    doc = make()
    doc["spec"]["leaderWorkerTemplate"][field] = value
    if refused_with is None:
        assert load(doc, version).size == 1
        return
    assert refused_with in str(error(doc, version))
