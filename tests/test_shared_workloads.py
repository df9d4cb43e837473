"""The other workloads of a shared cluster (issue 14 items 1-2): Deployments through a ReplicaSet,
StatefulSets (OrderedReady, Parallel), Jobs (Indexed, NonIndexed, back-off, backoffLimit), bare Pods,
PodDisruptionBudget status, PriorityClass admission and ``at:``."""

from __future__ import annotations

import re

import pytest
from support import load

from lwssim import timeline as tl
from lwssim.analysis.report import build_report
from lwssim.engine.job import failure_backoff
from lwssim.engine.nodes import delete_pod
from lwssim.engine.objects import Job, Pod, PodDisruptionBudget
from lwssim.engine.world import World
from lwssim.errors import InputError, UnsupportedError

CAPACITY = {"nvidia.com/gpu": 8, "cpu": "96", "memory": "1024Gi", "pods": 110}


def container(gpus: int = 8, image: str = "img:1") -> dict:
    return {"name": "c", "image": image, "resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}


def scenario(*workloads: dict, nodes: int = 4, horizon: str = "20m") -> dict:
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "shared"},
        "spec": {
            "horizon": horizon,
            "cluster": {"nodePools": [{"name": "gpu", "count": nodes, "capacity": CAPACITY}]},
            "workloads": list(workloads),
            "timing": {
                "imagePull": {"cold": "5s", "cached": "5s"},
                "containerStart": "0s",
                "modelLoad": "10s",
            },
        },
    }


def deployment(name: str = "web", replicas: int = 2, gpus: int = 8, **spec) -> dict:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container(gpus)], **spec}}
    return {
        "manifest": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
        }
    }


def job(name: str = "train", run: str = "2m", **spec) -> dict:
    return {
        "manifest": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": {"lwssim.io/run-duration": run}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container()]}}, **spec},
        }
    }


def statefulset(name: str = "db", replicas: int = 3, **spec) -> dict:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container(1)]}}
    return {
        "manifest": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}
            | spec,
        }
    }


def created(timeline: tl.Timeline, workload: str) -> list[tl.Record]:
    return [r for r in timeline.records if r.kind == tl.POD_CREATED and r.workload == workload]


def times(timeline: tl.Timeline, kind: str, workload: str) -> list[float]:
    return [r.t for r in timeline.records if r.kind == kind and r.workload == workload]


def test_deployment_pods_come_from_a_replicaset_and_serve_one_by_one():
    world = World(load(scenario(deployment(replicas=3))))
    report = build_report(world.run())
    (web,) = report["workloads"]
    assert web["kind"] == "Deployment" and web["groupsServing"] == 3 and web["groups"] == []
    names = [p["name"] for p in web["pods"]]
    (rs,) = list(world.store.list("ReplicaSet"))
    assert rs.name.startswith("web-")
    assert all(re.fullmatch(re.escape(rs.name) + r"-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names)
    assert all(p["phase"] == "Running" for p in web["pods"])


def test_a_deleted_deployment_pod_is_replaced_while_it_still_terminates():
    doc = scenario(deployment(replicas=1))
    doc["spec"]["timing"]["termination"] = "30s"
    world = World(load(doc))
    world.env.run(until=60)
    (pod,) = [p for p in world.store.list("Pod") if isinstance(p, Pod)]
    delete_pod(world.cluster, pod, "test")
    world.env.run(until=61)
    pods = [p for p in world.store.list("Pod") if isinstance(p, Pod)]
    assert len(pods) == 2, (
        "FilterActivePods: a terminating pod is not active, its replacement is made at once"
    )
    assert pod.stored and pod.deleting


def test_statefulset_ordered_ready_starts_each_pod_after_the_one_before_is_ready():
    timeline = World(load(scenario(statefulset()))).run()
    made = times(timeline, tl.POD_CREATED, "db")
    ready = times(timeline, tl.POD_READY, "db")
    assert [r.subject for r in created(timeline, "db")] == ["db-0", "db-1", "db-2"]
    assert made[1] >= ready[0] and made[2] >= ready[1]


def test_statefulset_parallel_starts_every_pod_at_once():
    timeline = World(load(scenario(statefulset(podManagementPolicy="Parallel")))).run()
    made = times(timeline, tl.POD_CREATED, "db")
    assert len(made) == 3 and max(made) < min(times(timeline, tl.POD_READY, "db"))


def test_indexed_job_runs_its_completions_in_waves_of_parallelism():
    timeline = World(load(scenario(job(completions=4, parallelism=2, completionMode="Indexed")))).run()
    report = build_report(timeline)
    (train,) = report["workloads"]
    assert train["podsSucceeded"] == 4
    names = [r.subject for r in created(timeline, "train")]
    assert sorted(int(n.split("-")[1]) for n in names) == [0, 1, 2, 3]
    done = times(timeline, tl.POD_SUCCEEDED, "train")
    made = times(timeline, tl.POD_CREATED, "train")
    assert made[2] >= done[0], "the third pod waits for a slot"
    assert report["cluster"]["gpusAllocated"] == 0, "finished pods hold no GPUs"


def test_work_queue_job_adds_no_pod_once_one_succeeded():
    timeline = World(load(scenario(job(parallelism=2, run="1m")))).run()
    assert len(created(timeline, "train")) == 2
    assert len(times(timeline, tl.POD_SUCCEEDED, "train")) == 2


def test_job_failures_back_off_then_exceed_the_backoff_limit():
    world = World(load(scenario(job(backoffLimit=1, run="1h"), horizon="2h")))
    for t in (60, 200):
        world.env.run(until=t)
        (pod,) = [p for p in world.store.list("Pod") if isinstance(p, Pod) and p.stored and not p.deleting]
        delete_pod(world.cluster, pod, "test")
    world.env.run(until=400)
    made = times(world.timeline, tl.POD_CREATED, "train")
    assert len(made) == 2, "the second failure exceeds backoffLimit 1: no third pod"
    assert made[1] == pytest.approx(60 + failure_backoff(1), abs=1)
    (obj,) = [j for j in world.store.list("Job") if isinstance(j, Job)]
    assert obj.failed_condition and obj.failed == 2


def test_failure_backoff_doubles_to_ten_minutes():
    assert [failure_backoff(n) for n in (0, 1, 2, 3, 7, 8, 20, 5000)] == [0, 10, 20, 40, 600, 600, 600, 600]


def budget(**spec) -> dict:
    return {
        "manifest": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web-pdb"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
        }
    }


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [({"minAvailable": 2}, 2), ({"minAvailable": "50%"}, 2), ({"maxUnavailable": 1}, 1), ({}, 0)],
)
def test_disruption_budget_status(spec, allowed):
    world = World(load(scenario(deployment(replicas=4, gpus=4), budget(**spec))))
    world.run()
    (pdb,) = [b for b in world.store.list("PodDisruptionBudget") if isinstance(b, PodDisruptionBudget)]
    assert (pdb.current_healthy, pdb.disruptions_allowed) == (4, allowed)


def priority_class(name: str, value: int, **extra) -> dict:
    return {
        "manifest": {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            **extra,
        }
    }


def test_priority_comes_from_the_class_the_global_default_or_zero():
    doc = scenario(
        priority_class("batch", 100, globalDefault=True),
        priority_class("serving", 1000, preemptionPolicy="Never"),
        deployment("a", priorityClassName="serving"),
        deployment("b"),
    )
    s = load(doc)
    by_name = {p.name: p.template for p in s.pod_workloads}
    assert (by_name["a"].priority, by_name["a"].preemption_policy) == (1000, "Never")
    assert (by_name["b"].priority, by_name["b"].preemption_policy) == (100, "PreemptLowerPriority")
    assert load(scenario(deployment("c"))).pod_workloads[0].template.priority == 0


def test_unknown_priority_class_is_refused_as_admission_refuses_it():
    with pytest.raises(InputError) as err:
        load(scenario(deployment("a", priorityClassName="gold")))
    assert "no PriorityClass with name gold was found" in str(err.value)
    assert "spec.template.spec.priorityClassName" in err.value.field


def test_a_later_priority_class_and_an_unknown_kind_are_refused():
    later = priority_class("x", 5) | {"at": "1m"}
    with pytest.raises(UnsupportedError):
        load(scenario(later, deployment()))
    cron = {"manifest": {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}}}
    with pytest.raises(InputError, match='CronJob batch/v1 "c" is not an object lwssim simulates'):
        load(scenario(cron))


def test_at_applies_an_object_later():
    doc = scenario(deployment(replicas=1))
    doc["spec"]["workloads"][0]["at"] = "5m"
    timeline = World(load(doc)).run()
    assert min(times(timeline, tl.POD_CREATED, "web")) >= 300


def test_a_deployment_larger_than_one_sync_gets_every_pod():
    """burstReplicas caps one sync at 500 creates; observing them syncs the set again (addPod)."""
    timeline = World(load(scenario(deployment(replicas=620, gpus=1), nodes=80))).run()
    assert len(created(timeline, "web")) == 620
