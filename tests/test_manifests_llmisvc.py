"""LLMInferenceService → LeaderWorkerSet mapping (kserve/kserve pkg/controller/v1alpha2/llmisvc/
workload_multi_node.go), with KServe's integration-test cases."""

from __future__ import annotations

import copy

import pytest

from lwssim.errors import InputError, UnsupportedError
from lwssim.manifests.llmisvc import llmisvc_workloads
from lwssim.manifests.where import Where

POD = {"containers": [{"name": "main", "image": "img", "resources": {"limits": {"nvidia.com/gpu": 8}}}]}


def svc(parallelism, replicas=None, version="v1alpha2", **extra):
    spec = {"parallelism": parallelism, "template": copy.deepcopy(POD), "worker": copy.deepcopy(POD), **extra}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": f"serving.kserve.io/{version}",
        "kind": "LLMInferenceService",
        "metadata": {"name": "svc"},
        "spec": spec,
    }


def load(doc):
    return llmisvc_workloads(doc, Where("svc.yaml"))


@pytest.mark.parametrize(
    "parallelism, replicas, want",
    [
        ({"data": 4, "dataLocal": 1}, 2, (2, 4)),  # K:controller_int_multi_node_test.go data=4,dataLocal=1
        ({"data": 10, "dataLocal": 2}, None, (1, 5)),  # data=10,dataLocal=2 ⇒ size 5
        ({"data": 32, "dataLocal": 8, "expert": True, "tensor": 1}, 1, (1, 4)),  # DeepSeek-R1 DP+EP sample
        pytest.param(  # max(data // dataLocal, 1); the warning it gives: tests/test_input_edge.py
            {"data": 4, "dataLocal": 8},
            1,
            (1, 1),
            marks=pytest.mark.filterwarnings("ignore::lwssim.errors.InputWarning"),
        ),
        ({"pipeline": 2, "tensor": 8}, 3, (3, 2)),  # PP: size = pipeline
    ],
)
def test_size_and_replicas_s5(parallelism, replicas, want):
    (w,) = load(svc(parallelism, replicas))
    assert (w.lws.replicas, w.lws.size) == want


def test_fixed_lws_settings_and_names_s5():
    (w,) = load(svc({"data": 16, "dataLocal": 8}, version="v1alpha1"))
    assert (w.name, w.kind, w.lws.name, w.namespace) == (
        "svc",
        "LLMInferenceService",
        "svc-kserve-mn",
        "default",
    )
    assert w.lws.restart_policy == "RecreateGroupOnPodRestart" and w.lws.startup_policy == "LeaderCreated"
    assert (w.lws.rolling_update.max_unavailable, w.lws.rolling_update.max_surge) == (1, 0)
    assert w.lws.leader_template is not None and w.lws.subgroup_size is None


def test_rollout_strategy_overrides_s5():
    (w,) = load(svc({"data": 16, "dataLocal": 8}, 4, rolloutStrategy={"maxUnavailable": 0, "maxSurge": 1}))
    assert (w.lws.rolling_update.max_unavailable, w.lws.rolling_update.max_surge) == (0, 1)


def test_lws_annotations_propagated_s5():
    doc = svc({"data": 16, "dataLocal": 8})
    doc["metadata"]["annotations"] = {"leaderworkerset.sigs.k8s.io/exclusive-topology": "rack", "other": "x"}
    (w,) = load(doc)
    assert w.lws.exclusive_topology == "rack"
    assert "other" not in dict(w.lws.annotations)
    assert dict(w.lws.worker_template.annotations)["leaderworkerset.sigs.k8s.io/exclusive-topology"] == "rack"


def test_prefill_worker_makes_second_workload_with_subgroups_s5():
    doc = svc(
        {"data": 16, "dataLocal": 8},
        prefill={"replicas": 2, "parallelism": {"data": 16, "dataLocal": 8}, "template": POD, "worker": POD},
    )
    main, prefill = load(doc)
    assert (prefill.name, prefill.lws.name) == ("svc-prefill", "svc-kserve-mn-prefill")
    assert (prefill.lws.replicas, prefill.lws.size, prefill.lws.subgroup_size) == (2, 2, 2)
    assert main.lws.subgroup_size is None


def test_prefill_pipeline_has_no_subgroups_s5():
    doc = svc({"pipeline": 2}, prefill={"parallelism": {"pipeline": 2}, "worker": POD})
    _, prefill = load(doc)
    assert prefill.lws.subgroup_size is None and prefill.lws.leader_template is None


def test_single_node_refused_s5():
    doc = svc({"data": 2, "dataLocal": 1})
    del doc["spec"]["worker"]
    with pytest.raises(UnsupportedError) as info:
        load(doc)
    assert info.value.field == "spec.worker" and "single-node" in info.value.message


@pytest.mark.parametrize(
    "parallelism, text",
    [
        ({"tensor": 8}, "needs data or pipeline parallelism"),
        ({"pipeline": 2, "data": 4, "dataLocal": 2}, "mutually exclusive"),
        ({"data": 4}, "data and dataLocal must be set together"),
        ({"dataLocal": 4}, "data and dataLocal must be set together"),
        ({"data": 0, "dataLocal": 1}, "greater than or equal to 1"),
    ],
)
def test_parallelism_validation_s5(parallelism, text):
    with pytest.raises(InputError) as info:
        load(svc(parallelism))
    assert text in info.value.message and info.value.field.startswith("spec.parallelism")


def test_preset_fills_image_and_leader_probes():
    doc = svc({"data": 16, "dataLocal": 8})
    doc["spec"]["template"] = {"containers": [{"name": "main"}]}
    doc["spec"]["worker"] = {"containers": [{"name": "main"}]}
    (w,) = load(doc)
    leader = w.lws.leader_template
    assert leader.containers[0].image.startswith("ghcr.io/llm-d/")
    assert leader.startup_budget() == 600 and leader.termination_grace_period == 60
    assert w.lws.worker_template.containers[0].startup_probe is None


def test_long_name_refused_with_reason_s2():
    doc = svc({"data": 16, "dataLocal": 8})
    doc["metadata"]["name"] = "a" * 45  # LWS name a…-kserve-mn is 55 characters
    with pytest.raises(InputError) as info:
        load(doc)
    assert info.value.field == "metadata.name" and "63 characters" in info.value.message


def test_bad_quantity_path_in_worker():
    doc = svc({"data": 16, "dataLocal": 8})
    doc["spec"]["worker"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "eight"
    with pytest.raises(InputError) as info:
        load(doc)
    assert info.value.field == "spec.worker.containers[0].resources.limits.nvidia.com/gpu"
